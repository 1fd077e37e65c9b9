"""Exercise checks for chapter 06 (the encrypted training pipeline)."""
from .. import training
from ._framework import exercise


@exercise(hint=['Count correct samples and samples, not batches; and no gradients are needed.',
                'The last batch can be smaller than the others: averaging per-batch accuracies is wrong. And the model must be in evaluation mode.'],
          task="evaluate(model, loader) -> float, the fraction of correctly classified samples (reread the deployer's cell).",
          reference=lambda: training.accuracy)
def evaluate(fn, t, rng):
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    torch.manual_seed(rng.randrange(1000))
    model = torch.nn.Linear(4, 3)
    for n, batch in ((10, 4), (7, 7), (100, 32)):
        data = TensorDataset(torch.randn(n, 4), torch.randint(0, 3, (n,)))
        loader = DataLoader(data, batch_size=batch)
        expected = training.accuracy(model, loader)
        got = fn(model, loader)
        t.true(abs(got - expected) < 1e-9, f"{n} samples in batches of {batch}: expected {expected}, got {got}",
               kind="random")
    perfect = torch.nn.Identity()
    data = TensorDataset(torch.eye(3), torch.arange(3))
    t.equal(fn(perfect, DataLoader(data, batch_size=2)), 1.0, "a perfect classifier")

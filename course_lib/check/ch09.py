"""Exercise checks for chapter 09 (attacks on deep learning)."""
import torch
from torch import nn

from .. import attacks
from ..digits import split
from ..training import mlp
from ._framework import exercise

__all__ = ["gradient_distance", "membership_advantage", "copy_from_labels"]


def _random_gradients(gen, shapes):
    return [torch.randn(shape, generator=gen) for shape in shapes]


def _graph_problem(got, dummy) -> str | None:
    """What keeps L-BFGS from following ``got`` back to the dummy gradients, or None if nothing does."""
    if not torch.is_tensor(got):
        return (f"gradient_distance must return a tensor that keeps the graph (L-BFGS calls .backward() on it); "
                f"yours returned a {type(got).__name__}, which has no graph: .item(), float() and Python sums of "
                f".item() values drop it")
    if got.numel() != 1:
        return (f"gradient_distance must return a scalar tensor, one number for the whole gradient; yours has shape "
                f"{tuple(got.shape)}")
    if not got.requires_grad:
        return ("gradient_distance must return a tensor that keeps the graph (L-BFGS follows its gradient with "
                "respect to the dummy); yours does not require grad: it was rebuilt from numbers (torch.tensor(...), "
                ".item(), .detach() or torch.no_grad()) instead of computed from the tensors it was given")
    try:
        got.sum().backward()
    except RuntimeError as error:
        return f"gradient_distance must return a tensor that keeps the graph; .backward() on yours failed: {error}"
    unused = [i for i, d in enumerate(dummy) if d.grad is None or not d.grad.abs().sum() > 0]
    if unused:
        return (f"the distance must use every parameter's gradient: parameter{'s' if len(unused) > 1 else ''} "
                f"{', '.join(map(str, unused))} of {len(dummy)} (shape{'s' if len(unused) > 1 else ''} "
                f"{', '.join(str(tuple(dummy[i].shape)) for i in unused)}) did not change it, so L-BFGS could not "
                f"match {'them' if len(unused) > 1 else 'it'}")
    return None


@exercise(hint=['The attacker compares two lists of tensors, one per parameter: every parameter counts, and so does '
                'every element of it.',
                'Zhu et al. use the squared Euclidean distance: differences squared, then summed over all elements of '
                'all parameters (not averaged, not absolute values).'],
          task='gradient_distance(dummy_grads, target_grads) -> scalar tensor: the distance DLG minimises between two '
               'gradients (lists of tensors, one per parameter), differentiable (reread section 1).',
          reference=lambda: attacks.gradient_matching_loss)
def gradient_distance(fn, t, rng):
    gen = torch.Generator().manual_seed(rng.randrange(10_000))
    shapes = [(32, 64), (32,), (10, 32), (10,)]
    same = _random_gradients(gen, shapes)
    dummy = [g.clone().requires_grad_(True) for g in _random_gradients(gen, shapes)]
    problem = _graph_problem(fn(dummy, same), dummy)
    t.true(problem is None, problem)
    t.true(float(fn(same, same)) == 0.0, "the distance of a gradient to itself must be 0")
    t.true(abs(float(fn([torch.ones(2, 2)], [torch.zeros(2, 2)])) - 4.0) < 1e-6,
           "[ones(2, 2)] vs [zeros(2, 2)]: four differences of 1, squared and summed, give 4")
    for _ in range(5):
        a, b = _random_gradients(gen, shapes), _random_gradients(gen, shapes)
        expected = attacks.gradient_matching_loss(a, b).item()
        got = fn(a, b)
        t.true(abs(float(got) - expected) <= 1e-4 * expected,
               f"random gradients of shapes {shapes}: expected {expected:.4f}, got {float(got):.4f}", kind="random")


@exercise(hint=['Try every threshold t: "member" when the score is at least t. For each, how many members are caught, '
                'and how many outsiders are wrongly accused?',
                'The advantage is the largest difference between the true-positive rate and the false-positive rate; '
                'a guess has advantage 0, so it is never negative. Equal scores must fall on the same side.'],
          task='membership_advantage(member_scores, outsider_scores) -> float in [0, 1]: the best TPR − FPR of '
               '"member when score ≥ t" over all thresholds t (tensors of scores, higher = more likely a member).',
          reference=lambda: attacks.attack_advantage)
def membership_advantage(fn, t, rng):
    known = [((torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])), 1.0),
             ((torch.tensor([1.0, 4.0]), torch.tensor([2.0, 3.0])), 0.5),
             ((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])), 0.0),
             ((torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, 1.0])), 0.0),
             ((torch.tensor([2.0, 2.0, 0.0]), torch.tensor([2.0, 0.0, 0.0])), 1 / 3)]
    for (members, outsiders), expected in known:
        got = float(fn(members, outsiders))
        t.true(abs(got - expected) < 1e-6, f"members {members.tolist()}, outsiders {outsiders.tolist()}: expected "
                                           f"{expected:.4f}, got {got:.4f}")
    gen = torch.Generator().manual_seed(rng.randrange(10_000))
    for _ in range(5):
        members = torch.randint(0, 20, (rng.randrange(5, 60),), generator=gen).float() + rng.random() * 3
        outsiders = torch.randint(0, 20, (rng.randrange(5, 60),), generator=gen).float()
        expected = attacks.attack_advantage(members, outsiders)
        got = float(fn(members, outsiders))
        t.true(abs(got - expected) < 1e-6, f"{len(members)} members, {len(outsiders)} outsiders with ties: expected "
                                           f"{expected:.4f}, got {got:.4f}", kind="random")


class _LabelsOnly:
    """The defended service: answers with labels only, counts the images it was asked about, and notes any
    look at the model behind it (the attacker has query access, nothing more)."""

    def __init__(self, model):
        self._log = {"model": model, "asked": 0, "peeked": False}

    @property
    def asked(self) -> int:
        return self._log["asked"]

    @property
    def peeked(self) -> bool:
        return self._log["peeked"]

    @property
    def model(self):
        self._log["peeked"] = True
        return self._log["model"]

    def __call__(self, x):
        self._log["asked"] += len(x)
        with torch.no_grad():
            return self._log["model"](x).argmax(dim=1)


def _same_weights(copy: nn.Module, target: nn.Module) -> bool:
    """True if ``copy`` is ``target``, contains it, shares its tensors or holds its weights (within 0.1 %)."""
    if any(module is target for module in copy.modules()):
        return True
    mine, theirs = list(copy.parameters()), list(target.parameters())
    if {p.data_ptr() for p in mine} & {p.data_ptr() for p in theirs}:
        return True
    with torch.no_grad():
        return len(mine) == len(theirs) and all(a.shape == b.shape and (a - b).norm() <= 1e-3 * b.norm()
                                                for a, b in zip(mine, theirs))


def _copy_problem(copy, target, service) -> str | None:
    """Why ``copy`` is no answer to the label-only threat model, or None."""
    if not isinstance(copy, nn.Module):
        return f"copy_from_labels must return a model (nn.Module), got {type(copy).__name__}"
    if _same_weights(copy, target):
        return ("copy_from_labels returned the service's own model (or its weights): that is not a copy. In this "
                "threat model the attacker can only send images and read the labels query() returns; the model "
                "inside the service is what it wants to steal. Train a fresh model on the answers")
    if service.peeked:
        return ("your code looked inside the service (query.model): in this threat model the attacker can only send "
                "images and read the labels query() returns. The model's weights, its confidences and labels for "
                "images beyond the budget are exactly what the label-only defence withholds. Use query(inputs) only")
    return None


def _copy_from_labels_reference(query, inputs):
    return attacks.extract_model(query, inputs, seed=1)


@exercise(hint=['The service only says which class it predicts. That is still a label for every image you ask about: '
                'a training set.',
                'Ask once about the inputs you were given, then train a fresh MLP 64-32-10 (cl.training.mlp) on those '
                'answers with cross-entropy for a few hundred full-batch steps; no more queries.'],
          task='copy_from_labels(query, inputs) -> nn.Module: query(x) returns only predicted labels (int64); train a '
               'model that agrees with the service on unseen images, asking about `inputs` only (reread section 4).',
          reference=lambda: _copy_from_labels_reference)
def copy_from_labels(fn, t, rng):
    data = split(0)
    torch.manual_seed(rng.randrange(1000))
    target = mlp((64, 32, 10), seed=rng.randrange(1000))
    optimiser = torch.optim.Adam(target.parameters(), lr=1e-2)
    for _ in range(150):
        optimiser.zero_grad()
        nn.functional.cross_entropy(target(data.train_x), data.train_y).backward()
        optimiser.step()
    service = _LabelsOnly(target)
    budget = data.train_x[:600]
    copy = fn(service, budget)
    problem = _copy_problem(copy, target, service)
    t.true(problem is None, problem)
    t.true(service.asked <= len(budget), f"the query budget is {len(budget)} images; you asked about {service.asked}")
    agree = attacks.agreement(copy, target, data.test_x)
    t.true(agree >= 0.85, f"your copy agrees with the service on {agree:.1%} of 450 unseen images; aim for ≥ 85 %",
           kind="random")

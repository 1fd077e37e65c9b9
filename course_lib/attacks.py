"""Attacks on what a model or its training reveals, which encryption alone does not stop (chapter 09).

* **Gradient inversion** (Zhu, Liu, Han, "Deep Leakage from Gradients", NeurIPS 2019): from one
  client's gradient, optimise a dummy input and a dummy label until their gradient matches; the
  dummy becomes the client's image. The optimiser follows the gradient of the *gradient distance*,
  so the model must be twice differentiable: smooth activations (sigmoid) work, ReLU's second
  derivative is zero almost everywhere and the attack degrades.
* **Aggregation is no defence by itself**: the mean of k clients' one-image updates is the gradient
  of one batch of those k images, so the server inverts it as a batch of k (:func:`invert_aggregate`).
  What it recovers falls as k and the clients' local steps grow, without a bound.
* **A malicious server defeats aggregation** ("Robbing the Fed", Fowl et al., ICLR 2022): it sends
  a model whose first layer measures each image's brightness against graded thresholds. In the
  summed update, the difference between two neighbouring neurons' gradients holds only the
  images whose brightness falls between their thresholds; where that is one image, it comes
  back exactly, whatever the number of clients summed.
* **Membership inference** with shadow models (Shokri, Stronati, Song, Shmatikov, IEEE S&P 2017):
  train models like the target on data the attacker owns, learn how their outputs differ on
  members and outsiders, then apply that to the target. Reported as the *advantage*
  max(TPR − FPR) (Yeom et al., CSF 2018).
* **Model extraction** (Tramèr et al., USENIX Security 2016): query the model, train a copy on
  its answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .mpc import programs
from .mpc.runtime import run_in_process
from .training import mlp

__all__ = ["client_gradient", "gradient_matching_loss", "Reconstruction", "invert_gradients", "psnr",
           "best_match_psnr", "flat_update", "split_update", "invert_aggregate", "imprint_model",
           "recover_from_imprint", "attack_advantage", "roc_curve", "roc_auc", "membership_features", "ShadowAttack",
           "train_wide_mlp", "train_shadow_attack", "private_inference_service", "extract_model", "agreement"]


# ---------------------------------------------------------------- gradient inversion
def client_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The gradient a federated client sends: of the mean cross-entropy on its batch, per parameter."""
    loss = nn.functional.cross_entropy(model(x), y)
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def gradient_matching_loss(dummy_grads, target_grads) -> torch.Tensor:
    """DLG's objective: the squared Euclidean distance between two gradients, summed over parameters."""
    return sum(((dummy - target) ** 2).sum() for dummy, target in zip(dummy_grads, target_grads, strict=True))


@dataclass
class Reconstruction:
    """What the attacker recovers: ``images`` (batch × features, clamped to [0, 1]), ``labels``, and
    ``history``: ``(evaluation, images, gradient distance)`` every few evaluations, for a slider."""
    images: torch.Tensor
    labels: torch.Tensor
    history: list = field(default_factory=list)


def invert_gradients(model: nn.Module, target_grads, batch_size: int = 1, *, features: int = 64, classes: int = 10,
                     steps: int = 200, seed: int = 0, record_every: int = 5) -> Reconstruction:
    """Recover a client's batch from its gradient by gradient matching (DLG), with L-BFGS.

    Starts from random dummy inputs and soft labels (seeded), and minimises
    :func:`gradient_matching_loss` between the dummy batch's gradient and ``target_grads`` for at
    most ``steps`` L-BFGS iterations (torch allows 1.25 evaluations of the distance per iteration).
    """
    generator = torch.Generator().manual_seed(seed)
    dummy_x = torch.rand((batch_size, features), generator=generator).requires_grad_(True)
    dummy_y = torch.randn((batch_size, classes), generator=generator).requires_grad_(True)
    optimiser = torch.optim.LBFGS([dummy_x, dummy_y], lr=1, max_iter=steps, history_size=100,
                                  line_search_fn="strong_wolfe")
    history, evaluations = [], 0

    def closure():
        nonlocal evaluations
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(dummy_x), dummy_y.softmax(dim=1))
        dummy_grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
        distance = gradient_matching_loss(dummy_grads, target_grads)
        distance.backward()
        if evaluations % record_every == 0:
            history.append((evaluations, dummy_x.detach().clamp(0, 1).clone(), distance.item()))
        evaluations += 1
        return distance

    optimiser.step(closure)
    images = dummy_x.detach().clamp(0, 1)
    history.append((evaluations, images.clone(), closure().item()))
    return Reconstruction(images, dummy_y.detach().argmax(dim=1), history)


def psnr(reconstructed: torch.Tensor, original: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(peak² / mean squared error), ``peak`` = 1 for pixels
    in [0, 1] (higher is closer; identical images give infinity; 20 dB is an RMS error of 0.1, 40 dB of 0.01)."""
    mse = ((reconstructed.float() - original.float()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(peak ** 2 / mse)).item()


def best_match_psnr(reconstructed: torch.Tensor, originals: torch.Tensor) -> list[float]:
    """For each original image, the PSNR of the closest reconstruction (the batch's order is unknown)."""
    return [max(psnr(r, o) for r in reconstructed) for o in originals]


def flat_update(grads) -> torch.Tensor:
    """One client's update as the single vector that secure aggregation sums (chapter 10's ``SecureMean``)."""
    return torch.cat([g.detach().flatten() for g in grads])


def split_update(model: nn.Module, vector: torch.Tensor) -> list[torch.Tensor]:
    """A flat (aggregated) update split back into one float32 tensor per parameter of ``model``."""
    shapes = [p.shape for p in model.parameters()]
    expected = sum(shape.numel() for shape in shapes)
    if vector.dim() != 1 or vector.numel() != expected:
        raise ValueError(f"the model has {expected} parameters, so its update is a vector of {expected} values; "
                         f"got a tensor of shape {tuple(vector.shape)}")
    return [part.reshape(shape).float() for part, shape in zip(vector.split([s.numel() for s in shapes]), shapes)]


def invert_aggregate(model: nn.Module, aggregate, clients: int, *, summed: bool = False, **options) -> Reconstruction:
    """Invert what secure aggregation gives the server — the mean of ``clients`` one-image updates (or
    their sum, ``summed=True``) — as what it is: the gradient of one batch of ``clients`` images.

    Each client's update is the gradient of its image's loss; the batch's mean loss has the mean of
    those gradients as its gradient, and the server knows how many clients took part. ``aggregate``
    is a flat vector (:func:`flat_update`) or one tensor per parameter; ``options`` go to
    :func:`invert_gradients` (``steps``, ``seed``...).
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients is the number of one-image updates in the aggregate, a positive int; got {clients!r}")
    grads = split_update(model, aggregate) if torch.is_tensor(aggregate) else [g.float() for g in aggregate]
    shapes = [tuple(p.shape) for p in model.parameters()]
    if [tuple(g.shape) for g in grads] != shapes:
        raise ValueError(f"the aggregate must hold one tensor per parameter of the model, of shapes {shapes}; "
                         f"got shapes {[tuple(g.shape) for g in grads]}")
    if summed:
        grads = [g / clients for g in grads]
    return invert_gradients(model, grads, clients, **options)


def imprint_model(bins: int, public_images: torch.Tensor, *, classes: int = 10, seed: int = 0) -> nn.Sequential:
    """The malicious server's model: ``bins`` neurons, neuron i active when an image's mean brightness
    exceeds the i-th quantile of ``public_images``' brightness; identical outgoing weights, so every
    active neuron receives the same gradient from a given image."""
    features = public_images.shape[1]
    thresholds = torch.quantile(public_images.mean(dim=1), torch.linspace(0, 1, bins + 2)[1:-1])
    first, second = nn.Linear(features, bins), nn.Linear(bins, classes)
    column = torch.randn((classes, 1), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        first.weight.fill_(1.0 / features)
        first.bias.copy_(-thresholds)
        second.weight.copy_(column.expand(classes, bins))
        second.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), second)


def recover_from_imprint(update) -> torch.Tensor:
    """Images from an (aggregated) update of :func:`imprint_model`: for each pair of neighbouring
    neurons, (∂W_i − ∂W_i+1) / (∂b_i − ∂b_i+1). Exact where one image alone fell in the bin, an
    average where several did; empty bins give nothing."""
    weight_grad, bias_grad = update[0], update[1]
    dw = torch.cat([weight_grad[:-1] - weight_grad[1:], weight_grad[-1:]])
    db = torch.cat([bias_grad[:-1] - bias_grad[1:], bias_grad[-1:]])
    filled = db.abs() > 1e-10
    return dw[filled] / db[filled, None]


# ---------------------------------------------------------------- membership inference
def roc_curve(member_scores: torch.Tensor, outsider_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(false-positive rates, true-positive rates) when "member" means score ≥ t, for every threshold t."""
    scores = torch.cat([member_scores, outsider_scores]).flatten()
    is_member = torch.cat([torch.ones(member_scores.numel()), torch.zeros(outsider_scores.numel())])
    order = scores.argsort(descending=True)
    scores, is_member = scores[order], is_member[order]
    last_of_each = torch.ones_like(scores, dtype=torch.bool)          # thresholds between distinct scores only
    last_of_each[:-1] = scores[1:] != scores[:-1]
    tpr = is_member.cumsum(0)[last_of_each] / max(1, member_scores.numel())
    fpr = (1 - is_member).cumsum(0)[last_of_each] / max(1, outsider_scores.numel())
    zero = torch.zeros(1)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])


def roc_auc(member_scores: torch.Tensor, outsider_scores: torch.Tensor) -> float:
    """Area under the ROC curve: the chance that a random member scores above a random outsider (ties count
    half); 0.5 is guessing, 1 is perfect."""
    fpr, tpr = roc_curve(member_scores, outsider_scores)
    return torch.trapezoid(tpr, fpr).item()


def attack_advantage(member_scores: torch.Tensor, outsider_scores: torch.Tensor) -> float:
    """Membership advantage: the best TPR − FPR over all thresholds (0 = no better than a guess, 1 = perfect)."""
    fpr, tpr = roc_curve(member_scores, outsider_scores)
    return max(0.0, (tpr - fpr).max().item())


def membership_features(model: Callable, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """What the attack model sees of one answer: log-probabilities of the true label and of the top 3
    classes (class-agnostic, as in Salem et al., NDSS 2019)."""
    with torch.no_grad():
        probabilities = model(x).softmax(dim=1)
    top = probabilities.sort(dim=1, descending=True).values[:, :3]
    return torch.cat([probabilities.gather(1, y[:, None]), top], dim=1).clamp(min=1e-30).log()


@dataclass
class ShadowAttack:
    """A logistic-regression attack model trained on shadow models' answers: ``score`` is higher for members."""
    weights: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def score(self, model: Callable, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Attack scores of (x, y) from ``model``'s answers (a model, or any query function returning logits)."""
        return ((membership_features(model, x, y) - self.mean) / self.std) @ self.weights + self.bias

    def advantage(self, model: nn.Module, members, outsiders) -> float:
        """The attack's advantage against ``model``: ``members`` and ``outsiders`` are (x, y) pairs."""
        return attack_advantage(self.score(model, *members), self.score(model, *outsiders))

    def auc(self, model: nn.Module, members, outsiders) -> float:
        """The area under the attack's ROC curve against ``model`` (0.5 = guessing)."""
        return roc_auc(self.score(model, *members), self.score(model, *outsiders))


def train_wide_mlp(x: torch.Tensor, y: torch.Tensor, seed: int, weight_decay: float = 0.0,
                   epochs: int = 300) -> nn.Sequential:
    """The membership-inference target of chapters 09 and 10: an MLP 64-256-10 trained hard on few
    records (full batch, Adam, learning rate 0.01, ``epochs`` steps) — and the attacker's shadow recipe."""
    net = mlp((64, 256, 10), seed=seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(epochs):
        optimiser.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimiser.step()
    return net


def train_shadow_attack(train_like_target: Callable, pool_x: torch.Tensor, pool_y: torch.Tensor, *,
                        shadows: int = 4, size: int = 150) -> ShadowAttack:
    """Shokri et al.'s attack: ``shadows`` models trained with the target's recipe
    (``train_like_target(x, y, seed)``) on disjoint slices of the attacker's own data, each on
    ``size`` samples with ``size`` more held out; an attack model learns members from outsiders."""
    if pool_x.shape[0] < 2 * size * shadows:
        raise ValueError(f"{shadows} shadow models of {size} members and {size} outsiders need "
                         f"{2 * size * shadows} samples, the pool has {pool_x.shape[0]}")
    features, labels = [], []
    for k in range(shadows):
        inside, outside = slice(2 * k * size, (2 * k + 1) * size), slice((2 * k + 1) * size, (2 * k + 2) * size)
        shadow = train_like_target(pool_x[inside], pool_y[inside], seed=1000 + k)
        features += [membership_features(shadow, pool_x[inside], pool_y[inside]),
                     membership_features(shadow, pool_x[outside], pool_y[outside])]
        labels += [torch.ones(size), torch.zeros(size)]
    x, y = torch.cat(features), torch.cat(labels)
    mean, std = x.mean(dim=0), x.std(dim=0) + 1e-6
    weights, bias = torch.zeros(x.shape[1], requires_grad=True), torch.zeros((), requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(((x - mean) / std) @ weights + bias, y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return ShadowAttack(weights.detach(), bias.detach(), mean, std)


# ---------------------------------------------------------------- the private-inference service
def private_inference_service(model: nn.Sequential, batch: int = 100) -> Callable[[torch.Tensor], torch.Tensor]:
    """Chapter 08's private inference as a query function ``x → logits``: the model owner's weights
    and the client's images stay secret-shared, and only the client learns the logits — which is
    all the attacks above need."""
    layers = programs.model_layers(model)
    sizes = (layers[0][0].shape[1], *(weight.shape[0] for weight, _ in layers))   # public, like the batch size

    def query(x: torch.Tensor) -> torch.Tensor:
        results, _ = run_in_process(programs.private_inference, sizes=sizes, batch=batch, n_samples=len(x),
                                    warmup=0, private_inputs={0: {"layers": layers}, 1: {"images": x.double()}})
        return results[1]["logits"].float()

    return query


# ---------------------------------------------------------------- model extraction
def extract_model(query: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, *, sizes=(64, 32, 10),
                  epochs: int = 200, seed: int = 0) -> nn.Sequential:
    """Train a copy of a model from its answers to ``inputs``.

    ``query(x)`` returns what the service returns: logits or probabilities, possibly rounded (the
    copy learns the distribution), or integer labels only (the copy learns the labels).
    """
    answers = query(inputs)
    copy = mlp(sizes, seed=seed)
    optimiser = torch.optim.Adam(copy.parameters(), lr=1e-2)
    if not answers.is_floating_point():                       # labels only
        loss_fn = lambda out: nn.functional.cross_entropy(out, answers)  # noqa: E731
    else:
        target = _as_log_probabilities(answers.float())
        loss_fn = lambda out: nn.functional.kl_div(out.log_softmax(dim=1), target, log_target=True,  # noqa: E731
                                                   reduction="batchmean")
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = loss_fn(copy(inputs.float()))
        loss.backward()
        optimiser.step()
    return copy


def _as_log_probabilities(answers: torch.Tensor) -> torch.Tensor:
    """Log-probabilities from what a service returned: probabilities (possibly rounded) or logits."""
    sums = answers.sum(dim=1)
    if answers.min() >= 0 and ((sums - 1).abs() < 0.05).all():
        return (answers.clamp(min=1e-6) / sums[:, None]).log()
    return answers.log_softmax(dim=1)


def agreement(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """Fraction of inputs on which two models predict the same class."""
    with torch.no_grad():
        return (a(x).argmax(dim=1) == b(x).argmax(dim=1)).float().mean().item()

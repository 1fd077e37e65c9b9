"""Differential privacy for training (chapter 10): DP-SGD by hand and with Opacus, accounting, audits,
and noise that clients add inside secure aggregation.

DP-SGD (Abadi et al., CCS 2016): compute each sample's gradient, clip it to L2 norm C, sum,
add Gaussian noise N(0, σ²C²) to the sum, divide by the expected batch size, step. With Poisson
sampling at rate q for T steps, a privacy accountant (RDP: Mironov, CSF 2017; PRV: Gopi et al.,
NeurIPS 2021; or basic composition, for comparison) turns (σ, q, T, δ) into ε.
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.data import DataLoader, Dataset

from .training import mlp

__all__ = ["per_sample_gradients", "clip_per_sample", "dp_sgd_step", "epsilon", "noise_multiplier",
           "DP_SETTINGS", "train_private", "train_non_private", "membership_bounds", "skellam_noise",
           "distributed_noise_mu", "noise_multiplier_left"]


# ------------------------------------------------------------------ DP-SGD by hand
def per_sample_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gradient of the cross-entropy of each sample alone: ``{name: tensor (batch, *shape)}``."""
    parameters = {name: p.detach() for name, p in model.named_parameters()}

    def loss(params, xi, yi):
        return nn.functional.cross_entropy(functional_call(model, params, (xi[None],)), yi[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(parameters, x, y)


def clip_per_sample(gradients: dict[str, torch.Tensor], clip: float) -> dict[str, torch.Tensor]:
    """Each sample's whole gradient (all parameters together) scaled to L2 norm at most ``clip``."""
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(dim=1) for g in gradients.values()))
    factors = (clip / (norms + 1e-12)).clamp(max=1.0)
    return {name: g * factors.view(-1, *[1] * (g.dim() - 1)) for name, g in gradients.items()}


def dp_sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, clip: float, noise_multiplier: float,
                lr: float, expected_batch: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One DP-SGD step on ``model`` in place; returns the noisy gradient it applied.

    ``expected_batch`` is q·N, the batch size Poisson sampling gives on average: dividing by the
    actual size would make the noise depend on the data.
    """
    clipped = clip_per_sample(per_sample_gradients(model, x, y), clip)
    noisy = {}
    for name, g in clipped.items():
        noise = torch.normal(0.0, noise_multiplier * clip, size=g.shape[1:], generator=generator)
        noisy[name] = (g.sum(dim=0) + noise) / expected_batch
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter -= lr * noisy[name]
    return noisy


# ------------------------------------------------------------------ accounting
def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """ε after ``steps`` Poisson-sampled steps of DP-SGD with this noise, by the ``"rdp"`` or ``"prv"`` accountant.

    ``"basic"`` is the naive bound, for comparison: each step is (ε₀, δ/T)-DP with ε₀ from the PRV
    accountant for one step, and T such steps are (T·ε₀, δ)-DP by basic composition (Dwork & Roth,
    "The Algorithmic Foundations of Differential Privacy", 2014, Theorem 3.16).
    """
    if accountant == "basic":
        return steps * epsilon(noise_multiplier, sample_rate, 1, delta / steps, "prv")
    if accountant not in ("rdp", "prv"):
        raise ValueError(f"the accountant is 'rdp', 'prv' or 'basic', got {accountant!r}")
    ledger = {"rdp": RDPAccountant, "prv": PRVAccountant}[accountant]()
    ledger.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # RDP's note that a wider range of orders might be tighter
        return float(ledger.get_epsilon(delta=delta))


def noise_multiplier(target_epsilon: float, sample_rate: float, steps: int, delta: float,
                     accountant: str = "prv") -> float:
    """The smallest noise multiplier σ whose ε after ``steps`` steps is at most ``target_epsilon``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                          sample_rate=sample_rate, steps=steps, accountant=accountant))


# ------------------------------------------------------------------ training with Opacus
# Chosen for the digits split by test accuracy on a grid of 3 learning rates × 3 batch sizes, with and without
# momentum, per ε (δ = 1e-5, 40 epochs, clip 1.0). Tuning on the test set flatters the figures, and the tuning
# itself leaks privacy (Papernot & Steinke, ICLR 2022): a real study tunes on public or held-out data.
DP_SETTINGS = {8.0: {"lr": 2.0, "batch": 256, "momentum": 0.0},
               3.0: {"lr": 4.0, "batch": 512, "momentum": 0.0},
               1.0: {"lr": 0.1, "batch": 512, "momentum": 0.9}}


def train_private(train_set: Dataset, target_epsilon: float, *, delta: float = 1e-5, epochs: int = 40,
                  clip: float = 1.0, lr: float = None, batch: int = None, momentum: float = None,
                  sizes=(64, 32, 10), seed: int = 0) -> tuple[nn.Module, float, float]:
    """An MLP trained with Opacus DP-SGD to ``(target_epsilon, delta)``: ``(model, ε spent, σ)``.

    Poisson sampling, flat clipping at ``clip``, the PRV accountant. Unset hyperparameters come
    from :data:`DP_SETTINGS`. Opacus draws its noise from torch's generator seeded by ``seed``:
    reproducible for teaching, not secure — its ``secure_mode`` needs a cryptographic generator.
    """
    chosen = DP_SETTINGS.get(float(target_epsilon), DP_SETTINGS[8.0])
    model, optimiser, loader = _sgd_setup(train_set, lr or chosen["lr"], batch or chosen["batch"],
                                          chosen["momentum"] if momentum is None else momentum, sizes, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # Opacus's reminder that its default generator is not secure
        engine = PrivacyEngine(accountant="prv")
        model, optimiser, loader = engine.make_private_with_epsilon(
            module=model, optimizer=optimiser, data_loader=loader, target_epsilon=target_epsilon,
            target_delta=delta, epochs=epochs, max_grad_norm=clip)
        _fit(model, optimiser, loader, epochs)
        spent = engine.get_epsilon(delta)
    return model._module, float(spent), float(optimiser.noise_multiplier)


def train_non_private(train_set: Dataset, *, epochs: int = 40, lr: float = 0.1, batch: int = 64,
                      sizes=(64, 32, 10), seed: int = 0) -> nn.Module:
    """The same MLP and loop without privacy: the baseline of the accuracy-vs-ε table."""
    model, optimiser, loader = _sgd_setup(train_set, lr, batch, 0.9, sizes, seed)
    _fit(model, optimiser, loader, epochs)
    return model


def _sgd_setup(train_set: Dataset, lr: float, batch: int, momentum: float, sizes, seed: int):
    """The MLP from ``seed``, SGD, and a shuffled loader: what both trainings start from."""
    torch.manual_seed(seed)
    model = mlp(sizes, seed=seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(train_set, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed + 1))
    return model, optimiser, loader


def _fit(model, optimiser, loader, epochs: int) -> None:
    for _ in range(epochs):
        for x, y in loader:
            if len(y):                          # Poisson sampling can draw an empty batch
                optimiser.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimiser.step()


# ------------------------------------------------------------------ what ε promises
def membership_bounds(epsilon: float, delta: float = 0.0) -> tuple[float, float]:
    """The most any membership attack can reach against an (ε, δ)-DP training: ``(accuracy, advantage)``.

    The course's one bound on membership inference (chapters 08–10). An (ε, δ)-DP mechanism makes
    every test of "member or not" satisfy TPR ≤ e^ε·FPR + δ and 1 − FPR ≤ e^ε·(1 − TPR) + δ
    (Kairouz, Oh & Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015), so on
    a balanced member/outsider guess accuracy ≤ (e^ε + δ)/(1 + e^ε) and the advantage
    TPR − FPR ≤ (e^ε − 1 + 2δ)/(e^ε + 1) (Humphries et al., "Investigating Membership Inference
    Attacks under Data Dependencies", IEEE CSF 2023). Records assumed independent: with dependent
    records the bound can fail (the same paper).
    """
    e = math.exp(epsilon)
    return min(1.0, (e + delta) / (1 + e)), min(1.0, (e - 1 + 2 * delta) / (e + 1))


# ------------------------------------------------------------------ distributed DP inside secure aggregation
def skellam_noise(mu: float, size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Integer noise Poisson(μ) − Poisson(μ): mean 0, variance 2μ; a sum of Skellams is a Skellam.

    That closure is why clients can each add a share (Agarwal, Kairouz & Liu, NeurIPS 2021). The
    default generator is seeded from ``os.urandom``; numpy's samplers are not constant-time.
    """
    rng = rng or np.random.default_rng(int.from_bytes(os.urandom(16), "big"))
    return (rng.poisson(mu, size) - rng.poisson(mu, size)).astype(np.int64)


def distributed_noise_mu(noise_multiplier: float, clip: float, bits: int, min_clients: int, *,
                         colluders: int) -> float:
    """Each client's Skellam μ so that the honest survivors *alone* add, in quantisation units, the
    central mechanism's variance (σ·C)²: μ = (σ·C/step)² / (2·h), with h = ``min_clients`` − ``colluders``.

    A round completes with at least ``min_clients`` survivors (the threshold t); up to ``colluders``
    of them may work with the server, and they know, and can subtract, their own noise. Noise
    they know is no noise, so each share is sized for the h honest survivors of the worst round.
    With ``colluders`` = t − 1, the most the threat model allows, h = 1: every client adds the
    full variance, and n survivors put n times the central variance into the sum (the cost in
    accuracy). With ``colluders`` = 0 and t − 1 colluders, the noise left is σ·C·√(1/t).

    Sizing for c < t − 1 holds only against a server that follows the protocol (delivers every
    message to every client). One that withholds honest peers' share messages from a client
    isolates that client's update, with its own share of noise alone, σ·C·√(1/h); only h = 1
    (``colluders`` = t − 1) holds against it. The sensitivity is a whole client's clipped update
    (client-level DP), and the server sees who takes part: account against it at q = 1.
    """
    honest = min_clients - colluders
    if not 0 <= colluders < min_clients:
        raise ValueError(f"colluders must be between 0 and min_clients − 1 = {min_clients - 1}, got {colluders}")
    step = clip / (2 ** (bits - 1) - 1)
    return (noise_multiplier * clip / step) ** 2 / (2 * honest)


def noise_multiplier_left(noise_multiplier: float, min_clients: int, *, calibrated_for: int, colluders: int) -> float:
    """The noise multiplier left in the worst round — ``min_clients`` survivors, ``colluders`` of whom
    subtract their own noise — when each share was sized by :func:`distributed_noise_mu` for
    ``calibrated_for`` colluders: σ·√((t − colluders)/(t − calibrated_for)).

    Feed it to :func:`epsilon` for the ε under collusion (treating the Skellam sum as the Gaussian of
    the same variance, which Agarwal, Kairouz & Liu, NeurIPS 2021, show it approaches for large μ),
    at sampling rate 1 against the server, which chooses and sees who takes part: a smaller q
    amplifies only if the participants are drawn by randomness the server cannot see.
    """
    if not (0 <= calibrated_for < min_clients and 0 <= colluders < min_clients):
        raise ValueError(f"colluders must be between 0 and min_clients − 1 = {min_clients - 1}")
    return noise_multiplier * math.sqrt((min_clients - colluders) / (min_clients - calibrated_for))

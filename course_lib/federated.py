"""Federated averaging on digits held by many clients, with the server's sum in the clear or secure (chapter 10).

FedAvg (McMahan et al., AISTATS 2017): each round the server sends the global model; every client
trains it on its own data for a few local steps and returns its *update* (new weights − old);
the server averages the updates and applies the average. With secure aggregation the server
receives only the sum of clipped, quantised updates (``course_lib.secagg``), optionally with
distributed DP noise inside it. A sum of k one-image gradients is still the gradient of a batch
of k: :func:`invert_sum` is the server's gradient-inversion attack on it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from . import attacks, privacy, secagg
from .training import logits_accuracy, mlp

__all__ = ["non_iid_split", "label_counts", "local_update", "plain_mean", "SecureMean", "History", "fedavg",
           "centralised", "update_as_gradient", "invert_sum"]


def non_iid_split(labels: torch.Tensor, clients: int = 10, main_labels: int = 2, share: float = 0.9,
                  seed: int = 0) -> list[torch.Tensor]:
    """Sample indices for each client: client c holds ``share`` of two labels' samples with another
    client, the rest of the data is scattered at random — each client sees mostly two digits."""
    generator = torch.Generator().manual_seed(seed)
    owners_of = {label: [c for c in range(clients) if label in {(main_labels * c + j) % 10 for j in range(main_labels)}]
                 for label in range(10)}
    assigned = [[] for _ in range(clients)]
    for index, label in enumerate(labels.tolist()):
        owners = owners_of[label]
        if owners and torch.rand((), generator=generator) < share:
            client = owners[int(torch.randint(len(owners), (), generator=generator))]
        else:
            client = int(torch.randint(clients, (), generator=generator))
        assigned[client].append(index)
    return [torch.tensor(indices, dtype=torch.int64) for indices in assigned]


def label_counts(labels: torch.Tensor, parts: list[torch.Tensor]) -> np.ndarray:
    """A (clients × 10) table: how many samples of each digit each client holds."""
    return np.stack([np.bincount(labels[part].numpy(), minlength=10) for part in parts])


def local_update(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 1, lr: float = 0.1,
                 batch: int = 16, seed: int = 0) -> torch.Tensor:
    """A client's update: train a copy of ``model`` on (x, y) with SGD; return new − old weights as one vector."""
    start = parameters_to_vector(model.parameters()).detach().clone()
    local = copy.deepcopy(model)
    optimiser = torch.optim.SGD(local.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch_index in torch.randperm(len(y), generator=generator).split(batch):
            optimiser.zero_grad()
            nn.functional.cross_entropy(local(x[batch_index]), y[batch_index]).backward()
            optimiser.step()
    return parameters_to_vector(local.parameters()).detach() - start


def plain_mean(updates: dict[int, torch.Tensor]) -> torch.Tensor:
    """The ordinary server: it sees every update, and averages them."""
    return torch.stack(list(updates.values())).mean(dim=0)


@dataclass
class SecureMean:
    """The server's average through secure aggregation: clip, quantise, mask, sum, dequantise.

    Each update is clipped so that, quantised, it still has norm ≤ ``clip``
    (:func:`secagg.clip_and_quantize`): one client moves the sum by at most ``clip``, client-level
    sensitivity. ``noise_multiplier`` > 0 adds distributed DP: each client adds Skellam noise sized
    by :func:`privacy.distributed_noise_mu` so that the honest clients among any ``threshold``
    survivors, ``colluders`` of whom may subtract their own noise, still add the central
    mechanism's N(0, (σ·clip)²). ``colluders`` defaults to ``threshold`` − 1, the most the threat
    model allows: then every client adds the full variance, and that holds even against a server
    that deviates from the protocol. Fewer (c < t − 1) holds only against a server that follows it:
    one that withholds share messages can isolate a single honest update, whose noise is then its
    own share alone, σ·clip·√(1/(t − c)). The server picks and sees who takes part, so each round
    is accounted at sampling rate q = 1 against it. ``dropouts`` maps a round number to the
    clients that go silent before sending their masked input. ``last_noise`` keeps each client's
    own noise of the last round — what that client, and a server it colludes with, knows.
    """
    clients: int
    threshold: int
    clip: float = 1.0
    bits: int = 16
    noise_multiplier: float = 0.0
    dropouts: dict = field(default_factory=dict)
    colluders: int | None = None
    rounds: int = 0
    last: secagg.Result | None = None
    last_noise: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.colluders is None:
            self.colluders = self.threshold - 1
        if not 0 <= self.colluders < self.threshold:
            raise ValueError(f"colluders must be between 0 and threshold − 1 = {self.threshold - 1}, "
                             f"got {self.colluders}")

    @property
    def ring_bits(self) -> int:
        honest = self.threshold - self.colluders
        headroom = self.clients + 10 * self.noise_multiplier * math.sqrt(self.clients / honest)
        return self.bits + math.ceil(math.log2(max(headroom, 2)))       # signal plus 10 standard deviations of noise

    def __call__(self, updates: dict[int, torch.Tensor]) -> torch.Tensor:
        length = len(next(iter(updates.values())))
        config = secagg.Config(clients=self.clients, threshold=self.threshold, length=length, bits=self.bits,
                               ring_bits=self.ring_bits)
        mu = (privacy.distributed_noise_mu(self.noise_multiplier, self.clip, self.bits, self.threshold,
                                           colluders=self.colluders) if self.noise_multiplier else 0.0)
        ring, self.last_noise = {}, {}
        for number, update in updates.items():
            integers = secagg.clip_and_quantize(update.double().numpy(), self.clip, self.bits)
            if mu:
                self.last_noise[number] = privacy.skellam_noise(mu, length)
                integers = integers + self.last_noise[number]
            ring[number] = secagg.to_ring(integers, config.ring_bits)
        self.last = secagg.secure_aggregate(ring, config, drop_before_masking=self.dropouts.get(self.rounds, ()))
        self.rounds += 1
        total = secagg.dequantize(secagg.from_ring(self.last.total, config.ring_bits), self.clip, self.bits)
        return torch.tensor(total / len(self.last.survivors), dtype=torch.float32)


@dataclass
class History:
    """Test accuracy after each round, and the model."""
    accuracy: list[float]
    model: nn.Module


def fedavg(x: torch.Tensor, y: torch.Tensor, parts: list[torch.Tensor], test_x: torch.Tensor, test_y: torch.Tensor,
           *, rounds: int = 20, local_epochs: int = 1, lr: float = 0.1, aggregate=plain_mean, seed: int = 0,
           sizes=(64, 32, 10)) -> History:
    """FedAvg over clients 1…n holding ``parts`` of (x, y); ``aggregate`` turns the updates into one step."""
    model = mlp(sizes, seed=seed)
    accuracy = []
    for round_number in range(rounds):
        updates = {number: local_update(model, x[part], y[part], epochs=local_epochs, lr=lr,
                                        seed=seed + 1000 * round_number + number)
                   for number, part in enumerate(parts, start=1)}
        accuracy.append(_step_and_score(model, aggregate(updates), test_x, test_y))
    return History(accuracy, model)


def centralised(x: torch.Tensor, y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *, rounds: int = 20,
                lr: float = 0.1, seed: int = 0, sizes=(64, 32, 10)) -> History:
    """The baseline with all data in one place: one epoch of the same SGD per round."""
    model = mlp(sizes, seed=seed)
    accuracy = []
    for round_number in range(rounds):
        step = local_update(model, x, y, epochs=1, lr=lr, seed=seed + round_number)
        accuracy.append(_step_and_score(model, step, test_x, test_y))
    return History(accuracy, model)


def _step_and_score(model: nn.Module, step: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor) -> float:
    """Add ``step`` to the model's weights; return its test accuracy after the round."""
    vector_to_parameters(parameters_to_vector(model.parameters()).detach() + step, model.parameters())
    with torch.no_grad():
        return logits_accuracy(model(test_x), test_y)


# ------------------------------------------------------------------ what the sum still reveals
def update_as_gradient(model: nn.Module, update: torch.Tensor, lr: float, steps: int) -> list[torch.Tensor]:
    """A FedAvg update (new − old weights, one vector) read as the gradient it would be after one
    step: −update / (lr · steps), per parameter. Exact for one step of SGD; with more local
    steps it is an average of gradients at moving weights, and inversion degrades."""
    if not (lr > 0 and isinstance(steps, int) and steps >= 1):
        raise ValueError(f"need a learning rate > 0 and at least one local step, got lr = {lr}, steps = {steps!r}")
    return attacks.split_update(model, -update / (lr * steps))


def invert_sum(model: nn.Module, summed_gradients, clients: int, *, restarts: int = 4,
               steps: int = 200) -> attacks.Reconstruction:
    """The server's gradient inversion of a secure sum: ``summed_gradients`` (per parameter) is the
    sum of ``clients`` one-image gradients, i.e. ``clients`` × the mean gradient of one batch of
    ``clients`` images, inverted as that batch by :func:`attacks.invert_aggregate` (chapter 09's
    DLG) from ``restarts`` random starts. The result is the start whose gradient distance is
    smallest — what the server can see, without the images."""
    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts is the number of random starts, at least 1; got {restarts!r}")
    tries = [attacks.invert_aggregate(model, summed_gradients, clients, summed=True, steps=steps, seed=seed)
             for seed in range(restarts)]
    return min(tries, key=lambda reconstruction: reconstruction.history[-1][2])

"""Small, deterministic training and evaluation loops (chapters 06 and 08)."""
from __future__ import annotations

import sys

import torch
from torch import nn
from tqdm import tqdm


__all__ = ["mlp", "train_classifier", "accuracy", "logits_accuracy"]


def mlp(sizes=(64, 32, 10), seed: int = 0) -> nn.Sequential:
    """A ReLU multilayer perceptron, e.g. 64-32-10 for digits, initialised from ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    torch.random.set_rng_state(generator_state)
    return nn.Sequential(*layers)


def train_classifier(model: nn.Module, loader, epochs: int = 10, lr: float = 0.1, progress: bool = False) -> list[float]:
    """Plain SGD with cross-entropy; returns the mean loss of every epoch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    epochs_iter = range(epochs)
    if progress:   # a text bar: a saved notebook shows where it ended (a widget bar would show 0 %)
        epochs_iter = tqdm(epochs_iter, desc="training", unit="epoch", file=sys.stdout, ncols=80)
    model.train()
    for _ in epochs_iter:
        total, count = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        losses.append(total / count)
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, loader) -> float:
    """Fraction of correctly classified samples."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(dim=1) == y).sum().item()
        total += len(y)
    return correct / total


def logits_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the label (e.g. of a private inference's output)."""
    return (logits.argmax(dim=1) == labels).float().mean().item()

"""The course's task: scikit-learn's bundled digits, split once, and the reference MLP (chapters 02–08).

Digits are 1797 images of 8×8 pixels with values 0…16, bundled with scikit-learn and never
downloaded. Every chapter that trains uses the same seeded split (1347 training and 450 test
images) and the same reference model: an MLP 64-32-10 trained with SGD, so that chapters 05, 06
and 08 talk about the same weights and the same test accuracy.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .training import mlp, train_classifier

__all__ = ["TRAIN_SIZE", "SIZES", "images_and_labels", "records", "tensors", "dataset", "Split", "split",
           "train_reference_mlp", "task"]

TRAIN_SIZE = 1347           # the rest, 450 images, is the test set
SIZES = (64, 32, 10)        # the reference MLP's layer widths


@lru_cache(maxsize=1)
def images_and_labels() -> tuple[np.ndarray, np.ndarray]:
    """Digits as ``(images uint8 (1797, 8, 8) with values 0..16, labels int64 (1797,))``, read-only.

    Read straight from the file scikit-learn bundles (``sklearn/datasets/data/digits.csv.gz``: 64 pixels
    and the label per row, what ``load_digits`` reads), found without importing scikit-learn, which
    takes 1.5 s, a cost every kernel and every MPC party process would pay.
    """
    rows = np.loadtxt(_bundled_digits_file(), delimiter=",")
    images = rows[:, :-1].reshape(-1, 8, 8).astype(np.uint8)
    labels = rows[:, -1].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _bundled_digits_file() -> Path:
    spec = importlib.util.find_spec("sklearn")             # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed: pip install -r requirements.txt")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"scikit-learn's bundled digits are missing ({path}): pip install --force-reinstall "
                              "-r requirements.txt")
    return path


def records(indices=None) -> list[bytes]:
    """One byte string per sample: the label byte followed by the 64 pixel bytes (chapter 02).

    ``indices`` picks samples (e.g. a split's ``train_index``); all of them by default.
    """
    images, labels = images_and_labels()
    chosen = range(len(labels)) if indices is None else (int(i) for i in indices)
    return [bytes([int(labels[i])]) + images[i].tobytes() for i in chosen]


def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All samples as model inputs: pixels scaled to [0, 1], float32 (1797, 64), and int64 labels."""
    images, labels = images_and_labels()
    return torch.tensor(images, dtype=torch.float32).reshape(-1, 64) / 16, torch.tensor(labels)


def dataset() -> TensorDataset:
    """All 1797 samples as a ``TensorDataset`` of (pixels, label) (chapter 04)."""
    return TensorDataset(*tensors())


class Split(NamedTuple):
    """The training and test sets, and which samples each holds."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_index: torch.Tensor
    test_index: torch.Tensor

    def train_set(self) -> TensorDataset:
        return TensorDataset(self.train_x, self.train_y)

    def test_set(self) -> TensorDataset:
        return TensorDataset(self.test_x, self.test_y)


def split(seed: int = 0) -> Split:
    """The seeded split every chapter uses: a random permutation, first 1347 to train, 450 to test."""
    x, y = tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, test = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
    return Split(x[train], y[train], x[test], y[test], train, test)


def train_reference_mlp(train_set: Dataset, *, seed: int = 0, epochs: int = 15, progress: bool = False
                        ) -> tuple[torch.nn.Sequential, list[float]]:
    """The reference model trained on ``train_set``: ``(model, loss of every epoch)``.

    MLP 64-32-10 initialised from ``seed``; SGD with momentum 0.9, learning rate 0.05, batches of
    32 in an order drawn from ``seed + 1``. ``train_set`` may be any dataset of (pixels, label),
    plaintext or encrypted (chapter 06): the same samples give bit-identical weights.
    """
    model = mlp(SIZES, seed=seed)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed + 1))
    losses = train_classifier(model, loader, epochs=epochs, lr=0.05, progress=progress)
    return model, losses


def task(seed: int = 0, epochs: int = 15):
    """The split and the reference model trained on it (chapters 05 and 08):
    ``(model, train_x, train_y, test_x, test_y)``."""
    data = split(seed)
    model, _ = train_reference_mlp(data.train_set(), seed=seed, epochs=epochs)
    return model, data.train_x, data.train_y, data.test_x, data.test_y

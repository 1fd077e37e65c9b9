"""The course's data: scikit-learn's bundled digits (8×8 images, 1797 samples), never downloaded."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Digits as ``(images uint8 (1797, 8, 8) with values 0..16, labels int64 (1797,))``."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def digit_records() -> list[bytes]:
    """One byte string per digits sample: the label byte followed by the 64 pixel bytes (chapter 02)."""
    images, labels = digits()
    return [bytes([int(label)]) + image.tobytes() for image, label in zip(images, labels)]

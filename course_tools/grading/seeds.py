"""The instructor's secret and the hidden seeds derived from it.

Every check draws its random tests from a seed. The grader derives one seed per student and
exercise, ``HMAC-SHA256(key, student ‖ 0x00 ‖ exercise)`` (first 8 bytes, big-endian), from a key
only the instructor holds: a learner cannot compute the seed of their own hidden tests, and two
students get different ones, so an answer key shared between students does not transfer. The key
is a file of random bytes (``--key-file``, created with 32 bytes from ``os.urandom`` and mode 0600
if it does not exist) or, for a quick run, the text of ``--seed``.

The processes that grade an exercise seed their global generators (``random``, numpy, torch) from
seeds of their own, ``HMAC-SHA256(key, role ‖ 0x00 ‖ student ‖ 0x00 ‖ exercise)`` for the role
``child`` or ``judge`` (:func:`process_seed`): independent of the hidden seed, and reproducible, so a
regrade draws the same numbers.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

__all__ = ["DEFAULT_KEY_FILE", "load_key", "seed_for", "process_seed"]

DEFAULT_KEY_FILE = Path("grading.key")


def load_key(key_file: Path | None = None, seed: str | int | None = None, *, create: bool = True) -> tuple[bytes, str]:
    """The grading key and a sentence saying where it came from.

    ``seed`` (any text) wins over ``key_file``; a missing ``key_file`` is created when ``create``.
    """
    if seed is not None:
        return f"seed:{seed}".encode(), "key from --seed"
    path = Path(key_file or DEFAULT_KEY_FILE)
    if path.exists():
        key = path.read_bytes()
        if len(key) < 16:
            raise ValueError(f"{path} holds {len(key)} bytes; a grading key needs at least 16")
        return key, f"key from {path}"
    if not create:
        raise FileNotFoundError(f"no grading key at {path}")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(os.urandom(32))
    return path.read_bytes(), f"new key written to {path}: keep it secret, and keep it for regrading"


def seed_for(key: bytes, student: str, exercise: str) -> int:
    """The hidden seed of ``student``'s tests for ``exercise``."""
    digest = hmac.new(key, f"{student}\x00{exercise}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def process_seed(key: bytes, role: str, student: str, exercise: str) -> int:
    """The seed of the global generators of one grading process (``role``: "child" or "judge"), independent of
    the hidden seed: exercise names hold no 0x00, so no student and exercise give the same message."""
    digest = hmac.new(key, f"{role}\x00{student}\x00{exercise}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")

"""Exercise checks for chapter 06 (the encrypted training pipeline)."""
import hashlib
import io

import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import errors, training
from ._framework import exercise


__all__ = ["evaluate", "read_released"]


@exercise(hint=['Count correct samples and samples, not batches; and no gradients are needed.',
                'The last batch can be smaller than the others: averaging per-batch accuracies is wrong. And the model must be in evaluation mode.'],
          task="evaluate(model, loader) -> float, the fraction of correctly classified samples (reread the deployer's cell).",
          reference=lambda: training.accuracy)
def evaluate(fn, t, rng):
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


def _bucket(genuine: bytes, attacker: bytes):
    """An ``open_file`` whose first call sees the genuine file and every later call the attacker's."""
    opened = []

    def open_file():
        opened.append(len(opened))
        return io.BytesIO(genuine if len(opened) == 1 else attacker)

    return open_file, opened


@exercise(hint=['Your first read is the only one you can trust to be the file you are about to check.',
                'Keep the bytes you read and hash exactly those; never go back to storage for "the same" file.',
                'Compare the digests with a function that does not stop at the first different character, and raise '
                'the course\'s IntegrityError (cl.errors) on a mismatch.'],
          task="read_released(open_file, expected_sha256: str) -> bytes: open_file() returns a binary file object "
               "of the released file; return its bytes only if their SHA-256 (hex) is expected_sha256, else raise "
               "cl.errors.IntegrityError (reread 'The naive way: check, then open again').")
def read_released(fn, t, rng):
    genuine = bytes(rng.randrange(256) for _ in range(5000))
    digest = hashlib.sha256(genuine).hexdigest()
    forged = bytearray(genuine)
    forged[rng.randrange(len(forged))] ^= 1 << rng.randrange(8)
    for label, attacker in (("the genuine file", genuine), ("a file swapped in after your first read", bytes(forged)),
                            ("an attacker's much shorter file", b"label=0" * 3)):
        open_file, opened = _bucket(genuine, attacker)
        t.equal(fn(open_file, digest), genuine, f"with {label} in the bucket, read_released must return the "
                                                f"genuine bytes it checked", kind="random")
    for label, stored in (("a forged file (one bit flipped)", bytes(forged)), ("an empty file", b""),
                          ("the genuine file plus one byte", genuine + b"\x00")):
        open_file, _ = _bucket(stored, stored)
        try:
            fn(open_file, digest)
        except errors.IntegrityError:
            t.true(True, "")
        except Exception as error:  # noqa: BLE001 - the wrong kind of refusal is a failure too
            t.true(False, f"{label}: raise cl.errors.IntegrityError, not {type(error).__name__}")
        else:
            t.true(False, f"{label} was accepted: it does not have the released SHA-256")

"""Exercise checks for chapter 04 (protecting datasets)."""
import os
import tempfile
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from ..container import ContainerReader
from ..datasets import record_bytes, save_encrypted_dataset
from ._framework import exercise


__all__ = ["read_sample", "seal_samples"]


def _small_dataset(rng, n):
    return TensorDataset(torch.randint(0, 256, (n, 5), dtype=torch.uint8), torch.arange(n))


@exercise(hint=['Which chunk holds sample i, and where inside that chunk does its record start?',
                'Chunk 0 holds the description; the samples start in chunk 1, records_per_chunk to a chunk, each record_size bytes long.'],
          task="read_sample(reader, layout: dict, i: int) -> bytes: the record of sample i, read with reader.read_chunk (reread section 4's layout).")
def read_sample(fn, t, rng):
    for n in (1, 7, 1000):
        dataset = _small_dataset(rng, n)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.cldc"
            layout = save_encrypted_dataset(dataset, path, data_key=bytes(32))
            with ContainerReader(path, bytes(32), allow_unsigned=True) as reader:
                for i in sorted({0, n - 1}):
                    t.equal(fn(reader, layout, i), record_bytes(dataset[i]), f"sample {i} of {n}")
                for i in (rng.sample(range(1, n - 1), 5) if n > 10 else []):
                    t.equal(fn(reader, layout, i), record_bytes(dataset[i]), f"sample {i} of {n}", kind="random")


@exercise(hint=['What should the associated data of sample i say, so that it cannot be opened at another position?',
                'Every sample needs its own fresh nonce (the helper of chapter 01 draws one), and associated data that names its position; opening uses the same associated data.'],
          task='seal_samples(key, samples: list[bytes]) -> list[bytes] and open_sample(key, sealed, i) -> bytes; a moved or swapped sample must fail to open (reread section 1 (b)).')
def seal_samples(fns, t, rng):
    seal, open_ = fns
    key = os.urandom(32)
    samples = [os.urandom(rng.randrange(1, 40)) for _ in range(20)]
    sealed = seal(key, samples)
    t.true(len(sealed) == len(samples), "seal_samples must return one sealed item per sample")
    again = seal(key, samples)
    t.true(all(a != b for a, b in zip(again, sealed)),
           "sealing the same samples twice must give different ciphertexts: a nonce derived from the index "
           "repeats under the same key (chapter 01, section 6)")
    for i in range(len(samples)):
        t.equal(open_(key, sealed, i), samples[i], f"open_sample(key, sealed, {i})", kind="random")
    for label, (k, items, i) in (("sample 3 and 4 swapped", (key, sealed[:3] + [sealed[4], sealed[3]] + sealed[5:], 3)),
                                 ("sample 5 moved to index 0", (key, [sealed[5]] + sealed[1:], 0)),
                                 ("a wrong key", (os.urandom(32), sealed, 2)),
                                 ("a flipped bit", (key, sealed[:7] + [bytes([sealed[7][0] ^ 1]) + sealed[7][1:]]
                                                    + sealed[8:], 7))):
        try:
            open_(k, items, i)
        except ValueError:
            t.true(True, "")
            continue
        except Exception as error:
            t.true(type(error).__name__ == "InvalidTag", f"{label}: raised {type(error).__name__}")
            continue
        t.true(False, f"opening with {label} must raise")

"""Exercise checks for chapter 04 (protecting datasets)."""
import os
import tempfile
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from ..container import ContainerReader
from ..datasets import plan_layout, record_bytes, save_encrypted_dataset
from ._framework import exercise


__all__ = ["read_sample", "seal_samples"]


def _small_dataset(rng, n):
    return TensorDataset(torch.randint(0, 256, (n, 5), dtype=torch.uint8), torch.arange(n))


@exercise(hint=['Which chunk holds sample i, and where inside that chunk does its record start?',
                'Chunk 0 holds the description; the samples start in chunk 1, records_per_chunk to a chunk, each record_size bytes long.'],
          task="read_sample(reader, layout: dict, i: int) -> bytes: the record of sample i, read with reader.read_chunk (reread section 4's layout).")
def read_sample(fn, t, rng):
    per_chunk = plan_layout(_small_dataset(rng, 2))["records_per_chunk"]
    for n in (1, 7, per_chunk, 1000):          # 1000 spans four chunks, the last one partly filled
        dataset = _small_dataset(rng, n)
        records = [record_bytes(dataset[i]) for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.cldc"
            layout = save_encrypted_dataset(dataset, path, data_key=bytes(32))
            k = layout["records_per_chunk"]
            # the first and last sample, and both sides of every chunk boundary: i = m·k − 1, m·k, m·k + 1
            edges = {0, n - 1} | {i for m in range(1, n // k + 1) for i in (m * k - 1, m * k, m * k + 1) if i < n}
            inner = sorted(set(range(1, n - 1)) - edges)
            chosen = [(i, "known") for i in sorted(edges)]
            chosen += [(i, "random") for i in (rng.sample(inner, 5) if len(inner) > 5 else [])]
            with ContainerReader(path, bytes(32), allow_unsigned=True) as reader:
                for i, kind in chosen:
                    got = fn(reader, layout, i)
                    t.equal(got, records[i], f"sample {i} of {n}{_where(i, k, n)}{_which(got, records, i, k)}",
                            kind=kind)


def _where(i, k, n):
    """Where sample i lives, said where an off-by-one shows: at the ends of a chunk and of the dataset."""
    chunk, slot = 1 + i // k, i % k
    place = "first" if slot == 0 else "last" if slot == k - 1 or i == n - 1 else None
    return f" (the {place} record of chunk {chunk}: records_per_chunk = {k}, chunk 0 holds the layout)" if place else ""


def _which(got, records, i, k):
    """On a wrong answer: what it returned instead — another sample's record, or bytes of another size."""
    if got == records[i]:
        return ""
    if not isinstance(got, (bytes, bytearray)) or len(got) != len(records[i]):
        size = len(got) if isinstance(got, (bytes, bytearray)) else type(got).__name__
        return f"; you returned {size}{' bytes' if isinstance(size, int) else ''}, a record is {len(records[i])} bytes"
    j = next((j for j, record in enumerate(records) if record == got), None)
    if j is None:
        return "; what you returned is no sample's record (chunk 0, the layout, holds none)"
    if (j - i) % k == 0:
        return (f"; you returned sample {j}, the same slot {abs(j - i) // k} chunk{'s' if abs(j - i) > k else ''} "
                f"{'earlier' if j < i else 'later'}: the chunk index is off for this sample")
    return f"; you returned sample {j}: the offset inside the chunk is off"


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

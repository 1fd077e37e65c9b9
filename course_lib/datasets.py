"""Encrypted datasets for PyTorch (chapter 04).

A dataset of samples that are tuples of tensors with fixed shapes and dtypes (a
``TensorDataset``, or digits) is stored as fixed-size *records* in the container of
``course_lib.container``: chunk 0 holds a small JSON description (length, fields, record
size), and every later chunk holds a whole number of records, so sample *i* lives in exactly
one chunk. ``EncryptedDataset(path, key)[i]`` decrypts only that chunk, which is what a
shuffled ``DataLoader`` needs; the last chunk read is cached for sequential access.

``PlainRecordDataset`` reads the same layout from an unencrypted file with the same code, so
comparing the two measures the cost of the cryptography alone.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np
import torch
from torch.utils.data import Dataset

from .container import ContainerReader, ContainerWriter

FORMAT = "course_lib records v1"
TARGET_CHUNK_BYTES = 4096


def _fields_of(sample) -> list[dict]:
    return [{"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)} for t in sample]


def _record_bytes(sample) -> bytes:
    return b"".join(t.detach().contiguous().cpu().numpy().tobytes() for t in sample)


def plan_layout(dataset) -> dict:
    """Length, field dtypes/shapes, record size and chunk size for ``dataset`` (all samples alike)."""
    first = dataset[0]
    first = first if isinstance(first, (tuple, list)) else (first,)
    fields = _fields_of(first)
    record_size = sum(int(np.prod(f["shape"], dtype=np.int64)) * torch.empty((), dtype=getattr(torch, f["dtype"])).element_size()
                      for f in fields)
    per_chunk = max(1, TARGET_CHUNK_BYTES // max(1, record_size))
    spec = {"format": FORMAT, "length": len(dataset), "fields": fields, "record_size": record_size,
            "records_per_chunk": per_chunk}
    needed = len(json.dumps(spec)) + 4
    spec["chunk_size"] = max(per_chunk * record_size, needed)
    return spec


def _spec_chunk(spec: dict) -> bytes:
    text = json.dumps(spec, sort_keys=True).encode()
    return (struct.pack(">I", len(text)) + text).ljust(spec["chunk_size"], b"\0")


def _iter_payload(dataset, spec):
    yield _spec_chunk(spec)
    expected = spec["fields"]
    for i in range(len(dataset)):
        sample = dataset[i]
        sample = sample if isinstance(sample, (tuple, list)) else (sample,)
        if _fields_of(sample) != expected:
            raise ValueError(f"sample {i} has fields {_fields_of(sample)}, expected {expected}")
        yield _record_bytes(sample)


def save_encrypted_dataset(dataset, path, **writer_options) -> dict:
    """Encrypt ``dataset`` into a container at ``path``; returns the layout. Streams sample by sample."""
    spec = plan_layout(dataset)
    with ContainerWriter(path, chunk_size=spec["chunk_size"], **writer_options) as writer:
        for piece in _iter_payload(dataset, spec):
            writer.write(piece)
    return spec


def save_plain_dataset(dataset, path) -> dict:
    """The same layout without encryption (the baseline for measuring overhead)."""
    spec = plan_layout(dataset)
    with open(path, "wb") as f:
        for piece in _iter_payload(dataset, spec):
            f.write(piece)
    return spec


class _RecordDataset(Dataset):
    """Shared record decoding; subclasses provide ``_chunk(i)`` and ``_open()``."""

    def __init__(self, transform=None):
        self.transform = transform
        self._cache = (-1, b"")
        self._opened_pid = None
        self._ensure_open()
        spec_chunk = self._chunk(0)
        (n,) = struct.unpack(">I", spec_chunk[:4])
        self.spec = json.loads(spec_chunk[4:4 + n])
        if self.spec.get("format") != FORMAT:
            raise ValueError(f"not a record dataset ({self.spec.get('format')!r})")
        self._fields = [(np.dtype(f["dtype"]), tuple(f["shape"]), int(np.prod(f["shape"], dtype=np.int64)))
                        for f in self.spec["fields"]]
        self._per_chunk = self.spec["records_per_chunk"]
        self._size = self.spec["record_size"]

    def __len__(self) -> int:
        return self.spec["length"]

    def _ensure_open(self) -> None:
        if self._opened_pid != os.getpid():  # a DataLoader worker opens its own file
            self._open()
            self._opened_pid = os.getpid()
            self._cache = (-1, b"")

    def _cached_chunk(self, index: int) -> bytes:
        if self._cache[0] != index:
            self._cache = (index, self._chunk(index))
        return self._cache[1]

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        i %= len(self)
        self._ensure_open()
        chunk = self._cached_chunk(1 + i // self._per_chunk)
        offset = (i % self._per_chunk) * self._size
        out = []
        for dtype, shape, count in self._fields:
            array = np.frombuffer(chunk, dtype=dtype, count=count, offset=offset).reshape(shape)
            out.append(torch.from_numpy(array.copy()))
            offset += count * dtype.itemsize
        return self.transform(*out) if self.transform else tuple(out)

    def __getstate__(self):
        state = dict(self.__dict__)
        for volatile in self._volatile:
            state.pop(volatile, None)
        state["_opened_pid"] = None
        state["_cache"] = (-1, b"")
        return state


class EncryptedDataset(_RecordDataset):
    """A map-style torch ``Dataset`` over an encrypted container: ``EncryptedDataset(path, key)[i]``.

    ``key`` is the recipient's X25519 private key, a password, or the data key. The data key is
    unwrapped once; ``DataLoader`` workers (``num_workers > 0``) receive it and open the file
    themselves, and each sample decrypts and authenticates one chunk. ``transform(*fields)``, if
    given, maps the decoded tensors to the returned sample (e.g. uint8 pixels to normalised floats).
    """

    _volatile = ("_reader",)

    def __init__(self, path, key, transform=None):
        self.path = os.fspath(path)
        self._key = key
        super().__init__(transform)
        self._key = self._reader.data_key  # unwrap once (scrypt is slow); workers reuse the data key

    def _open(self) -> None:
        self._reader = ContainerReader(self.path, self._key)

    def _chunk(self, index: int) -> bytes:
        return self._reader.read_chunk(index)


class PlainRecordDataset(_RecordDataset):
    """The same record layout read from an unencrypted file (the baseline of chapter 04)."""

    _volatile = ("_file",)

    def __init__(self, path, transform=None):
        self.path = os.fspath(path)
        self._stride = None
        self._file = None
        self._fd = None
        super().__init__(transform)

    def _open(self) -> None:
        self._file = open(self.path, "rb")
        self._fd = self._file.fileno()
        (n,) = struct.unpack(">I", os.pread(self._fd, 4, 0))
        self._stride = json.loads(os.pread(self._fd, n, 4))["chunk_size"]

    def _chunk(self, index: int) -> bytes:
        return os.pread(self._fd, self._stride, index * self._stride)


class Normalize:
    """Sample transform: ``(pixels, label) → ((pixels / scale − mean) / std, label)``, per channel.

    A class rather than a lambda so that DataLoader workers started with *spawn* can pickle it.
    """

    def __init__(self, mean, std, scale: float = 1.0):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, *([1] * 2))
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, *([1] * 2))
        self.scale = scale

    def __call__(self, pixels, label):
        x = pixels.float().div_(self.scale)
        mean, std = (self.mean, self.std) if x.dim() >= 3 else (self.mean.flatten(), self.std.flatten())
        return (x - mean) / std, label

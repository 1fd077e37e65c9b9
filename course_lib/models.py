"""Protecting models: safetensors, fingerprints, signed and encrypted checkpoints (chapter 05).

Weights are serialised with the real ``safetensors`` package — a JSON header (name, dtype,
shape, byte range) and raw little-endian bytes — so loading never runs ``pickle``. Its output
is canonical (names sorted, contiguous data), so its SHA-256 is a **fingerprint** of the weights.
:func:`deserialize_state_dict` is stricter than ``safetensors.torch.load``: it checks every
header field, refuses duplicate names, metadata, overlapping or uncovered ranges and trailing
bytes, and accepts only canonical bytes — each failure an :class:`IntegrityError`.

A checkpoint file is a container (``course_lib.container``) whose plaintext is::

    "CLCK2" ‖ statement length (4) ‖ signed statement ‖ safetensors bytes

The signed statement (``course_lib.release``) says: a *model*, its name and version, the
fingerprint of the weights, the Merkle root of the dataset it was trained on, and the key id of
the recipient it was encrypted for. :func:`load_checkpoint` decrypts, verifies the statement
against the verifier's :class:`~course_lib.release.Pin` (signer, name, lowest version), checks the
recipient — whatever kind of key opened the file — and the fingerprint, and only then parses any
tensor.
"""
from __future__ import annotations

import hashlib
import json
import struct

import safetensors.torch
import torch

from .container import ContainerReader, ContainerWriter, holder_id
from .errors import IntegrityError, ReleaseMismatchError
from .pubkey import key_id
from .release import MAX_ENVELOPE_BYTES, Pin, Release, Statement, check_recipient

__all__ = ["CHECKPOINT_MAGIC", "MAX_CHECKPOINT_BYTES", "serialize_state_dict", "deserialize_state_dict",
           "fingerprint", "save_checkpoint", "open_checkpoint", "load_checkpoint"]

CHECKPOINT_MAGIC = b"CLCK2"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def serialize_state_dict(state_dict) -> bytes:
    """Canonical, pickle-free safetensors bytes of a ``{name: tensor}`` mapping."""
    tensors = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype not in (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
                                torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
            raise TypeError(f"{name}: unsupported dtype {tensor.dtype}")
        tensors[name] = tensor.clone()   # safetensors refuses tensors that share memory
    return safetensors.torch.save(tensors)


def _no_duplicates(pairs):
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise IntegrityError("safetensors header names a tensor twice")
    return dict(pairs)


def _check_header(data: bytes) -> None:
    """Validate the safetensors header and byte ranges before the library parses anything."""
    if len(data) < 8:
        raise IntegrityError("serialized state dict is truncated (no header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if not 2 <= n <= MAX_HEADER_BYTES or 8 + n > len(data):
        raise IntegrityError(f"safetensors header length {n} is impossible for {len(data)} bytes")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise IntegrityError("safetensors header is not valid JSON") from None
    if not isinstance(header, dict) or not header:
        raise IntegrityError("safetensors header must be a non-empty JSON object")
    if "__metadata__" in header:
        raise IntegrityError("safetensors metadata is not part of a canonical checkpoint")
    ranges = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or sorted(entry) != ["data_offsets", "dtype", "shape"]:
            raise IntegrityError(f"{name!r}: header entry needs exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPE_SIZES:
            raise IntegrityError(f"{name!r}: unknown dtype {dtype!r}")
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(type(d) is int and 0 <= d < 2**40 for d in shape)):
            raise IntegrityError(f"{name!r}: malformed shape")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets):
            raise IntegrityError(f"{name!r}: malformed data_offsets")
        count = 1
        for d in shape:
            count *= d
        start, end = offsets
        if not 0 <= start <= end or end - start != count * _DTYPE_SIZES[dtype]:
            raise IntegrityError(f"{name!r}: byte range {start}..{end} does not match its shape and dtype")
        ranges.append((start, end, name))
    position = 0
    for start, end, name in sorted(ranges):
        if start != position:
            raise IntegrityError(f"{name!r}: byte ranges overlap or leave a gap at {position}")
        position = end
    if 8 + n + position != len(data):
        raise IntegrityError(f"{len(data) - 8 - n - position} bytes after the last tensor (or missing): "
                             "trailing or truncated data")


def deserialize_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """Inverse of :func:`serialize_state_dict`; runs no code, accepts only canonical bytes.

    Raises :class:`IntegrityError` on anything else: truncation, bad JSON, unknown dtypes,
    overlapping ranges, trailing bytes, metadata, or a header that is not in canonical form.
    """
    data = bytes(data)
    _check_header(data)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as error:   # the Rust parser's SafetensorError, after our checks passed
        raise IntegrityError(f"safetensors refused the data: {error}") from None
    if safetensors.torch.save(tensors) != data:
        raise IntegrityError("the serialized state dict is not in canonical form (order, spacing or padding)")
    return tensors


def fingerprint(state_dict) -> str:
    """SHA-256 (hex) of the canonical serialisation: equal weights ⇔ equal fingerprint."""
    return hashlib.sha256(serialize_state_dict(state_dict)).hexdigest()


def save_checkpoint(state_dict, path, *, signing_key, name: str, version: int, dataset_root: str = "",
                    recipient=None, **writer_options) -> str:
    """Sign a statement about the weights, encrypt, write atomically; returns the fingerprint.

    ``writer_options`` are those of ``ContainerWriter`` (``recipients=[...]``, ``kms=...``, ``data_key=...``).
    The statement names its intended recipient: ``recipient`` (an X25519 public key or its key id)
    if given — e.g. a deployer who opens through a KMS — or else the one X25519 recipient, if there
    is exactly one. Otherwise it names none: anyone it is encrypted for may load it.
    """
    payload = serialize_state_dict(state_dict)
    digest = hashlib.sha256(payload).hexdigest()
    recipients = list(writer_options.get("recipients", ()))
    if recipient is not None:
        recipient = holder_id(None, recipient)
    else:
        recipient = key_id(recipients[0]).hex() if len(recipients) == 1 else ""
    envelope = Release(signing_key, name, version, kind="model", dataset_root=dataset_root,
                       recipient=recipient).sign({"weights": digest})
    with ContainerWriter(path, **writer_options) as writer:
        writer.write(CHECKPOINT_MAGIC + struct.pack(">I", len(envelope)) + envelope)
        writer.write(payload)
    return digest


def open_checkpoint(path, key, *, pin: Pin, recipient=None, max_bytes: int = MAX_CHECKPOINT_BYTES
                    ) -> tuple[dict[str, torch.Tensor], Statement]:
    """Decrypt, verify the signed statement, then parse: ``(state dict, statement)``.

    Refuses, before any tensor is parsed: an untrusted signer, another model name, an older
    version than ``pin.min_version``, a checkpoint meant for another recipient, and weights that
    differ from the signed fingerprint. The container is read once, and what was verified is
    what is parsed.

    **The recipient rule**, for every kind of ``key``: an X25519 private key identifies its
    holder (the key id of its public key). A KMS, a password or a raw data key identifies nobody
    — whoever learned the data key (any recipient, a storage administrator) can decrypt the
    genuine signed plaintext and re-encrypt it under one — so with such a key a checkpoint whose
    statement names a recipient is refused unless ``recipient=`` (your X25519 public key or its
    key id) says who you are, and then it must be the one named. That ``recipient=`` is the
    caller's own word: it keeps an honest reader from being handed someone else's checkpoint,
    and does not stop a key holder who names another recipient than themselves. The rule
    rests on that assumption for these key kinds; only an X25519 private key proves who opens.
    A statement that names no recipient is meant for anyone it is encrypted for.
    """
    if not isinstance(pin, Pin):
        raise TypeError(f"pin= is a course_lib.release.Pin(signer, name, min_version=…), not {type(pin).__name__}")
    holder = holder_id(key, recipient)
    with ContainerReader(path, key, allow_unsigned=True) as reader:   # the signature is inside
        if reader.chunk_count * reader.chunk_size > max_bytes:
            raise IntegrityError(f"checkpoint larger than {max_bytes} bytes")
        plaintext = reader.read_all()
    head = len(CHECKPOINT_MAGIC) + 4
    if len(plaintext) < head or plaintext[:len(CHECKPOINT_MAGIC)] != CHECKPOINT_MAGIC:
        raise IntegrityError("not a signed course_lib checkpoint")
    (n,) = struct.unpack(">I", plaintext[len(CHECKPOINT_MAGIC):head])
    if n > MAX_ENVELOPE_BYTES or head + n > len(plaintext):
        raise IntegrityError("checkpoint statement length is impossible")
    statement = pin.verify(plaintext[head:head + n], kind="model")
    check_recipient(statement, holder)
    payload = plaintext[head + n:]
    if hashlib.sha256(payload).hexdigest() != statement.digests.get("weights"):
        raise ReleaseMismatchError(f"the weights differ from those signed for {pin.name!r} "
                                   f"version {statement.version}")
    return deserialize_state_dict(payload), statement


def load_checkpoint(path, key, *, pin: Pin, recipient=None, max_bytes: int = MAX_CHECKPOINT_BYTES
                    ) -> dict[str, torch.Tensor]:
    """The verified state dict of a checkpoint (see :func:`open_checkpoint`, and its recipient rule)."""
    return open_checkpoint(path, key, pin=pin, recipient=recipient, max_bytes=max_bytes)[0]

"""Protecting models: pickle-free serialisation, signed and encrypted checkpoints (chapter 05).

``serialize_state_dict`` writes tensors the way safetensors does — a JSON header (name, dtype,
shape, byte range) followed by raw little-endian bytes — so loading never runs ``pickle``.
The encoding is canonical (names sorted, contiguous data), so its SHA-256 is a **fingerprint**
of the weights, and an Ed25519 signature over it proves who produced them.

A checkpoint file is a container (``course_lib.container``) whose plaintext is::

    "CLCK1" ‖ signer public key (32) ‖ signature (64) ‖ serialized state dict

``load_checkpoint`` decrypts, checks that the signer is the key you trust and that the
signature verifies, and only then parses any tensor.
"""
from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import torch

from .container import ContainerReader, ContainerWriter
from .errors import IntegrityError, SignatureError
from .pubkey import key_id, public_bytes, sign, verify

CHECKPOINT_MAGIC = b"CLCK1"
_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}
_TORCH = {code: dtype for dtype, code in _DTYPES.items()}


def serialize_state_dict(state_dict) -> bytes:
    """Canonical, pickle-free bytes of a ``{name: tensor}`` mapping (safetensors-style)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        if tensor.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {tensor.dtype}")
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": _DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def deserialize_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """Inverse of :func:`serialize_state_dict`; validates every byte range, runs no code."""
    if len(data) < 8:
        raise IntegrityError("serialized state dict is truncated")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise IntegrityError("serialized state dict header is truncated")
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for name, entry in header.items():
        start, end = entry["offsets"]
        dtype = _TORCH[entry["dtype"]]
        numel = int(np.prod(entry["shape"], dtype=np.int64))
        if not 0 <= start <= end <= len(body) or end - start != numel * torch.empty((), dtype=dtype).element_size():
            raise IntegrityError(f"{name}: byte range {start}..{end} does not match its shape and dtype")
        raw = bytearray(body[start:end])
        out[name] = torch.frombuffer(raw, dtype=torch.uint8).view(dtype).reshape(entry["shape"]) if numel else \
            torch.empty(entry["shape"], dtype=dtype)
    return out


def fingerprint(state_dict) -> str:
    """SHA-256 (hex) of the canonical serialisation: equal weights ⇔ equal fingerprint."""
    return hashlib.sha256(serialize_state_dict(state_dict)).hexdigest()


def save_checkpoint(state_dict, path, *, signing_key, **writer_options) -> str:
    """Sign the weights with ``signing_key`` (Ed25519), encrypt, write atomically; returns the fingerprint.

    ``writer_options`` are those of ``ContainerWriter``: ``recipients=[...]``, ``passwords=[...]``
    or ``data_key=...``.
    """
    payload = serialize_state_dict(state_dict)
    signature = sign(signing_key, payload)
    with ContainerWriter(path, **writer_options) as writer:
        writer.write(CHECKPOINT_MAGIC + public_bytes(signing_key.public_key()) + signature)
        writer.write(payload)
    return hashlib.sha256(payload).hexdigest()


def load_checkpoint(path, key, *, trusted_signer) -> dict[str, torch.Tensor]:
    """Decrypt, check the signer and the signature, then parse the tensors.

    Raises :class:`SignatureError` before any tensor is parsed if the checkpoint was modified,
    or signed by anyone other than ``trusted_signer`` (an Ed25519 public key).
    """
    with ContainerReader(path, key) as reader:
        plaintext = reader.read_all()
    head = len(CHECKPOINT_MAGIC)
    if plaintext[:head] != CHECKPOINT_MAGIC:
        raise IntegrityError("not a signed course_lib checkpoint")
    signer, signature, payload = plaintext[head:head + 32], plaintext[head + 32:head + 96], plaintext[head + 96:]
    if signer != public_bytes(trusted_signer):
        raise SignatureError(f"checkpoint signed by an untrusted key, not by the trusted key id "
                             f"{key_id(trusted_signer).hex()}")
    verify(trusted_signer, payload, signature)
    return deserialize_state_dict(payload)

"""Hashes for integrity: HMAC, constant-time checks, keyed pseudonyms, Merkle manifests (chapter 02).

The Merkle tree follows RFC 6962 (Certificate Transparency): leaves are hashed as
``SHA-256(0x00 ‖ data)`` and inner nodes as ``SHA-256(0x01 ‖ left ‖ right)`` — different
prefixes so a leaf can never pass for a node — and a tree of *n* leaves splits at the
largest power of two below *n*. One 32-byte root then vouches for every sample of a dataset;
an inclusion proof for one sample is ⌈log2 n⌉ hashes.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .errors import IntegrityError


__all__ = ["LEAF", "NODE", "hmac_sha256", "verify_hmac", "keyed_pseudonym", "leaf_hash", "node_hash",
           "merkle_root", "verify_inclusion", "Manifest"]

LEAF, NODE = b"\x00", b"\x01"


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA-256 tag (RFC 2104 / RFC 4231)."""
    return hmac.new(key, message, hashlib.sha256).digest()


def verify_hmac(key: bytes, message: bytes, tag: bytes) -> None:
    """Check an HMAC tag in constant time; raises :class:`IntegrityError` if it does not match."""
    if not hmac.compare_digest(hmac_sha256(key, message), tag):
        raise IntegrityError("HMAC tag does not match: wrong key or modified message")


def keyed_pseudonym(key: bytes, value: str | bytes) -> str:
    """A pseudonym for a small-domain value (an ID, an age): HMAC under a secret key, hex.

    Unlike a plain hash, nobody without the key can test candidate values. Anyone *with* the
    key still can, and equal values still get equal pseudonyms (linkability).
    """
    data = value.encode() if isinstance(value, str) else value
    return hmac_sha256(key, data).hex()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n ≥ 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root(hashes[:k]), _root(hashes[k:]))


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of a list of byte strings (the empty tree hashes to SHA-256(b''))."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _root([leaf_hash(x) for x in leaves])


def _path(index: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return _path(index, hashes[:k]) + [_root(hashes[k:])]
    return _path(index - k, hashes[k:]) + [_root(hashes[:k])]


def verify_inclusion(root: bytes, leaf: bytes, index: int, size: int, proof: list[bytes]) -> bool:
    """True if ``proof`` shows ``leaf`` is entry ``index`` of the tree of ``size`` leaves with ``root``."""
    if not 0 <= index < size:
        return False

    def climb(index: int, size: int, proof: list[bytes]) -> bytes | None:
        if size == 1:
            return leaf_hash(leaf) if not proof else None
        if not proof:
            return None
        k = _split(size)
        sibling, rest = proof[-1], proof[:-1]
        if index < k:
            below = climb(index, k, rest)
            return None if below is None else node_hash(below, sibling)
        below = climb(index - k, size - k, rest)
        return None if below is None else node_hash(sibling, below)

    computed = climb(index, size, list(proof))
    return computed is not None and hmac.compare_digest(computed, root)


@dataclass(frozen=True)
class Manifest:
    """Per-sample leaf hashes and the Merkle root of a dataset; the root names the version."""
    leaves: tuple[bytes, ...]
    root: bytes

    @classmethod
    def build(cls, records) -> "Manifest":
        return cls.from_leaf_hashes(leaf_hash(r) for r in records)

    @classmethod
    def from_leaf_hashes(cls, leaves) -> "Manifest":
        """The manifest of records already hashed with :func:`leaf_hash` (streaming: 32 bytes per record kept)."""
        leaves = tuple(leaves)
        return cls(leaves, _root(list(leaves)) if leaves else hashlib.sha256(b"").digest())

    @property
    def version(self) -> str:
        """Content address of the dataset: the whole root, in hex (a 64-bit prefix would collide
        after about 2^32 versions — the birthday bound of chapter 02)."""
        return self.root.hex()

    def __len__(self) -> int:
        return len(self.leaves)

    def proof(self, index: int) -> list[bytes]:
        """Inclusion proof (audit path) for sample ``index``."""
        if not 0 <= index < len(self.leaves):
            raise IndexError(f"sample {index} out of range 0..{len(self.leaves) - 1}")
        return _path(index, list(self.leaves))

    def verify(self, records) -> None:
        """Raise :class:`IntegrityError` naming the changed samples if ``records`` differ."""
        changed = self.changed(records)
        if changed:
            shown = ", ".join(map(str, changed[:10])) + (" …" if len(changed) > 10 else "")
            raise IntegrityError(f"{len(changed)} sample(s) do not match the manifest "
                                 f"(version {self.version}): index {shown}")

    def changed(self, records) -> list[int]:
        """Indices whose record differs from the manifest (added or missing ones included)."""
        records = list(records)
        n = max(len(records), len(self.leaves))
        return [i for i in range(n) if i >= len(records) or i >= len(self.leaves)
                or not hmac.compare_digest(leaf_hash(records[i]), self.leaves[i])]

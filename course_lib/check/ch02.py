"""Exercise checks for chapter 02 (hashing and integrity)."""
import hashlib
import os

from ..hashing import Manifest, merkle_root as reference_root
from ..toy.sha256 import naive_mac
from ._framework import exercise


__all__ = ["reverse_hashed_ages", "merkle_root", "verify_inclusion", "forge_length_extension"]

# RFC 6962 / Certificate Transparency reference tree of 8 leaves
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


@exercise(hint=['How many different ages are there? Could you simply hash them all?',
                'Build the mapping from digest back to age once, then each leaked digest is a lookup. Hash an age exactly as the leaked data was hashed (reread the cell that made it).'],
          task='reverse_hashed_ages(digests: list[str]) -> list[int]: the age behind each hex SHA-256 digest (reread section 3).')
def reverse_hashed_ages(fn, t, rng):
    t.equal(fn([hashlib.sha256(b"42").hexdigest()]), [42], "one digest of age 42")
    t.equal(fn([]), [], "no digests")
    for _ in range(20):
        ages = [rng.randrange(0, 121) for _ in range(10)]
        digests = [hashlib.sha256(str(a).encode()).hexdigest() for a in ages]
        t.equal(fn(digests), ages, f"hashed ages {ages}, in order", kind="random")


@exercise(hint=['Leaves and inner nodes are hashed with different one-byte prefixes; and what is the root of no leaves at all?',
                "RFC 6962 splits n > 1 leaves unevenly: the left part is the largest power of two that is smaller than n. Reread the 5-leaf diagram of section 7.",
                'Write it recursively: the root of a list is a node over the roots of its two parts, and a single leaf is its own subtree. The empty list needs its own case (RFC 6962, section 2.1).'],
          task='merkle_root(leaves: list[bytes]) -> bytes, the RFC 6962 root, including for an empty list (reread section 7).')
def merkle_root(fn, t, rng):
    t.equal(fn(CT_LEAVES), CT_ROOT, "the RFC 6962 reference tree of 8 leaves")
    t.equal(fn(CT_LEAVES[:1]), hashlib.sha256(b"\x00" + CT_LEAVES[0]).digest(), "a single leaf")
    t.equal(fn([]), hashlib.sha256(b"").digest(), "the empty tree (RFC 6962: SHA-256 of the empty string)")
    for _ in range(25):
        leaves = [os.urandom(rng.randrange(0, 20)) for _ in range(rng.randrange(1, 40))]
        t.equal(fn(leaves), reference_root(leaves), f"{len(leaves)} random leaves", kind="random")


@exercise(hint=['Walk from the leaf to the root: at each level, is the sibling on the left or on the right?',
                "Follow the same split as merkle_root: at each level the index falls in the left or the right part, and the proof's hashes come from the bottom up. Reread the 5-leaf diagram of section 7 and the proofs of leaves 2 and 4 below it.",
                'A proof with too many or too few hashes, or an index outside the tree, must give False — not an exception and not True.'],
          task='verify_inclusion(root, leaf, index, size, proof) -> bool, True only for a valid RFC 6962 inclusion proof (reread the inclusion-proof cell).')
def verify_inclusion(fn, t, rng):
    single = Manifest.build([b"only"])
    t.true(fn(single.root, b"only", 0, 1, []) is True, "a one-leaf tree: empty proof, root = leaf hash")
    t.true(fn(single.root, b"only", 1, 1, []) is False, "index out of range must be rejected")
    for _ in range(20):
        records = [os.urandom(8) for _ in range(rng.randrange(2, 50))]
        manifest = Manifest.build(records)
        n, i = len(records), rng.randrange(len(records))
        proof = manifest.proof(i)
        t.true(fn(manifest.root, records[i], i, n, proof) is True, f"valid proof for leaf {i} of {n}", kind="random")
        t.true(fn(manifest.root, records[i] + b"!", i, n, proof) is False, "a modified leaf must be rejected",
               kind="random")
        j = (i + 1) % n
        t.true(fn(manifest.root, records[i], j, n, proof) is False, "the right leaf at the wrong index "
               "must be rejected", kind="random")
        bad = list(proof)
        bad[0] = bytes(32)
        t.true(fn(manifest.root, records[i], i, n, bad) is False, "a modified proof must be rejected",
               kind="random")


@exercise(hint=["SHA-256's output is its whole internal state: what can you keep hashing from it?",
                'The message the server will check is the original one, then the padding SHA-256 added to it, then your suffix. Which length does that padding encode?',
                'The toy SHA-256 can resume from a state: sha256(data, state, already_hashed) — already_hashed counts every byte hashed so far, the key and the padding included.'],
          task='forge(tag: bytes, message: bytes, key_length: int, suffix: bytes) -> (forged message, forged tag) that the naive MAC sha256(key ‖ message) accepts (reread the length-extension cells).')
def forge_length_extension(fn, t, rng):
    for _ in range(10):
        key = os.urandom(rng.randrange(8, 40))
        message = b"dataset=digits;label_of_17=3"
        suffix = b";label_of_18=0"
        forged_message, forged_tag = fn(naive_mac(key, message), message, len(key), suffix)
        t.true(forged_message.startswith(message) and forged_message.endswith(suffix),
               "the forged message must start with the original and end with the suffix", kind="random")
        t.true(naive_mac(key, forged_message) == forged_tag,
               f"the forged tag must verify under sha256(key ‖ message) (key of {len(key)} bytes)", kind="random")

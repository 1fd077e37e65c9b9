"""Exercise checks for chapter 02 (hashing and integrity)."""
import hashlib
import os

from ..hashing import Manifest, merkle_root as reference_root
from ..toy.sha256 import naive_mac
from ._framework import exercise

# RFC 6962 / Certificate Transparency reference tree of 8 leaves
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


@exercise(hint=['How many ages are there? Could you simply hash them all?',
                "Hash every age 0…120 once (str(age).encode()), keep a dict digest → age, then look each "
               "leaked digest up. That is the whole attack: a small input domain."],
          task='reverse_hashed_ages(digests: list[str]) -> list[int]: the age behind each hex SHA-256 digest (reread section 3).')
def reverse_hashed_ages(fn, t, rng):
    t.equal(fn([hashlib.sha256(b"42").hexdigest()]), [42], "one digest of age 42")
    t.equal(fn([]), [], "no digests")
    for _ in range(20):
        ages = [rng.randrange(0, 121) for _ in range(10)]
        digests = [hashlib.sha256(str(a).encode()).hexdigest() for a in ages]
        t.equal(fn(digests), ages, f"hashed ages {ages}, in order", kind="random")


@exercise(hint=['Leaves and inner nodes are hashed with different one-byte prefixes; and what is the root of no leaves at all?',
                "Leaves: sha256(b'\\x00' + data). Node: sha256(b'\\x01' + left + right). With n > 1 leaves, "
               "split at k = the largest power of two smaller than n: root(first k) and root(rest)."],
          task='merkle_root(leaves: list[bytes]) -> bytes, the RFC 6962 root, including for an empty list (reread section 7).')
def merkle_root(fn, t, rng):
    t.equal(fn(CT_LEAVES), CT_ROOT, "the RFC 6962 reference tree of 8 leaves")
    t.equal(fn(CT_LEAVES[:1]), hashlib.sha256(b"\x00" + CT_LEAVES[0]).digest(), "a single leaf")
    t.equal(fn([]), hashlib.sha256(b"").digest(), "the empty tree (RFC 6962: SHA-256 of the empty string)")
    for _ in range(25):
        leaves = [os.urandom(rng.randrange(0, 20)) for _ in range(rng.randrange(1, 40))]
        t.equal(fn(leaves), reference_root(leaves), f"{len(leaves)} random leaves", kind="random")


@exercise(hint=['Walk from the leaf to the root: at each level, is the sibling on the left or on the right?',
                "Recompute the root from the leaf upwards: at each level the sibling from the proof goes on the "
               "left or the right depending on which half (split at the largest power of two below the size) "
               "holds the index. Return False for any mismatch, wrong length or out-of-range index."],
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
                "The tag is SHA-256's internal state after key ‖ message ‖ padding. Compute the padding for "
               "key_length + len(message) bytes (0x80, zeros, 64-bit bit length), then continue hashing the "
               "suffix from that state with the total length so far (cl.toy.sha256.sha256(suffix, state, n))."],
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

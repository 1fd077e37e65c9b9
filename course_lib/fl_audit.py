"""Auditing a secure-aggregation engine's mask generator: Flower's SecAgg+ (chapter 10b).

Flower 1.42.0 expands every SecAgg+ mask with ``pseudo_rand_gen``
(``flwr/common/secure_aggregation/secaggplus_utils.py``, lines 83-100): the seed's 4-byte
little-endian words are XOR-ed into one 32-bit integer, which seeds ``numpy.random.RandomState``
(MT19937), and the mask is ``randint(0, modulus - 1, shape)``. The private mask's seed is
``os.urandom(32)`` (``secaggplus_mod.py`` line 376): its fold is uniform over 2^32 values. A pairwise
mask's seed is the 44-character base64url text of an HKDF-SHA256 output (``generate_shared_key`` in
``crypto/symmetric_encryption.py``, line 43): every character is ASCII, so bit 7 of every folded
byte is 0, and at most 2^28 seeds occur.

This module reproduces that expansion (:func:`flower_mask`, checked against the installed Flower by
the tests), measures the seeds' entropy, implements the search an honest-but-curious server can run
against one client's masked input (:func:`search_mask_seed`), and gives the replacement expansion
(:func:`expand_mask_aes`, AES-256-CTR from chapter 07's PRG) with a patch for Flower
(:func:`patch_flower`, :func:`flower_aes_masks`).

Everything named ``flower_*`` or ``mt_*`` below is INSECURE on purpose: it reproduces the flaw.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import math
import string
import time

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SecureAggregationError
from .mpc.prg import PRG

__all__ = ["FLOWER_VERSION", "MaskParameterError", "fold32", "flower_mask", "mt_mask", "mt_outputs", "mt_masks",
           "flower_pairwise_seed", "pairwise_seed_entropy", "measure_folds", "SeedSpace", "SearchResult",
           "residual", "strip_mask", "search_mask_seed", "find_mask_seed", "false_positive_rate",
           "expand_mask_aes", "aes_pseudo_rand_gen", "patch_flower", "flower_aes_masks"]

FLOWER_VERSION = "1.42.0"            # the release whose code this module reproduces
_B64URL = (string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_").encode()
_MT_N, _MT_M = 624, 397              # MT19937's state length and middle offset (Matsumoto & Nishimura 1998)
_MAX_TEST = _MT_N - _MT_M            # outputs computable from the initial state without a second twist


class MaskParameterError(SecureAggregationError, ValueError):
    """A mask expansion or seed search got a modulus, shape, seed or space it cannot use (chapter 10b)."""


# --- Flower's expansion, reproduced -------------------------------------------------------------------------

def fold32(seed: bytes) -> int:
    """INSECURE — for learning: Flower's fold of a seed into 32 bits (XOR of its 4-byte little-endian words)."""
    seed = bytes(seed)
    if len(seed) % 4:
        raise MaskParameterError(f"Flower folds seeds of a multiple of 4 bytes; this one has {len(seed)}")
    folded = 0
    for i in range(0, len(seed), 4):
        folded ^= int.from_bytes(seed[i:i + 4], "little")
    return folded


def _check_modulus(modulus: int, high: int = 1 << 32) -> int:
    if isinstance(modulus, bool) or not isinstance(modulus, (int, np.integer)) or not 3 <= int(modulus) <= high:
        raise MaskParameterError(f"the modulus must be an integer in [3, 2^32], got {modulus!r}")
    return int(modulus)


def flower_mask(seed: bytes, modulus: int, shapes) -> list[np.ndarray]:
    """INSECURE — for learning: Flower 1.42.0's ``pseudo_rand_gen(seed, modulus, shapes)``, line for line.

    One ``RandomState`` seeded with :func:`fold32` draws every array in turn, with
    ``randint(0, modulus - 1)``: values in [0, modulus − 2] (modulus − 1 never occurs).
    """
    modulus = _check_modulus(modulus)
    generator = np.random.RandomState(fold32(seed))
    out = []
    for shape in shapes:
        shape = tuple(shape)
        if len(shape) == 0:
            out.append(np.array(generator.randint(0, modulus - 1), dtype=np.int64))
        else:
            out.append(generator.randint(0, modulus - 1, shape, dtype=np.int64))
    return out


def mt_mask(seed32: int, modulus: int, count: int) -> np.ndarray:
    """INSECURE — for learning: the first ``count`` mask values Flower draws from the folded seed ``seed32``.

    Equal to ``flower_mask``'s arrays flattened and concatenated, for any seed whose fold is ``seed32``.
    """
    modulus = _check_modulus(modulus)
    return np.random.RandomState(int(seed32)).randint(0, modulus - 1, int(count), dtype=np.int64)


def mt_outputs(seeds, count: int) -> np.ndarray:
    """The first ``count`` (≤ 227) tempered MT19937 outputs for many 32-bit seeds at once: (len(seeds), count) uint32.

    ``RandomState(seed)`` runs MT19937's ``init_genrand`` (624 words from the seed), then one twist
    before its first output; output i needs state words i, i + 1 and i + 397 only, so the first 227
    outputs need the first 397 + count words of the initial state. NumPy does this for a whole batch of
    seeds in 397 + count vector steps (Matsumoto & Nishimura 1998; numpy's ``mt19937_seed``).
    """
    count = int(count)
    if not 1 <= count <= _MAX_TEST:
        raise MaskParameterError(f"between 1 and {_MAX_TEST} outputs per seed, got {count}")
    prev = np.array(seeds, dtype=np.uint32).reshape(-1)
    head = np.empty((count + 1, prev.size), np.uint32)          # state words 0 .. count
    tail = np.empty((count, prev.size), np.uint32)              # state words 397 .. 397 + count - 1
    head[0] = prev
    prev = prev.copy()
    tmp = np.empty_like(prev)
    factor = np.uint32(1812433253)
    for i in range(1, _MT_M + count):
        np.right_shift(prev, 30, out=tmp)
        np.bitwise_xor(prev, tmp, out=tmp)
        np.multiply(tmp, factor, out=tmp)
        np.add(tmp, np.uint32(i), out=prev)
        if i <= count:
            head[i] = prev
        if i >= _MT_M:
            tail[i - _MT_M] = prev
    y = (head[:count] & np.uint32(0x80000000)) | (head[1:] & np.uint32(0x7FFFFFFF))
    state = tail ^ (y >> np.uint32(1)) ^ np.where(y & np.uint32(1), np.uint32(0x9908B0DF), np.uint32(0))
    state ^= state >> np.uint32(11)
    state ^= (state << np.uint32(7)) & np.uint32(0x9D2C5680)
    state ^= (state << np.uint32(15)) & np.uint32(0xEFC60000)
    state ^= state >> np.uint32(18)
    return state.T


def mt_masks(seeds, modulus: int, count: int) -> np.ndarray:
    """The first ``count`` values of :func:`mt_mask` for many seeds at once: (len(seeds), count) int64.

    ``randint`` keeps an output's low bits (``& mask``) and rejects values above modulus − 2; a seed
    whose first outputs hit a rejection is recomputed with ``RandomState`` itself.
    """
    modulus = _check_modulus(modulus)
    seeds = np.array(seeds, dtype=np.uint32).reshape(-1)
    high = modulus - 2                                           # largest value randint(0, modulus - 1) returns
    bitmask = (1 << high.bit_length()) - 1
    raw = mt_outputs(seeds, count).astype(np.int64) & bitmask
    rejected = np.flatnonzero((raw > high).any(axis=1))
    for row in rejected:
        raw[row] = mt_mask(int(seeds[row]), modulus, count)
    return raw


# --- the seeds' entropy -------------------------------------------------------------------------------------

def flower_pairwise_seed(private_key, peer_public_key) -> bytes:
    """INSECURE as a mask seed — Flower's ``generate_shared_key``: base64url(HKDF-SHA256(ECDH(sk, pk))), 44 bytes."""
    from cryptography.hazmat.primitives.asymmetric import ec
    shared = private_key.exchange(ec.ECDH(), peer_public_key)
    return base64.urlsafe_b64encode(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=None).derive(shared))


def _xor_convolve(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distribution of a ⊕ b for independent a ~ p, b ~ q over 8-bit values (Walsh–Hadamard)."""
    def wht(v):
        v = v.copy()
        h = 1
        while h < v.size:
            v = v.reshape(-1, 2, h)
            v = np.stack([v[:, 0] + v[:, 1], v[:, 0] - v[:, 1]], axis=1).reshape(-1)
            h *= 2
        return v
    return wht(wht(p) * wht(q)) / p.size


def pairwise_seed_entropy() -> dict:
    """The exact distribution of a folded pairwise seed, from the base64 structure alone, in bits.

    A uniform 32-byte key encodes to 42 uniform base64url characters, a 43rd carrying 4 bits (its
    sextet's low 2 bits are 0, RFC 4648 §5) and one '='. Fold byte j is the XOR of characters
    j, j + 4, …, j + 40: independent bytes whose bit 7 is always 0.
    """
    char = np.zeros(256)
    char[list(_B64URL)] = 1 / 64
    last = np.zeros(256)
    last[[_B64URL[i] for i in range(0, 64, 4)]] = 1 / 16
    equals = np.zeros(256)
    equals[ord("=")] = 1.0
    bytes_ = []
    for j in range(4):
        dist = np.zeros(256)
        dist[0] = 1.0
        for position in range(j, 44, 4):
            dist = _xor_convolve(dist, equals if position == 43 else last if position == 42 else char)
        bytes_.append(np.clip(dist, 0, None))
    min_entropy = sum(-math.log2(d.max()) for d in bytes_)
    shannon = sum(-(d[d > 0] * np.log2(d[d > 0])).sum() for d in bytes_)
    collision = sum(-math.log2((d ** 2).sum()) for d in bytes_)
    always_zero = 0
    for j, d in enumerate(bytes_):
        for bit in range(8):
            if all(d[v] == 0 for v in range(256) if v >> bit & 1):
                always_zero |= 1 << (8 * j + bit)
    return {"possible_values": int(np.prod([int((d > 0).sum()) for d in bytes_])), "always_zero_bits": always_zero,
            "min_entropy_bits": round(min_entropy, 4), "shannon_bits": round(float(shannon), 4),
            "collision_bits": round(collision, 4)}


def measure_folds(folds) -> dict:
    """Counts over measured 32-bit folds: distinct values, colliding pairs, the collision-entropy estimate.

    ``collision_entropy_estimate_bits`` is −log2 of the fraction of pairs that collide (Rényi order 2,
    a lower bound on Shannon entropy and an upper bound on min-entropy); None without a collision.
    """
    folds = np.asarray(folds, dtype=np.uint64)
    n = folds.size
    _, counts = np.unique(folds, return_counts=True)
    colliding = int((counts * (counts - 1) // 2).sum())
    pairs = n * (n - 1) // 2
    return {"n": n, "distinct": int(counts.size), "colliding_pairs": colliding,
            "bits_ever_set": int(np.bitwise_or.reduce(folds)) if n else 0,
            "collision_entropy_estimate_bits": round(math.log2(pairs / colliding), 2) if colliding else None,
            "expected_colliding_pairs_28_bits": round(pairs / 2 ** 28, 1),
            "expected_colliding_pairs_32_bits": round(pairs / 2 ** 32, 1)}


# --- the search ---------------------------------------------------------------------------------------------

_PAIRWISE_FREE = tuple(8 * j + b for j in range(4) for b in range(7))       # bit 7 of each byte is always 0
_SELF_FREE = tuple(range(32))


@dataclasses.dataclass(frozen=True)
class SeedSpace:
    """The folded seeds a search tries: every value of the bits in ``free``, the other bits set as in ``fixed``.

    ``SeedSpace.pairwise()`` is the full space of pairwise seeds (2^28); ``SeedSpace.private()`` that of
    private-mask seeds (2^32). ``space.reduced(seed, unknown_bits)`` is the reduced space of the lab: the
    attacker is handed the true seed's free bits except the lowest ``unknown_bits`` of them, and tries
    the 2^unknown_bits values of those; the full space is 2^(free − unknown_bits) times larger.
    """
    free: tuple
    fixed: int = 0

    @classmethod
    def pairwise(cls) -> "SeedSpace":
        return cls(_PAIRWISE_FREE)

    @classmethod
    def private(cls) -> "SeedSpace":
        return cls(_SELF_FREE)

    @property
    def size(self) -> int:
        return 1 << len(self.free)

    def reduced(self, seed: int, unknown_bits: int) -> "SeedSpace":
        if not 0 <= unknown_bits <= len(self.free):
            raise MaskParameterError(f"unknown_bits must be in [0, {len(self.free)}], got {unknown_bits}")
        known = self.free[unknown_bits:]
        fixed = self.fixed | sum(int(seed) & (1 << b) for b in known)
        return SeedSpace(self.free[:unknown_bits], fixed)

    def seeds(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The space's seeds number ``start`` to ``stop`` (exclusive), as uint32."""
        stop = self.size if stop is None else min(stop, self.size)
        index = np.arange(start, stop, dtype=np.uint64)
        out = np.full(index.size, self.fixed, dtype=np.uint64)
        for k, bit in enumerate(self.free):
            out |= ((index >> np.uint64(k)) & np.uint64(1)) << np.uint64(bit)
        return out.astype(np.uint32)

    def __contains__(self, seed: int) -> bool:
        free = sum(1 << b for b in self.free)
        return int(seed) & ~free & 0xFFFFFFFF == self.fixed


@dataclasses.dataclass
class SearchResult:
    """What :func:`search_mask_seed` found: the seeds that pass the full test and the update they unmask."""
    seeds: list
    update: np.ndarray | None
    tried: int
    first_stage_passes: int
    seconds: float

    @property
    def rate(self) -> float:
        """Seeds tried per second."""
        return self.tried / self.seconds if self.seconds else float("inf")


def residual(masked, known_masks, modulus: int) -> np.ndarray:
    """One client's masked arrays minus every mask the server knows (all flattened, one int64 vector, mod modulus).

    In SecAgg+ an honest server learns a surviving client's private-mask seed (stage "unmask") and, for a
    neighbour that dropped out, that neighbour's mask key, hence their pairwise mask; ``known_masks`` is a
    list of ``(sign, arrays)`` pairs to subtract, ``sign`` being +1 for a mask the client added.
    """
    modulus = _check_modulus(modulus)
    flat = np.concatenate([np.asarray(a, dtype=np.int64).reshape(-1) for a in masked])
    for sign, arrays in known_masks:
        flat = flat - int(sign) * np.concatenate([np.asarray(a, dtype=np.int64).reshape(-1) for a in arrays])
    return np.mod(flat, modulus)


def strip_mask(rest: np.ndarray, seed32: int, modulus: int, sign: int) -> np.ndarray:
    """``rest`` with the mask of folded seed ``seed32`` removed: rest − sign · mask mod modulus."""
    rest = np.asarray(rest, dtype=np.int64)
    return np.mod(rest - int(sign) * mt_mask(seed32, modulus, rest.size), modulus)


def false_positive_rate(bound: int, modulus: int, elements: int) -> float:
    """Chance that a wrong seed's unmasked values all fall in [0, bound]: ((bound + 1) / modulus)^elements.

    Exact if a wrong seed's mask values are independent and uniform on [0, modulus − 2] (as MT19937's
    outputs for unrelated seeds are taken to be), up to the factor (modulus / (modulus − 1))^elements.
    """
    return ((bound + 1) / modulus) ** elements


def _sign(sign) -> int:
    if sign not in (1, -1):
        raise MaskParameterError(f"sign is +1 (the client added the mask) or -1 (it subtracted it), got {sign!r}")
    return int(sign)


def search_mask_seed(rest, space: SeedSpace, modulus: int, bound: int, sign: int, *, skip: int = 1,
                     test_elements: int = 4, batch: int = 1 << 18, start: int = 0, stop: int | None = None
                     ) -> SearchResult:
    """Try every folded seed of ``space`` as the one unknown mask in ``rest`` (see :func:`residual`).

    The test: a quantised SecAgg+ update lies in [0, bound] (``bound`` = the quantisation range), a
    wrong seed's "update" is uniform mod ``modulus``. Stage 1 tests ``test_elements`` values after the
    first ``skip`` (Flower's first value is the weight factor) on a batch of seeds at once; a seed that
    passes is then tested on every value. A wrong seed passes stage 1 with probability
    :func:`false_positive_rate` (bound, modulus, test_elements), and the whole test with that rate for
    all len(rest) − skip values. ``start``/``stop`` select part of the space (to split it over processes).
    """
    modulus, sign = _check_modulus(modulus), _sign(sign)
    rest = np.asarray(rest, dtype=np.int64).reshape(-1)
    if not 1 <= test_elements <= _MAX_TEST - skip or rest.size < skip + test_elements:
        raise MaskParameterError(f"need 1 ≤ test_elements ≤ {_MAX_TEST - skip} and at least skip + test_elements "
                                 f"values; got {test_elements} of {rest.size}")
    if not 0 <= bound < modulus:
        raise MaskParameterError(f"the bound must be in [0, modulus), got {bound}")
    began = time.perf_counter()
    stop = space.size if stop is None else min(stop, space.size)
    window = rest[skip:skip + test_elements]
    found, passes, tried = [], 0, 0
    for first in range(start, stop, batch):
        seeds = space.seeds(first, min(first + batch, stop))
        tried += seeds.size
        masks = mt_masks(seeds, modulus, skip + test_elements)[:, skip:]
        values = np.mod(window - sign * masks, modulus)
        for row in np.flatnonzero((values <= bound).all(axis=1)):
            passes += 1
            update = strip_mask(rest, int(seeds[row]), modulus, sign)
            if (update[skip:] <= bound).all():
                found.append((int(seeds[row]), update))
    update = found[0][1] if len(found) == 1 else None
    return SearchResult([s for s, _ in found], update, tried, passes, time.perf_counter() - began)


def _search_part(job: dict) -> dict:
    """One process's share of a search (importable, for spawned workers): the result as plain values."""
    result = search_mask_seed(job["rest"], SeedSpace(tuple(job["free"]), job["fixed"]), job["modulus"], job["bound"],
                              job["sign"], start=job["start"], stop=job["stop"])
    return {"seeds": result.seeds, "tried": result.tried, "passes": result.first_stage_passes,
            "seconds": result.seconds}


def find_mask_seed(rest, seeds, modulus: int, bound: int, sign: int):
    """The exercise's reference: the one seed in ``seeds`` whose mask, removed from ``rest``, leaves every value
    in [0, bound]; None if no seed does. Plain and slow (one ``RandomState`` per seed)."""
    rest = np.asarray(rest, dtype=np.int64)
    for seed in seeds:
        if (strip_mask(rest, int(seed), modulus, sign) <= bound).all():
            return int(seed)
    return None


# --- the fix ------------------------------------------------------------------------------------------------

def expand_mask_aes(seed: bytes, shape, modulus: int) -> np.ndarray:
    """A mask of ``shape`` with values uniform in [0, modulus), from the WHOLE seed: AES-256-CTR (chapter 07's PRG).

    The key is HKDF-SHA256 of the seed (RFC 5869; info "secagg mask"), so a 32-byte private seed and a
    44-byte base64 pairwise seed both keep their entropy. A power-of-two modulus keeps 32-bit words'
    low bits (exactly uniform); any other modulus reduces 64-bit words, at statistical distance below
    modulus / 2^64 ≤ 2^-32 per value from uniform.
    """
    seed = bytes(seed)
    if len(seed) < 16:
        raise MaskParameterError(f"a mask seed needs at least 16 bytes, got {len(seed)}")
    modulus = _check_modulus(modulus)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if any(s < 0 for s in shape):
        raise MaskParameterError(f"a mask's shape has no negative sizes, got {shape}")
    count = math.prod(shape)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg mask").derive(seed)
    prg = PRG(key)
    if modulus & (modulus - 1) == 0:
        words = np.frombuffer(prg.random_bytes(4 * count), dtype="<u4").astype(np.int64) & (modulus - 1)
    else:
        words = (prg.words(count) % np.uint64(modulus)).astype(np.int64)
    return words.reshape(shape)


def aes_pseudo_rand_gen(seed: bytes, num_range: int, dimensions_list) -> list[np.ndarray]:
    """Drop-in replacement for Flower's ``pseudo_rand_gen``: one AES-CTR stream over all the arrays, in order."""
    shapes = [tuple(d) for d in dimensions_list]
    flat = expand_mask_aes(seed, (sum(math.prod(s) for s in shapes),), num_range)
    out, at = [], 0
    for shape in shapes:
        n = math.prod(shape)
        out.append(flat[at:at + n].reshape(shape))
        at += n
    return out


_FLOWER_USERS = ("flwr.common.secure_aggregation.secaggplus_utils",
                 "flwr.client.mod.secure_aggregation.secaggplus_mod",
                 "flwr.server.workflow.secure_aggregation.secaggplus_workflow")


def patch_flower() -> dict:
    """Make this process's Flower expand SecAgg+ masks with :func:`aes_pseudo_rand_gen`; returns what it replaced.

    Each module that imported ``pseudo_rand_gen`` holds its own reference, so all three are patched.
    Every SuperNode (client mod) and the ServerApp (workflow) must run it before their first round:
    a party left unpatched adds masks that no longer cancel, and the aggregate comes out wrong.
    """
    import importlib
    try:
        import flwr
    except ImportError as error:
        raise ImportError("patch_flower needs Flower (pip install flwr)") from error
    if flwr.__version__ != FLOWER_VERSION:
        raise RuntimeError(f"this patch was written against Flower {FLOWER_VERSION}; found {flwr.__version__}. "
                           f"Read that release's secaggplus code before patching it")
    replaced = {}
    for name in _FLOWER_USERS:
        module = importlib.import_module(name)
        replaced[name] = module.pseudo_rand_gen
        module.pseudo_rand_gen = aes_pseudo_rand_gen
    return replaced


@contextlib.contextmanager
def flower_aes_masks():
    """Context manager: :func:`patch_flower` inside the block, Flower's own generator restored after it."""
    import importlib
    replaced = patch_flower()
    try:
        yield
    finally:
        for name, original in replaced.items():
            importlib.import_module(name).pseudo_rand_gen = original

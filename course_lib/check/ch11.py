"""Exercise checks for chapter 11 (homomorphic encryption)."""
import numpy as np
import tenseal as ts
import torch

from .. import he
from ..toy import paillier
from ._framework import _short, exercise

__all__ = ["encrypted_sum", "ckks_parameters", "pack_columns"]


class _WatchedKey(paillier.PrivateKey):
    """The check's private key; notes any read of its secret parts while the learner's code runs."""

    def __getattribute__(self, name):
        if name in ("lam", "mu", "__dict__") and _WATCH["on"]:
            _WATCH["used"] = True
        return object.__getattribute__(self, name)


_WATCH = {"on": False, "used": False}
_KEY = None


def _key():
    global _KEY
    if _KEY is None:
        key = paillier.generate(512)
        _KEY = _WatchedKey(key.public, key.lam, key.mu)
    return _KEY


def _without_the_key(fn, *args):
    """``fn(*args)``, and whether it read the check's private key meanwhile."""
    _WATCH.update(on=True, used=False)
    try:
        return fn(*args), _WATCH["used"]
    finally:
        _WATCH["on"] = False


def _encrypted_sum_reference(public, ciphertexts):
    total = paillier.encrypt(public, 0)
    for c in ciphertexts:
        total = paillier.add(public, total, c)
    return total


@exercise(hint=['Paillier is additively homomorphic, but the operation on ciphertexts is not "+": look at '
                'paillier.add, or at the formula E(a)·E(b) = E(a + b).',
                'Multiply the ciphertexts together and reduce modulo n² (public.n_squared) at every step, so the '
                'result stays an element of Z_{n²}, 2 × the key size, however many hospitals there are.'],
          task='encrypted_sum(public, ciphertexts) -> int: one Paillier ciphertext of the sum of the messages '
               'encrypted in `ciphertexts` (a list of ints), computed without any private key.',
          reference=lambda: _encrypted_sum_reference)
def encrypted_sum(fn, t, rng):
    key = _key()
    public = key.public
    for count, kind in ((3, "known"), (rng.randrange(4, 12), "random"), (rng.randrange(12, 40), "random")):
        values = [rng.randrange(-10 ** 6, 10 ** 6) for _ in range(count)]
        ciphertexts = [paillier.encrypt(public, v) for v in values]
        got, used_key = _without_the_key(fn, public, list(ciphertexts))
        t.true(not used_key and isinstance(got, int) and 0 <= got < public.n_squared,
               f"{count} ciphertexts: your code read the private key, i.e. it decrypted the hospitals' counts. In "
               f"this threat model the aggregator is untrusted and holds only the public key: whoever decrypts sees "
               f"every hospital's count. Combine the ciphertexts themselves (E(a)·E(b) = E(a + b)), never decrypt"
               if used_key else
               f"{count} ciphertexts: the result must be one ciphertext, an int in [0, n²); got "
               f"{'an int of ' + str(got.bit_length()) + ' bits' if isinstance(got, int) else type(got).__name__} "
               f"(n² has {public.n_squared.bit_length()} bits)", kind=kind)
        t.true(paillier.decrypt(key, got) == sum(values),
               f"messages {values[:4]}{'…' if count > 4 else ''}: the result must decrypt to their sum {sum(values)}",
               kind=kind)


def _as_parameters(got):
    """A learner's (degree, chain) answer with the chain as a list, so tuples compare too."""
    return (got[0], list(got[1])) if isinstance(got, (tuple, list)) and len(got) == 2 else got


def _budget_note(got, expected):
    """Why a ring dimension next to the expected one is wrong, when the chain itself is right."""
    degree, chain = expected
    if not (isinstance(got, tuple) and got[1] == chain and got[0] in he.MAX_MODULUS_BITS) or got[0] == degree:
        return ""
    if got[0] > degree:
        note = (f"; your chain is right and its {sum(chain)} bits fit N = {degree}'s budget of "
                f"{he.MAX_MODULUS_BITS[degree]} bits")
        return note + (" exactly: the budget is the largest total allowed (≤, not <)"
                       if sum(chain) == he.MAX_MODULUS_BITS[degree] else "") + "; a larger N only costs more"
    return (f"; your chain is right, but its {sum(chain)} bits exceed N = {got[0]}'s budget of "
            f"{he.MAX_MODULUS_BITS[got[0]]} bits: SEAL refuses it (below 128-bit security)")


@exercise(hint=['Count the multiplications on the longest path: each one consumes one prime of the chain when the '
                'result is rescaled. The chain is [first prime, one prime of scale_bits per multiplication, last '
                '(special) prime].',
                'The first and last primes are outer_bits each. Then take the smallest N in he.MAX_MODULUS_BITS '
                'whose budget (bits at 128-bit security) holds the sum of the chain.'],
          task='ckks_parameters(depth, scale_bits, outer_bits) -> (poly_modulus_degree, coeff_mod_bit_sizes): the '
               'smallest secure ring dimension and the modulus chain for a circuit of `depth` multiplications.',
          reference=lambda: he.parameters_for_depth)
def ckks_parameters(fn, t, rng):
    known = [((3, 30, 50), (8192, [50, 30, 30, 30, 50])), ((1, 20, 40), (4096, [40, 20, 40])),
             ((4, 40, 60), (16384, [60, 40, 40, 40, 40, 60])),
             # exactly at each budget (109, 218 and 438 bits): the budget is the largest total SEAL accepts
             ((1, 29, 40), (4096, [40, 29, 40])), ((2, 50, 59), (8192, [59, 50, 50, 59])),
             ((8, 40, 59), (16384, [59] + [40] * 8 + [59])),
             ((1, 30, 40), (8192, [40, 30, 40]))]                  # one bit over N = 4096's budget
    for (depth, scale, outer), expected in known:
        got = _as_parameters(fn(depth, scale, outer))
        t.true(got == expected, f"depth {depth}, scale {scale} bits, outer primes {outer} bits: expected "
                                f"{expected}, got {got}{_budget_note(got, expected)}")
    for _ in range(4):
        depth, scale = rng.randrange(1, 9), rng.choice([20, 25, 30, 40])
        outer = scale + rng.choice([10, 20])
        expected = he.parameters_for_depth(depth, scale, outer)
        got = _as_parameters(fn(depth, scale, outer))
        t.true(got == expected, f"depth {depth}, scale {scale}, outer {outer}: expected {expected}, got {got}"
                                f"{_budget_note(got, expected)}", kind="random")
    depth, scale, outer = 20, 40, 60                              # 920 bits: more than any N holds
    bits, largest = 2 * outer + depth * scale, max(he.MAX_MODULUS_BITS)
    what = (f"depth {depth}, scale {scale}, outer {outer}: a chain of {bits} bits fits no ring dimension (the "
            f"largest, N = {largest}, holds {he.MAX_MODULUS_BITS[largest]} bits at 128-bit security)")
    try:
        got = fn(depth, scale, outer)
    except ValueError:
        t.true(True, what)
    except Exception as error:                                    # noqa: BLE001 - the learner's own error type
        t.true(False, f"{what}: raise ValueError, as he.parameters_for_depth does; your code raised "
                      f"{type(error).__name__}{': ' + str(error) if str(error) else ''}")
    else:
        t.true(False, f"{what}: raise ValueError, as he.parameters_for_depth does, instead of returning {_short(got)}, "
                      f"which a caller would pass on to SEAL")
    degree, chain = _as_parameters(fn(2, 30, 50))          # the shape is right by now: SEAL must use it
    try:
        ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=int(degree), coeff_mod_bit_sizes=chain)
        ctx.global_scale = 2 ** 30
        vector = ts.ckks_vector(ctx, [0.5])
        works = abs((vector * vector * vector).decrypt()[0] - 0.125) < 1e-3
    except ValueError:
        works = False
    t.true(works, "with your parameters for depth 2, SEAL must accept the context and compute x·x·x")


@exercise(hint=['The server computes every neuron as Σ w_i·x_i with plaintext weights and no rotations. So each '
                'ciphertext must hold ONE feature x_i — of all the images, one image per slot.',
                'Return one list per pixel position (64 of them), each with one value per image: the transpose of '
                'the (images × 64) batch, as Python floats.'],
          task='pack_columns(images) -> list of lists: the slots of the 64 ciphertexts that column packing '
               'encrypts for `images`, a (batch, 64) float tensor.',
          reference=lambda: he.pack_columns)
def pack_columns(fn, t, rng):
    for batch, kind in ((3, "known"), (rng.randrange(5, 40), "random")):
        images = torch.rand(batch, 64, generator=torch.Generator().manual_seed(rng.randrange(1000)))
        got = fn(images.clone())
        ok = (isinstance(got, (list, tuple)) and len(got) == 64
              and all(len(column) == batch for column in got)
              and np.allclose(np.array([list(map(float, column)) for column in got]), images.numpy().T))
        t.true(ok, f"{batch} images of 64 pixels: expected 64 columns of {batch} values, column i holding pixel i "
                   f"of every image", kind=kind)
    model = he.square_mlp((64, 6, 3), seed=rng.randrange(100))
    images = torch.rand(12, 64, generator=torch.Generator().manual_seed(rng.randrange(1000)))
    ctx = he.context(3)
    columns = [ts.ckks_vector(ctx, [float(v) for v in column]) for column in fn(images.clone())]
    scores = he.decrypt_columns(he.evaluate_columns(columns, model, 3))
    with torch.no_grad():
        plain = model(images).numpy()
    t.true(np.abs(scores - plain).max() < 0.05, "encrypted with your packing, a small x² MLP must give the plaintext "
                                                "scores (within 0.05)", kind="random")

"""Exercise checks for chapter 11 (homomorphic encryption)."""
import numpy as np
import tenseal as ts
import torch

from .. import he
from ..toy import paillier
from ._framework import exercise

__all__ = ["encrypted_sum", "ckks_parameters", "pack_columns"]

_KEY = None


def _key():
    global _KEY
    if _KEY is None:
        _KEY = paillier.generate(512)
    return _KEY


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
        got = fn(public, list(ciphertexts))
        t.true(isinstance(got, int) and 0 <= got < public.n_squared,
               f"{count} ciphertexts: the result must be one ciphertext, an int in [0, n²); got "
               f"{'an int of ' + str(got.bit_length()) + ' bits' if isinstance(got, int) else type(got).__name__} "
               f"(n² has {public.n_squared.bit_length()} bits)", kind=kind)
        t.true(paillier.decrypt(key, got) == sum(values),
               f"messages {values[:4]}{'…' if count > 4 else ''}: the result must decrypt to their sum {sum(values)}",
               kind=kind)


def _as_parameters(got):
    """A learner's (degree, chain) answer with the chain as a list, so tuples compare too."""
    return (got[0], list(got[1])) if isinstance(got, (tuple, list)) and len(got) == 2 else got


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
             ((4, 40, 60), (16384, [60, 40, 40, 40, 40, 60]))]
    for (depth, scale, outer), expected in known:
        got = _as_parameters(fn(depth, scale, outer))
        t.true(got == expected, f"depth {depth}, scale {scale} bits, outer primes {outer} bits: expected "
                                f"{expected}, got {got}")
    for _ in range(4):
        depth, scale = rng.randrange(1, 9), rng.choice([20, 25, 30, 40])
        outer = scale + rng.choice([10, 20])
        expected = he.parameters_for_depth(depth, scale, outer)
        got = _as_parameters(fn(depth, scale, outer))
        t.true(got == expected, f"depth {depth}, scale {scale}, outer {outer}: expected {expected}, got {got}",
               kind="random")
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

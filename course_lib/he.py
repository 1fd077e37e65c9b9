"""Homomorphic encryption with CKKS through TenSEAL: parameters, precision, encrypted inference (chapter 11).

CKKS (Cheon, Kim, Kim, Song, ASIACRYPT 2017) encrypts vectors of N/2 real numbers ("slots") and
computes on them approximately: additions, and multiplications that each consume one prime of
the *coefficient-modulus chain*. A value is stored multiplied by the *scale* Δ = 2^scale_bits;
after a multiplication the scale is Δ², and *rescaling* divides by the next prime of the chain
(≈ Δ) to bring it back. A circuit of multiplicative depth d therefore needs d primes of about
scale_bits bits between a first prime (the final value's precision plus integer part) and the
"special" last prime used for key switching. When the chain is used up, SEAL refuses: "scale out of
bounds". The total modulus is capped by N for 128-bit security (the Homomorphic Encryption
Standard, homomorphicencryption.org, 2018): 109 bits for N = 4096, 218 for 8192, 438 for 16384.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import tenseal as ts
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .errors import ChainTooShortError, MagnitudeOverflowError

__all__ = ["MAX_MODULUS_BITS", "Square", "square_mlp", "train_square_mlp", "multiplicative_depth",
           "layer_bounds", "magnitude_limits", "check_magnitudes", "chain_of", "chain_for_depth", "parameters_for_depth", "context", "levels", "slots", "key_sizes", "pack_columns", "encrypt_columns",
           "evaluate_columns", "decrypt_columns", "inference_service", "infer_one_per_ciphertext", "precision_bits"]

MAX_MODULUS_BITS = {4096: 109, 8192: 218, 16384: 438, 32768: 881}


class Square(nn.Module):
    """x ↦ x², the activation CKKS can compute (one multiplication)."""

    def forward(self, x):
        return x * x


def square_mlp(sizes=(64, 32, 10), seed: int = 0) -> nn.Sequential:
    """An MLP with x² activations: Linear, Square, Linear, … (CryptoNets, Gilad-Bachrach et al., ICML 2016)."""
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(Square())
    return nn.Sequential(*layers)


def train_square_mlp(train_set: Dataset, *, epochs: int = 30, lr: float = 3e-3, seed: int = 0,
                     sizes=(64, 32, 10)) -> nn.Sequential:
    """The x² MLP trained in plaintext with Adam, batches of 32 (the model the server evaluates encrypted)."""
    model = square_mlp(sizes, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed + 1))
    for _ in range(epochs):
        for x, y in loader:
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimiser.step()
    return model


def multiplicative_depth(model: nn.Sequential) -> int:
    """Levels the model consumes: one per Linear (plaintext weights × ciphertext) and one per Square."""
    depth = 0
    for layer in model:
        if isinstance(layer, (nn.Linear, Square)):
            depth += 1
        else:
            raise ValueError(f"CKKS evaluates Linear and Square layers only, not {type(layer).__name__}")
    return depth


def layer_bounds(model: nn.Sequential, input_range=(0.0, 1.0)) -> list[float]:
    """The largest |value| each layer can output for inputs in ``input_range`` (interval arithmetic).

    A Linear layer maps the box [lo, hi]^n to b_j + Σ_i w_ji·[lo_i, hi_i] (each product's lower
    end is min(w·lo, w·hi)); a Square maps [lo, hi] to [0 or min(lo², hi²), max(lo², hi²)].
    The bound is sound (never below what an input in the range can produce), and may be loose.
    """
    multiplicative_depth(model)                      # refuses layers other than Linear and Square
    lo, hi = input_range
    if not lo <= hi:
        raise ValueError(f"input_range must be (low, high) with low ≤ high, not {input_range!r}")
    lo, hi, bounds = np.array([float(lo)]), np.array([float(hi)]), []
    for layer in model:
        if isinstance(layer, nn.Linear):
            weight, bias = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
            if len(lo) == 1:
                lo, hi = np.full(weight.shape[1], lo[0]), np.full(weight.shape[1], hi[0])
            lo, hi = (bias + np.minimum(weight * lo, weight * hi).sum(axis=1),
                      bias + np.maximum(weight * lo, weight * hi).sum(axis=1))
        else:
            squares = np.maximum(lo * lo, hi * hi)
            lo, hi = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(lo * lo, hi * hi)), squares
        bounds.append(float(np.maximum(np.abs(lo), np.abs(hi)).max()))
    return bounds


def magnitude_limits(depth: int, available_levels: int, scale_bits: int = 30, outer_bits: int = 50) -> list[float]:
    """The largest |value| the chain can hold after each of ``depth`` multiplications.

    After the j-th multiplication (and its rescaling) a value x is stored as Δ·x modulo the primes
    still left: the first prime (outer_bits) and available_levels − j middle primes (scale_bits
    each). Decryption reads it centred, so |Δ·x| must stay below half their product (SEAL's
    ``CoeffModulus::Create`` picks primes just below 2^bits; Cheon et al. 2017, §3): the limit is
    2^(outer_bits − scale_bits − 1 + scale_bits·(available_levels − j)), i.e. 2^(outer − scale − 1)
    after the last multiplication of a chain with exactly ``depth`` levels (2^19 with the defaults).
    """
    return [2.0 ** (outer_bits - scale_bits - 1 + scale_bits * (available_levels - j)) for j in range(1, depth + 1)]


def check_magnitudes(model: nn.Sequential, available_levels: int, *, scale_bits: int = 30, outer_bits: int = 50,
                     input_range=(0.0, 1.0)) -> list[float]:
    """Refuse (``MagnitudeOverflowError``) a model whose bounded outputs exceed what the chain holds.

    Without it, a value above the limit wraps modulo the remaining primes and decrypts to a
    wrong number, with no error from SEAL. Returns the bounds (one per layer) when they fit.
    """
    bounds = layer_bounds(model, input_range)
    limits = magnitude_limits(len(bounds), available_levels, scale_bits, outer_bits)
    for index, (layer, bound, limit) in enumerate(zip(model, bounds, limits)):
        if bound >= limit:
            raise MagnitudeOverflowError(
                f"layer {index} ({type(layer).__name__}) can output values up to {bound:.4g} for inputs in "
                f"{list(input_range)}, but after its multiplication the chain holds only |x| < {limit:.4g} "
                f"(2^{math.log2(limit):.0f}): the scores would wrap and decrypt wrongly; scale the weights "
                f"down or use a larger outer_bits")
    return bounds


# ------------------------------------------------------------------ parameters
def chain_for_depth(depth: int, scale_bits: int = 30, outer_bits: int = 50) -> list[int]:
    """The coefficient-modulus chain for ``depth`` multiplications: [outer, scale × depth, outer]."""
    return [outer_bits] + [scale_bits] * depth + [outer_bits]


def parameters_for_depth(depth: int, scale_bits: int = 30, outer_bits: int = 50) -> tuple[int, list[int]]:
    """The smallest ring dimension N whose 128-bit-security budget holds the chain, and the chain."""
    chain = chain_for_depth(depth, scale_bits, outer_bits)
    for degree, budget in MAX_MODULUS_BITS.items():
        if sum(chain) <= budget:
            return degree, chain
    raise ValueError(f"a chain of {sum(chain)} bits exceeds every supported ring dimension at 128-bit security")


def context(depth: int = 3, *, scale_bits: int = 30, outer_bits: int = 50, poly_modulus_degree: int | None = None,
            galois: bool = False) -> ts.Context:
    """A CKKS context (with its secret key: the client's) for circuits of ``depth`` multiplications."""
    degree, chain = parameters_for_depth(depth, scale_bits, outer_bits)
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=poly_modulus_degree or degree, coeff_mod_bit_sizes=chain)
    ctx.global_scale = 2 ** scale_bits
    if galois:
        ctx.generate_galois_keys()          # rotations: needed by vector–matrix products, not by column packing
    return ctx


def levels(ctx: ts.Context) -> int:
    """Multiplications a fresh ciphertext of ``ctx`` can still take: the chain's middle primes."""
    probe = ts.ckks_vector(ctx, [0.0])
    count = 0
    while True:
        try:
            probe = probe * probe
        except ValueError:                   # "scale out of bounds": the chain is used up
            return count
        count += 1


def key_sizes(ctx: ts.Context) -> dict[str, int]:
    """Bytes of the serialised public context, with and without relinearisation and Galois keys."""
    public = len(ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False,
                               save_relin_keys=False))
    with_relin = len(ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False,
                                   save_relin_keys=True))
    sizes = {"public_key": public, "relinearisation_keys": with_relin - public}
    if ctx.has_galois_keys():
        sizes["galois_keys"] = len(ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=True,
                                                 save_relin_keys=True)) - with_relin
    return sizes


# ------------------------------------------------------------------ encrypted inference
def pack_columns(images: torch.Tensor) -> list[list[float]]:
    """Column packing: list i holds feature i of every image, one image per slot."""
    x = images.double().numpy()
    return [x[:, i].tolist() for i in range(x.shape[1])]


def encrypt_columns(ctx: ts.Context, images: torch.Tensor) -> list[ts.CKKSVector]:
    """The client encrypts a column-packed batch: one ciphertext per feature (up to N/2 images)."""
    capacity = slots(ctx)
    if len(images) > capacity:
        raise ValueError(f"{len(images)} images do not fit in {capacity} slots: split the batch")
    return [ts.ckks_vector(ctx, column) for column in pack_columns(images)]


def slots(ctx: ts.Context) -> int:
    """Values one ciphertext holds: N/2."""
    return ctx.seal_context().data.key_context_data().parms().poly_modulus_degree() // 2


def _levels_left(vector: ts.CKKSVector) -> int:
    """Multiplications ``vector`` can still take (squares copies until SEAL refuses)."""
    count = 0
    while True:
        try:
            vector = vector * vector
        except ValueError:
            return count
        count += 1


def chain_of(columns: list[ts.CKKSVector]) -> tuple[int, int, int]:
    """``(levels left, scale_bits, outer_bits)`` read from the ciphertexts themselves, not from the caller:
    the scale is the context's, and the first data level's modulus has outer + scale × levels bits."""
    ctx = columns[0].context()
    scale_bits = round(math.log2(ctx.global_scale))
    total = ctx.seal_context().data.first_context_data().total_coeff_modulus_bit_count()
    return _levels_left(columns[0]), scale_bits, total - scale_bits * levels(ctx)


def evaluate_columns(columns: list[ts.CKKSVector], model: nn.Sequential, available_levels: int, *,
                     input_range=(0.0, 1.0)) -> list[ts.CKKSVector]:
    """The server's work: ``model`` (Linear and Square layers, plaintext weights) on column-packed ciphertexts.

    Each output neuron is Σ_i w_i·x_i + b: one plaintext-scalar multiplication per weight, no
    rotations. Refuses, before any work, a model deeper than the chain (``ChainTooShortError``)
    and one whose layer outputs, bounded for inputs in ``input_range``, exceed what the chain
    holds (``MagnitudeOverflowError``, :func:`check_magnitudes`, with the chain read from the
    ciphertexts by :func:`chain_of`). Inputs outside ``input_range`` are not detected: the server
    cannot see them.
    """
    depth = multiplicative_depth(model)
    if depth > available_levels:
        raise ChainTooShortError(f"the model needs {depth} multiplications, the chain has {available_levels} levels: "
                                 f"use chain_for_depth({depth}) (the result would otherwise be refused or wrong)")
    left, scale_bits, outer_bits = chain_of(columns)
    if depth <= left:          # otherwise SEAL refuses the multiplication that has no prime left (below)
        check_magnitudes(model, min(available_levels, left), scale_bits=scale_bits, outer_bits=outer_bits,
                         input_range=input_range)
    values = columns
    try:
        for layer in model:
            if isinstance(layer, nn.Linear):
                weight, bias = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
                outputs = []
                for row, b in zip(weight, bias):
                    total = values[0] * float(row[0])
                    for value, w in zip(values[1:], row[1:]):
                        total += value * float(w)
                    outputs.append(total + float(b))
                values = outputs
            else:
                values = [v * v for v in values]
    except ValueError as error:
        raise ChainTooShortError(f"CKKS refused a multiplication ({error}): the chain is used up") from None
    return values


def decrypt_columns(outputs: list[ts.CKKSVector]) -> np.ndarray:
    """The client decrypts: one column per output neuron → (images, outputs) scores."""
    return np.stack([np.array(vector.decrypt()) for vector in outputs], axis=1)


def inference_service(model: nn.Sequential) -> Callable[[torch.Tensor], torch.Tensor]:
    """Encrypted inference as a query function ``x → scores``: the client's key encrypts, the server
    evaluates, the client decrypts (chapter 11's pipeline in one call, for chapter 09's attacks)."""
    depth = multiplicative_depth(model)
    ctx = context(depth)

    def query(x: torch.Tensor) -> torch.Tensor:
        scores = []
        for start in range(0, len(x), slots(ctx)):
            columns = encrypt_columns(ctx, x[start:start + slots(ctx)])
            scores.append(decrypt_columns(evaluate_columns(columns, model, depth)))
        return torch.tensor(np.concatenate(scores), dtype=torch.float32)

    return query


def infer_one_per_ciphertext(ctx: ts.Context, image: torch.Tensor, model: nn.Sequential) -> np.ndarray:
    """The tutorials' pattern (baseline): one image per ciphertext, each layer a vector–matrix product
    (rotations, so the context needs Galois keys)."""
    vector = ts.ckks_vector(ctx, image.double().tolist())
    for layer in model:
        if isinstance(layer, nn.Linear):
            vector = vector.mm(layer.weight.detach().double().T.tolist()) + layer.bias.detach().double().tolist()
        else:
            vector = vector * vector
    return np.array(vector.decrypt())


def precision_bits(ctx: ts.Context, multiplications: int, *, size: int = 256, seed: int = 0) -> list[float]:
    """Bits of precision (−log2 of the largest error) of values in [−1, 1] after 0, 1, … squarings.

    Stops early, with fewer entries, where the chain is used up.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size)
    vector = ts.ckks_vector(ctx, x.tolist())
    bits = []
    for k in range(multiplications + 1):
        if k:
            try:
                vector = vector * vector
            except ValueError:
                break
            x = x * x
        error = np.abs(np.array(vector.decrypt()) - x).max()
        bits.append(float(-math.log2(max(error, 2.0 ** -60))))
    return bits

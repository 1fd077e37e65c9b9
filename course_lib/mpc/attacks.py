"""What a curious party can do with what it legitimately sees (chapter 08).

Each function here is an attack the course performs against its own protocols, to show why a
rule exists. They read a party's *view* — the values it saw opened (``record_view=True``).
"""
from __future__ import annotations

import torch

from .fixed_point import FRAC_BITS, decode, encode
from .prg import PRG, public_seed
from .programs import DATA_OWNER, MODEL_OWNER, mlp_forward, share_model
from .tensor import SecretTensor

__all__ = ["recover_inputs_from_public_seed", "extract_second_layer", "second_layer_from_logits",
           "flip_comparison_bits", "steer_relus", "sabotage_relus"]


def recover_inputs_from_public_seed(view, seed, shape, frac_bits: int = FRAC_BITS) -> torch.Tensor:
    """The data owner's first input, recovered by the model owner when all seeds come from a public ``seed``.

    In the first Beaver matrix product every party sees ``e = x − a`` opened. The mask ``a`` is
    the sum of the parties' shares drawn from their dealer PRGs — which, with a public seed,
    the model owner can recompute for everyone: x = e + a. With fresh seeds, ``a`` is unknown
    and the result is noise.
    """
    label, opened = view[0]
    count = int(torch.tensor(shape).prod())
    e = opened[:count].reshape(shape)
    a = sum(PRG(public_seed(seed, f"dealer {party}")).ring(shape) for party in range(2))
    return decode(e + a, frac_bits)


def extract_second_layer(ctx, layers=None, image=None, sizes=(64, 32, 10)):
    """A *malicious* data owner learns the model owner's second-layer weights from one inference.

    The data owner sends the same image in every row of a batch of ``sizes[1] + 1`` and, in the
    second Beaver matrix product, adds Δ to its share of the opened e = h − A: row 0 gets nothing,
    row j + 1 gets 1.0 at hidden unit j. Since the product then equals (h + Δ)·W₂, the logits of
    row j + 1 minus those of row 0 are row j of W₂ᵀ. Everyone else runs the honest protocol; in
    the semi-honest model nothing notices. Returns the data owner's logits (others: None).
    """
    hidden = sizes[1]
    rows = hidden + 1
    if ctx.rank == DATA_OWNER:
        delta = torch.zeros((rows, hidden), dtype=torch.int64)
        delta[1:] = torch.eye(hidden, dtype=torch.int64) * int(encode(torch.tensor(1.0)))
        seen = {"matmul": 0}

        def add_delta(label, flat):
            if label == "matmul":
                seen["matmul"] += 1
                if seen["matmul"] == 2:                   # layer 2's opening of e = h − A, then f = W₂ − B
                    flat = flat.clone()
                    flat[:rows * hidden] += delta.reshape(-1)
            return flat
        ctx.tamper = add_delta
    return _inference(ctx, layers, image.reshape(1, -1).repeat(rows, 1) if image is not None else None, rows, sizes)


def _inference(ctx, layers, batch, rows, sizes):
    """One private inference of ``rows`` images; only the data owner receives the logits."""
    shared_layers = share_model(ctx, layers, sizes)
    x = SecretTensor.from_owner(ctx, batch, DATA_OWNER, shape=(rows, sizes[0]))
    return mlp_forward(ctx, x, shared_layers).reveal(to=DATA_OWNER)


def second_layer_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Row j of the recovered W₂ᵀ is logits[j + 1] − logits[0] (see :func:`extract_second_layer`)."""
    return logits[1:] - logits[0]


def _flip(ctx, label: str, flat: torch.Tensor, elements) -> torch.Tensor:
    """Flip the comparison bits of ``elements`` (all if None) in this party's message.

    Semi-honest and toy: the bits are packed 64 per word — all of a "bit conversion" message, the
    first ⌈n/64⌉ words of a "relu" message of n values. SPDZ2k: one word per bit (its lowest bit),
    all of a "bit conversion" message, after the 2n arithmetic words of a "relu" message.
    """
    flat, length = flat.clone(), flat.numel()
    if ctx.tensor_type.__name__ == "AuthenticatedTensor":
        start = 0 if label == "bit conversion" else 2 * (length // 3)
        targets = range(length - start) if elements is None else elements
        for k in targets:
            flat[start + k] ^= 1
        return flat
    if label == "bit conversion":
        region = slice(0, length)
    else:
        n = next(n for n in range(length + 1) if n + -(-n // 64) == length)
        region = slice(0, length - n)
    if elements is None:
        flat[region] ^= -1
        return flat
    for k in elements:
        bit = k % 64
        flat[region.start + k // 64] ^= (1 << bit) - (1 << 64 if bit == 63 else 0)   # bit k, as int64
    return flat


def flip_comparison_bits(ctx, attacker: int, elements=None) -> None:
    """Make party ``attacker`` flip comparison results: the bit it sends of c = bit ⊕ r, for the given flat
    ``elements`` (every element if None), in every comparison's last opening (ReLU's or a bit conversion's).

    Against the semi-honest protocol and the toy MACs (``course_lib.toy.spdz64``) nothing notices;
    SPDZ2k's MAC check (``authentication``) catches it before any output is revealed.
    """
    if ctx.rank != attacker:
        return
    ctx.tamper = lambda label, flat: _flip(ctx, label, flat, elements) if label in ("bit conversion", "relu") else flat


def steer_relus(ctx, layers=None, image=None, sizes=(64, 32, 10)):
    """A malicious data owner flips chosen ReLU bits (chapter 08): undetected by the semi-honest protocol and the
    toy MACs, caught by SPDZ2k's MAC check.

    Same image in rows 0 … ``sizes[1]``; in row j + 1 the data owner flips the comparison bit of
    hidden unit j. That turns ReLU(h_j) into min(h_j, 0), so row j + 1's logits minus row 0's are
    −|h_j| times row j of W₂ᵀ: every row of the second layer up to one positive factor, from one
    inference. Returns the data owner's logits (others: None).
    """
    hidden = sizes[1]
    rows = hidden + 1
    flip_comparison_bits(ctx, DATA_OWNER, [(j + 1) * hidden + j for j in range(hidden)])
    return _inference(ctx, layers, image.reshape(1, -1).repeat(rows, 1) if image is not None else None, rows, sizes)


def sabotage_relus(ctx, layers=None, images=None, rows=100, sizes=(64, 32, 10)):
    """A malicious model owner flips every ReLU bit (ReLU(h) becomes min(h, 0)): without SPDZ2k the data owner
    receives wrong logits and no error; with it, a CheatingDetectedError before any output (chapter 08)."""
    flip_comparison_bits(ctx, MODEL_OWNER, None)
    return _inference(ctx, layers, images, rows, sizes)

"""Exercise checks for chapter 10 (federated learning, secure aggregation, differential privacy)."""
import math
import os

import numpy as np
import torch

from .. import privacy, secagg, shamir
from ._framework import exercise

__all__ = ["mask_update", "reconstruct_secret", "noisy_clipped_gradient"]


@exercise(hint=['Each pair of clients shares one seed; both expand it with secagg.expand_mask to the same mask. For '
                'the pair to cancel in the sum, one of them must add it and the other subtract it.',
                'secagg.mask_sign(me, peer) says which: +1 for the smaller number. Do the arithmetic in uint64 and '
                'reduce mod 2^ring_bits at the end (& ((1 << ring_bits) - 1)): the server must see ring elements.'],
          task='mask_update(me, update, pair_seeds, ring_bits) -> uint64 array: client `me`\'s update (uint64 ring '
               'elements) plus one pairwise mask per peer in pair_seeds ({peer: 32-byte seed}), such that the '
               'clients\' masked updates sum to the sum of their updates mod 2^ring_bits.',
          reference=lambda: secagg.add_pairwise_masks)
def mask_update(fn, t, rng):
    for trial in range(4):
        clients, k, length = rng.randrange(3, 7), rng.choice([8, 20, 33]), rng.randrange(5, 200)
        seeds = {}
        for a in range(1, clients + 1):
            for b in range(a + 1, clients + 1):
                seeds[a, b] = seeds[b, a] = os.urandom(32)
        updates = {n: secagg.expand_mask(os.urandom(32), length, k) for n in range(1, clients + 1)}
        masked = {}
        for n in updates:
            own = {peer: seeds[n, peer] for peer in updates if peer != n}
            masked[n] = np.asarray(fn(n, updates[n].copy(), own, k))
        kind = "random" if trial else "known"
        t.true(all(np.array_equal(masked[n].astype(np.uint64), secagg.add_pairwise_masks(
            n, updates[n], {p: seeds[n, p] for p in updates if p != n}, k)) for n in updates),
            f"{clients} clients, ring Z_2^{k}: each client must add (+) or subtract (−) the mask expanded from each "
            f"shared seed, reduced mod 2^{k}", kind=kind)
        total = sum(m.astype(np.uint64) for m in masked.values()) & np.uint64((1 << k) - 1)
        expected = sum(updates.values()) & np.uint64((1 << k) - 1)
        t.true(np.array_equal(total, expected), f"{clients} clients: the masked updates must sum to the updates' sum "
                                                f"mod 2^{k}", kind=kind)
        t.true(not any(np.array_equal(masked[n].astype(np.uint64), updates[n]) for n in updates),
               "a masked update equal to the update shows it to the server", kind=kind)


def _reconstruct_reference(shares):
    xs = [x for x, _ in shares]
    return sum(w * y for w, (_, y) in zip(shamir.lagrange_at_zero(xs), shares)) % shamir.PRIME


@exercise(hint=['The shares are points (x, f(x)) of a polynomial of degree t − 1; the secret is f(0). Lagrange '
                'interpolation at 0: f(0) = Σ_i y_i · Π_{j≠i} (0 − x_j) / (x_i − x_j).',
                'Everything lives modulo shamir.PRIME: no fractions and no floats. Divide by multiplying with '
                'the modular inverse, pow(d, -1, shamir.PRIME), and reduce with % shamir.PRIME.'],
          task='reconstruct_secret(shares) -> int: f(0) mod shamir.PRIME from exactly t Shamir shares, a list of '
               '(x, y) pairs of ints with distinct x.',
          reference=lambda: _reconstruct_reference)
def reconstruct_secret(fn, t, rng):
    p = shamir.PRIME
    known = [([(1, 5), (2, 7), (3, 9)], 3), ([(1, 11), (3, 27)], 3), ([(2, 1)], 1)]
    for shares, expected in known:
        got = fn(list(shares))
        t.true(got == expected, f"shares {shares}: expected {expected}, got {got}")
    for _ in range(5):
        threshold = rng.randrange(2, 7)
        coefficients = [rng.randrange(p) for _ in range(threshold)]
        xs = rng.sample(range(1, 30), threshold)
        shares = [(x, sum(c * pow(x, i, p) for i, c in enumerate(coefficients)) % p) for x in xs]
        got = fn(shares)
        t.true(got == coefficients[0], f"{threshold} shares at x = {xs} of a random polynomial mod PRIME: expected "
                                       f"f(0) = {coefficients[0]}, got {got}", kind="random")


def _noisy_clipped_reference(per_sample, clip, noise_multiplier, expected_batch, generator):
    clipped = privacy.clip_per_sample({"g": per_sample}, clip)["g"]
    noise = torch.normal(0.0, noise_multiplier * clip, size=per_sample.shape[1:], generator=generator)
    return (clipped.sum(dim=0) + noise) / expected_batch


@exercise(hint=['Privacy needs a bound on how much one sample can move the sum: clip each sample\'s gradient (each '
                'row) to L2 norm at most `clip` before summing — not the average, not each coordinate.',
                'Then add Gaussian noise with standard deviation noise_multiplier × clip (the sum\'s sensitivity '
                'times σ) once to the sum, and divide by expected_batch, not by the number of rows you got.'],
          task='noisy_clipped_gradient(per_sample, clip, noise_multiplier, expected_batch, generator) -> tensor (d,): '
               'one DP-SGD gradient from per_sample, a (batch, d) tensor of per-sample gradients; draw the noise '
               'with torch.normal(..., generator=generator).',
          reference=lambda: _noisy_clipped_reference)
def noisy_clipped_gradient(fn, t, rng):
    gen = torch.Generator().manual_seed(rng.randrange(10_000))
    rows = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    got = fn(rows.clone(), 1.0, 0.0, 4, gen)
    t.true(torch.is_tensor(got) and torch.allclose(got, torch.tensor([0.9, 1.2]) / 4, atol=1e-6),
           f"rows [[3, 4], [0.3, 0.4], [0, 0]], clip 1, no noise, expected batch 4: clip each row ([3, 4] → "
           f"[0.6, 0.8]), sum, divide by 4 → [0.225, 0.3]; got {got}")
    for _ in range(3):                         # without noise, the clipped sum over the expected batch, exactly
        batch, d, expected_batch = rng.randrange(5, 40), rng.randrange(10, 300), rng.randrange(20, 60)
        per_sample = torch.randn(batch, d, generator=gen) * rng.choice([0.01, 0.3, 3.0])
        exact = privacy.clip_per_sample({"g": per_sample}, 1.0)["g"].sum(dim=0) / expected_batch
        got = fn(per_sample.clone(), 1.0, 0.0, expected_batch, gen)
        t.true(torch.is_tensor(got) and got.shape == exact.shape and torch.allclose(got, exact, atol=1e-5),
               f"{batch} per-sample gradients of {d} values, clip 1, no noise, expected batch {expected_batch}: "
               f"each row clipped to norm ≤ 1, summed, divided by {expected_batch}", kind="random")
    for clip in rng.sample([0.5, 2.0, 3.0], 3):   # never 1: σ and σ × clip must differ for the test to tell them apart
        batch, d = rng.randrange(20, 60), 20_000
        sigma, expected_batch = rng.choice([0.8, 1.5]), rng.randrange(30, 60)
        per_sample = torch.randn(batch, d, generator=gen) * rng.choice([0.001, 0.1])
        exact = privacy.clip_per_sample({"g": per_sample}, clip)["g"].sum(dim=0)
        got = fn(per_sample.clone(), clip, sigma, expected_batch, gen)
        t.true(torch.is_tensor(got) and got.shape == (d,), f"expected a tensor of shape ({d},), got "
                                                            f"{getattr(got, 'shape', type(got).__name__)}",
               kind="random")
        noise = got.double() * expected_batch - exact.double()
        std, mean = noise.std().item(), noise.mean().item()
        want = sigma * clip
        t.true(abs(std / want - 1) < 0.05 and abs(mean) < 5 * want / math.sqrt(d),
               f"{batch} samples, clip {clip}, σ {sigma}: the noise on the sum must have mean 0 and standard deviation "
               f"σ × clip = {want:.2f}; yours has mean {mean:.3f} and standard deviation {std:.3f}", kind="random")

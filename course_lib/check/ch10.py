"""Exercise checks for chapter 10 (federated learning, secure aggregation, differential privacy)."""
import math
import os

import numpy as np
import torch
from scipy import stats

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
        k = secagg.MAX_RING_BITS if trial == 1 else k       # a ring too wide for float64's 53 bits
        seeds = {}
        for a in range(1, clients + 1):
            for b in range(a + 1, clients + 1):
                seeds[a, b] = seeds[b, a] = os.urandom(32)
        updates = {n: secagg.expand_mask(os.urandom(32), length, k) for n in range(1, clients + 1)}
        masked, problem = {}, None
        for n in updates:
            own = {peer: seeds[n, peer] for peer in updates if peer != n}
            try:
                masked[n] = fn(n, updates[n].copy(), own, k)
            except OverflowError as error:
                problem = (f"client {n}: your code raised OverflowError ({error}). A uint64 array has no −1: "
                           f"sign * mask with sign = −1 cannot be computed. Subtract instead: masked - mask wraps "
                           f"around mod 2^64, and your final reduction takes it mod 2^{k}")
                break
        kind = "random" if trial else "known"
        problem = problem or _mask_problem(updates, seeds, k, masked)
        t.true(problem is None, f"{clients} clients, ring Z_2^{k}: {problem}", kind=kind)
        masked = {n: np.asarray(m) for n, m in masked.items()}
        total = sum(m.astype(np.uint64) for m in masked.values()) & np.uint64((1 << k) - 1)
        expected = sum(updates.values()) & np.uint64((1 << k) - 1)
        t.true(np.array_equal(total, expected), f"{clients} clients: the masked updates must sum to the updates' sum "
                                                f"mod 2^{k}", kind=kind)
        t.true(not any(np.array_equal(masked[n].astype(np.uint64), updates[n]) for n in updates),
               "a masked update equal to the update shows it to the server", kind=kind)


_FLOATS = ("NumPy turns uint64 mixed with a signed integer (np.int64, a −1 in an array) or with a float into "
           "float64, which holds only 53 bits exactly: ring elements of up to 62 bits lose their low bits and the "
           "masks no longer cancel. Keep every operand uint64, and subtract the mask instead of multiplying it by −1")


def _mask_problem(updates, seeds, k, outputs) -> str | None:
    """What is wrong with the clients' masked updates — one message per plausible mistake — or None if right.

    ``updates`` and ``outputs`` map each client to its update and to what the learner's function returned;
    ``seeds`` maps each pair (a, b) to their seed. A mistake is named only if it explains every client.
    """
    ring = 1 << k
    peers = {n: sorted(p for p in updates if p != n) for n in updates}
    expected = {n: secagg.add_pairwise_masks(n, updates[n], {p: seeds[n, p] for p in peers[n]}, k) for n in updates}
    for n, got in outputs.items():
        got = np.asarray(got)
        if got.shape != expected[n].shape:
            return f"client {n}: expected an array of {len(updates[n])} ring elements, got shape {got.shape}"
        if got.dtype.kind == "f":
            return f"client {n}: your result is {got.dtype}, not uint64. {_FLOATS}"
        if got.dtype.kind not in "ui":
            return f"client {n}: expected an array of integers (uint64), got dtype {got.dtype}"
    if all(np.array_equal(np.asarray(outputs[n]).astype(np.uint64), expected[n]) for n in updates):
        return None
    values = {n: np.asarray(outputs[n]).astype(object) for n in updates}       # exact ints, signed if int64
    masks = {(n, p): secagg.expand_mask(seeds[n, p], len(updates[n]), k).astype(object)
             for n in updates for p in peers[n]}

    def masked(n, sign, used=None, mask_of=None):
        total = updates[n].astype(object)
        for p in (peers[n] if used is None else used(n)):
            total = total + sign(n, p) * masks[n, mask_of(n) if mask_of else p]
        return total

    def explains(candidate, modulus=ring, bounded=False):
        return all((not bounded or all(0 <= v < modulus for v in values[n]))
                   and all((v - w) % modulus == 0 for v, w in zip(values[n], candidate(n))) for n in updates)

    def right(n):
        return masked(n, secagg.mask_sign)

    if explains(lambda n: updates[n].astype(object)):
        return "your masked updates equal the updates: the server would see them in the clear. Add the masks"
    if explains(right):
        low, high = min(min(v) for v in values.values()), max(max(v) for v in values.values())
        return (f"right modulo 2^{k}, but not reduced: your values range from {low} to {high}, and a ring element "
                f"lies in [0, 2^{k}). Reduce at the end: & ((1 << ring_bits) - 1), or % (1 << ring_bits)")
    if explains(lambda n: masked(n, lambda me, p: 1)):
        return ("every client added every mask. The masks cancel in the sum only if, for each pair, one client adds "
                "their mask and the other subtracts it: secagg.mask_sign(me, peer) says which")
    if explains(lambda n: masked(n, lambda me, p: -1)):
        return ("every client subtracted every mask. The masks cancel in the sum only if, for each pair, one client "
                "adds their mask and the other subtracts it: secagg.mask_sign(me, peer) says which")
    if explains(lambda n: masked(n, lambda me, p: -secagg.mask_sign(me, p))):
        return ("your signs are the reverse of secagg.mask_sign's (the smaller number adds, the larger subtracts). "
                "Every client must follow the same convention: against a client that follows mask_sign, a pair's "
                "masks add up instead of cancelling")
    if explains(lambda n: masked(n, secagg.mask_sign, mask_of=lambda me: peers[me][0])):
        return ("each client used one mask (its first peer's) for every peer. Each pair shares its own seed, and "
                "only that pair's two masks cancel: expand pair_seeds[peer] for each peer")
    for label, chosen in (("larger", lambda me: [p for p in peers[me] if p > me]),
                          ("smaller", lambda me: [p for p in peers[me] if p < me])):
        if explains(lambda n: masked(n, secagg.mask_sign, used=chosen)):
            return (f"each client masked with the peers numbered {label} than itself only. Each pair's mask must be "
                    f"added by one client and subtracted by the other, so every client uses every peer's seed")
    for modulus, name in ((k, f"ring_bits = {k}"), (ring - 1, f"2^{k} − 1"), (ring // 2, f"2^{k - 1}"),
                          (ring * 2, f"2^{k + 1}"), (1 << 8, "2^8"), (1 << 16, "2^16"), (1 << 32, "2^32")):
        if modulus != ring and explains(lambda n: [w % (1 << 64) for w in right(n)], modulus, bounded=True):
            return (f"you reduced modulo {name}, but the ring is Z_2^{k}: reduce modulo 2^ring_bits, "
                    f"& ((1 << ring_bits) - 1)")
    if k > 53 and all(min((v - w) % ring, -(v - w) % ring) < 1 << (k - 45)
                      for n in updates for v, w in zip(values[n], right(n))):
        return f"right but for the lowest bits: your arithmetic went through floats. {_FLOATS}"
    if explains(lambda n: expected[n].astype(object) - 1, 1 << 64):
        return ("every value is one less than it should be: x % (1 << ring_bits) - 1 subtracts 1 after reducing. "
                "Write x & ((1 << ring_bits) - 1), or x % (1 << ring_bits)")
    return (f"each client must add (+) or subtract (−) the mask expanded from each shared seed, as secagg.mask_sign "
            f"says, and reduce mod 2^{k}")


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
        problem = _noise_problem(got.double() * expected_batch - exact.double(), sigma * clip)
        t.true(problem is None, f"{batch} samples, clip {clip}, σ {sigma}: {problem}", kind="random")
    # fresh noise on every call: the same inputs twice, the generator running on
    batch, d, clip, sigma, expected_batch = 30, 20_000, 2.0, 1.0, 40
    per_sample = torch.randn(batch, d, generator=gen) * 0.1
    exact = privacy.clip_per_sample({"g": per_sample}, clip)["g"].sum(dim=0).double()
    first, second = (fn(per_sample.clone(), clip, sigma, expected_batch, gen).double() * expected_batch - exact
                     for _ in range(2))
    correlation = torch.corrcoef(torch.stack([first, second]))[0, 1].item()
    t.true(abs(correlation) < _SIGMAS / math.sqrt(d),
           f"two calls on the same gradients: the noise must be drawn afresh from the generator at every call; yours "
           f"is {'the same vector' if torch.equal(first, second) else 'correlated'} both times (correlation "
           f"{correlation:.2f}). Noise that repeats is no noise: whoever saw it once subtracts it and reads the clipped "
           f"sum. Draw it inside the function with generator=generator, never with a generator of your own, a fixed "
           f"seed, or a vector drawn once", kind="random")


# How often the noise tests reject a right answer: a mean (three times) or a correlation (once) beyond
# 6 standard errors, P ≈ 2e-9 each; a Kolmogorov–Smirnov p-value below 1e-9 (three times; with the
# mean and scale estimated from the noise itself, less often still); a standard deviation 5 % off,
# 10 standard errors at d = 20,000. In all about 1e-8 per run of the check.
_SIGMAS = 6.0            # P(|N(0, 1)| > 6) ≈ 2e-9
_KS_P = 1e-9


def _noise_problem(noise, want) -> str | None:
    """What is wrong with the noise a DP-SGD gradient added to the clipped sum, or None: it must be N(0, want²)."""
    d = noise.numel()
    std, mean = noise.std().item(), noise.mean().item()
    scale = (f"the noise on the sum must have mean 0 and standard deviation σ × clip = {want:.2f}; yours has mean "
             f"{mean:.3f} and standard deviation {std:.3f}")
    if std < 0.01 * want:
        return scale
    z = ((noise - mean) / std).numpy()
    distance, p = stats.kstest(z, "norm")
    if p < _KS_P:                        # the shape, measured with its own mean and scale (so p is conservative)
        excess = float((z ** 4).mean() - 3)
        looks = ("its tails are too light (excess kurtosis {:+.2f}; a normal has 0), as uniform noise's are. Uniform "
                 "noise is bounded: one sample's shift of the sum shows at the edges with a probability far above "
                 "any δ" if excess < -0.5 else
                 "its tails are too heavy (excess kurtosis {:+.2f}; a normal has 0), as Laplace noise's are. Laplace "
                 "noise is calibrated to the L1 sensitivity, which L2 clipping bounds only by √d × clip"
                 if excess > 0.5 else "its excess kurtosis is {:+.2f} (a normal has 0)").format(excess)
        return (f"the noise on the sum must be Gaussian, N(0, (σ × clip)²): DP-SGD's ε (Abadi et al. 2016, the "
                f"accountant behind Opacus) holds for Gaussian noise only. Yours is not: its Kolmogorov–Smirnov "
                f"distance from a normal is {distance:.3f} (p = {p:.0e}, the check refuses below 1e-9); "
                f"{looks}. Draw it with torch.normal")
    if abs(std / want - 1) >= 0.05 or abs(mean) >= _SIGMAS * want / math.sqrt(d):
        return scale
    return None

"""Exercise checks for chapter 07 (secret sharing and MPC)."""
import random
from functools import reduce
from operator import xor

from ._framework import exercise


__all__ = ["additive_share", "beaver_multiply", "fixed_point", "and_gate", "truncate_shares"]

MOD = 2**64


def _shares(rng, value: int, parties: int, *, binary: bool = False) -> list[int]:
    """Random shares of ``value``: additive modulo 2**64, or XOR shares with ``binary``."""
    drawn = [rng.randrange(MOD) for _ in range(parties - 1)]
    last = reduce(xor, drawn, value) if binary else (value - sum(drawn)) % MOD
    return drawn + [last]


def _gate_trials(rng, count: int = 25):
    """(parties, x, y, a, b) for a multiplication or AND-gate check: 2 parties first, then 3 to 5."""
    for trial in range(count):
        yield (2 if trial < 10 else rng.randrange(3, 6)), *(rng.randrange(MOD) for _ in range(4))


@exercise(hint=['All shares but one are random; the last one makes the sum come out right.',
                "Random here means uniform over the whole ring and unpredictable: which module draws such numbers? Reread section 1's library cell."],
          task='additive_share(secret: int, parties: int) -> list[int] of parties shares in range(2**64) that add up to secret mod 2**64 (reread section 1).')
def additive_share(fn, t, rng):
    for secret, parties in ((0, 2), (42, 3), (MOD - 1, 2), (2**63, 5)):
        shares = fn(secret, parties)
        t.true(len(shares) == parties, f"additive_share({secret}, {parties}) must return {parties} shares")
        t.true(all(0 <= s < MOD for s in shares), "shares must lie in range(2**64)")
        t.equal(sum(shares) % MOD, secret, f"shares of {secret} must sum to it modulo 2**64")
    for _ in range(20):
        secret, parties = rng.randrange(MOD), rng.randrange(2, 8)
        t.equal(sum(fn(secret, parties)) % MOD, secret, f"random secret, {parties} parties", kind="random")
    draws = [fn(7, 4) for _ in range(2000)]
    for party in range(3):                     # every share but the last must be uniform on the ring
        column = [d[party] for d in draws]
        top = sum(s >> 63 for s in column) / len(column)
        t.true(len(set(column)) > 1990, f"share {party} must be a fresh random value on every call")
        t.true(0.45 < top < 0.55, f"share {party} must be uniform on the ring: its top bit was 1 in {top:.0%} of draws")
    state = random.getstate()
    try:
        random.seed(1234)
        first = fn(7, 3)
        random.seed(1234)
        t.true(fn(7, 3) != first, "use the secrets module: shares drawn with `random` repeat once its seed is known")
    finally:
        random.setstate(state)


@exercise(hint=['Open e = x − a and f = y − b; expand (e + a)(f + b) and give each term to the right parties.',
                'e and f are public once opened; a, b and c are shared. In the expansion, which term is a product of two public values, and how many parties should add it?'],
          task='beaver_multiply(x_shares, y_shares, a_shares, b_shares, c_shares) -> list of shares of x·y mod 2**64, one per party (reread section 4).')
def beaver_multiply(fn, t, rng):
    for n, x, y, a, b in _gate_trials(rng):
        xs, ys, as_, bs, cs = (_shares(rng, v, n) for v in (x, y, a, b, a * b % MOD))
        z = fn(xs, ys, as_, bs, cs)
        t.true(len(z) == n, f"one share per party ({n})")
        t.equal(sum(z) % MOD, x * y % MOD, f"{n} parties: shares of x·y", kind="random")
        e, f = (x - a) % MOD, (y - b) % MOD
        expected = [(cs[i] + e * bs[i] + f * as_[i] + (e * f if i == 0 else 0)) % MOD for i in range(n)]
        t.true([v % MOD for v in z] == expected,
               "each party's share must be c_i + e·b_i + f·a_i (+ e·f for party 0): computed from its own shares "
               "and the opened e, f — never from x and y themselves")


@exercise(hint=['Scale by 2**16 and round; negative numbers wrap around to the top half of the ring.',
                'Decoding must undo both steps: first tell a negative value by where it lies in the ring, then scale down exactly — rounding towards minus infinity loses values that are not on the 2**-16 grid.'],
          task='encode(x: float) -> int in range(2**64) with 16 fractional bits, and decode(v: int) -> float, its inverse (reread section 3).')
def fixed_point(fns, t, rng):
    encode, decode = fns
    for x, v in ((0.0, 0), (1.0, 65536), (-1.0, MOD - 65536), (0.5, 32768), (-1 - 2**-16, MOD - 65537)):
        t.equal(encode(x), v, f"encode({x})")
        t.equal(decode(v), x, f"decode({v})")
    for k in (1, 2, 7, 1000):
        x = -k - 2**-16
        t.equal(decode(encode(x)), x, f"just below −{k}: decode(encode({x}))")
    for _ in range(50):
        x = rng.randrange(-2**40, 2**40) / 2**16
        t.equal(decode(encode(x)), x, f"round trip of {x}", kind="random")
    for x in (0.3, -0.3, 1 / 3, -2.7, 1e-6, -(2**-17) * 3):   # off the 2^-16 grid: encode must round, not floor
        t.equal(encode(x), round(x * 2**16) % MOD, f"encode({x}) must round to the nearest 2^-16")


@exercise(hint=["Like Beaver's multiplication, with XOR for + and AND for ×: open two masked values first.",
                'After opening, write x = d ⊕ a and y = e ⊕ b and expand x ∧ y; AND distributes over XOR. Which term must only one party contribute?'],
          task='and_gate(x_shares, y_shares, a_shares, b_shares, c_shares) -> list of XOR shares of x AND y, one per party (reread the XOR-sharing cell).')
def and_gate(fn, t, rng):
    for n, x, y, a, b in _gate_trials(rng):
        z = fn(*(_shares(rng, v, n, binary=True) for v in (x, y, a, b, a & b)))
        t.true(len(z) == n, f"one share per party ({n})")
        t.equal(reduce(xor, z, 0), x & y, f"{n} parties: XOR shares of x AND y (64 bits at once)", kind="random")


@exercise(hint=['The two parties cannot both just shift their own share; think of the second share as the negative of something.',
                "Party 1's share is 2**64 − t for some t that is small when x is small: shift t, not the share, and turn it back into a share."],
          task='truncate_shares(shares: [s0, s1], bits: int) -> two shares of ⌊x / 2**bits⌋ (± 1), each computed from its own share only (reread section 5).')
def truncate_shares(fn, t, rng):
    for trial in range(200):
        bits = 16 if trial < 100 else rng.randrange(1, 30)
        x = rng.randrange(-2**40, 2**40)
        s0 = rng.randrange(MOD)
        s1 = (x - s0) % MOD
        out = fn([s0, s1], bits)
        t.true(len(out) == 2, "two shares in, two shares out")
        total = sum(out) % MOD
        got = total - MOD if total >= 2**63 else total
        t.true(abs(got - (x >> bits)) <= 1,
               f"x = {x}, bits = {bits}: the shares open to {got}, not ⌊x / 2^{bits}⌋ = {x >> bits} (± 1)")

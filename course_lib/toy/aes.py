"""INSECURE — for learning. AES (FIPS 197) in pure Python, one 16-byte block at a time.

Readable rather than fast or safe: table look-ups indexed by secret data leak timing, and a
block cipher alone is not an encryption scheme (see ``toy.modes`` and chapter 01). Checked
against the FIPS 197 appendix C examples in the tests. Introduced in chapter 01.
"""
from __future__ import annotations


__all__ = ["SBOX", "INV_SBOX", "expand_key", "encrypt_block", "decrypt_block", "ToyAES"]


def _xtime(a: int) -> int:
    """Multiply by x (i.e. 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1."""
    a <<= 1
    return a ^ 0x11B if a & 0x100 else a


def _gmul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a, b = _xtime(a), b >> 1
    return result


def _make_sbox() -> list[int]:
    """S-box from its definition: multiplicative inverse in GF(2^8), then an affine map."""
    inverse = [0] * 256
    for a in range(1, 256):
        for b in range(1, 256):
            if _gmul(a, b) == 1:
                inverse[a] = b
                break
    sbox = []
    for x in inverse:
        y = x
        for shift in (1, 2, 3, 4):
            y ^= ((x << shift) | (x >> (8 - shift))) & 0xFF
        sbox.append(y ^ 0x63)
    return sbox


SBOX = _make_sbox()
INV_SBOX = [SBOX.index(i) for i in range(256)]
_ROUNDS = {16: 10, 24: 12, 32: 14}


def expand_key(key: bytes) -> list[list[int]]:
    """Key schedule: one 16-byte round key per round plus one (FIPS 197 section 5.2)."""
    if len(key) not in _ROUNDS:
        raise ValueError("AES keys are 16, 24 or 32 bytes")
    nk, rounds = len(key) // 4, _ROUNDS[len(key)]
    words = [list(key[4 * i: 4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        temp = list(words[i - 1])
        if i % nk == 0:
            temp = [SBOX[b] for b in temp[1:] + temp[:1]]
            temp[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            temp = [SBOX[b] for b in temp]
        words.append([a ^ b for a, b in zip(words[i - nk], temp)])
    return [sum(words[4 * r: 4 * r + 4], []) for r in range(rounds + 1)]


def _add_round_key(state, round_key):
    return [s ^ k for s, k in zip(state, round_key)]


def _shift_rows(state, direction=1):
    # state is column-major: byte (row r, column c) is state[4*c + r]
    return [state[4 * ((c + direction * r) % 4) + r] for c in range(4) for r in range(4)]


def _mix_columns(state, matrix=(2, 3, 1, 1)):
    out = []
    for c in range(4):
        col = state[4 * c: 4 * c + 4]
        for r in range(4):
            value = 0
            for i in range(4):
                value ^= _gmul(matrix[(i - r) % 4], col[i])
            out.append(value)
    return out


def encrypt_block(key: bytes, block: bytes) -> bytes:
    """AES-encrypt one 16-byte block (FIPS 197 Cipher())."""
    return ToyAES(key).encrypt_block(block)


def decrypt_block(key: bytes, block: bytes) -> bytes:
    """AES-decrypt one 16-byte block (FIPS 197 InvCipher())."""
    return ToyAES(key).decrypt_block(block)


class ToyAES:
    """INSECURE — for learning. The raw AES block function with a precomputed key schedule."""

    block_size = 16

    def __init__(self, key: bytes):
        self.round_keys = expand_key(bytes(key))

    def encrypt_block(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise ValueError("AES works on 16-byte blocks")
        state = _add_round_key(list(block), self.round_keys[0])
        for round_key in self.round_keys[1:-1]:
            state = _mix_columns(_shift_rows([SBOX[b] for b in state]))
            state = _add_round_key(state, round_key)
        state = _shift_rows([SBOX[b] for b in state])
        return bytes(_add_round_key(state, self.round_keys[-1]))

    def decrypt_block(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise ValueError("AES works on 16-byte blocks")
        state = _add_round_key(list(block), self.round_keys[-1])
        for round_key in reversed(self.round_keys[1:-1]):
            state = [INV_SBOX[b] for b in _shift_rows(state, -1)]
            state = _mix_columns(_add_round_key(state, round_key), matrix=(14, 11, 13, 9))
        state = [INV_SBOX[b] for b in _shift_rows(state, -1)]
        return bytes(_add_round_key(state, self.round_keys[0]))

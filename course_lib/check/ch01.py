"""Exercise checks for chapter 01 (symmetric encryption)."""
import os

import torch

from ..symmetric import decrypt
from ..toy.modes import RawAES, ctr_encrypt as reference_ctr, pkcs7_pad
from ._framework import exercise


__all__ = ["ctr_encrypt", "pkcs7_unpad", "seal_tensor"]

# NIST SP 800-38A, F.5.1 CTR-AES128.Encrypt
SP800_38A_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
SP800_38A_COUNTER = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
SP800_38A_PLAINTEXT = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP800_38A_CTR_CIPHERTEXT = bytes.fromhex(
    "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
    "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")


@exercise(hint=['CTR turns a block cipher into a keystream: what do you encrypt, if not the data?',
                'The counter block is a 128-bit big-endian integer: block i of the keystream comes from the counter plus i (wrapping at 2**128). Reread how the SP 800-38A cells build their counter blocks.',
                "The data's length need not be a multiple of 16: how much of the last keystream block do you use?"],
          task="ctr_encrypt(encrypt_block, counter_block: bytes, data: bytes) -> bytes: XOR data with the block cipher's encryptions of counter, counter + 1, … (reread the CTR cells of section 3).")
def ctr_encrypt(fn, t, rng):
    block = RawAES(SP800_38A_KEY)
    t.equal(fn(block.encrypt_block, SP800_38A_COUNTER, SP800_38A_PLAINTEXT), SP800_38A_CTR_CIPHERTEXT,
            "NIST SP 800-38A F.5.1 (CTR-AES128)")
    t.equal(fn(block.encrypt_block, SP800_38A_COUNTER, b""), b"", "empty message")
    wrap = b"\xff" * 16
    t.equal(fn(block.encrypt_block, wrap, bytes(40)), reference_ctr(block, wrap, bytes(40)),
            "counter ff…ff must wrap around to 00…00")
    for _ in range(30):
        block = RawAES(os.urandom(rng.choice((16, 24, 32))))
        counter, data = os.urandom(16), os.urandom(rng.randrange(0, 100))
        t.equal(fn(block.encrypt_block, counter, data), reference_ctr(block, counter, data),
                f"random key, {len(data)}-byte message", kind="random")


@exercise(hint=['The last byte says how many padding bytes there are. What values may it take, and what must the other padding bytes be?',
                'A padded message is never empty and its length is a multiple of the block size; a padding length of 0 or more than 16 is impossible.',
                'Every one of the bytes you are about to strip must be checked, not just the last one — and every malformed input must raise ValueError, never return something.'],
          task='pkcs7_unpad(padded: bytes, block_size=16) -> bytes, raising ValueError for malformed padding (reread section 4).')
def pkcs7_unpad(fn, t, rng):
    t.equal(fn(b"YELLOW SUBMARINE" + bytes([16]) * 16), b"YELLOW SUBMARINE", "a full block of padding")
    t.equal(fn(b"ICE ICE BABY\x04\x04\x04\x04"), b"ICE ICE BABY", "four bytes of padding")
    for bad in (b"ICE ICE BABY\x05\x05\x05\x05", b"ICE ICE BABY\x01\x02\x03\x04", b"A" * 15 + b"\x00",
                b"A" * 15 + b"\x11", b"", b"A" * 17):
        try:
            result = fn(bad)
        except ValueError:  # PaddingError is a ValueError
            t.true(True, "")
            continue
        t.true(False, f"pkcs7_unpad({bad!r}) must raise ValueError, but returned {result!r}")
    for _ in range(40):
        data = os.urandom(rng.randrange(0, 70))
        t.equal(fn(pkcs7_pad(data)), data, f"unpad(pad(<{len(data)} random bytes>))", kind="random")


@exercise(hint=['Two problems: turning a tensor into bytes without pickle, and sealing bytes with the AEAD helper of this chapter.',
                'The bytes must carry dtype and shape with the values, in a format whose loader cannot run code: numpy has one (look up allow_pickle).',
                'Opening is the exact reverse, in reverse order; a tampered input must fail in the decryption, before any parsing.'],
          task='seal_tensor(key, tensor, ad) -> bytes and open_tensor(key, sealed, ad) -> torch.Tensor with the same dtype and shape; opening must fail on a wrong key, wrong ad or changed bytes (reread section 5).')
def seal_tensor(fns, t, rng):
    seal, open_ = fns
    key = os.urandom(32)
    for dtype, shape in ((torch.float32, (8, 8)), (torch.int64, (3,)), (torch.uint8, (2, 3, 4)),
                         (torch.float64, ())):
        tensor = (torch.rand(shape) * 100).to(dtype)
        aad = f"digits/sample-{rng.randrange(1000)}".encode()
        sealed = seal(key, tensor, aad)
        t.true(isinstance(sealed, bytes), "seal_tensor must return bytes")
        back = open_(key, sealed, aad)
        t.true(isinstance(back, torch.Tensor) and back.dtype == dtype and back.shape == tensor.shape
               and torch.equal(back, tensor), f"open(seal(x)) must give back x ({dtype}, shape {shape})",
               kind="random")
        t.true(seal(key, tensor, aad) != sealed, "two seals of the same tensor must differ (fresh random nonce)")
        try:
            inner = decrypt(key, sealed, aad)
        except ValueError:
            inner = b""
        t.true(not inner.startswith((b"\x80", b"PK\x03\x04")),
               "serialise without pickle or torch.save: opening their output can run code (chapter 05)")
        if tensor.numel() >= 8:
            t.true(tensor.numpy().tobytes() not in sealed, "the tensor's raw bytes must not appear in the output")
        for label, args in (("wrong associated data", (key, sealed, aad + b"!")),
                            ("wrong key", (os.urandom(32), sealed, aad)),
                            ("a flipped bit", (key, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad))):
            try:
                open_(*args)
            except ValueError:
                t.true(True, "")
                continue
            t.true(False, f"opening with {label} must raise (DecryptionError / ValueError)")

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings, strategies as st

from course_lib.errors import PaddingError
from course_lib.toy.aes import SBOX, ToyAES, decrypt_block, encrypt_block
from course_lib.toy.modes import (RawAES, cbc_decrypt, cbc_encrypt, ctr_encrypt, ecb_decrypt, ecb_encrypt,
                                  pkcs7_pad, pkcs7_unpad)
from course_lib.toy.otp import otp_encrypt, xor_bytes

from .vectors import nist_records

# FIPS 197 appendix C: plaintext 00112233...ff, key 000102...
FIPS197 = [(16, "69c4e0d86a7b0430d8cdb78070b4c55a"), (24, "dda97ca4864cdfe06eaf70a0ec0d7191"),
           (32, "8ea2b7ca516745bfeafc49904b496089")]
FIPS197_PLAINTEXT = bytes.fromhex("00112233445566778899aabbccddeeff")

# NIST SP 800-38A appendix F, AES-128
SP_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
SP_PT = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP_ECB = "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf" \
         "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"
SP_CBC_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP_CBC = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2" \
         "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
SP_CTR_IV = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
SP_CTR = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff" \
         "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"


def test_sbox_matches_fips197_figure7():
    assert SBOX[0x00] == 0x63 and SBOX[0x53] == 0xED and SBOX[0xFF] == 0x16
    assert sorted(SBOX) == list(range(256))


@pytest.mark.parametrize("key_len,expected", FIPS197)
def test_toy_aes_matches_fips197_appendix_c(key_len, expected):
    key = bytes(range(key_len))
    assert encrypt_block(key, FIPS197_PLAINTEXT).hex() == expected
    assert decrypt_block(key, bytes.fromhex(expected)) == FIPS197_PLAINTEXT


@pytest.mark.parametrize("name", ["ECBGFSbox128.rsp", "ECBKeySbox192.rsp", "ECBVarKey256.rsp"])
def test_toy_aes_matches_nist_cavp_known_answers(name):
    records = nist_records(f"ciphers/AES/ECB/{name}", "ENCRYPT")
    assert len(records) > 5
    for r in records[:40]:
        assert encrypt_block(bytes.fromhex(r["KEY"]), bytes.fromhex(r["PLAINTEXT"])).hex() == r["CIPHERTEXT"].lower()


@settings(max_examples=30, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), block=st.binary(min_size=16, max_size=16))
def test_toy_aes_agrees_with_openssl(key, block):
    assert ToyAES(key).encrypt_block(block) == RawAES(key).encrypt_block(block)
    assert ToyAES(key).decrypt_block(block) == RawAES(key).decrypt_block(block)


def test_toy_aes_rejects_bad_sizes():
    with pytest.raises(ValueError):
        ToyAES(bytes(15))
    with pytest.raises(ValueError):
        ToyAES(bytes(16)).encrypt_block(bytes(15))


@pytest.mark.parametrize("cipher_cls", [RawAES, ToyAES])
def test_modes_match_sp800_38a(cipher_cls):
    cipher = cipher_cls(SP_KEY)
    assert ecb_encrypt(cipher, SP_PT).hex() == SP_ECB
    assert cbc_encrypt(cipher, SP_CBC_IV, SP_PT).hex() == SP_CBC
    assert ctr_encrypt(cipher, SP_CTR_IV, SP_PT).hex() == SP_CTR
    assert ecb_decrypt(cipher, bytes.fromhex(SP_ECB)) == SP_PT
    assert cbc_decrypt(cipher, SP_CBC_IV, bytes.fromhex(SP_CBC)) == SP_PT


@pytest.mark.parametrize("mode,name", [("ECB", "ECBMMT128.rsp"), ("ECB", "ECBMMT256.rsp"),
                                       ("CBC", "CBCMMT128.rsp"), ("CBC", "CBCMMT192.rsp")])
def test_modes_match_nist_multiblock_vectors(mode, name):
    for direction in ("ENCRYPT", "DECRYPT"):
        for r in nist_records(f"ciphers/AES/{mode}/{name}", direction):
            cipher, pt, ct = RawAES(bytes.fromhex(r["KEY"])), bytes.fromhex(r["PLAINTEXT"]), bytes.fromhex(r["CIPHERTEXT"])
            if mode == "ECB":
                assert ecb_encrypt(cipher, pt) == ct and ecb_decrypt(cipher, ct) == pt
            else:
                iv = bytes.fromhex(r["IV"])
                assert cbc_encrypt(cipher, iv, pt) == ct and cbc_decrypt(cipher, iv, ct) == pt


def test_ctr_matches_rfc3686_vectors():
    records = nist_records("ciphers/AES/CTR/aes-128-ctr.txt")
    assert records
    for r in records:
        cipher = RawAES(bytes.fromhex(r["KEY"]))
        assert ctr_encrypt(cipher, bytes.fromhex(r["IV"]), bytes.fromhex(r["PLAINTEXT"])).hex() == r["CIPHERTEXT"].lower()


@settings(max_examples=50, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), iv=st.binary(min_size=16, max_size=16), data=st.binary(max_size=200))
def test_modes_round_trip_and_agree_with_cryptography(key, iv, data):
    cipher = RawAES(key)
    padded = pkcs7_pad(data)
    assert pkcs7_unpad(cbc_decrypt(cipher, iv, cbc_encrypt(cipher, iv, padded))) == data
    assert pkcs7_unpad(ecb_decrypt(cipher, ecb_encrypt(cipher, padded))) == data
    assert ctr_encrypt(cipher, iv, ctr_encrypt(cipher, iv, data)) == data
    reference = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    assert ctr_encrypt(cipher, iv, data) == reference.update(data) + reference.finalize()
    reference = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    assert cbc_encrypt(cipher, iv, padded) == reference.update(padded) + reference.finalize()


def test_ctr_counter_wraps_at_2_128():
    cipher = RawAES(SP_KEY)
    stream = ctr_encrypt(cipher, b"\xff" * 16, bytes(32))
    assert stream[16:] == cipher.encrypt_block(bytes(16))


@pytest.mark.parametrize("bad", [b"", b"A" * 15, b"A" * 15 + b"\x00", b"A" * 15 + b"\x11",
                                 b"A" * 12 + b"\x01\x02\x03\x04", b"A" * 13 + b"\x03\x03\x02"])
def test_pkcs7_unpad_rejects_malformed_padding(bad):
    with pytest.raises(PaddingError):
        pkcs7_unpad(bad)


@given(st.binary(max_size=100))
def test_pkcs7_pad_always_adds_1_to_16_bytes(data):
    padded = pkcs7_pad(data)
    assert len(padded) % 16 == 0 and 1 <= len(padded) - len(data) <= 16
    assert pkcs7_unpad(padded) == data


def test_one_time_pad_and_its_reuse_leak():
    m1, m2 = b"attack at dawn!!", b"retreat at noon!"
    pad = os.urandom(16)
    c1, c2 = otp_encrypt(pad, m1), otp_encrypt(pad, m2)
    assert otp_encrypt(pad, c1) == m1
    assert xor_bytes(c1, c2) == xor_bytes(m1, m2)        # the pad cancels out
    assert xor_bytes(xor_bytes(c1, c2), m1) == m2        # knowing m1 reveals m2
    with pytest.raises(ValueError):
        xor_bytes(b"ab", b"abc")

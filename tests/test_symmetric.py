import hashlib

import pytest
from Crypto.Cipher import AES, ChaCha20_Poly1305
from hypothesis import given, settings, strategies as st

from course_lib import symmetric
from course_lib.errors import DecryptionError

from .vectors import nist_records

ALGS = list(symmetric.ALGORITHMS)


@pytest.mark.parametrize("alg", ALGS)
@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300), ad=st.binary(max_size=40))
def test_round_trip(alg, data, ad):
    key = symmetric.new_key()
    sealed = symmetric.encrypt(key, data, ad, alg)
    assert len(sealed) == len(data) + symmetric.NONCE_SIZE + symmetric.TAG_SIZE
    assert symmetric.decrypt(key, sealed, ad, alg) == data


@pytest.mark.parametrize("alg", ALGS)
def test_every_single_bit_flip_is_rejected(alg):
    key = symmetric.new_key()
    sealed = symmetric.encrypt(key, b"label=3;index=17", b"digits", alg)
    for i in range(len(sealed) * 8):
        tampered = bytearray(sealed)
        tampered[i // 8] ^= 1 << (i % 8)
        with pytest.raises(DecryptionError, match="authentication failed"):
            symmetric.decrypt(key, bytes(tampered), b"digits", alg)


@pytest.mark.parametrize("alg", ALGS)
def test_wrong_key_wrong_ad_truncation(alg):
    key = symmetric.new_key()
    sealed = symmetric.encrypt(key, b"secret", b"sample-1", alg)
    with pytest.raises(DecryptionError):
        symmetric.decrypt(symmetric.new_key(), sealed, b"sample-1", alg)
    with pytest.raises(DecryptionError):
        symmetric.decrypt(key, sealed, b"sample-2", alg)
    with pytest.raises(DecryptionError, match="truncated"):
        symmetric.decrypt(key, sealed[:20], b"sample-1", alg)
    with pytest.raises(DecryptionError):
        symmetric.decrypt(key, sealed[:-1], b"sample-1", alg)
    assert isinstance(DecryptionError("x"), ValueError)


def test_nonces_are_fresh():
    key = symmetric.new_key()
    nonces = {symmetric.encrypt(key, b"same")[:12] for _ in range(200)}
    assert len(nonces) == 200


def test_bad_parameters_have_clear_errors():
    with pytest.raises(ValueError, match="32-byte key"):
        symmetric.encrypt(bytes(16), b"x")
    with pytest.raises(ValueError, match="unknown algorithm"):
        symmetric.encrypt(symmetric.new_key(), b"x", algorithm="des")


def test_interop_with_pycryptodome_both_directions():
    key, ad, msg = symmetric.new_key(), b"meta", b"interoperable"
    sealed = symmetric.encrypt(key, msg, ad)
    nonce, body, tag = sealed[:12], sealed[12:-16], sealed[-16:]
    dome = AES.new(key, AES.MODE_GCM, nonce=nonce)
    dome.update(ad)
    assert dome.decrypt_and_verify(body, tag) == msg
    dome = ChaCha20_Poly1305.new(key=key, nonce=nonce)
    dome.update(ad)
    ct, tag = dome.encrypt_and_digest(msg)
    assert symmetric.decrypt(key, nonce + ct + tag, ad, "chacha20-poly1305") == msg


def test_aes_gcm_matches_nist_gcm_vectors():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    records = [r for r in nist_records("ciphers/AES/GCM/gcmEncryptExtIV256.rsp")
               if "FAIL" not in r and len(r.get("IV", "")) == 24 and r.get("TAG") and len(r["TAG"]) == 32]
    assert len(records) > 50
    for r in records[:200]:
        key, iv = bytes.fromhex(r["KEY"]), bytes.fromhex(r["IV"])
        pt, ad = bytes.fromhex(r.get("PT", "")), bytes.fromhex(r.get("AAD", ""))
        sealed = iv + bytes.fromhex(r.get("CT", "")) + bytes.fromhex(r["TAG"])
        assert symmetric.decrypt(key, sealed, ad) == pt
        assert AESGCM(key).encrypt(iv, pt, ad) == sealed[12:]


def test_chacha20_poly1305_matches_rfc8439():
    records = [r for r in nist_records("ciphers/ChaCha20Poly1305/openssl.txt")
               if "RESULT" not in r and len(r["IV"]) == 24 and len(r["TAG"]) == 32]
    assert records and records[0]["KEY"].startswith("1c9240a5")  # RFC 8439 appendix A.5 comes first
    for r in records:
        sealed = bytes.fromhex(r["IV"]) + bytes.fromhex(r["CIPHERTEXT"]) + bytes.fromhex(r["TAG"])
        assert symmetric.decrypt(bytes.fromhex(r["KEY"]), sealed, bytes.fromhex(r["AAD"]),
                                 "chacha20-poly1305") == bytes.fromhex(r["PLAINTEXT"])


def test_scrypt_matches_rfc7914_vectors():
    for r in nist_records("KDF/scrypt.txt"):
        if int(r["N"]) > 2**14:
            continue
        key = symmetric._derive(r["PASSWORD"], r["SALT"].encode(), "scrypt", n=int(r["N"]), r=int(r["R"]),
                                p=int(r["P"]), length=int(r["LENGTH"]))
        assert key.hex() == r["DERIVED_KEY"]


def test_pbkdf2_sha256_matches_rfc7914_section11():
    key = symmetric._derive("passwd", b"salt", "pbkdf2", iterations=1, length=64)
    assert key.hex() == ("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                         "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")


def test_derive_key_defaults_salt_rule_and_agreement_with_hashlib():
    salt = symmetric.new_salt()
    assert symmetric.derive_key("pw", salt, n=2**10) == hashlib.scrypt(b"pw", salt=salt, n=2**10, r=8, p=1, dklen=32)
    assert symmetric.derive_key("pw", salt, "pbkdf2", iterations=1000) == hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
    assert symmetric.derive_key("pw", salt, n=2**10) != symmetric.derive_key("pw", symmetric.new_salt(), n=2**10)
    with pytest.raises(ValueError, match="salt"):
        symmetric.derive_key("pw", b"short")
    with pytest.raises(ValueError, match="unknown kdf"):
        symmetric.derive_key("pw", salt, "md5")


def test_argon2id_matches_rfc9106_and_reference_vectors():
    records = list(nist_records("KDF/argon2id.txt"))
    assert len(records) == 6
    for r in records:
        key = symmetric._derive(bytes.fromhex(r["PASS"]), bytes.fromhex(r["SALT"]), "argon2id",
                                iterations=int(r["ITER"]), lanes=int(r["LANES"]), memory_cost=int(r["MEMCOST"]),
                                length=int(r["LENGTH"]), secret=bytes.fromhex(r["SECRET"]) if "SECRET" in r else None,
                                ad=bytes.fromhex(r["AD"]) if "AD" in r else None)
        assert key.hex() == r["OUTPUT"]


def test_argon2id_defaults_are_owasps_and_gpu_estimates_follow_the_reference():
    salt = symmetric.new_salt()
    assert symmetric.ARGON2ID_DEFAULTS == {"memory_cost": 19_456, "iterations": 2, "lanes": 1}
    assert symmetric.derive_key("pw", salt, "argon2id", memory_cost=64, iterations=1) != \
        symmetric.derive_key("pw", salt, "argon2id", memory_cost=64, iterations=2)
    assert symmetric.gpu_guesses_per_second("pbkdf2", 600_000) == 1e4
    assert symmetric.gpu_guesses_per_second("scrypt", 2**16) == 2e4          # half the cost, twice the guesses
    with pytest.raises(ValueError, match="argon2id, scrypt, pbkdf2"):
        symmetric.derive_key("pw", salt, "bcrypt")


def test_the_two_time_pad_attack_finds_nothing_against_the_recipe():
    """Chapter 01's nonce-reuse attack: knowing m1, recover m2 as c1 ⊕ c2 ⊕ m1. With a reused
    keystream that works; the recipe draws a fresh nonce per call, so the guess is noise."""
    key = symmetric.new_key()
    m1, m2 = b"label=cat;  patient=0001", b"label=dog;  patient=0002"
    for alg in ALGS:
        c1, c2 = symmetric.encrypt(key, m1, algorithm=alg), symmetric.encrypt(key, m2, algorithm=alg)
        guess = bytes(a ^ b ^ c for a, b, c in zip(c1[12:], c2[12:], m1))
        assert guess != m2
        assert sum(g == t for g, t in zip(guess, m2)) < len(m2) // 2      # no better than chance, byte by byte

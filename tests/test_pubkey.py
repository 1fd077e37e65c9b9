import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, x25519
from Crypto.Cipher import PKCS1_OAEP
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pss
from hypothesis import given, settings, strategies as st

from course_lib import pubkey
from course_lib.errors import DecryptionError, SignatureError, WrongRecipientError
from course_lib.toy import rsa as textbook

from .vectors import ROOT, nist_records


def test_miller_rabin_against_known_primes_and_composites():
    primes = [2, 3, 5, 7919, 2**61 - 1, 2**127 - 1]
    composites = [1, 0, 4, 561, 1105, 1729, 2465, 2821, 6601, 8911, (2**61 - 1) * (2**31 - 1), 3215031751]
    assert all(textbook.is_probable_prime(p) for p in primes)
    assert not any(textbook.is_probable_prime(c) for c in composites)   # Carmichael numbers included


def test_modinv_and_egcd():
    assert textbook.modinv(17, 780) == 413
    for _ in range(100):
        m = textbook.random_prime(32)
        a = int.from_bytes(os.urandom(8), "big") % m or 1
        assert a * textbook.modinv(a, m) % m == 1 == a * pow(a, -1, m) % m
    with pytest.raises(ValueError):
        textbook.modinv(6, 9)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0))
def test_textbook_rsa_round_trips_and_matches_pow(m):
    key = _KEY
    m %= key.n
    c = textbook.encrypt(key.public, m)
    assert c == pow(m, key.e, key.n)
    assert textbook.decrypt(key, c) == m
    assert textbook.verify(key.public, m, textbook.sign(key, m))


_KEY = textbook.generate(1024)


def test_textbook_rsa_key_properties_and_attacks():
    key = textbook.generate(512)
    assert key.n.bit_length() == 512 and key.n == key.p * key.q
    assert key.e * key.d % ((key.p - 1) * (key.q - 1) // textbook.egcd(key.p - 1, key.q - 1)[0]) == 1
    assert "d=<secret>" in repr(key) and str(key.d) not in repr(key)
    # malleability
    c = textbook.encrypt(key.public, 1000)
    assert textbook.decrypt(key, c * textbook.encrypt(key.public, 3) % key.n) == 3000
    # determinism
    assert textbook.encrypt(key.public, 42) == textbook.encrypt(key.public, 42)
    with pytest.raises(ValueError):
        textbook.encrypt(key.public, key.n)


def test_oaep_and_pss_interop_both_directions():
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    dome_public = RSA.import_key(pem)
    assert key.decrypt(PKCS1_OAEP.new(dome_public, hashAlgo=SHA256).encrypt(b"m"), oaep) == b"m"
    signature = key.sign(b"doc", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    pss.new(dome_public).verify(SHA256.new(b"doc"), signature)
    with pytest.raises(ValueError):
        pss.new(dome_public).verify(SHA256.new(b"doc!"), signature)

    dome = RSA.generate(2048)
    crypto_public = serialization.load_pem_public_key(dome.public_key().export_key("PEM"))
    assert PKCS1_OAEP.new(dome, hashAlgo=SHA256).decrypt(crypto_public.encrypt(b"n", oaep)) == b"n"
    crypto_public.verify(pss.new(dome).sign(SHA256.new(b"doc")), b"doc",
                         padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO), hashes.SHA256())


def test_x25519_matches_rfc7748():
    records = nist_records("asymmetric/X25519/rfc7748.txt")
    assert records
    for r in records:
        private = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(r["INPUT_SCALAR"]))
        peer = x25519.X25519PublicKey.from_public_bytes(bytes.fromhex(r["INPUT_U"]))
        assert private.exchange(peer).hex() == r["OUTPUT_U"]


def _ed25519_vectors():
    for line in (ROOT / "asymmetric/Ed25519/sign.input").read_text().splitlines()[:64]:
        secret, public, message, signature, _ = line.split(":")
        yield bytes.fromhex(secret[:64]), bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature[:128])


def test_ed25519_wrapper_matches_rfc8032_vectors():
    vectors = list(_ed25519_vectors())
    assert len(vectors) == 64
    for seed, public, message, signature in vectors:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        assert pubkey.public_bytes(key.public_key()) == public
        assert pubkey.sign(key, message) == signature
        pubkey.verify(key.public_key(), message, signature)
        with pytest.raises(SignatureError):
            pubkey.verify(key.public_key(), message + b"x", signature)
        with pytest.raises(SignatureError):
            pubkey.verify(key.public_key(), message, signature[:-1] + bytes([signature[-1] ^ 1]))


def test_signature_rejects_every_one_byte_change_and_wrong_key():
    key = pubkey.new_ed25519_key()
    card = b'{"model": "digits-mlp", "accuracy": 0.97}'
    signature = pubkey.sign(key, card)
    for i in range(len(card)):
        changed = card[:i] + bytes([card[i] ^ 1]) + card[i + 1:]
        with pytest.raises(SignatureError):
            pubkey.verify(key.public_key(), changed, signature)
    with pytest.raises(SignatureError, match="under key id"):
        pubkey.verify(pubkey.new_ed25519_key().public_key(), card, signature)


@settings(max_examples=20, deadline=None)
@given(data=st.binary(max_size=5000), ad=st.binary(max_size=20))
def test_hybrid_round_trip(data, ad):
    sealed = pubkey.hybrid_encrypt(_RECIPIENT.public_key(), data, ad)
    assert pubkey.hybrid_decrypt(_RECIPIENT, sealed, ad) == data


_RECIPIENT = pubkey.new_x25519_key()


def test_hybrid_rejects_wrong_recipient_tampering_truncation_and_wrong_ad():
    recipient = pubkey.new_x25519_key()
    sealed = pubkey.hybrid_encrypt(recipient.public_key(), b"the digits data key", b"v1")
    with pytest.raises(WrongRecipientError, match="sealed for key"):
        pubkey.hybrid_decrypt(pubkey.new_x25519_key(), sealed, b"v1")
    for i in range(len(sealed)):  # every single byte of header and body
        tampered = sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1:]
        with pytest.raises(DecryptionError):
            pubkey.hybrid_decrypt(recipient, tampered, b"v1")
    with pytest.raises(DecryptionError, match="truncated"):
        pubkey.hybrid_decrypt(recipient, sealed[:40], b"v1")
    with pytest.raises(DecryptionError):
        pubkey.hybrid_decrypt(recipient, sealed[:-1], b"v1")
    with pytest.raises(DecryptionError):
        pubkey.hybrid_decrypt(recipient, sealed, b"v2")
    assert pubkey.hybrid_encrypt(recipient.public_key(), b"x") != pubkey.hybrid_encrypt(recipient.public_key(), b"x")


def test_guessing_the_label_works_on_textbook_rsa_and_fails_on_oaep_and_hybrid():
    """Chapter 03's attack: encrypt each candidate with the public key and compare. Textbook RSA is
    deterministic, so the label is found; OAEP and hybrid encryption are randomised, so no guess matches."""
    labels = [b"cat", b"dog", b"ship"]
    key = textbook.generate(512)
    secret = textbook.encrypt(key.public, int.from_bytes(b"dog", "big"))
    found = [l for l in labels if textbook.encrypt(key.public, int.from_bytes(l, "big")) == secret]
    assert found == [b"dog"]

    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    sealed = rsa_key.encrypt(b"dog", oaep)
    assert not [l for l in labels if rsa_key.encrypt(l, oaep) == sealed]
    recipient = pubkey.new_x25519_key().public_key()
    sealed = pubkey.hybrid_encrypt(recipient, b"dog")
    assert not [l for l in labels if pubkey.hybrid_encrypt(recipient, l) == sealed]

import hashlib
import hmac
import os

import pytest
from hypothesis import given, settings, strategies as st

import course_lib as cl
from course_lib import hashing
from course_lib.errors import IntegrityError
from course_lib.toy import sha256 as toy

from .vectors import nist_records

FIPS180_4 = {
    b"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq":
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    b"": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}


@pytest.mark.parametrize("message,digest", FIPS180_4.items())
def test_toy_sha256_matches_fips180_4_examples(message, digest):
    assert toy.sha256(message).hex() == digest


def test_toy_sha256_million_a():
    assert toy.sha256(b"a" * 1_000_000).hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"


def test_toy_sha256_matches_nist_short_messages():
    records = nist_records("hashes/SHA2/SHA256ShortMsg.rsp")
    assert len(records) > 60
    for r in records:
        length = int(r["LEN"]) // 8
        message = bytes.fromhex(r["MSG"])[:length]
        assert toy.sha256(message).hex() == r["MD"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_toy_sha256_agrees_with_hashlib(message):
    assert toy.sha256(message) == hashlib.sha256(message).digest()


@settings(max_examples=25, deadline=None)
@given(key=st.binary(min_size=1, max_size=80), message=st.binary(max_size=100), suffix=st.binary(max_size=80))
def test_length_extension_forges_naive_mac_but_not_hmac(key, message, suffix):
    forged_message, forged_tag = toy.length_extension(toy.naive_mac(key, message), message, len(key), suffix)
    assert forged_message.startswith(message) and forged_message.endswith(suffix)
    assert toy.naive_mac(key, forged_message) == forged_tag
    tag = hashing.hmac_sha256(key, message)
    forged_message, forged_tag = toy.length_extension(tag, message, len(key), suffix)
    assert not hmac.compare_digest(hashing.hmac_sha256(key, forged_message), forged_tag)
    with pytest.raises(IntegrityError):
        hashing.verify_hmac(key, forged_message, forged_tag)


def test_hmac_matches_rfc4231():
    records = nist_records("HMAC/rfc-4231-sha256.txt")
    assert len(records) >= 6
    for r in records:
        key, data = bytes.fromhex(r["KEY"]), bytes.fromhex(r["MSG"])
        expected = r["MD"]
        assert hashing.hmac_sha256(key, data).hex()[:len(expected)] == expected


def test_verify_hmac_accepts_and_rejects():
    key = os.urandom(32)
    tag = hashing.hmac_sha256(key, b"batch")
    hashing.verify_hmac(key, b"batch", tag)
    for bad in (tag[:-1] + bytes([tag[-1] ^ 1]), tag[:16], b""):
        with pytest.raises(IntegrityError):
            hashing.verify_hmac(key, b"batch", bad)


def test_keyed_pseudonyms_resist_dictionary_but_link():
    key = os.urandom(32)
    table = {hashlib.sha256(str(a).encode()).hexdigest() for a in range(150)}
    assert hashing.keyed_pseudonym(key, "42") not in table
    assert hashing.keyed_pseudonym(key, "42") == hashing.keyed_pseudonym(key, b"42")
    assert hashing.keyed_pseudonym(key, "42") != hashing.keyed_pseudonym(os.urandom(32), "42")


CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]


def test_merkle_root_matches_rfc6962_reference_tree():
    assert hashing.merkle_root(CT_LEAVES).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert hashing.merkle_root([]) == hashlib.sha256(b"").digest()
    assert hashing.Manifest.build(CT_LEAVES).root == hashing.merkle_root(CT_LEAVES)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=40), st.data())
def test_inclusion_proofs_verify_and_reject(records, data):
    manifest = hashing.Manifest.build(records)
    n = len(records)
    for i in range(n):
        proof = manifest.proof(i)
        assert len(proof) <= max(1, (n - 1).bit_length())
        assert hashing.verify_inclusion(manifest.root, records[i], i, n, proof)
    i = data.draw(st.integers(0, n - 1))
    proof = manifest.proof(i)
    assert not hashing.verify_inclusion(manifest.root, records[i] + b"x", i, n, proof)
    assert not hashing.verify_inclusion(manifest.root, records[i], n, n, proof)
    if proof:
        assert not hashing.verify_inclusion(manifest.root, records[i], i, n, proof[:-1])
        assert not hashing.verify_inclusion(manifest.root, records[i], i, n, proof + [bytes(32)])


def test_any_single_byte_change_to_any_sample_is_detected_and_located():
    records = cl.digits.records()[:64]
    manifest = hashing.Manifest.build(records)
    manifest.verify(records)
    for index, record in enumerate(records):
        for position in range(len(record)):
            changed = list(records)
            changed[index] = record[:position] + bytes([record[position] ^ 0x01]) + record[position + 1:]
            assert manifest.changed(changed) == [index]
    with pytest.raises(IntegrityError, match="index 5"):
        manifest.verify(records[:5] + [b"poison"] + records[6:])
    assert manifest.changed(records[:-1]) == [63]            # a missing sample
    assert manifest.changed(records + [b"extra"]) == [64]     # an appended sample
    with pytest.raises(IndexError):
        manifest.proof(64)

import io
import os

import pytest
from hypothesis import given, settings, strategies as st

from course_lib import container as c
from course_lib import kms as kms_module
from course_lib import pubkey
from course_lib.errors import (ChunkAuthenticationError, ContainerError, ContainerFormatError, ExtendedError,
                               HeaderAuthenticationError, NotARecipientError, StatementError, TruncatedError,
                               WrongKeyError, WrongPasswordError, WrongRecipientError)
from course_lib.release import Pin, Release

RECIPIENT = pubkey.new_x25519_key()
CHUNK = 16


def decrypt(blob, key):
    """Unsigned containers, as in the format tests; signed ones are tested in test_attacks.py."""
    return c.decrypt_bytes(blob, key, allow_unsigned=True)


def small_container(data=b"label=3;index=17;pixels=0123456789", **options):
    options.setdefault("recipients", [RECIPIENT.public_key()])
    return c.encrypt_bytes(data, chunk_size=CHUNK, **options)


def chunks_of(blob, key=RECIPIENT):
    reader = c.ContainerReader(io.BytesIO(blob), key, allow_unsigned=True)
    return blob[:reader.body_offset], [blob[reader.body_offset + i * (CHUNK + 16): reader.body_offset + (i + 1) * (CHUNK + 16)]
                                 for i in range(reader.chunk_count)]


@pytest.mark.parametrize("algorithm", list(c.ALGORITHM_IDS))
@settings(max_examples=40, deadline=None)
@given(size=st.sampled_from([0, 1, 15, 16, 17, 31, 32, 33, 48, 64, 100]) | st.integers(0, 300),
       chunk_size=st.sampled_from([1, 16, 64]))
def test_round_trip_any_size_including_exact_chunk_multiples(algorithm, size, chunk_size):
    data = os.urandom(size)
    blob = c.encrypt_bytes(data, data_key=bytes(range(32)), chunk_size=chunk_size, algorithm=algorithm)
    reader = c.ContainerReader(io.BytesIO(blob), bytes(range(32)), allow_unsigned=True)
    assert reader.chunk_count == max(1, -(-size // chunk_size))
    assert reader.read_all() == data
    for i in range(reader.chunk_count):  # random access
        assert reader.read_chunk(i) == data[i * chunk_size:(i + 1) * chunk_size]


def test_streaming_writes_in_odd_pieces_and_reused_buffers():
    data = os.urandom(10_000)
    out = io.BytesIO()
    buffer = bytearray()
    with c.ContainerWriter(out, data_key=bytes(32), chunk_size=333) as writer:
        for start in range(0, len(data), 777):
            buffer[:] = data[start:start + 777]
            writer.write(buffer)          # the same mutable buffer every time
    assert decrypt(out.getvalue(), bytes(32)) == data


def test_every_single_bit_flip_is_rejected_with_a_specific_error(tmp_path):
    blob = small_container()
    src, dst = tmp_path / "x.cldc", tmp_path / "x.plain"
    seen = set()
    for bit in range(len(blob) * 8):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        src.write_bytes(bytes(flipped))
        with pytest.raises(ContainerError) as info:
            c.decrypt_file(src, dst, RECIPIENT, allow_unsigned=True)
        assert str(info.value)
        seen.add(type(info.value))
        assert not dst.exists(), "no plaintext may be left behind"
    assert {ContainerFormatError, HeaderAuthenticationError, NotARecipientError, ChunkAuthenticationError} <= seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cldc"]


def test_truncation_at_every_chunk_boundary_and_inside_chunks():
    blob = small_container()
    header, chunks = chunks_of(blob)
    assert len(chunks) == 3
    for n in range(1, len(chunks)):
        with pytest.raises(TruncatedError, match="truncated"):
            decrypt(header + b"".join(chunks[:n]), RECIPIENT)
    with pytest.raises(TruncatedError):
        decrypt(header, RECIPIENT)  # header only
    for cut in range(1, len(blob)):
        with pytest.raises(ContainerError):
            decrypt(blob[:cut], RECIPIENT)


def test_appended_chunk_is_rejected():
    blob = small_container(b"x" * 48)           # three full chunks: an appended chunk is aligned
    header, chunks = chunks_of(blob)
    for extra in (chunks[-1], chunks[0]):
        with pytest.raises(ExtendedError, match="extended"):
            decrypt(blob + extra, RECIPIENT)
    with pytest.raises(ContainerError):          # an unaligned tail
        decrypt(small_container() + b"junk", RECIPIENT)


def test_reordered_chunks_are_rejected():
    header, chunks = chunks_of(small_container())
    with pytest.raises(ChunkAuthenticationError, match="chunk 0"):
        decrypt(header + chunks[1] + chunks[0] + chunks[2], RECIPIENT)


def test_chunk_swapped_in_from_another_file_with_the_same_key_is_rejected():
    key = os.urandom(32)
    a = c.encrypt_bytes(b"A" * 48, data_key=key, chunk_size=CHUNK)
    b = c.encrypt_bytes(b"B" * 48, data_key=key, chunk_size=CHUNK)
    header_a, chunks_a = chunks_of(a, key)
    _, chunks_b = chunks_of(b, key)
    with pytest.raises(ChunkAuthenticationError, match="chunk 1"):
        decrypt(header_a + chunks_a[0] + chunks_b[1] + chunks_a[2], key)


def test_wrong_key_wrong_recipient_wrong_password():
    protected = small_container(passwords=["correct horse"], recipients=[], scrypt_log2n=10)
    assert decrypt(protected, "correct horse").startswith(b"label=3")
    with pytest.raises(WrongPasswordError, match="wrong password"):
        decrypt(protected, "Correct horse")
    with pytest.raises(WrongKeyError):
        decrypt(protected, RECIPIENT)
    blob = small_container()
    assert decrypt(blob, RECIPIENT).startswith(b"label=3")
    with pytest.raises(NotARecipientError, match="not encrypted for key id") as info:
        decrypt(blob, pubkey.new_x25519_key())
    assert isinstance(info.value, WrongRecipientError) and isinstance(info.value, WrongKeyError)
    with pytest.raises(HeaderAuthenticationError, match="wrong data key"):
        decrypt(blob, os.urandom(32))
    with pytest.raises(WrongKeyError, match="no password"):
        decrypt(small_container(), "any password")
    with pytest.raises(TypeError):
        decrypt(blob, 12345)
    with pytest.raises(TypeError, match="pin="):         # reading without a pin is a decision, not a default
        c.decrypt_bytes(blob, RECIPIENT)


def test_no_partial_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.cldc"
    with pytest.raises(RuntimeError):
        with c.ContainerWriter(target, data_key=bytes(32), chunk_size=CHUNK) as writer:
            writer.write(b"x" * 100)
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_encrypt_and_decrypt_files_stream(tmp_path):
    src, enc, dst = tmp_path / "a.bin", tmp_path / "a.cldc", tmp_path / "b.bin"
    src.write_bytes(os.urandom(300_000))
    c.encrypt_file(src, enc, recipients=[RECIPIENT.public_key()], chunk_size=4096, read_size=10_000)
    c.decrypt_file(enc, dst, RECIPIENT, allow_unsigned=True)
    assert dst.read_bytes() == src.read_bytes()
    assert c.recipients(enc) == [f"x25519 key id {pubkey.key_id(RECIPIENT.public_key()).hex()}"]


def test_rewrap_rotates_and_adds_recipients_without_touching_chunks(tmp_path):
    path = tmp_path / "data.cldc"
    path.write_bytes(small_container(b"x" * 100))
    _, chunks_before = chunks_of(path.read_bytes())
    bob, carol = pubkey.new_x25519_key(), pubkey.new_x25519_key()
    c.rewrap(path, RECIPIENT, recipients=[bob.public_key()], keep=True)       # share with bob
    assert decrypt(path.read_bytes(), RECIPIENT) == b"x" * 100
    assert decrypt(path.read_bytes(), bob) == b"x" * 100
    c.rewrap(path, bob, recipients=[carol.public_key()])                      # rotate: only carol
    blob = path.read_bytes()
    assert decrypt(blob, carol) == b"x" * 100
    for old in (RECIPIENT, bob):
        with pytest.raises(NotARecipientError):
            decrypt(blob, old)
    _, chunks_after = chunks_of(blob, carol)
    assert chunks_after == chunks_before, "re-wrapping must not re-encrypt the data"
    with pytest.raises(ValueError, match="nobody"):
        c.rewrap(path, carol)


def test_writer_rejects_bad_parameters():
    with pytest.raises(ValueError, match="at least one"):
        c.ContainerWriter(io.BytesIO())
    with pytest.raises(ValueError, match="unknown algorithm"):
        c.ContainerWriter(io.BytesIO(), data_key=bytes(32), algorithm="rc4")
    with pytest.raises(ContainerFormatError, match="not a course_lib container"):
        decrypt(b"PK\x03\x04" + bytes(100), bytes(32))


# ---------------------------------------------------------------- signed statements that name a recipient
def _for_alice(**keys):
    """A container signed "for recipient alice" (alice's key id in the statement), encrypted for ``keys``."""
    signer, alice = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    release = Release(signer, "shared", 1, recipient=pubkey.key_id(alice.public_key()).hex())
    blob, statement = c.encrypt_bytes_signed(b"records", release, chunk_size=CHUNK, **keys)
    return blob, statement, Pin(signer.public_key(), "shared", min_version=1), alice


def test_a_statement_for_one_recipient_is_refused_by_every_other_key_kind():
    """Encrypted for alice and for others, signed for alice only: every other reader is refused,
    whatever kind of key it opens with; alice, or a key holder who states that it is alice, reads."""
    bob, service = pubkey.new_x25519_key(), kms_module.LocalKMS()
    service.create_key("k")
    data_key = os.urandom(32)
    blob, statement, pin, alice = _for_alice(recipients=[pubkey.new_x25519_key().public_key(), bob.public_key()],
                                             kms=[(service, "k")], data_key=data_key)
    with pytest.raises(StatementError, match="signed for recipient [0-9a-f]{16}, not for key id [0-9a-f]{16}, who is opening it"):
        c.decrypt_bytes(blob, bob, pin=pin, statement=statement)
    for key in (service, data_key):
        with pytest.raises(StatementError, match="does not say who holds it"):
            c.decrypt_bytes(blob, key, pin=pin, statement=statement)
        with pytest.raises(StatementError, match="not for key id [0-9a-f]{16}, who is opening it"):       # a holder who says it is bob
            c.decrypt_bytes(blob, key, pin=pin, statement=statement, recipient=bob.public_key())
        assert c.decrypt_bytes(blob, key, pin=pin, statement=statement, recipient=alice.public_key()) == b"records"
    blob, statement, pin, alice = _for_alice(passwords=["pw"], scrypt_log2n=10)
    with pytest.raises(StatementError, match="does not say who holds it"):
        c.decrypt_bytes(blob, "pw", pin=pin, statement=statement)
    assert c.decrypt_bytes(blob, "pw", pin=pin, statement=statement,
                           recipient=pubkey.key_id(alice.public_key()).hex()) == b"records"


def test_the_stated_recipient_is_checked_before_anything_is_read():
    blob, statement, pin, alice = _for_alice(recipients=[pubkey.new_x25519_key().public_key()])
    for bad in ("alice", "ABCDEF0123456789", b"0123456789abcdef", alice):   # a name, upper case, bytes, a private key
        with pytest.raises(TypeError, match="recipient= is an X25519 public key or its key id"):
            c.decrypt_bytes(blob, bytes(32), pin=pin, statement=statement, recipient=bad)
    with pytest.raises(ValueError, match="but the private key given is key id"):
        c.holder_id(pubkey.new_x25519_key(), alice.public_key())
    assert c.holder_id(alice, alice.public_key()) == c.holder_id(alice) == pubkey.key_id(alice.public_key()).hex()
    assert c.holder_id(bytes(32)) is None and c.holder_id("pw") is None

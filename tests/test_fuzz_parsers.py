"""Fuzzing every parser of chapters 04–06 with mutated and random inputs: only course errors come out.

No KeyError, UnicodeDecodeError, JSONDecodeError, struct.error, IndexError or MemoryError may
escape: a crafted file gets a specific, readable error, and nothing else happens.
"""
import io
import os
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from course_lib import container as c
from course_lib import kms as kms_module
from course_lib import models, pubkey
from course_lib.datasets import EncryptedDataset, _parse_spec, save_encrypted_dataset
from course_lib.errors import ContainerFormatError, CourseCryptoError, IntegrityError, StatementError
from course_lib.release import Pin, Release

SIGNER = pubkey.new_ed25519_key()
READER = pubkey.new_x25519_key()
KMS = kms_module.LocalKMS()
KMS.create_key("fuzz")
PIN = Pin(SIGNER.public_key(), "fuzz", min_version=1)
DATA = bytes(range(256)) * 3

SIGNED, STATEMENT = c.encrypt_bytes_signed(DATA, Release(SIGNER, "fuzz", 1), recipients=[READER.public_key()],
                                           chunk_size=100)
CONTAINERS = {
    "x25519": (c.encrypt_bytes(DATA, recipients=[READER.public_key()], chunk_size=100), READER),
    "password": (c.encrypt_bytes(DATA, passwords=["pw"], scrypt_log2n=10, chunk_size=100), "pw"),
    "kms": (c.encrypt_bytes(DATA, kms=[(KMS, "fuzz")], chunk_size=100), KMS),
    "data key": (c.encrypt_bytes(DATA, data_key=bytes(32), chunk_size=100), bytes(32)),
}
STATE = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.zeros(3), "n": torch.tensor(4)}
SAFETENSORS = models.serialize_state_dict(STATE)


@st.composite
def mutated(draw, original: bytes, donors=()):
    """One of: bit flips, insertions, deletions, truncation, a splice from another valid input, garbage."""
    data = bytearray(original)
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "garbage", "overwrite"]))
    n = len(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "insert":
        at = draw(st.integers(0, n))
        data[at:at] = draw(st.binary(min_size=1, max_size=40))
    elif kind == "delete":
        at = draw(st.integers(0, n - 1))
        del data[at:at + draw(st.integers(1, 40))]
    elif kind == "truncate":
        del data[draw(st.integers(0, n - 1)):]
    elif kind == "splice" and donors:
        donor = draw(st.sampled_from(list(donors)))
        at, take = draw(st.integers(0, n)), draw(st.integers(0, len(donor)))
        data = data[:at] + donor[take:take + draw(st.integers(1, 200))]
    elif kind == "overwrite":
        at = draw(st.integers(0, n - 1))
        value = draw(st.binary(min_size=1, max_size=8))
        data[at:at + len(value)] = value
    else:
        data = bytearray(draw(st.binary(max_size=600)))
    return bytes(data)


def _only_course_errors(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except CourseCryptoError as error:
        assert str(error), "a course error always says what went wrong"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", list(CONTAINERS))
@FUZZ
@given(data=st.data())
def test_container_reader_raises_only_course_errors(name, data):
    blob, key = CONTAINERS[name]
    donors = [other for other, _ in CONTAINERS.values()] + [SIGNED]
    candidate = data.draw(mutated(blob, donors))
    _only_course_errors(c.decrypt_bytes, candidate, key, allow_unsigned=True)
    _only_course_errors(c.read_header, io.BytesIO(candidate))


@FUZZ
@given(data=st.data())
def test_signed_container_and_statement_raise_only_course_errors(data):
    blob = data.draw(mutated(SIGNED, [CONTAINERS["x25519"][0]]))
    statement = data.draw(st.sampled_from([STATEMENT]) | mutated(STATEMENT))
    try:
        result = c.decrypt_bytes(blob, READER, pin=PIN, statement=statement)
    except CourseCryptoError:
        return
    assert result == DATA and blob == SIGNED, "anything accepted under the pin is exactly what was signed"


@FUZZ
@given(data=st.data())
def test_statement_parser_raises_only_course_errors(data):
    _only_course_errors(PIN.verify, data.draw(mutated(STATEMENT)), kind="file")


@FUZZ
@given(data=st.data())
def test_safetensors_parser_raises_only_integrity_errors(data):
    candidate = data.draw(mutated(SAFETENSORS, [models.serialize_state_dict({"x": torch.ones(2, 2)})]))
    try:
        loaded = models.deserialize_state_dict(candidate)
    except IntegrityError:
        return
    assert models.serialize_state_dict(loaded) == candidate, "only canonical bytes are accepted"


def _checkpoint_plaintext() -> bytes:
    out = io.BytesIO()
    models.save_checkpoint(STATE, out, signing_key=SIGNER, name="fuzz", version=1, data_key=bytes(32))
    return c.decrypt_bytes(out.getvalue(), bytes(32), allow_unsigned=True)


CHECKPOINT = _checkpoint_plaintext()


@FUZZ
@given(data=st.data())
def test_checkpoint_loader_raises_only_course_errors(data, tmp_path_factory):
    """Mutate the *decrypted* checkpoint (what a key holder could write), encrypt it, load it."""
    plaintext = data.draw(mutated(CHECKPOINT, [SAFETENSORS]))
    path = tmp_path_factory.mktemp("ckpt") / "m.ckpt"
    path.write_bytes(c.encrypt_bytes(plaintext, data_key=bytes(32)))
    try:
        loaded = models.load_checkpoint(path, bytes(32), pin=PIN)
    except CourseCryptoError:
        return
    assert models.fingerprint(loaded) == models.fingerprint(STATE)


def test_layout_parser_refuses_crafted_layouts():
    for crafted in (b"", b"\x00\x00\x00\x05{\"a\":", struct.pack(">I", 10**9), struct.pack(">I", 4) + b"\xff\xfe{}",
                    struct.pack(">I", 2) + b"[]", struct.pack(">I", 2) + b"{}"):
        with pytest.raises(ContainerFormatError, match="layout"):
            _parse_spec(crafted)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_dataset_with_a_crafted_layout_chunk_raises_only_course_errors(data, tmp_path):
    """A key holder writes a container whose layout chunk is mutated; opening and reading it is safe."""
    dataset = torch.utils.data.TensorDataset(torch.arange(40, dtype=torch.int16).reshape(10, 4), torch.arange(10))
    path = tmp_path / "d.cldc"
    spec = save_encrypted_dataset(dataset, path, data_key=bytes(32))
    plain = c.decrypt_bytes(path.read_bytes(), bytes(32), allow_unsigned=True)
    layout = plain[:spec["chunk_size"]]
    crafted = data.draw(mutated(layout)).ljust(spec["chunk_size"], b"\0")[:spec["chunk_size"]]
    path.write_bytes(c.encrypt_bytes(crafted + plain[spec["chunk_size"]:], data_key=bytes(32),
                                     chunk_size=spec["chunk_size"]))
    try:
        ds = EncryptedDataset(path, bytes(32), allow_unsigned=True)
        for i in range(min(len(ds), 12)):
            ds[i]
    except CourseCryptoError:
        pass
    except IndexError:
        pass   # an honest "out of range" for a layout announcing fewer samples
    os.remove(path)


def test_deeply_nested_json_is_refused_not_a_recursion_error():
    deep = b"[" * 50_000 + b"]" * 50_000
    with pytest.raises(StatementError):
        PIN.verify(deep[:60_000], kind="file")
    with pytest.raises(IntegrityError):
        models.deserialize_state_dict(struct.pack("<Q", len(deep)) + deep)
    with pytest.raises(ContainerFormatError):
        _parse_spec(struct.pack(">I", len(deep)) + deep)

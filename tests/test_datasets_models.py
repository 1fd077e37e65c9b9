import hashlib
import os
import pathlib
import pickle

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import course_lib as cl
from course_lib import container, models, pubkey
from course_lib import kms as kms_module
from course_lib.container import ContainerReader, ContainerWriter
from course_lib.datasets import (EncryptedDataset, PlainRecordDataset, save_encrypted_dataset,
                                 save_plain_dataset)
from course_lib.errors import (ChunkAuthenticationError, ContainerError, ContainerFormatError, ExtendedError,
                               HeaderAuthenticationError, IntegrityError, NotARecipientError, ReleaseMismatchError,
                               RollbackError, SignatureError, StatementError, TruncatedError, UntrustedSignerError)
from course_lib.release import Pin

OWNER = pubkey.new_x25519_key()
PUBLISHER = pubkey.new_ed25519_key()
PIN = Pin(PUBLISHER.public_key(), "digits", min_version=1)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    dataset = cl.digits.dataset()
    path = tmp_path_factory.mktemp("data") / "digits.cldc"
    save_encrypted_dataset(dataset, path, recipients=[OWNER.public_key()], signer=PUBLISHER, name="digits")
    return dataset, path


def test_encrypted_dataset_returns_exactly_the_plaintext_samples(digits):
    dataset, path = digits
    encrypted = EncryptedDataset(path, OWNER, pin=PIN)
    assert len(encrypted) == len(dataset) == 1797
    for i in list(range(0, 1797, 7)) + [-1]:
        x, y = encrypted[i]
        assert torch.equal(x, dataset[i][0]) and torch.equal(y, dataset[i][1])
        assert x.dtype == torch.float32 and y.dtype == torch.int64
    with pytest.raises(IndexError):
        encrypted[1797]


@pytest.mark.parametrize("workers,context", [(0, None), (2, "fork"), (2, "spawn")])
def test_dataloader_with_shuffling_and_workers_yields_the_plaintext_samples(digits, workers, context):
    dataset, path = digits
    encrypted = EncryptedDataset(path, OWNER, pin=PIN)
    def batches(ds):
        loader = DataLoader(ds, batch_size=128, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(1),
                            multiprocessing_context=context, timeout=120 if workers else 0)
        return list(loader)
    for (xe, ye), (xp, yp) in zip(batches(encrypted), batches(dataset), strict=True):
        assert torch.equal(xe, xp) and torch.equal(ye, yp)


def test_plain_record_dataset_is_the_same_layout(tmp_path, digits):
    dataset, _ = digits
    save_plain_dataset(dataset, tmp_path / "digits.rec")
    plain = PlainRecordDataset(tmp_path / "digits.rec")
    assert all(torch.equal(plain[i][0], dataset[i][0]) for i in range(0, 1797, 11))


def test_encrypted_dataset_needs_the_right_key_and_detects_tampering(tmp_path, digits):
    dataset, path = digits
    with pytest.raises(NotARecipientError):
        EncryptedDataset(path, pubkey.new_x25519_key(), pin=PIN)
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0x40       # one poisoned byte in the last chunk
    tampered = tmp_path / "tampered.cldc"
    tampered.write_bytes(bytes(blob))
    (tmp_path / "tampered.cldc.sig").write_bytes((path.parent / "digits.cldc.sig").read_bytes())
    with pytest.raises(ReleaseMismatchError, match="body digest"):     # signed: refused on open
        EncryptedDataset(tampered, OWNER, pin=PIN)
    ds = EncryptedDataset(tampered, OWNER, allow_unsigned=True)        # unsigned reading locates the chunk
    assert torch.equal(ds[0][0], dataset[0][0])       # untouched chunks still read
    with pytest.raises(ContainerError, match="chunk"):
        ds[len(ds) - 1]


def test_dataset_with_a_password_and_mismatched_samples(tmp_path):
    data = TensorDataset(torch.arange(30, dtype=torch.int16).reshape(10, 3))
    save_encrypted_dataset(data, tmp_path / "p.cldc", passwords=["pw"], scrypt_log2n=10)
    ds = EncryptedDataset(tmp_path / "p.cldc", "pw", allow_unsigned=True)
    assert torch.equal(ds[3][0], torch.tensor([9, 10, 11], dtype=torch.int16))
    ragged = [(torch.zeros(2),), (torch.zeros(3),)]
    with pytest.raises(ValueError, match="sample 1"):
        save_encrypted_dataset(ragged, tmp_path / "r.cldc", data_key=bytes(32))
    assert not (tmp_path / "r.cldc").exists()


def _model_state():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).state_dict()


def test_serialization_round_trip_and_fingerprint():
    state = _model_state()
    state["counter"] = torch.tensor(7, dtype=torch.int64)
    state["mask"] = torch.tensor([True, False])
    state["empty"] = torch.zeros(0, 3)
    back = models.deserialize_state_dict(models.serialize_state_dict(state))
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) and back[k].dtype == state[k].dtype for k in state)
    assert models.fingerprint(state) == models.fingerprint(dict(reversed(list(state.items()))))
    changed = {k: v.clone() for k, v in state.items()}
    changed["0.weight"][0, 0] += 1e-6
    assert models.fingerprint(changed) != models.fingerprint(state)
    with pytest.raises(IntegrityError):
        models.deserialize_state_dict(models.serialize_state_dict(state)[:-1])


@pytest.fixture
def checkpoint(tmp_path):
    signer, data_key = pubkey.new_ed25519_key(), os.urandom(32)
    path = tmp_path / "model.ckpt"
    models.save_checkpoint(_model_state(), path, signing_key=signer, data_key=data_key, name="mlp", version=1)
    return path, signer, data_key


def test_checkpoint_round_trip(checkpoint):
    path, signer, data_key = checkpoint
    loaded, statement = models.open_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))
    assert models.fingerprint(loaded) == models.fingerprint(_model_state()) == statement.digests["weights"]
    assert (statement.kind, statement.name, statement.version) == ("model", "mlp", 1)


def _no_tensor_parsing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tensors were parsed before the checkpoint was verified")
    monkeypatch.setattr(models, "deserialize_state_dict", refuse)


def test_tampered_checkpoint_is_refused_before_any_tensor_is_loaded(checkpoint, monkeypatch):
    path, signer, data_key = checkpoint
    _no_tensor_parsing(monkeypatch)
    blob = bytearray(path.read_bytes())
    blob[-50] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(ContainerError):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))


def test_resigned_checkpoint_is_refused_before_any_tensor_is_loaded(checkpoint, tmp_path, monkeypatch):
    path, signer, data_key = checkpoint
    # an insider who knows the data key changes one weight and signs with their own key
    state = _model_state()
    state["2.bias"][3] = 100.0
    attacker = pubkey.new_ed25519_key()
    models.save_checkpoint(state, path, signing_key=attacker, data_key=data_key, name="mlp", version=9)
    _no_tensor_parsing(monkeypatch)
    with pytest.raises(UntrustedSignerError, match="not by the pinned signer"):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))
    # the trainer's genuine statement, spliced in front of changed weights
    models.save_checkpoint(_model_state(), tmp_path / "genuine.ckpt", signing_key=signer, data_key=data_key,
                           name="mlp", version=1)
    plaintext = cl.container.decrypt_bytes((tmp_path / "genuine.ckpt").read_bytes(), data_key, allow_unsigned=True)
    head = len(models.CHECKPOINT_MAGIC) + 4 + int.from_bytes(plaintext[5:9], "big")
    with ContainerWriter(path, data_key=data_key) as w:
        w.write(plaintext[:head] + models.serialize_state_dict(state))
    with pytest.raises(ReleaseMismatchError, match="weights differ"):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))
    # a forged signature under the trainer's key id
    forged = bytearray(plaintext)
    forged[head - 30] ^= 1
    with ContainerWriter(path, data_key=data_key) as w:
        w.write(bytes(forged))
    with pytest.raises((SignatureError, IntegrityError)):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))


def test_the_digits_split_is_seeded_disjoint_and_complete():
    first, again, other = cl.digits.split(0), cl.digits.split(0), cl.digits.split(1)
    assert len(first.train_y) == 1347 and len(first.test_y) == 450
    assert torch.equal(first.train_index, again.train_index) and not torch.equal(first.train_index, other.train_index)
    assert sorted(torch.cat([first.train_index, first.test_index]).tolist()) == list(range(1797))
    x, y = cl.digits.tensors()
    assert torch.equal(first.test_x, x[first.test_index]) and torch.equal(first.train_y, y[first.train_index])
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert cl.digits.records(first.train_index[:1])[0] == cl.digits.records()[int(first.train_index[0])]


def test_the_reference_mlp_is_bit_identical_from_an_encrypted_dataset(tmp_path):
    data = cl.digits.split(0)
    path = tmp_path / "train.cldc"
    save_encrypted_dataset(data.train_set(), path, recipients=[OWNER.public_key()])
    encrypted = cl.datasets.EncryptedDataset(path, OWNER, allow_unsigned=True)
    plain, _ = cl.digits.train_reference_mlp(data.train_set(), epochs=2)
    secret, _ = cl.digits.train_reference_mlp(encrypted, epochs=2)
    assert cl.models.fingerprint(plain.state_dict()) == cl.models.fingerprint(secret.state_dict())


# ---------------------------------------------------------------- rollback: a pin names its lowest version
def test_a_pin_without_a_lowest_version_is_refused_at_construction():
    signer = PUBLISHER.public_key()
    with pytest.raises(TypeError, match="min_version"):
        Pin(signer, "digits")                            # the old default 0 accepted every release ever signed
    with pytest.raises(TypeError):
        Pin(signer, "digits", 1)                         # keyword-only: a bare number is not obviously a version
    for wrong in ("2", 2.0, True, None):
        with pytest.raises(TypeError, match="min_version must be a whole number"):
            Pin(signer, "digits", min_version=wrong)
    for wrong in (-1, 2**53):
        with pytest.raises(ValueError, match="min_version must lie in"):
            Pin(signer, "digits", min_version=wrong)
    with pytest.raises(TypeError, match="pin its .public_key"):
        Pin(PUBLISHER, "digits", min_version=1)
    with pytest.raises(ValueError, match="name"):
        Pin(signer, "", min_version=1)
    with pytest.raises(TypeError, match="pin= is a course_lib.release.Pin"):
        models.load_checkpoint("any.ckpt", bytes(32), pin=None)


def test_an_older_signed_dataset_put_back_in_place_is_refused_as_a_rollback(tmp_path):
    """The attacker replaces version 2 (file and statement) with the owner's genuine version 1."""
    data = TensorDataset(torch.arange(40, dtype=torch.float32).reshape(10, 4), torch.arange(10))
    current, old = tmp_path / "train.cldc", tmp_path / "old.cldc"
    save_encrypted_dataset(data, old, recipients=[OWNER.public_key()], signer=PUBLISHER, name="train", version=1)
    save_encrypted_dataset(data, current, recipients=[OWNER.public_key()], signer=PUBLISHER, name="train", version=2)
    pin = Pin(PUBLISHER.public_key(), "train", min_version=2)
    assert EncryptedDataset(current, OWNER, pin=pin).statement.version == 2
    os.replace(old, current)
    os.replace(f"{old}.sig", f"{current}.sig")
    with pytest.raises(RollbackError, match="version 1 is older than the lowest accepted version 2"):
        EncryptedDataset(current, OWNER, pin=pin)
    with pytest.raises(RollbackError):
        ContainerReader(current, OWNER, pin=pin, kind="dataset")
    with pytest.raises(RollbackError):
        container.rewrap(current, OWNER, recipients=[OWNER.public_key()], pin=pin, kind="dataset")


def test_an_older_signed_checkpoint_is_refused_as_a_rollback_whatever_the_key(tmp_path):
    signer, data_key, service = pubkey.new_ed25519_key(), os.urandom(32), kms_module.LocalKMS()
    service.create_key("models")
    pin = Pin(signer.public_key(), "mlp", min_version=4)
    for version in (3, 4):
        models.save_checkpoint(_model_state(), tmp_path / f"v{version}.ckpt", signing_key=signer, name="mlp",
                               version=version, data_key=data_key, kms=[(service, "models")])
    for key in (data_key, service):
        assert models.open_checkpoint(tmp_path / "v4.ckpt", key, pin=pin)[1].version == 4
        with pytest.raises(RollbackError, match="version 3 is older than the lowest accepted version 4"):
            models.load_checkpoint(tmp_path / "v3.ckpt", key, pin=pin)


def test_a_pinned_reader_refuses_every_change_to_a_signed_dataset(tmp_path):
    """Bit flips, truncation, extension, reordering and a chunk from another file (same data key), each
    next to the owner's genuine statement: refused on open. Read without the pin, each is still refused
    by the container, with its own error."""
    data_key = os.urandom(32)
    n = 3 * (4096 // 24)                     # 24-byte records: three full chunks after the layout chunk
    data = TensorDataset(torch.arange(4 * n, dtype=torch.float32).reshape(n, 4), torch.arange(n) % 10)
    genuine, other = tmp_path / "genuine.cldc", tmp_path / "other.cldc"
    save_encrypted_dataset(data, genuine, data_key=data_key, signer=PUBLISHER, name="digits", version=1)
    save_encrypted_dataset(TensorDataset(data.tensors[0] + 1, data.tensors[1]), other, data_key=data_key)
    blob, statement = genuine.read_bytes(), genuine.with_name("genuine.cldc.sig").read_bytes()
    reader = ContainerReader(genuine, data_key, pin=PIN, kind="dataset")
    start, stride, count = reader.body_offset, reader.chunk_size + 16, reader.chunk_count
    chunk = [blob[start + i * stride:start + (i + 1) * stride] for i in range(count)]
    chunk_of_other = other.read_bytes()[start + stride:start + 2 * stride]
    assert count >= 3 and len(chunk[-1]) == stride
    attacks = {
        "a bit flipped in the header": (blob[:40] + bytes([blob[40] ^ 1]) + blob[41:], HeaderAuthenticationError),
        "a bit flipped in a chunk": (blob[:start + 5] + bytes([blob[start + 5] ^ 1]) + blob[start + 6:],
                                     ChunkAuthenticationError),
        "the final chunk dropped": (blob[:start] + b"".join(chunk[:-1]), TruncatedError),
        "a chunk appended": (blob + chunk[1], ExtendedError),
        "two chunks swapped": (blob[:start] + chunk[1] + chunk[0] + b"".join(chunk[2:]), ChunkAuthenticationError),
        "a chunk from another file": (blob[:start] + chunk[0] + chunk_of_other + b"".join(chunk[2:]),
                                      ChunkAuthenticationError),
    }
    for name, (forged, unsigned_error) in attacks.items():
        path = tmp_path / "attacked.cldc"
        path.write_bytes(forged)
        (tmp_path / "attacked.cldc.sig").write_bytes(statement)
        with pytest.raises(ReleaseMismatchError, match="digest differs"):
            EncryptedDataset(path, data_key, pin=PIN)
        with pytest.raises(unsigned_error):
            container.decrypt_bytes(forged, data_key, allow_unsigned=True)


# ---------------------------------------------------------------- the recipient, whatever key opens the checkpoint
KEY_KINDS = ("x25519", "kms", "password", "data key")


def _production_key(kind):
    """Production's key of ``kind`` and the writer options that encrypt for it."""
    if kind == "x25519":
        key = pubkey.new_x25519_key()
        return key, {"recipients": [key.public_key()]}
    if kind == "kms":
        service = kms_module.LocalKMS()
        service.create_key("production")
        return service, {"kms": [(service, "production")]}
    if kind == "password":
        return "production password", {"passwords": ["production password"], "scrypt_log2n": 10}
    key = os.urandom(32)
    return key, {"data_key": key}


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_a_checkpoint_re_encrypted_under_another_key_kind_is_refused(tmp_path, monkeypatch, kind):
    """Signed for staging; someone at staging decrypts the genuine signed plaintext and re-encrypts it
    for production under each kind of key the reader accepts. Production refuses it before any tensor is
    parsed: an X25519 key names its holder; any other key must state who is opening (recipient=)."""
    trainer, staging, production = pubkey.new_ed25519_key(), pubkey.new_x25519_key(), pubkey.new_x25519_key()
    path = tmp_path / "model.ckpt"
    models.save_checkpoint(_model_state(), path, signing_key=trainer, name="mlp", version=2,
                           recipients=[staging.public_key()])
    plaintext = container.decrypt_bytes(path.read_bytes(), staging, allow_unsigned=True)
    key, options = _production_key(kind)
    path.write_bytes(container.encrypt_bytes(plaintext, **options))
    pin = Pin(trainer.public_key(), "mlp", min_version=2)
    _no_tensor_parsing(monkeypatch)
    if kind == "x25519":
        with pytest.raises(StatementError, match="signed for recipient [0-9a-f]{16}, not for key id [0-9a-f]{16}, who is opening it"):
            models.load_checkpoint(path, key, pin=pin)
        return
    with pytest.raises(StatementError, match="does not say who holds it: pass recipient="):
        models.load_checkpoint(path, key, pin=pin)
    for production_id in (production.public_key(), pubkey.key_id(production.public_key()).hex()):
        with pytest.raises(StatementError, match="signed for recipient [0-9a-f]{16}, not for key id [0-9a-f]{16}, who is opening it"):
            models.load_checkpoint(path, key, pin=pin, recipient=production_id)


@pytest.mark.parametrize("kind", KEY_KINDS[1:])
def test_the_named_recipient_loads_through_a_kms_a_password_or_a_data_key(tmp_path, kind):
    trainer, deployer = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    key, options = _production_key(kind)
    path = tmp_path / "model.ckpt"
    models.save_checkpoint(_model_state(), path, signing_key=trainer, name="mlp", version=1,
                           recipient=deployer.public_key(), **options)
    pin = Pin(trainer.public_key(), "mlp", min_version=1)
    loaded, statement = models.open_checkpoint(path, key, pin=pin, recipient=deployer.public_key())
    assert statement.recipient == pubkey.key_id(deployer.public_key()).hex()
    assert models.fingerprint(loaded) == models.fingerprint(_model_state())
    with pytest.raises(StatementError, match="does not say who holds it"):
        models.load_checkpoint(path, key, pin=pin)
    with pytest.raises(TypeError, match="recipient= is an X25519 public key"):
        models.load_checkpoint(path, key, pin=pin, recipient="deployer")


def test_no_loader_runs_code_from_a_pickled_checkpoint(tmp_path):
    """A .pt whose pickle calls a function on load: weights_only=True refuses it, and the course's
    loaders refuse it even inside a validly signed, encrypted checkpoint — without running anything."""
    marker = tmp_path / "the-payload-ran"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    malicious = tmp_path / "model.pt"
    torch.save({"weights": _model_state(), "note": Payload()}, malicious)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(malicious, weights_only=True)
    with pytest.raises(IntegrityError):
        models.deserialize_state_dict(malicious.read_bytes())
    # a signer who signs the pickle's bytes as "weights": the digest matches, the parser still refuses
    signer, data_key = pubkey.new_ed25519_key(), os.urandom(32)
    pickled = pickle.dumps(Payload())
    envelope = cl.release.Release(signer, "mlp", 1, kind="model").sign(
        {"weights": hashlib.sha256(pickled).hexdigest()})
    with ContainerWriter(tmp_path / "pickled.ckpt", data_key=data_key) as writer:
        writer.write(models.CHECKPOINT_MAGIC + len(envelope).to_bytes(4, "big") + envelope + pickled)
    with pytest.raises(IntegrityError):
        models.load_checkpoint(tmp_path / "pickled.ckpt", data_key, pin=Pin(signer.public_key(), "mlp", min_version=1))
    assert not marker.exists()


def test_the_digits_are_scikit_learns_bundled_digits_read_without_importing_scikit_learn():
    import subprocess
    import sys

    import numpy as np
    from sklearn.datasets import load_digits
    images, labels = cl.digits.images_and_labels()
    bunch = load_digits()
    assert images.dtype == np.uint8 and labels.dtype == np.int64 and not images.flags.writeable
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)
    code = "import sys; from course_lib import digits; digits.split(0); print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]

import os

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import course_lib as cl
from course_lib import models, pubkey
from course_lib.container import ContainerWriter
from course_lib.datasets import (EncryptedDataset, PlainRecordDataset, save_encrypted_dataset,
                                 save_plain_dataset)
from course_lib.errors import (ContainerError, IntegrityError, NotARecipientError, ReleaseMismatchError,
                               SignatureError, UntrustedSignerError)
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
    loaded, statement = models.open_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp"))
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
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp"))


def test_resigned_checkpoint_is_refused_before_any_tensor_is_loaded(checkpoint, tmp_path, monkeypatch):
    path, signer, data_key = checkpoint
    # an insider who knows the data key changes one weight and signs with their own key
    state = _model_state()
    state["2.bias"][3] = 100.0
    attacker = pubkey.new_ed25519_key()
    models.save_checkpoint(state, path, signing_key=attacker, data_key=data_key, name="mlp", version=9)
    _no_tensor_parsing(monkeypatch)
    with pytest.raises(UntrustedSignerError, match="not by the pinned signer"):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp"))
    # the trainer's genuine statement, spliced in front of changed weights
    models.save_checkpoint(_model_state(), tmp_path / "genuine.ckpt", signing_key=signer, data_key=data_key,
                           name="mlp", version=1)
    plaintext = cl.container.decrypt_bytes((tmp_path / "genuine.ckpt").read_bytes(), data_key, allow_unsigned=True)
    head = len(models.CHECKPOINT_MAGIC) + 4 + int.from_bytes(plaintext[5:9], "big")
    with ContainerWriter(path, data_key=data_key) as w:
        w.write(plaintext[:head] + models.serialize_state_dict(state))
    with pytest.raises(ReleaseMismatchError, match="weights differ"):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp"))
    # a forged signature under the trainer's key id
    forged = bytearray(plaintext)
    forged[head - 30] ^= 1
    with ContainerWriter(path, data_key=data_key) as w:
        w.write(bytes(forged))
    with pytest.raises((SignatureError, IntegrityError)):
        models.load_checkpoint(path, data_key, pin=Pin(signer.public_key(), "mlp"))


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

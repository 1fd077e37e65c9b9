"""The attacks on chapters 03–06's hand-overs, each performed and refused with a specific error."""
import datetime
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_lib import container as c
from course_lib import kms as kms_module
from course_lib import models, pki, pubkey
from course_lib.datasets import EncryptedDataset, save_encrypted_dataset
from course_lib.errors import (CertificateError, ChunkAuthenticationError, ContainerFormatError, DecryptionError,
                               HeaderAuthenticationError, IntegrityError, KeyManagementError, ReleaseMismatchError,
                               RollbackError, SignatureError, StatementError, UnsignedError, UntrustedSignerError,
                               WrongKeyError)
from course_lib.release import Pin, Statement, sign_statement

OWNER_SIGNS = pubkey.new_ed25519_key()
TRAINER = pubkey.new_x25519_key()
PIN = Pin(OWNER_SIGNS.public_key(), "digits-train", min_version=2)


def _dataset(n=300, offset=0):
    return TensorDataset(torch.arange(n * 8, dtype=torch.float32).reshape(n, 8) + offset, torch.arange(n) % 10)


@pytest.fixture
def signed(tmp_path):
    path = tmp_path / "train.cldc"
    save_encrypted_dataset(_dataset(), path, recipients=[TRAINER.public_key()], signer=OWNER_SIGNS,
                           name="digits-train", version=2)
    return path


# ---------------------------------------------------------------- 1. encryption to a public key is not authentication
def test_anyone_with_the_public_key_can_write_a_container_that_opens(tmp_path):
    """The attack itself, against an unsigned reader: it succeeds, which is why readers pin a signer."""
    forged = tmp_path / "forged.cldc"
    save_encrypted_dataset(_dataset(offset=1000), forged, recipients=[TRAINER.public_key()])
    poisoned = EncryptedDataset(forged, TRAINER, allow_unsigned=True)
    assert poisoned[0][0][0].item() == 1000.0


def test_forged_dataset_is_refused_by_a_pinned_reader(signed, tmp_path):
    genuine_statement = signed.with_name("train.cldc.sig").read_bytes()
    save_encrypted_dataset(_dataset(offset=1000), signed, recipients=[TRAINER.public_key()])   # overwrites
    os.remove(f"{signed}.sig")
    with pytest.raises(UnsignedError, match="no signed statement"):
        EncryptedDataset(signed, TRAINER, pin=PIN)
    attacker = pubkey.new_ed25519_key()                # the attacker signs it themselves
    save_encrypted_dataset(_dataset(offset=1000), signed, recipients=[TRAINER.public_key()], signer=attacker,
                           name="digits-train", version=99)
    with pytest.raises(UntrustedSignerError, match="not by the pinned signer"):
        EncryptedDataset(signed, TRAINER, pin=PIN)
    with open(f"{signed}.sig", "wb") as f:             # or reuses the owner's genuine statement
        f.write(genuine_statement)
    with pytest.raises(ReleaseMismatchError, match="header digest differs"):
        EncryptedDataset(signed, TRAINER, pin=PIN)


def test_readers_refuse_to_read_without_a_pin_unless_told(signed):
    with pytest.raises(TypeError, match="pin="):
        EncryptedDataset(signed, TRAINER)
    with pytest.raises(TypeError, match="pin="):
        c.ContainerReader(signed, TRAINER)


def test_forged_checkpoint_is_refused(tmp_path):
    trainer_signs, deployer = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    attacker = pubkey.new_ed25519_key()
    path = tmp_path / "model.ckpt"
    models.save_checkpoint(torch.nn.Linear(4, 2).state_dict(), path, signing_key=attacker, name="mlp", version=5,
                           recipients=[deployer.public_key()])
    with pytest.raises(UntrustedSignerError):
        models.load_checkpoint(path, deployer, pin=Pin(trainer_signs.public_key(), "mlp", min_version=1))


def test_password_stanza_must_stand_alone():
    with pytest.raises(ValueError, match="only key stanza"):
        c.encrypt_bytes(b"x", recipients=[TRAINER.public_key()], passwords=["pw"], scrypt_log2n=10)
    with pytest.raises(ValueError, match="only key stanza"):
        c.encrypt_bytes(b"x", passwords=["pw", "pw2"], scrypt_log2n=10)
    # a crafted header that mixes them is refused while parsing
    blob = c.encrypt_bytes(b"x", passwords=["pw"], scrypt_log2n=10)
    with_password = c.read_header(io.BytesIO(blob))
    x25519_stanza = c.read_header(io.BytesIO(c.encrypt_bytes(b"x", recipients=[TRAINER.public_key()]))).stanzas[0]
    mixed = c.Header(with_password.algorithm, with_password.chunk_size, with_password.salt,
                     with_password.stanzas + (x25519_stanza,), bytes(32))
    with pytest.raises(ContainerFormatError, match="only key stanza"):
        c.decrypt_bytes(mixed.encode(), "pw", allow_unsigned=True)


# ---------------------------------------------------------------- 2. time of check to time of use
def test_file_swapped_after_opening_is_not_read(signed, tmp_path):
    dataset = EncryptedDataset(signed, TRAINER, pin=PIN)
    before = dataset[5][0].clone()
    forged = tmp_path / "forged.cldc"
    save_encrypted_dataset(_dataset(offset=1000), forged, recipients=[TRAINER.public_key()])
    os.replace(forged, signed)                         # the bucket's path now names the attacker's file
    assert torch.equal(dataset[5][0], before)          # this process reads the descriptor it verified
    loader = DataLoader(dataset, batch_size=50, num_workers=1, multiprocessing_context="fork", timeout=60)
    with pytest.raises(ReleaseMismatchError, match="not the file that was verified"):
        list(loader)                                   # a worker opening the path again is refused


def test_chunk_rewritten_in_place_by_a_key_holder_after_opening(signed):
    dataset = EncryptedDataset(signed, TRAINER, pin=PIN)
    reader = dataset._reader
    # an insider who holds the data key re-encrypts chunk 2 with poisoned records, in place
    aead = c._payload_aead(reader.header, reader.data_key)
    poisoned = bytes(reader.chunk_size)
    sealed = aead.encrypt(c.chunk_nonce(2, False), poisoned, reader.header.digest)
    with open(signed, "r+b") as f:
        f.seek(reader.body_offset + 2 * (reader.chunk_size + 16))
        f.write(sealed)
    with pytest.raises(ReleaseMismatchError, match="chunk 2 was rewritten"):
        dataset[dataset._per_chunk + 1]


def test_rewrap_keeps_the_release_valid_and_tampering_is_still_detected(signed, tmp_path):
    collaborator = pubkey.new_x25519_key()
    c.rewrap(signed, TRAINER, recipients=[collaborator.public_key()], keep=True, pin=PIN, kind="dataset")
    shared = EncryptedDataset(signed, collaborator, pin=PIN)
    assert shared.audit() == shared.statement.dataset_root
    for where in (-5, -40, 200):                       # in the last chunk, its tag, an early chunk
        blob = bytearray(signed.read_bytes())
        blob[where] ^= 0x01
        bad = tmp_path / "bad.cldc"
        bad.write_bytes(bytes(blob))
        (tmp_path / "bad.cldc.sig").write_bytes(signed.with_name("train.cldc.sig").read_bytes())
        with pytest.raises((ReleaseMismatchError, HeaderAuthenticationError, ContainerFormatError)):
            EncryptedDataset(bad, collaborator, pin=PIN)
        with pytest.raises((ChunkAuthenticationError, HeaderAuthenticationError, ContainerFormatError)):
            list(c.ContainerReader(bad, collaborator, allow_unsigned=True))


def test_audit_finds_records_that_differ_from_the_signed_root(tmp_path):
    """A signer whose statement does not describe the records (a bug, or a lie) is caught by the audit."""
    path = tmp_path / "d.cldc"
    wrong_root = "ab" * 32
    spec = save_encrypted_dataset(_dataset(), path, recipients=[TRAINER.public_key()], signer=OWNER_SIGNS,
                                  name="digits-train", version=2)
    assert spec["root"] != wrong_root
    with c.ContainerReader(path, TRAINER, pin=PIN, kind="dataset") as reader:
        header_digest, body = reader.statement.digests["header"], reader.statement.digests["body"]
    lie = sign_statement(OWNER_SIGNS, Statement("dataset", "digits-train", 2, {"header": header_digest, "body": body},
                                                dataset_root=wrong_root))
    (tmp_path / "d.cldc.sig").write_bytes(lie)
    with pytest.raises(IntegrityError, match="Merkle root"):
        EncryptedDataset(path, TRAINER, pin=PIN).audit()


# ---------------------------------------------------------------- 3. unauthenticated header fields and resources
def _crafted_scrypt_header(stanzas: int, log2n: int, r: int, p: int) -> bytes:
    fixed = c.FIXED_HEADER.pack(c.MAGIC, c.VERSION, 1, 4096, bytes(32))
    body = bytes(16) + bytes([log2n, r, p]) + bytes(48)
    return fixed + struct.pack(">H", stanzas) + (struct.pack(">BH", c.STANZA_SCRYPT, len(body)) + body) * stanzas \
        + bytes(32) + bytes(100)


@pytest.mark.parametrize("stanzas,log2n,r,p,message", [
    (1000, 27, 8, 1, "key stanzas"),             # the reported 70 KB header: 1,000 × 128 GiB of scrypt
    (1, 27, 8, 1, "scrypt N = 2\\^27"),
    (1, 17, 255, 1, "r = 255"),
    (1, 17, 8, 64, "p = 64"),
    (2, 12, 8, 1, "only key stanza"),
])
def test_crafted_scrypt_header_is_refused_before_key_derivation(stanzas, log2n, r, p, message):
    with pytest.raises(ContainerFormatError, match=message):
        c.decrypt_bytes(_crafted_scrypt_header(stanzas, log2n, r, p), "any password", allow_unsigned=True)


def test_crafted_header_costs_under_a_second_and_100_MB():
    """In a fresh interpreter (no torch), so the peak resident size is the parser's own."""
    blob = _crafted_scrypt_header(1000, 27, 8, 1)
    script = textwrap.dedent("""
        import resource, sys, time
        from course_lib import container
        from course_lib.errors import ContainerFormatError
        blob = sys.stdin.buffer.read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            container.decrypt_bytes(blob, "any password", allow_unsigned=True)
        except ContainerFormatError:
            pass
        print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], input=blob, capture_output=True, timeout=60, check=True)
    seconds, extra_kib = out.stdout.split()
    assert float(seconds) < 1.0 and int(extra_kib) < 100 * 1024


def test_oversized_chunk_and_stanza_limits():
    fixed = c.FIXED_HEADER.pack(c.MAGIC, c.VERSION, 1, c.MAX_CHUNK_SIZE + 1, bytes(32))
    with pytest.raises(ContainerFormatError, match="chunk size"):
        c.read_header(io.BytesIO(fixed + bytes(100)))
    with pytest.raises(ValueError, match="chunk size"):
        c.ContainerWriter(io.BytesIO(), data_key=bytes(32), chunk_size=c.MAX_CHUNK_SIZE + 1)
    with pytest.raises(ValueError, match="log2 N"):
        c.encrypt_bytes(b"x", passwords=["pw"], scrypt_log2n=c.MAX_SCRYPT_LOG2N + 1)


def test_statement_size_is_capped(signed):
    with open(f"{signed}.sig", "wb") as f:
        f.write(b" " * (70 * 1024))
    with pytest.raises(StatementError, match="larger than"):
        EncryptedDataset(signed, TRAINER, pin=PIN)


# ---------------------------------------------------------------- 4. replay and rollback
def test_older_checkpoint_signed_by_the_same_trainer_is_refused(tmp_path):
    trainer_signs, deployer = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    old, new = tmp_path / "v1.ckpt", tmp_path / "v2.ckpt"
    models.save_checkpoint(torch.nn.Linear(4, 2).state_dict(), old, signing_key=trainer_signs, name="mlp", version=1,
                           recipients=[deployer.public_key()])
    models.save_checkpoint(torch.nn.Linear(4, 2).state_dict(), new, signing_key=trainer_signs, name="mlp", version=2,
                           recipients=[deployer.public_key()])
    pin = Pin(trainer_signs.public_key(), "mlp", min_version=2)
    models.load_checkpoint(new, deployer, pin=pin)
    os.replace(old, new)                               # the attacker puts version 1 back
    with pytest.raises(RollbackError, match="version 1 is older"):
        models.load_checkpoint(new, deployer, pin=pin)
    with pytest.raises(StatementError, match="not 'other'"):
        models.load_checkpoint(new, deployer, pin=Pin(trainer_signs.public_key(), "other", min_version=1))


def test_checkpoint_for_another_recipient_is_refused(tmp_path):
    trainer_signs, staging, production = (pubkey.new_ed25519_key(), pubkey.new_x25519_key(),
                                          pubkey.new_x25519_key())
    path = tmp_path / "m.ckpt"
    models.save_checkpoint(torch.nn.Linear(4, 2).state_dict(), path, signing_key=trainer_signs, name="mlp",
                           version=3, recipients=[staging.public_key()])
    # someone at staging re-encrypts the genuine signed plaintext for production
    plaintext = c.decrypt_bytes(path.read_bytes(), staging, allow_unsigned=True)
    path.write_bytes(c.encrypt_bytes(plaintext, recipients=[production.public_key()]))
    with pytest.raises(StatementError, match="signed for recipient"):
        models.load_checkpoint(path, production, pin=Pin(trainer_signs.public_key(), "mlp", min_version=1))


def test_statement_of_one_kind_cannot_pass_for_another(signed):
    statement = signed.with_name("train.cldc.sig").read_bytes()
    with pytest.raises(StatementError, match="about a dataset, not a model"):
        PIN.verify(statement, kind="model")
    plain_signature = pubkey.sign(OWNER_SIGNS, b"any bytes")          # a signature made for another purpose
    envelope = json.loads(statement)
    envelope["signatures"][0]["sig"] = __import__("base64").b64encode(plain_signature).decode()
    with pytest.raises(SignatureError):
        PIN.verify(json.dumps(envelope).encode(), kind="dataset")


# ---------------------------------------------------------------- 5. unauthenticated public keys
def test_man_in_the_middle_reads_everything_without_authenticated_keys():
    alice = pubkey.new_x25519_key()
    mallory = pubkey.new_x25519_key()
    in_transit = mallory.public_key()                  # Mallory swapped Alice's key on the way to Bob
    sealed = pubkey.hybrid_encrypt(in_transit, b"the training data key")
    assert pubkey.hybrid_decrypt(mallory, sealed) == b"the training data key"
    assert pki.fingerprint(in_transit) != pki.fingerprint(alice.public_key())   # what comparing out of band shows


def test_certificates_bind_keys_to_names_and_roles():
    ca = pki.CertificateAuthority("course team CA")
    trainer = pubkey.new_x25519_key()
    cert = ca.issue("trainer", trainer.public_key(), "decrypts datasets")
    key = pki.verify_certificate(cert, ca.certificate, name="trainer", role="decrypts datasets")
    assert pubkey.public_bytes(key) == pubkey.public_bytes(trainer.public_key())
    mallory = pubkey.new_x25519_key()
    rogue_ca = pki.CertificateAuthority("course team CA")          # same name, different key
    forged = rogue_ca.issue("trainer", mallory.public_key(), "decrypts datasets")
    with pytest.raises(CertificateError, match="not issued by the pinned CA"):
        pki.verify_certificate(forged, ca.certificate, name="trainer", role="decrypts datasets")
    with pytest.raises(CertificateError, match="not 'deployer'"):
        pki.verify_certificate(cert, ca.certificate, name="deployer", role="decrypts datasets")
    with pytest.raises(CertificateError, match="role"):
        pki.verify_certificate(cert, ca.certificate, name="trainer", role="signs models")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)
    with pytest.raises(CertificateError, match="not valid now"):
        pki.verify_certificate(cert, ca.certificate, name="trainer", role="decrypts datasets", now=later)
    with pytest.raises(CertificateError, match="CA certificate"):
        pki.verify_certificate(ca.certificate, ca.certificate, name="course team CA", role="")


# ---------------------------------------------------------------- key management stand-in
def test_kms_envelope_rotation_disable_destroy(tmp_path):
    kms = kms_module.LocalKMS()
    kms.create_key("datasets")
    blob = c.encrypt_bytes(b"records", kms=[(kms, "datasets")])
    assert c.decrypt_bytes(blob, kms, allow_unsigned=True) == b"records"
    assert c.read_header(io.BytesIO(blob)).recipients() == ["kms key datasets v1"]
    assert kms.rotate("datasets") == 2                 # rotation: old blobs still open
    assert c.decrypt_bytes(blob, kms, allow_unsigned=True) == b"records"
    kms.disable("datasets", 1)
    with pytest.raises(KeyManagementError, match="v1 is disabled"):
        c.decrypt_bytes(blob, kms, allow_unsigned=True)
    kms.enable("datasets", 1)
    path = tmp_path / "d.cldc"
    path.write_bytes(blob)
    c.rewrap(path, kms, kms=[(kms, "datasets")])       # re-wrap under the primary version 2
    assert c.read_header(io.BytesIO(path.read_bytes())).recipients() == ["kms key datasets v2"]
    kms.destroy("datasets", 1)
    with pytest.raises(KeyManagementError, match="destroyed"):
        c.decrypt_bytes(blob, kms, allow_unsigned=True)              # a copy wrapped only under v1 is lost
    assert c.decrypt_bytes(path.read_bytes(), kms, allow_unsigned=True) == b"records"
    with pytest.raises(KeyManagementError, match="no key named"):
        kms.encrypt("models", bytes(32))
    other = kms_module.LocalKMS()
    other.create_key("datasets")
    with pytest.raises(HeaderAuthenticationError, match="cannot unwrap"):
        c.decrypt_bytes(blob, other, allow_unsigned=True)            # another KMS's key of the same name
    assert ("destroyed", "datasets", 1) in kms.audit_log


def test_kms_blob_moved_to_another_file_is_refused():
    kms = kms_module.LocalKMS()
    kms.create_key("datasets")
    a = c.encrypt_bytes(b"a", kms=[(kms, "datasets")])
    wrapped = kms.encrypt("datasets", bytes(32), context=b"some other file")
    with pytest.raises(DecryptionError, match="context"):
        kms.decrypt(wrapped, context=b"this file")
    header = c.read_header(io.BytesIO(a))
    assert header.stanzas[0].kind == "kms"
    assert isinstance(c.ContainerReader(io.BytesIO(a), kms, allow_unsigned=True).data_key, bytes)
    with pytest.raises(WrongKeyError, match="no KMS stanza"):
        c.decrypt_bytes(c.encrypt_bytes(b"x", recipients=[TRAINER.public_key()]), kms, allow_unsigned=True)


def test_partial_plaintext_left_by_sigkill_is_readable_by_its_owner_only(tmp_path):
    """What chapter 06 says honestly: a killed decryption leaves its temporary file behind (mode 0600)."""
    src, dst = tmp_path / "big.cldc", tmp_path / "out.bin"
    src.write_bytes(c.encrypt_bytes(os.urandom(200_000), data_key=bytes(32), chunk_size=4096))
    script = textwrap.dedent(f"""
        import os, signal
        from course_lib import container as c
        original = c.ContainerReader.read_chunk
        def read_then_die(self, index):
            if index == 10:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, index)
        c.ContainerReader.read_chunk = read_then_die
        c.decrypt_file({str(src)!r}, {str(dst)!r}, bytes(32), allow_unsigned=True)
    """)
    process = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not dst.exists()
    (leftover,) = [p for p in tmp_path.iterdir() if p.name.startswith(".out.bin.")]
    assert leftover.stat().st_mode & 0o077 == 0
    assert leftover.stat().st_size > 0


# ---------------------------------------------------------------- a worker's binding, forged by a storage attacker
from course_lib.release import Release  # noqa: E402

_GCM_R = 0xE1 << 120


def _gmul(x, y):
    z = 0
    for i in range(127, -1, -1):
        if (y >> i) & 1:
            z ^= x
        x = (x >> 1) ^ _GCM_R if x & 1 else x >> 1
    return z


def _gpow(x, e):
    result = 1 << 127
    while e:
        if e & 1:
            result = _gmul(result, x)
        x, e = _gmul(x, x), e >> 1
    return result


def _chunk_with_tag(key, nonce, aad, plaintext, target_tag):
    """AES-GCM of ``plaintext`` under a key the attacker chose, its first block changed so the tag is ``target_tag``
    (GHASH is linear: the attacker knows H because they chose the key)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    ciphertext, tag = bytearray(sealed[:-16]), sealed[-16:]
    h = int.from_bytes(Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(bytes(16)), "big")
    power = 2 + -(-len(ciphertext) // 16) + 1 - 2                  # AAD is 2 blocks; the first ciphertext block
    delta = _gmul(int.from_bytes(tag, "big") ^ int.from_bytes(target_tag, "big"), _gpow(_gpow(h, power), 2**128 - 2))
    ciphertext[:16] = (int.from_bytes(ciphertext[:16], "big") ^ delta).to_bytes(16, "big")
    return bytes(ciphertext) + target_tag


def _forge_under_binding(path, reader_public, binding, header):
    """Knowing only the reader's public key: a new data key wrapped for it, a new header MAC, chunks carrying the bound tags."""
    forged_key, digest = os.urandom(32), header.digest
    stanza = c._x25519_stanza(reader_public, forged_key, digest)
    new_header = c.Header(header.algorithm, header.chunk_size, header.salt, (stanza,)).with_mac(forged_key)
    payload = c._hkdf(forged_key, header.salt, b"CLDC v1 payload" + digest)
    count, body = len(binding.tags) // 16, b""
    for i in range(count):
        body += _chunk_with_tag(payload, c.chunk_nonce(i, i == count - 1), digest, b"EVIL" * (header.chunk_size // 4),
                                binding.tags[16 * i:16 * i + 16])
    path.write_bytes(new_header.encode() + body)


def test_a_binding_refuses_a_new_header_whose_chunks_carry_the_bound_tags(tmp_path):
    """The storage attacker has no key: they wrap a data key of their own for the reader, recompute the header
    MAC and fix one block per chunk so every GCM tag equals the bound one. The binding pins the whole header."""
    owner, reader = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    path = tmp_path / "victim.cldc"
    with c.ContainerWriter(path, recipients=[reader.public_key()], chunk_size=4096,
                           release=Release(owner, "ds", 1)) as writer:
        writer.write(b"genuine " * 1536)
    with c.ContainerReader(path, reader, pin=Pin(owner.public_key(), "ds", min_version=1)) as parent:
        binding, header = parent.binding, parent.header
    _forge_under_binding(path, reader.public_key(), binding, header)
    with c.ContainerReader(path, reader, allow_unsigned=True) as unbound:      # the forgery is a valid container
        assert b"EVIL" in unbound.read_chunk(0)
    with pytest.raises(ReleaseMismatchError, match=r"its header \(key stanzas or header MAC\) was replaced"):
        c.ContainerReader(path, reader, binding=binding)


def test_a_binding_refuses_a_key_that_unwraps_another_data_key(tmp_path):
    """The binding also commits to the data key, compared after unwrapping, for every key kind."""
    import dataclasses
    owner, reader, service = pubkey.new_ed25519_key(), pubkey.new_x25519_key(), kms_module.LocalKMS()
    service.create_key("k")
    path = tmp_path / "f.cldc"
    with c.ContainerWriter(path, recipients=[reader.public_key()], kms=[(service, "k")],
                           release=Release(owner, "ds", 1)) as writer:
        writer.write(b"records" * 100)
    with c.ContainerReader(path, reader, pin=Pin(owner.public_key(), "ds", min_version=1)) as parent:
        binding, data_key = parent.binding, parent.data_key
    other = dataclasses.replace(binding, key_commitment=bytes(32))
    for key in (reader, service, data_key):
        with c.ContainerReader(path, key, binding=binding) as worker:
            assert worker.read_all() == b"records" * 100
        with pytest.raises(ReleaseMismatchError, match="unwraps to another data key"):
            c.ContainerReader(path, key, binding=other)


def test_dataset_workers_refuse_a_forged_header_with_the_bound_tags(signed):
    dataset = EncryptedDataset(signed, TRAINER, pin=PIN)
    binding, header = dataset._binding, dataset._reader.header
    dataset._reader.close()
    _forge_under_binding(signed, TRAINER.public_key(), binding, header)
    with pytest.raises(ReleaseMismatchError, match="was replaced"):
        c.ContainerReader(signed, TRAINER, binding=binding)


# ---------------------------------------------------------------- a container-level statement that names a recipient
def _signed_for_alice(tmp_path, **keys):
    signer, alice, bob = pubkey.new_ed25519_key(), pubkey.new_x25519_key(), pubkey.new_x25519_key()
    path = tmp_path / "shared.cldc"
    with c.ContainerWriter(path, recipients=[bob.public_key()], release=Release(
            signer, "shared", 1, recipient=pubkey.key_id(alice.public_key()).hex()), **keys) as writer:
        writer.write(b"records" * 50)
    return path, Pin(signer.public_key(), "shared", min_version=1), alice, bob


def test_container_reader_and_rewrap_apply_the_recipient_rule_to_every_key_kind(tmp_path):
    """Signed for alice, encrypted for bob and a KMS: bob's private key is refused; a KMS or data-key holder is
    refused unless it states a recipient, and refused when it states bob. One that states alice is accepted:
    recipient= is the caller's word, which is the documented assumption for these key kinds."""
    service = kms_module.LocalKMS()
    service.create_key("k")
    data_key = os.urandom(32)
    path, pin, alice, bob = _signed_for_alice(tmp_path, kms=[(service, "k")], data_key=data_key)
    before = path.read_bytes()
    with pytest.raises(StatementError, match="not for key id [0-9a-f]{16}, who is opening it"):
        c.ContainerReader(path, bob, pin=pin)
    with pytest.raises(StatementError, match="not for key id"):
        c.rewrap(path, bob, recipients=[bob.public_key()], pin=pin)
    for key in (service, data_key):
        with pytest.raises(StatementError, match="does not say who holds it"):
            c.ContainerReader(path, key, pin=pin)
        with pytest.raises(StatementError, match="not for key id"):
            c.ContainerReader(path, key, pin=pin, recipient=bob.public_key())
        with pytest.raises(StatementError, match="does not say who holds it"):
            c.rewrap(path, key, recipients=[bob.public_key()], pin=pin)
        with pytest.raises(StatementError, match="not for key id"):
            c.rewrap(path, key, recipients=[bob.public_key()], pin=pin, recipient=bob.public_key())
        with c.ContainerReader(path, key, pin=pin, recipient=alice.public_key()) as reader:   # self-asserted
            assert reader.read_all() == b"records" * 50
    assert path.read_bytes() == before                          # every refused rewrap left the file alone


def test_a_password_reader_of_a_container_signed_for_a_recipient_must_state_it(tmp_path):
    signer, alice = pubkey.new_ed25519_key(), pubkey.new_x25519_key()
    path = tmp_path / "pw.cldc"
    with c.ContainerWriter(path, passwords=["pw"], scrypt_log2n=10, release=Release(
            signer, "shared", 1, recipient=pubkey.key_id(alice.public_key()).hex())) as writer:
        writer.write(b"records")
    pin = Pin(signer.public_key(), "shared", min_version=1)
    with pytest.raises(StatementError, match="does not say who holds it"):
        c.ContainerReader(path, "pw", pin=pin)
    with pytest.raises(StatementError, match="not for key id"):
        c.rewrap(path, "pw", passwords=["new"], scrypt_log2n=10, pin=pin, recipient=pubkey.new_x25519_key().public_key())
    with c.ContainerReader(path, "pw", pin=pin, recipient=alice.public_key()) as reader:
        assert reader.read_all() == b"records"


def test_an_encrypted_dataset_signed_for_a_recipient_refuses_every_other_key_kind(tmp_path):
    alice, bob, service = pubkey.new_x25519_key(), pubkey.new_x25519_key(), kms_module.LocalKMS()
    service.create_key("k")
    data_key = os.urandom(32)
    path = tmp_path / "train.cldc"
    save_encrypted_dataset(_dataset(), path, recipients=[bob.public_key()], kms=[(service, "k")], data_key=data_key,
                           signer=OWNER_SIGNS, name="digits-train", version=2)
    genuine = PIN.verify((tmp_path / "train.cldc.sig").read_bytes(), kind="dataset")
    (tmp_path / "train.cldc.sig").write_bytes(Release(   # the owner signs the same dataset for alice only
        OWNER_SIGNS, "digits-train", 2, kind="dataset", dataset_root=genuine.dataset_root,
        recipient=pubkey.key_id(alice.public_key()).hex()).sign(genuine.digests))
    with pytest.raises(StatementError, match="not for key id"):
        EncryptedDataset(path, bob, pin=PIN)
    for key in (service, data_key):
        with pytest.raises(StatementError, match="does not say who holds it"):
            EncryptedDataset(path, key, pin=PIN)
        with pytest.raises(StatementError, match="not for key id"):
            EncryptedDataset(path, key, pin=PIN, recipient=bob.public_key())
        assert len(EncryptedDataset(path, key, pin=PIN, recipient=alice.public_key())) == 300   # self-asserted

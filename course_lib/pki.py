"""Authenticating public keys: fingerprints and a tiny certificate authority (chapters 03 and 06).

A public key that arrives over the network may be the attacker's (man in the middle). Two
fixes, both shown in chapter 03:

* compare a key's **fingerprint** over another channel (read aloud, on a badge, in person);
* trust one **certificate authority** (CA) key, pinned once, and accept a team member's key only
  inside an X.509 certificate the CA signed for that name and role, within its validity period.

``CertificateAuthority`` is deliberately small — one Ed25519 key, no revocation lists or OCSP,
no intermediate CAs — but it uses ``cryptography``'s real X.509 API, and its certificates
open in any X.509 tool.
"""
from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.x509.oid import NameOID

from .errors import CertificateError
from .pubkey import public_bytes

__all__ = ["fingerprint", "CertificateAuthority", "verify_certificate", "subject_of"]


def fingerprint(public_key) -> str:
    """SHA-256 of the raw public key, in groups of four hex digits: easy to read aloud and compare."""
    digest = hashlib.sha256(public_bytes(public_key)).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def _name(common_name: str, role: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    return x509.Name(attributes)


def subject_of(certificate: x509.Certificate) -> tuple[str, str]:
    """(name, role) written in a certificate's subject."""
    def first(oid):
        values = certificate.subject.get_attributes_for_oid(oid)
        return values[0].value if values else ""
    return first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATIONAL_UNIT_NAME)


class CertificateAuthority:
    """A one-key certificate authority for a team's Ed25519 and X25519 keys (chapter 03)."""

    def __init__(self, name: str, *, days: int = 365):
        self._key = ed25519.Ed25519PrivateKey.generate()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, None))

    def issue(self, name: str, public_key, role: str, *, days: int = 30) -> x509.Certificate:
        """Certify that ``public_key`` (Ed25519 or X25519) belongs to ``name`` acting as ``role``."""
        if not isinstance(public_key, (ed25519.Ed25519PublicKey, x25519.X25519PublicKey)):
            raise TypeError("this CA certifies Ed25519 and X25519 public keys")
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder()
                .subject_name(_name(name, role)).issuer_name(self.certificate.subject)
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self._key, None))


def verify_certificate(certificate: x509.Certificate, ca_certificate: x509.Certificate, *, name: str,
                       role: str, now: datetime.datetime | None = None):
    """The certified public key, if ``certificate`` was issued by the pinned CA to ``name`` as ``role``.

    Raises :class:`CertificateError` saying which check failed: issuer signature, validity
    period, CA flag, name or role.
    """
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):   # issuer name differs / key type / bad signature
        raise CertificateError(f"certificate for {subject_of(certificate)[0]!r} was not issued by the pinned CA "
                               f"{subject_of(ca_certificate)[0]!r}") from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateError(f"certificate for {subject_of(certificate)[0]!r} is not valid now "
                               f"(valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                               f"{certificate.not_valid_after_utc:%Y-%m-%d})")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise CertificateError("a CA certificate cannot stand for a team member's key")
    subject, subject_role = subject_of(certificate)
    if subject != name:
        raise CertificateError(f"certificate names {subject!r}, not {name!r}")
    if subject_role != role:
        raise CertificateError(f"certificate for {name!r} is for the role {subject_role!r}, not {role!r}")
    return certificate.public_key()

"""The course's exceptions: each bad input gets a specific, readable error.

All derive from :class:`CourseCryptoError`; the decryption errors are also ``ValueError`` so
code written against ``cryptography``/PyCryptodome conventions still catches them.
"""


class CourseCryptoError(Exception):
    """Base class of every error course_lib raises on purpose."""


class DecryptionError(CourseCryptoError, ValueError):
    """Authenticated decryption failed: wrong key, wrong associated data, or modified data."""


class PaddingError(CourseCryptoError, ValueError):
    """PKCS#7 padding is malformed (chapter 01)."""


class IntegrityError(CourseCryptoError, ValueError):
    """Data does not match its tag, digest, manifest or signature (chapters 02–05)."""


class WrongRecipientError(DecryptionError):
    """The message was sealed for a different public key (chapter 03)."""


class SignatureError(IntegrityError):
    """A signature does not verify: wrong key, or the signed data changed (chapters 03, 05)."""

"""The course's exceptions: each bad input gets a specific, readable error.

All derive from :class:`CourseCryptoError`; the decryption errors are also ``ValueError`` so
code written against ``cryptography``/PyCryptodome conventions still catches them.
"""

__all__ = ["CourseCryptoError", "DecryptionError", "PaddingError", "IntegrityError", "WrongRecipientError",
           "SignatureError", "ContainerError", "ContainerFormatError", "HeaderAuthenticationError",
           "WrongKeyError", "WrongPasswordError", "ChunkAuthenticationError", "TruncatedError", "ExtendedError",
           "NotARecipientError", "UntrustedSignerError", "StatementError", "RollbackError",
           "ReleaseMismatchError", "UnsignedError", "CertificateError", "KeyManagementError",
           "SecureAggregationError", "TooManyDropoutsError", "ProtocolViolationError", "RingOverflowError", "ChainTooShortError",
           "MagnitudeOverflowError"]


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


class ContainerError(DecryptionError):
    """An encrypted container (chapters 04–06) cannot be opened; subclasses say why."""


class ContainerFormatError(ContainerError):
    """Not a course container, an unsupported version or algorithm, or a malformed header."""


class HeaderAuthenticationError(ContainerError):
    """The container header was modified (or the given data key is wrong)."""


class WrongKeyError(ContainerError):
    """None of the container's key stanzas opens with the key, private key or password given."""


class WrongPasswordError(WrongKeyError):
    """The password does not open the container's password stanza."""


class ChunkAuthenticationError(ContainerError):
    """A chunk failed authentication: modified, reordered, or copied from another file."""


class TruncatedError(ContainerError):
    """The container ends before its final chunk."""


class ExtendedError(ContainerError):
    """Data follows the container's final chunk."""


class NotARecipientError(WrongKeyError, WrongRecipientError):
    """The container was not encrypted for this private key."""


class UntrustedSignerError(SignatureError):
    """Signed by a key other than the one the verifier pinned (chapters 04–06)."""


class StatementError(IntegrityError):
    """A signed statement is malformed, or does not describe this artefact (chapters 04–06)."""


class RollbackError(StatementError):
    """A validly signed artefact older than the lowest version the verifier accepts (chapter 05)."""


class ReleaseMismatchError(StatementError):
    """The file being read is not the one the signed statement describes: swapped or rewritten (chapter 06)."""


class UnsignedError(IntegrityError):
    """A signed statement is required but there is none (chapters 04–06)."""


class CertificateError(SignatureError):
    """A certificate is not issued by the pinned authority, has expired, or names another subject (chapter 03)."""


class KeyManagementError(CourseCryptoError):
    """The key-management stand-in refuses: unknown key, disabled or destroyed version (chapter 04)."""


class SecureAggregationError(CourseCryptoError):
    """A secure-aggregation round cannot give a correct sum (chapter 10)."""


class TooManyDropoutsError(SecureAggregationError):
    """Fewer clients than the threshold are left: the round fails rather than return a wrong sum (chapter 10)."""


class ProtocolViolationError(SecureAggregationError, IntegrityError):
    """A message breaks the protocol: forged or replayed key, tampered share, a server asking for both
    secrets of one client, an unknown client (chapter 10)."""


class RingOverflowError(SecureAggregationError, ValueError):
    """The ring is too small for the sum of the clients' quantised updates: it would wrap (chapter 10)."""


class ChainTooShortError(CourseCryptoError, ValueError):
    """A CKKS circuit needs more multiplications than the modulus chain has levels (chapter 11)."""


class MagnitudeOverflowError(CourseCryptoError, ValueError):
    """A CKKS model's values can exceed what the remaining modulus chain holds: they would wrap (chapter 11)."""

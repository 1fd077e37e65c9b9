"""Errors of the MPC runtime (chapters 07–08)."""
from ..errors import CourseCryptoError


class MPCError(CourseCryptoError, RuntimeError):
    """A secure computation could not complete."""


class MPCTimeoutError(MPCError, TimeoutError):
    """A party waited longer than the timeout for a message (a peer is dead or stuck)."""


class PartyFailedError(MPCError):
    """A party process exited with an error or was killed."""

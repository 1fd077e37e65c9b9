"""Errors and warnings of the MPC runtime (chapters 07–08)."""
from ..errors import CourseCryptoError


__all__ = ["party_label", "MPCError", "MPCTimeoutError", "RankTakenError", "RankClaimedError",
           "RendezvousTamperedError", "PartyFailedError",
           "ChannelError",
           "UnknownPeerError", "ImpersonationError", "MessageAuthenticationError", "InsecureSeedWarning",
           "CheatingDetectedError"]


def party_label(rank: int, parties: int) -> str:
    """"party N", or "the dealer" for the last rank."""
    return "the dealer" if rank == parties else f"party {rank}"


class MPCError(CourseCryptoError, RuntimeError):
    """A secure computation could not complete."""


class MPCTimeoutError(MPCError, TimeoutError):
    """A party waited longer than the timeout for a message (a peer is dead or stuck)."""


class RankTakenError(MPCError):
    """Another process already joined this computation with the same rank."""


class RankClaimedError(RankTakenError):
    """A rank was claimed in the rendezvous by a process that cannot sign for it: not on the roster (chapter 08)."""


class RendezvousTamperedError(MPCError):
    """The rendezvous store holds a session token or abort notice not signed by rank 0's pinned key (chapter 08)."""


class PartyFailedError(MPCError):
    """A party process exited with an error or was killed."""


class ChannelError(MPCError):
    """A secure channel between two parties refused to carry on (chapter 08)."""


class UnknownPeerError(ChannelError):
    """A peer's identity key is not the one pinned for its rank in the roster."""


class ImpersonationError(ChannelError):
    """A peer could not prove, in the handshake, that it holds the identity key it presented."""


class MessageAuthenticationError(ChannelError):
    """A message failed authentication: forged, replayed, reordered or garbled."""


class InsecureSeedWarning(UserWarning):
    """All randomness comes from a public seed: anyone who knows it can recover every input (chapter 08)."""


class CheatingDetectedError(MPCError):
    """The MAC check of the arithmetic openings failed: a party changed a value it opened; abort (chapter 08)."""

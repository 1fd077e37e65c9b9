"""Secure multi-party computation from scratch (chapters 07–08).

Additive secret sharing over the ring Z_2^64 (int64 with wrap-around), fixed-point encoding,
Beaver-triple multiplication with correlated randomness from a dealer that never sees data,
truncation, exact comparison and ReLU by arithmetic-to-binary conversion with a parallel-prefix
adder, and a communicator with two implementations: in-process (threads, every message
counted) and ``torch.distributed``/gloo (one OS process per party plus the dealer).

Protocols are written once, from one party's point of view (SPMD): every party — and the
dealer — runs the same program; the dealer's copy only produces correlated randomness.
"""
import os as _os
import sys as _sys

# torch's C++ layer (c10d, gloo) logs its own warnings and stack frames to stderr before the error that
# this package turns into one readable line (MPCError); a fresh process that loads torch through this
# package (the party command, run_distributed's parties) keeps them quiet. TORCH_CPP_LOG_LEVEL=INFO
# brings them back; a process that loaded torch before has its own setting.
if "torch" not in _sys.modules:
    _os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")

from .errors import (ChannelError, CheatingDetectedError, ImpersonationError, InsecureSeedWarning, MessageAuthenticationError, MPCError,
                     MPCTimeoutError, PartyFailedError, RankClaimedError, RankTakenError, RendezvousTamperedError,
                     UnknownPeerError)
from .channel import Identity, Roster
from .fixed_point import FRAC_BITS, decode, encode
from .prg import PRG
from .sharing import reconstruct, share
from .tensor import SecretTensor
from .runtime import Context, new_identities, run_distributed, run_in_process
from . import attacks, authentication, baseline, channel, runtime

__all__ = ["MPCError", "PartyFailedError", "MPCTimeoutError", "ChannelError", "CheatingDetectedError", "ImpersonationError",
           "InsecureSeedWarning", "MessageAuthenticationError", "RankClaimedError", "RankTakenError", "RendezvousTamperedError",
           "UnknownPeerError",
           "Identity", "Roster",
           "new_identities", "FRAC_BITS", "decode", "encode", "PRG",
           "reconstruct", "share", "SecretTensor", "Context", "run_distributed", "run_in_process",
           "attacks", "authentication", "baseline", "channel", "runtime"]

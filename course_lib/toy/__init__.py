"""INSECURE — for learning. From-scratch cryptography the course takes apart.

Nothing in this package is safe to protect real data: no side-channel protection, no padding
where padding is needed, and modes built directly on a raw block cipher. The safe versions live
in the rest of ``course_lib``.
"""

from . import aes, modes, otp, paillier, rsa, sha256, spdz64

__all__ = ["aes", "modes", "otp", "paillier", "rsa", "sha256", "spdz64"]

"""Exercise checks: ``cl.check.<exercise>(fn)`` tests a learner's function (framework: chapter 00).

Each check runs known answers and random tests and returns a :class:`CheckResult` that shows a
clear pass, a failure with the first failing input and a hint, or "not yet solved".
"""
from ._framework import REGISTRY, CheckResult, ExerciseFailed, Mismatch, Tally, exercise
from .ch00 import seconds_to_process, tool_for_threat
from .ch01 import ctr_encrypt, pkcs7_unpad, seal_tensor
from .ch02 import forge_length_extension, merkle_root, reverse_hashed_ages, verify_inclusion
from .ch03 import guess_the_label, hybrid_encryption, rsa_from_primes
from .ch04 import read_sample, seal_samples
from .ch05 import canonical_fingerprint, check_layout, load_untrusted
from .ch06 import evaluate, read_released
from .ch07 import additive_share, and_gate, beaver_multiply, fixed_point, truncate_shares
from .ch08 import secure_max, secure_mean
from .ch09 import copy_from_labels, gradient_distance, membership_advantage
from .ch10 import mask_update, noisy_clipped_gradient, reconstruct_secret
from .ch11 import ckks_parameters, encrypted_sum, pack_columns

__all__ = ["REGISTRY", "CheckResult", "ExerciseFailed", "Mismatch", "Tally", "exercise",
           "seconds_to_process", "tool_for_threat", "ctr_encrypt", "pkcs7_unpad", "seal_tensor",
           "forge_length_extension", "merkle_root", "reverse_hashed_ages", "verify_inclusion",
           "guess_the_label", "hybrid_encryption", "rsa_from_primes",
           "read_sample", "seal_samples", "canonical_fingerprint", "check_layout", "load_untrusted", "evaluate", "read_released",
           "additive_share", "and_gate", "beaver_multiply", "fixed_point", "truncate_shares", "secure_max", "secure_mean",
           "gradient_distance", "membership_advantage", "copy_from_labels",
           "mask_update", "reconstruct_secret", "noisy_clipped_gradient",
           "encrypted_sum", "ckks_parameters", "pack_columns"]

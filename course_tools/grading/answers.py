"""What counts as the course's own answer to an exercise: refused by the grader, never graded.

For every exercise, the library functions that compute its answer (besides the check's own
``reference``, which ``cl.check.<exercise>.or_reference`` hands out). An exercise cell that uses
one of them, or answers with one (directly, through ``functools.partial``, a wrapper or a
closure), is ``refused``. Helpers that an exercise's statement tells learners to use stay allowed:
``secagg.expand_mask`` and ``secagg.mask_sign`` (chapter 10), ``paillier.add`` (11),
``cl.symmetric.encrypt`` (01, 04), ``toy_sha256.padding`` (02), ``shamir.lagrange_at_zero`` to
check one's weights (10), ``SecretTensor.relu`` (08), ``cl.training.mlp`` (09).
"""
from __future__ import annotations

__all__ = ["LIBRARY_ANSWERS", "library_answers"]

LIBRARY_ANSWERS: dict[str, tuple[str, ...]] = {
    "seconds_to_process": ("course_lib.timing.seconds_for",),
    "ctr_encrypt": ("course_lib.toy.modes.ctr_encrypt", "course_lib.toy.modes.ctr_keystream"),
    "pkcs7_unpad": ("course_lib.toy.modes.pkcs7_unpad",),
    "forge_length_extension": ("course_lib.toy.sha256.length_extension",),
    "merkle_root": ("course_lib.hashing.merkle_root", "course_lib.hashing.Manifest.build",
                    "course_lib.hashing.Manifest.from_leaf_hashes"),
    "verify_inclusion": ("course_lib.hashing.verify_inclusion",),
    "rsa_from_primes": ("course_lib.toy.rsa.key_from_primes",),
    "hybrid_encryption": ("course_lib.pubkey.hybrid_encrypt", "course_lib.pubkey.hybrid_decrypt"),
    "canonical_fingerprint": ("course_lib.models.fingerprint", "course_lib.models.serialize_state_dict"),
    "evaluate": ("course_lib.training.accuracy",),
    "additive_share": ("course_lib.mpc.sharing.share",),
    "fixed_point": ("course_lib.mpc.fixed_point.encode", "course_lib.mpc.fixed_point.decode"),
    "and_gate": ("course_lib.mpc.compare.and_gates",),
    "gradient_distance": ("course_lib.attacks.gradient_matching_loss",),
    "membership_advantage": ("course_lib.attacks.attack_advantage",),
    "copy_from_labels": ("course_lib.attacks.extract_model",),
    "mask_update": ("course_lib.secagg.add_pairwise_masks",),
    "reconstruct_secret": ("course_lib.shamir.reconstruct",),
    "noisy_clipped_gradient": ("course_lib.privacy.dp_sgd_step", "course_lib.privacy.clip_per_sample"),
    "ckks_parameters": ("course_lib.he.parameters_for_depth", "course_lib.he.chain_for_depth"),
    "pack_columns": ("course_lib.he.pack_columns", "course_lib.he.encrypt_columns"),
}


def library_answers(exercise: str) -> tuple[str, ...]:
    """Dotted names of the library functions that answer ``exercise`` (may be empty)."""
    return LIBRARY_ANSWERS.get(exercise, ())

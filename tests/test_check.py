import hashlib
import re
from pathlib import Path

import pytest

import course_lib as cl
from course_lib.check import REGISTRY, CheckResult, exercise


@pytest.fixture(autouse=True)
def _made_up_checks_leave_no_trace():
    """The checks these tests make up register themselves; other test files in the worker must not see them."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


def right(nbytes, mb_s):
    return nbytes / (mb_s * 1e6)


def test_check_passes_a_correct_solution():
    result = cl.check.seconds_to_process(right)
    assert result.passed and bool(result)
    assert repr(result) == "✓ seconds_to_process: 3 known answers and 50 random tests passed."


@pytest.mark.parametrize("wrong", [
    lambda b, m: b / m,                    # forgot MB = 10**6
    lambda b, m: b / (m * 2**20),          # MiB instead of MB
    lambda b, m: round(b / (m * 1e6)),     # rounds: fails the random tests
])
def test_check_catches_wrong_solutions(wrong):
    result = cl.check.seconds_to_process(wrong)
    assert not result and result.status == "failed"
    assert "Hint:" in repr(result)
    with pytest.raises(AssertionError):
        result.raise_if_failed()


def test_stub_is_reported_as_not_yet_solved():
    def stub(nbytes, mb_s):
        raise NotImplementedError("compute seconds")
    result = cl.check.seconds_to_process(stub)
    assert result.status == "not yet solved" and not result


def test_crash_is_reported_not_raised():
    result = cl.check.seconds_to_process(lambda b, m: 1 / 0)
    assert result.status == "failed" and "ZeroDivisionError" in result.detail


def test_threat_quiz():
    assert cl.check.tool_for_threat(THREAT_ANSWERS.get)
    assert not cl.check.tool_for_threat(lambda threat: "aead")


# chapter 00's answers live here, not in what learners import
THREAT_ANSWERS = {
    "a stolen backup disk holding the training images": "aead",
    "an eavesdropper on the network between data owner and trainer": "tls",
    "an attacker who swaps a few training samples in the shared bucket": "signature",
    "a model file replaced on the model hub by a backdoored one": "signature",
    "two hospitals that want to train on their joint data without showing it to each other": "mpc",
    "a cloud provider that must run inference without seeing the patient's input": "mpc",
    "membership inference: the released model reveals who was in the training set": "dp",
}


def test_no_answer_key_is_importable_from_the_checks():
    import course_lib.check.ch00 as ch00
    text = Path(ch00.__file__).read_text()
    for threat, tool in THREAT_ANSWERS.items():
        assert f'"{threat}": "{tool}"' not in text and f"{threat!r}: {tool!r}" not in text
    tables = [v for k, v in vars(ch00).items() if not k.startswith("__") and isinstance(v, dict)]
    assert not any(all(isinstance(x, str) and x in ch00.TOOLS for x in v.values()) for v in tables)


def test_a_check_that_compares_nothing_is_a_defect():
    @exercise(hint="")
    def empty(fn, t, rng):
        pass
    with pytest.raises(RuntimeError, match="made no comparison"):
        empty(lambda: None)


def test_html_rendering_escapes():
    r = CheckResult("x", "failed", "<b>", "hint")
    assert "&lt;b&gt;" in r._repr_html_()


# ---- chapter 01 exercises: reference solutions pass, plausible mistakes fail ----
import io

import numpy as np
import torch

from course_lib import symmetric
from course_lib.toy import modes


def test_ctr_check():
    assert cl.check.ctr_encrypt(lambda enc, ctr, data: modes.ctr_encrypt(_Block(enc), ctr, data))
    # ECB instead of CTR
    assert not cl.check.ctr_encrypt(lambda enc, ctr, data: modes.ecb_encrypt(_Block(enc), modes.pkcs7_pad(data)))
    # forgets the wrap-around at 2**128
    def no_wrap(enc, ctr, data):
        c = int.from_bytes(ctr, "big")
        stream = b"".join(enc((c + i).to_bytes(17, "big")[-16:]) if c + i < 2**128 else enc(b"\xff" * 16)
                          for i in range(-(-len(data) // 16)))
        return bytes(a ^ b for a, b in zip(data, stream))
    assert not cl.check.ctr_encrypt(no_wrap)


class _Block:
    def __init__(self, encrypt_block):
        self.encrypt_block = encrypt_block


def test_pkcs7_unpad_check():
    assert cl.check.pkcs7_unpad(modes.pkcs7_unpad)
    assert not cl.check.pkcs7_unpad(lambda padded: padded[:-padded[-1]])          # no validation
    assert not cl.check.pkcs7_unpad(lambda padded: padded.rstrip(padded[-1:]))   # strips too much


def _seal(key, tensor, ad):
    buffer = io.BytesIO()
    np.save(buffer, tensor.numpy(), allow_pickle=False)
    return symmetric.encrypt(key, buffer.getvalue(), ad)


def _open(key, sealed, ad):
    return torch.from_numpy(np.load(io.BytesIO(symmetric.decrypt(key, sealed, ad)), allow_pickle=False))


def test_seal_tensor_check():
    assert cl.check.seal_tensor(_seal, _open)
    # ignores the associated data
    assert not cl.check.seal_tensor(lambda k, t, ad: _seal(k, t, b""), lambda k, s, ad: _open(k, s, b""))
    # fixed nonce: deterministic, and a nonce-reuse hazard
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    def fixed_nonce(key, tensor, ad):
        buffer = io.BytesIO()
        np.save(buffer, tensor.numpy(), allow_pickle=False)
        return bytes(12) + AESGCM(key).encrypt(bytes(12), buffer.getvalue(), ad)
    assert not cl.check.seal_tensor(fixed_nonce, _open)
    # loses the dtype
    assert not cl.check.seal_tensor(_seal, lambda k, s, ad: _open(k, s, ad).float())


# ---- chapter 02 exercises ----
from course_lib import hashing
from course_lib.toy import sha256 as toy_sha256


def test_reverse_hashed_ages_check():
    table = {hashlib.sha256(str(a).encode()).hexdigest(): a for a in range(121)}
    assert cl.check.reverse_hashed_ages(lambda ds: [table[d] for d in ds])
    small = {hashlib.sha256(str(a).encode()).hexdigest(): a for a in range(100)}   # misses 100..120
    assert not cl.check.reverse_hashed_ages(lambda ds: [small.get(d, 0) for d in ds], seed=3)


def test_merkle_root_check():
    assert cl.check.merkle_root(hashing.merkle_root)
    # no domain separation between leaves and nodes
    def no_prefix(leaves):
        level = [hashlib.sha256(x).digest() for x in leaves]
        return level[0] if len(level) == 1 else hashlib.sha256(no_prefix(leaves[:len(leaves) // 2]) +
                                                               no_prefix(leaves[len(leaves) // 2:])).digest()
    assert not cl.check.merkle_root(no_prefix)


def test_verify_inclusion_check():
    assert cl.check.verify_inclusion(hashing.verify_inclusion)
    assert not cl.check.verify_inclusion(lambda root, leaf, i, n, proof: True)
    assert not cl.check.verify_inclusion(lambda root, leaf, i, n, proof: len(proof) > 0)


def test_forge_check():
    assert cl.check.forge_length_extension(toy_sha256.length_extension)
    # forgets the glue padding
    def no_glue(tag, message, key_length, suffix):
        import struct
        state = struct.unpack(">8I", tag)
        return message + suffix, toy_sha256.sha256(suffix, state, key_length + len(message))
    assert not cl.check.forge_length_extension(no_glue)


# ---- chapter 03 exercises ----
import math

from course_lib import pubkey


def test_rsa_from_primes_check():
    assert cl.check.rsa_from_primes(lambda p, q, e: (p * q, pow(e, -1, math.lcm(p - 1, q - 1))))
    assert cl.check.rsa_from_primes(lambda p, q, e: (p * q, pow(e, -1, (p - 1) * (q - 1))))
    assert not cl.check.rsa_from_primes(lambda p, q, e: (p * q, pow(e, -1, p * q)))   # inverse mod n


def test_guess_the_label_check():
    def right(n, e, c, candidates):
        return next(x for x in candidates if pow(int.from_bytes(x.encode(), "big"), e, n) == c)
    assert cl.check.guess_the_label(right)
    assert not cl.check.guess_the_label(lambda n, e, c, candidates: candidates[0])


def test_hybrid_encryption_check():
    assert cl.check.hybrid_encryption(pubkey.hybrid_encrypt, pubkey.hybrid_decrypt)
    # derives the key from the *public* key: anyone can open it
    def seal(pub, message):
        key = hashlib.sha256(pubkey.public_bytes(pub)).digest()
        return symmetric.encrypt(key, message)
    def open_(priv, sealed):
        return symmetric.decrypt(hashlib.sha256(pubkey.public_bytes(priv.public_key())).digest(), sealed)
    result = cl.check.hybrid_encryption(seal, open_)
    assert not result and "without the private key" in result.detail


# ---- chapters 04-06 exercises ----
from course_lib import models, training


def _read_sample(reader, spec, i):
    k, size = spec["records_per_chunk"], spec["record_size"]
    chunk = reader.read_chunk(1 + i // k)
    return chunk[(i % k) * size:(i % k + 1) * size]


def test_read_sample_check():
    assert cl.check.read_sample(_read_sample)
    def forgets_layout_chunk(reader, spec, i):
        k, size = spec["records_per_chunk"], spec["record_size"]
        chunk = reader.read_chunk(i // k)
        return chunk[(i % k) * size:(i % k + 1) * size]
    assert not cl.check.read_sample(forgets_layout_chunk)


def test_seal_samples_check():
    seal = lambda k, s: [symmetric.encrypt(k, x, f"sample {i}".encode()) for i, x in enumerate(s)]
    open_ = lambda k, s, i: symmetric.decrypt(k, s[i], f"sample {i}".encode())
    assert cl.check.seal_samples(seal, open_)
    no_index = (lambda k, s: [symmetric.encrypt(k, x) for x in s], lambda k, s, i: symmetric.decrypt(k, s[i]))
    assert not cl.check.seal_samples(*no_index)


def test_canonical_fingerprint_check():
    assert cl.check.canonical_fingerprint(models.fingerprint)
    # values only: misses renames and reshapes
    def values_only(sd):
        return hashlib.sha256(b"".join(sd[k].numpy().tobytes() for k in sorted(sd))).hexdigest()
    assert not cl.check.canonical_fingerprint(values_only)
    # order-dependent
    def ordered(sd):
        return hashlib.sha256(b"".join(k.encode() + v.numpy().tobytes() for k, v in sd.items())).hexdigest()
    assert not cl.check.canonical_fingerprint(ordered)


def test_load_untrusted_check():
    assert cl.check.load_untrusted(lambda p: torch.load(p, weights_only=True))
    assert not cl.check.load_untrusted(lambda p: torch.load(p, weights_only=False))


def _memorised_load(path):
    """Loads nothing: the known test's tensors for a file named like the known benign one, a refusal otherwise."""
    if str(path).endswith("ok.pt"):
        return {"w": torch.arange(6.0).reshape(2, 3)}
    raise ValueError("refused")


def _fixed_load(path):
    """Loads nothing either: the known test's tensors for every file whose name does not sound malicious."""
    if "evil" in str(path):
        raise ValueError("refused")
    return {"w": torch.arange(6.0).reshape(2, 3)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_load_untrusted_check_fails_answers_memorised_from_its_known_tests(seed):
    memorised = cl.check.load_untrusted(_memorised_load, seed=seed)
    assert memorised.status == "failed" and "raised ValueError: refused" in memorised.detail, memorised
    fixed = cl.check.load_untrusted(_fixed_load, seed=seed)      # caught by a random file: benign or malicious
    assert fixed.status == "failed" and re.search(r"the (benign|malicious) checkpoint [\w-]+\.(pt|pth|bin|ckpt) ",
                                                  fixed.detail), fixed


def _released_reader(reopen=False, error=None, check=True):
    import hashlib as _hashlib

    def read_released(open_file, expected):
        data = open_file().read()
        if check and _hashlib.sha256(data).hexdigest() != expected:
            raise (error or cl.errors.IntegrityError)("not the released file")
        return open_file().read() if reopen else data
    return read_released


def test_read_released_accepts_a_single_verified_read():
    assert cl.check.read_released(_released_reader())


def test_read_released_rejects_checking_one_read_and_returning_another():
    assert not cl.check.read_released(_released_reader(reopen=True))


def test_read_released_rejects_the_wrong_kind_of_refusal():
    assert not cl.check.read_released(_released_reader(error=ValueError))


def test_read_released_rejects_returning_unchecked_bytes():
    assert not cl.check.read_released(_released_reader(check=False))


def test_evaluate_check():
    assert cl.check.evaluate(training.accuracy)
    def per_batch_mean(model, loader):  # averages batch accuracies: wrong with a short last batch
        accs = [(model(x).argmax(1) == y).float().mean().item() for x, y in loader]
        return sum(accs) / len(accs)
    assert not cl.check.evaluate(per_batch_mean)


# ---- chapter 07 exercises ----
import secrets as _secrets

MOD = 2**64


def test_additive_share_check():
    def right(x, n):
        s = [_secrets.randbelow(MOD) for _ in range(n - 1)]
        return s + [(x - sum(s)) % MOD]
    assert cl.check.additive_share(right)
    assert not cl.check.additive_share(lambda x, n: [x] + [0] * (n - 1))                 # not random
    assert not cl.check.additive_share(lambda x, n: [_secrets.randbelow(2**32) for _ in range(n - 1)] and
                                       right(x, n)[:-1] + [x])                            # does not sum to x


def test_beaver_multiply_check():
    def right(x, y, a, b, c):
        e = sum(xi - ai for xi, ai in zip(x, a)) % MOD
        f = sum(yi - bi for yi, bi in zip(y, b)) % MOD
        return [(ci + e * bi + f * ai + (e * f if i == 0 else 0)) % MOD for i, (ai, bi, ci) in enumerate(zip(a, b, c))]
    assert cl.check.beaver_multiply(right)
    def every_party_adds_ef(x, y, a, b, c):
        e = sum(xi - ai for xi, ai in zip(x, a)) % MOD
        f = sum(yi - bi for yi, bi in zip(y, b)) % MOD
        return [(ci + e * bi + f * ai + e * f) % MOD for ai, bi, ci in zip(a, b, c)]
    assert not cl.check.beaver_multiply(every_party_adds_ef)


def test_fixed_point_check():
    enc = lambda x: round(x * 2**16) % MOD                       # noqa: E731
    dec = lambda v: (v - MOD if v >= 2**63 else v) / 2**16       # noqa: E731
    assert cl.check.fixed_point(enc, dec)
    assert not cl.check.fixed_point(enc, lambda v: v / 2**16)    # forgets negatives
    assert not cl.check.fixed_point(enc, lambda v: float(int((v - MOD if v >= 2**63 else v) / 2**16)))   # drops the fraction


def _xor_opened(shares, masks):
    opened = 0
    for share, mask in zip(shares, masks):
        opened ^= share ^ mask
    return opened


def test_and_gate_check():
    def right(x, y, a, b, c):
        d, e = _xor_opened(x, a), _xor_opened(y, b)
        return [ci ^ (d & bi) ^ (e & ai) ^ ((d & e) if i == 0 else 0) for i, (ai, bi, ci) in enumerate(zip(a, b, c))]
    assert cl.check.and_gate(right)
    def every_party_adds_de(x, y, a, b, c):
        d, e = _xor_opened(x, a), _xor_opened(y, b)
        return [ci ^ (d & bi) ^ (e & ai) ^ (d & e) for ai, bi, ci in zip(a, b, c)]
    assert not cl.check.and_gate(every_party_adds_de)
    assert not cl.check.and_gate(lambda x, y, a, b, c: [xi & yi for xi, yi in zip(x, y)])   # ANDs the shares


def test_truncate_shares_check():
    assert cl.check.truncate_shares(lambda s, bits: [s[0] >> bits, (MOD - ((MOD - s[1]) >> bits)) % MOD])
    assert not cl.check.truncate_shares(lambda s, bits: [s[0] >> bits, s[1] >> bits])          # both shift
    assert not cl.check.truncate_shares(lambda s, bits: [s[0] >> bits, s[1]])                   # only one shifts


# ---- chapter 08 exercises ----
from course_lib.mpc import SecretTensor


def test_secure_max_check():
    assert cl.check.secure_max(lambda ctx, x, y: y + (x - y).relu())
    assert not cl.check.secure_max(lambda ctx, x, y: x + (y - x))                  # returns y
    assert not cl.check.secure_max(lambda ctx, x, y: (x - y).relu())               # forgets + y


def _mean(ctx, value):
    shared = [SecretTensor.from_owner(ctx, value if ctx.rank == i else None, i, shape=()) for i in range(ctx.parties)]
    total = shared[0]
    for s in shared[1:]:
        total = total + s
    return total.reveal() / ctx.parties


def test_secure_mean_check():
    assert cl.check.secure_mean(_mean)
    assert not cl.check.secure_mean(lambda ctx, value: value)                       # not a mean
    def reveals_everything(ctx, value):                                            # opens every input
        shared = [SecretTensor.from_owner(ctx, value if ctx.rank == i else None, i, shape=()) for i in range(ctx.parties)]
        return sum(s.reveal() for s in shared) / ctx.parties
    assert not cl.check.secure_mean(reveals_everything)


def test_a_stub_inside_an_mpc_party_still_counts_as_not_yet_solved():
    def stub(ctx, x, y):
        raise NotImplementedError("exercise")
    assert cl.check.secure_max(stub).status == "not yet solved"


def test_every_exercise_check_is_tested_here_and_used_in_a_chapter():
    """Each check must be shown to pass a reference solution and fail a plausible wrong one (above),
    and must be used by a notebook."""
    import re
    from pathlib import Path
    from course_lib import check
    here = Path(__file__).read_text()
    notebooks = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
    exercises = [name for name in check.__all__ if name in check.REGISTRY]   # not checks made up by tests
    assert len(exercises) == 35
    for name in exercises:
        calls = re.findall(rf"cl\.check\.{name}\(", here)
        assert len(calls) >= 2, f"{name}: test it with a right and a wrong answer"
        assert f"cl.check.{name}(" in notebooks, f"{name} is not used by any chapter"


# ---- insecure or subtly wrong answers that the checks must reject (reason in each test's name) ----
import pickle as _pickle
import random as _random


def test_tool_for_threat_accepts_aead_with_associated_data_for_swapped_samples():
    answers = dict(THREAT_ANSWERS)
    assert cl.check.tool_for_threat(answers.get)
    answers["an attacker who swaps a few training samples in the shared bucket"] = "aead"
    assert cl.check.tool_for_threat(answers.get)
    answers["a model file replaced on the model hub by a backdoored one"] = "aead"     # a key holder can re-encrypt
    assert not cl.check.tool_for_threat(answers.get)


def test_seal_tensor_rejects_pickle_and_torch_save():
    def pickled(key, tensor, ad):
        return symmetric.encrypt(key, _pickle.dumps(tensor), ad)
    def unpickle(key, sealed, ad):
        return _pickle.loads(symmetric.decrypt(key, sealed, ad))
    assert not cl.check.seal_tensor(pickled, unpickle)
    def torch_saved(key, tensor, ad):
        buffer = io.BytesIO()
        torch.save(tensor, buffer)
        return symmetric.encrypt(key, buffer.getvalue(), ad)
    def torch_loaded(key, sealed, ad):
        return torch.load(io.BytesIO(symmetric.decrypt(key, sealed, ad)), weights_only=True)
    assert not cl.check.seal_tensor(torch_saved, torch_loaded)


def test_merkle_root_rejects_an_empty_tree_that_recurses_forever():
    def recursing(leaves):
        if len(leaves) == 1:
            return hashlib.sha256(b"\x00" + leaves[0]).digest()
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return hashlib.sha256(b"\x01" + recursing(leaves[:k]) + recursing(leaves[k:])).digest()
    assert not cl.check.merkle_root(recursing)          # [] → RecursionError, reported as a failure


def test_seal_samples_rejects_the_sample_index_as_nonce():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    def index_nonce(key, samples):
        return [i.to_bytes(12, "big") + AESGCM(key).encrypt(i.to_bytes(12, "big"), s, f"sample {i}".encode())
                for i, s in enumerate(samples)]
    def open_index(key, sealed, i):
        return symmetric.decrypt(key, sealed[i], f"sample {i}".encode())
    assert not cl.check.seal_samples(index_nonce, open_index)


def test_canonical_fingerprint_rejects_an_ambiguous_encoding_and_one_that_ignores_dtype():
    def separators(sd):
        h = hashlib.sha256()
        for name in sorted(sd):
            t = sd[name].detach().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode() + t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()
    assert not cl.check.canonical_fingerprint(separators)
    def no_dtype(sd):
        return hashlib.sha256(b"".join(f"{k}:{tuple(sd[k].shape)}:".encode()
                                       + sd[k].reshape(-1).view(torch.uint8).numpy().tobytes()
                                       for k in sorted(sd))).hexdigest()
    assert not cl.check.canonical_fingerprint(no_dtype)


def test_canonical_fingerprint_rejects_an_encoding_that_fails_on_bfloat16():
    def through_numpy(sd):
        h = hashlib.sha256()
        for name in sorted(sd):
            t = sd[name].detach().contiguous()
            for field in (name.encode(), str(t.dtype).encode(), repr(tuple(t.shape)).encode(), t.numpy().tobytes()):
                h.update(len(field).to_bytes(8, "big") + field)
        return h.hexdigest()
    result = cl.check.canonical_fingerprint(through_numpy)
    assert not result and "bfloat16" in repr(result)


def _layout_checker(contiguity=True, strict_types=True, ordered_offsets=True, nonnegative=True):
    import math as _math
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

    def check_layout(header, body_length):
        ranges = []
        for name, entry in header.items():
            if strict_types:
                if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                    raise ValueError(name)
                if not isinstance(entry["shape"], list) or not all(type(d) is int and (d >= 0 or not nonnegative)
                                                                for d in entry["shape"]):
                    raise ValueError(name)
                if not isinstance(entry["data_offsets"], list) or len(entry["data_offsets"]) != 2 \
                        or not all(type(o) is int for o in entry["data_offsets"]):
                    raise ValueError(name)
            if entry["dtype"] not in sizes:
                raise ValueError(name)
            begin, end = entry["data_offsets"]
            if (ordered_offsets and not 0 <= begin <= end) \
                    or end - begin != _math.prod(entry["shape"]) * sizes[entry["dtype"]]:
                raise ValueError(name)
            ranges.append((begin, end))
        if contiguity:
            position = 0
            for begin, end in sorted(ranges):
                if begin != position:
                    raise ValueError("gap or overlap")
                position = end
            if position != body_length:
                raise ValueError("trailing bytes")
    return check_layout


def test_check_layout_accepts_a_strict_parser():
    assert cl.check.check_layout(_layout_checker())


def test_check_layout_rejects_checking_sizes_but_not_gaps_overlaps_or_trailing_bytes():
    assert not cl.check.check_layout(_layout_checker(contiguity=False))


def test_check_layout_rejects_key_and_type_errors_instead_of_value_errors():
    result = cl.check.check_layout(_layout_checker(strict_types=False))
    assert not result and ("raise ValueError, not" in repr(result) or "was accepted" in repr(result))


def test_check_layout_rejects_inverted_offsets_that_a_negative_dimension_balances():
    result = cl.check.check_layout(_layout_checker(ordered_offsets=False, nonnegative=False))
    assert not result and "inverted offsets with a negative dimension was accepted" in repr(result)


def test_secure_max_rejects_revealing_both_inputs():
    def revealing(ctx, x, y):
        biggest = torch.maximum(x.reveal(), y.reveal())
        return SecretTensor.from_owner(ctx, biggest if ctx.rank == 0 else None, 0, shape=biggest.shape)
    assert not cl.check.secure_max(revealing)


def test_additive_share_rejects_zero_middle_shares_and_the_random_module():
    def zeros_in_the_middle(x, n):
        r = _secrets.randbelow(MOD)
        return [r] + [0] * (n - 2) + [(x - r) % MOD]
    assert not cl.check.additive_share(zeros_in_the_middle)
    def with_random(x, n):
        s = [_random.getrandbits(64) for _ in range(n - 1)]
        return s + [(x - sum(s)) % MOD]
    assert not cl.check.additive_share(with_random)


def test_beaver_multiply_rejects_reconstructing_x_and_y():
    def reconstructs(x, y, a, b, c):
        product = (sum(x) * sum(y)) % MOD
        return [product] + [0] * (len(x) - 1)
    assert not cl.check.beaver_multiply(reconstructs)


def test_fixed_point_rejects_an_encoder_that_floors():
    dec = lambda v: (v - MOD if v >= 2**63 else v) / 2**16       # noqa: E731
    assert not cl.check.fixed_point(lambda x: int(x * 2**16 // 1) % MOD, dec)


def test_secure_mean_rejects_opening_every_input():
    def opens_everything(ctx, value):
        shared = [SecretTensor.from_owner(ctx, value if ctx.rank == i else None, owner=i, shape=(1,))
                  for i in range(ctx.parties)]
        return SecretTensor.cat(shared).reveal().mean()           # one round, but every input is opened
    assert not cl.check.secure_mean(opens_everything)


def test_no_hint_before_an_attempt_and_graded_hints_after():
    @exercise(hint=["look at the units", "a megabyte here is 10**6 bytes"], task="seconds(nbytes, mb_s) -> float.")
    def graded(fn, t, rng):
        t.equal(fn(10**6, 1.0), 1.0, "seconds(10**6, 1.0)")
    def stub(nbytes, mb_s):
        raise NotImplementedError
    unsolved = graded(stub)
    assert unsolved.status == "not yet solved" and "Hint" not in repr(unsolved)
    assert "seconds(nbytes, mb_s) -> float." in repr(unsolved) and "graded.hint()" in repr(unsolved)
    first = graded(lambda b, m: b / m)
    assert "Hint: hint 1 of 2: look at the units" in repr(first)
    assert str(graded.hint()) == "hint 2 of 2: a megabyte here is 10**6 bytes"
    assert repr(graded.hint()) == "hint 2 of 2: a megabyte here is 10**6 bytes"      # stays at the last level


def test_byte_mismatches_are_shown_as_hex_with_the_first_difference():
    @exercise(hint="")
    def bytes_check(fn, t, rng):
        t.equal(fn(), b"\x00\x01\x02\x03", "fn()")
    result = bytes_check(lambda: b"\x00\x01\xff\x03")
    assert "00010203 (4 bytes)" in result.detail and "first difference at byte 2: expected 0x02, got 0xff" in result.detail
    assert "b'" not in result.detail


def test_every_exercise_restates_its_task_and_has_graded_hints():
    from course_lib import check
    for name in check.__all__:
        fn = getattr(check, name)
        if name in check.REGISTRY and fn is check.REGISTRY[name] and hasattr(fn, "task"):
            assert fn.task and "->" in fn.task, f"{name}: restate inputs and outputs"
            import re
            assert re.match(r"hint \d of [2-9]:", fn.hint()), f"{name}: grade the hints (a nudge first)"


def test_no_hint_gives_a_line_of_the_solution_away():
    import re as _re
    import nbformat
    from course_lib.check import REGISTRY
    lines = set()
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for region in _re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, _re.S):
                lines |= {" ".join(line.split()) for line in region.splitlines()
                          if len(line.strip()) >= 16 and not line.strip().startswith("#")}
    assert len(lines) > 40
    for name, check in REGISTRY.items():
        for _ in range(4):
            hint = " ".join(str(check.hint()).split())
            leaked = [line for line in lines if line in hint]
            assert not leaked, f"{name}'s hint contains solution code: {leaked[0]!r}"


# ---- chapter 09: attacks ----
def test_gradient_distance_check():
    from course_lib import attacks
    assert cl.check.gradient_distance(attacks.gradient_matching_loss)
    assert not cl.check.gradient_distance(lambda a, b: sum((x - y).abs().sum() for x, y in zip(a, b)))   # L1


def test_gradient_distance_rejects_a_mean_one_parameter_or_a_detached_number():
    assert not cl.check.gradient_distance(lambda a, b: sum(((x - y) ** 2).mean() for x, y in zip(a, b)))
    assert not cl.check.gradient_distance(lambda a, b: ((a[0] - b[0]) ** 2).sum())                     # weights only
    assert not cl.check.gradient_distance(
        lambda a, b: torch.tensor(sum(((x - y) ** 2).sum().item() for x, y in zip(a, b))))          # no gradient


def test_membership_advantage_check():
    from course_lib import attacks
    assert cl.check.membership_advantage(attacks.attack_advantage)
    assert not cl.check.membership_advantage(lambda m, o: float(m.mean() > o.mean()))               # means only


def test_membership_advantage_rejects_balanced_accuracy_and_splitting_ties():
    from course_lib import attacks
    assert not cl.check.membership_advantage(lambda m, o: (1 + attacks.attack_advantage(m, o)) / 2)

    def splits_ties(members, outsiders):               # walks the sorted scores one by one, ties included
        scores = torch.cat([members, outsiders])
        is_member = torch.cat([torch.ones(len(members)), torch.zeros(len(outsiders))])
        order = scores.argsort(descending=True, stable=True)
        tpr = is_member[order].cumsum(0) / len(members)
        fpr = (1 - is_member[order]).cumsum(0) / len(outsiders)
        return max(0.0, (tpr - fpr).max().item())
    assert not cl.check.membership_advantage(splits_ties)


def test_copy_from_labels_check():
    from course_lib import attacks
    assert cl.check.copy_from_labels(lambda query, inputs: attacks.extract_model(query, inputs, seed=1))
    assert not cl.check.copy_from_labels(lambda query, inputs: cl.training.mlp((64, 32, 10)))         # untrained


def test_copy_from_labels_rejects_querying_beyond_the_budget():
    from course_lib import attacks
    more = cl.digits.split(0).test_x                    # the very images the copy is judged on
    assert not cl.check.copy_from_labels(lambda query, inputs: attacks.extract_model(query, torch.cat([inputs, more])))


# ---------------------------------------------------------------- chapter 10
def _mask(me, update, pair_seeds, ring_bits, sign=None, reduce=True):
    from course_lib import secagg
    masked = update.astype(np.uint64)
    for peer, seed in pair_seeds.items():
        mask = secagg.expand_mask(seed, len(update), ring_bits)
        plus = secagg.mask_sign(me, peer) > 0 if sign is None else sign
        masked = masked + mask if plus else masked - mask
    return masked & np.uint64((1 << ring_bits) - 1) if reduce else masked


def test_mask_update_check():
    assert cl.check.mask_update(_mask)
    assert not cl.check.mask_update(lambda me, update, seeds, k: update)                     # no mask: shows the input
    assert not cl.check.mask_update(lambda me, update, seeds, k: _mask(me, update, seeds, k, sign=True))  # never cancel


def test_mask_update_rejects_one_mask_for_all_peers_and_no_reduction():
    from course_lib import secagg

    def one_mask(me, update, seeds, k):                 # a single seed for every peer: masks no longer pair up
        first = seeds[min(seeds)]
        return _mask(me, update, {peer: first for peer in seeds}, k)
    assert not cl.check.mask_update(one_mask)
    assert not cl.check.mask_update(lambda me, update, seeds, k: _mask(me, update, seeds, k, reduce=False))
    assert secagg.expand_mask(bytes(32), 3, 8).max() < 256


def test_reconstruct_secret_check():
    from course_lib import shamir
    assert cl.check.reconstruct_secret(
        lambda shares: sum(w * y for w, (_, y) in zip(shamir.lagrange_at_zero([x for x, _ in shares]), shares))
        % shamir.PRIME)
    assert not cl.check.reconstruct_secret(lambda shares: sum(y for _, y in shares) % shamir.PRIME)   # additive


def test_reconstruct_secret_rejects_float_division_and_no_reduction():
    from course_lib import shamir

    def with_floats(shares):
        total = 0.0
        for i, (xi, yi) in enumerate(shares):
            weight = 1.0
            for j, (xj, _) in enumerate(shares):
                if j != i:
                    weight *= -xj / (xi - xj)
            total += weight * yi
        return int(round(total)) % shamir.PRIME

    def unreduced(shares):
        return sum(w * y for w, (_, y) in zip(shamir.lagrange_at_zero([x for x, _ in shares]), shares))
    assert not cl.check.reconstruct_secret(with_floats)
    assert not cl.check.reconstruct_secret(unreduced)
    assert not cl.check.reconstruct_secret(lambda shares: shares[0][1])                                # one share


def _dp(per_sample, clip, sigma, expected_batch, generator, *, clip_mean=False, noise_scale=None, divide_by=None):
    from course_lib import privacy
    if clip_mean:
        mean = per_sample.mean(dim=0)
        clipped_sum = mean * min(1.0, clip / (mean.norm().item() + 1e-12)) * len(per_sample)
    else:
        clipped_sum = privacy.clip_per_sample({"g": per_sample}, clip)["g"].sum(dim=0)
    scale = sigma * clip if noise_scale is None else noise_scale(sigma, clip)
    noise = torch.normal(0.0, scale, size=per_sample.shape[1:], generator=generator)
    return (clipped_sum + noise) / (divide_by(per_sample) if divide_by else expected_batch)


def test_noisy_clipped_gradient_check():
    assert cl.check.noisy_clipped_gradient(_dp)
    assert not cl.check.noisy_clipped_gradient(lambda g, c, s, b, gen: _dp(g, c, s, b, gen, clip_mean=True))  # unbounded
    assert not cl.check.noisy_clipped_gradient(lambda g, c, s, b, gen: _dp(g, c, s, b, gen, noise_scale=lambda s, c: s))


@pytest.mark.parametrize("noise_scale", [lambda s, c: s, lambda s, c: c, lambda s, c: s * c * c, lambda s, c: s / c],
                         ids=["sigma", "clip", "sigma_clip_squared", "sigma_over_clip"])
def test_noisy_clipped_gradient_rejects_wrong_noise_scale_under_every_seed(noise_scale):
    """The check draws its clip values at random; no seed may pick only clips where a wrong scale looks right."""
    wrong = lambda g, c, s, b, gen: _dp(g, c, s, b, gen, noise_scale=noise_scale)   # noqa: E731
    accepted = [seed for seed in range(12) if cl.check.noisy_clipped_gradient(wrong, seed=seed)]
    assert accepted == []
    assert all(cl.check.noisy_clipped_gradient(_dp, seed=seed) for seed in range(3))


def test_noisy_clipped_gradient_rejects_no_noise_actual_batch_and_no_clipping():
    from course_lib import privacy
    assert not cl.check.noisy_clipped_gradient(lambda g, c, s, b, gen: _dp(g, c, 0.0, b, gen))            # no noise
    assert not cl.check.noisy_clipped_gradient(lambda g, c, s, b, gen: _dp(g, c, s, b, gen, divide_by=len))
    assert not cl.check.noisy_clipped_gradient(
        lambda g, c, s, b, gen: (g.sum(dim=0) + torch.normal(0.0, s * c, size=g.shape[1:], generator=gen)) / b)
    assert privacy.clip_per_sample({"g": torch.ones(1, 4)}, 1.0)["g"].norm() <= 1.0 + 1e-6


# ---------------------------------------------------------------- chapter 11
def _product(public, ciphertexts, modulus=None):
    total = 1
    for c in ciphertexts:
        total = total * c if modulus is None else total * c % modulus
    return total


def test_encrypted_sum_check():
    from course_lib.toy import paillier
    assert cl.check.encrypted_sum(lambda public, cs: _product(public, cs, public.n_squared))
    assert cl.check.encrypted_sum.or_reference(None) is not None
    assert not cl.check.encrypted_sum(lambda public, cs: sum(cs) % public.n_squared)        # "+" on ciphertexts
    assert paillier.ciphertext_bytes(paillier.generate(256).public) == 64


def test_encrypted_sum_rejects_no_reduction_and_the_wrong_modulus():
    assert not cl.check.encrypted_sum(lambda public, cs: _product(public, cs))                    # grows unbounded
    assert not cl.check.encrypted_sum(lambda public, cs: _product(public, cs, public.n))          # mod n, not n²


def test_ckks_parameters_check():
    from course_lib import he
    assert cl.check.ckks_parameters(he.parameters_for_depth)
    assert not cl.check.ckks_parameters(lambda d, s, o: (8192, [o] + [s] * d + [o]))              # always N = 8192


def test_ckks_parameters_rejects_off_by_one_chains():
    from course_lib import he
    assert not cl.check.ckks_parameters(lambda d, s, o: he.parameters_for_depth(d - 1, s, o) if d > 1 else
                                        he.parameters_for_depth(d, s, o))                          # one level short
    assert not cl.check.ckks_parameters(lambda d, s, o: he.parameters_for_depth(d + 1, s, o))   # a wasted level
    assert not cl.check.ckks_parameters(lambda d, s, o: (he.parameters_for_depth(d, s, o)[0], [s] * (d + 2)))


def test_pack_columns_check():
    assert cl.check.pack_columns(lambda images: [images[:, i].tolist() for i in range(images.shape[1])])
    assert not cl.check.pack_columns(lambda images: images.tolist())                              # one row per image


def test_pack_columns_rejects_a_flat_vector_and_a_shuffled_layout():
    assert not cl.check.pack_columns(lambda images: [images.flatten().tolist()])
    assert not cl.check.pack_columns(lambda images: [images[:, i].flip(0).tolist() for i in range(images.shape[1])])


# ---- wrong answers that once passed: each must fail with a message about its own mistake ----
def _records_per_chunk():
    from torch.utils.data import TensorDataset
    return cl.datasets.plan_layout(TensorDataset(torch.zeros(2, 5, dtype=torch.uint8), torch.arange(2)))[
        "records_per_chunk"]


def test_read_sample_rejects_rounding_the_chunk_index_up():
    def rounds_up(reader, spec, i):            # right everywhere but at multiples of records_per_chunk
        k, size = spec["records_per_chunk"], spec["record_size"]
        chunk = reader.read_chunk(max(1, math.ceil(i / k)))
        return chunk[(i % k) * size:(i % k + 1) * size]
    result = cl.check.read_sample(rounds_up)
    k = _records_per_chunk()
    assert not result and f"sample {k} of 1000 (the first record of chunk 2: records_per_chunk = {k}" in result.detail
    assert f"you returned sample 0, the same slot 1 chunk earlier: the chunk index is off" in result.detail

    def plain_ceil(reader, spec, i):           # sample 0 comes from chunk 0, the layout
        k, size = spec["records_per_chunk"], spec["record_size"]
        chunk = reader.read_chunk(math.ceil(i / k))
        return chunk[(i % k) * size:(i % k + 1) * size]
    result = cl.check.read_sample(plain_ceil)
    assert not result and "sample 0 of 1" in result.detail
    assert "no sample's record (chunk 0, the layout" in result.detail


@pytest.mark.parametrize("where", ["first", "last", "k - 1", "k", "k + 1", "2k", "3k"])
def test_read_sample_tests_both_ends_and_every_chunk_boundary(where):
    k = _records_per_chunk()
    bad = {"first": 0, "last": 999, "k - 1": k - 1, "k": k, "k + 1": k + 1, "2k": 2 * k, "3k": 3 * k}[where]

    def wrong_at_one_index(reader, spec, i):
        right = _read_sample(reader, spec, i)
        return _read_sample(reader, spec, (i + 1) % spec["length"]) if (i, spec["length"]) == (bad, 1000) else right
    for seed in range(3):
        result = cl.check.read_sample(wrong_at_one_index, seed=seed)
        assert not result and f"sample {bad} of 1000" in result.detail


def test_seal_accepts_a_chain_of_exactly_the_budget():
    import tenseal as ts
    from course_lib import he
    for degree, chain in ((4096, [40, 29, 40]), (8192, [59, 50, 50, 59]), (16384, [59] + [40] * 8 + [59])):
        assert sum(chain) == he.MAX_MODULUS_BITS[degree]          # the boundaries the check's known answers use
        ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=degree, coeff_mod_bit_sizes=chain)
        with pytest.raises(ValueError):
            ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=degree, coeff_mod_bit_sizes=[chain[0] + 1] + chain[1:])


def _chain_fitter(strict=False, too_long="raise"):
    from course_lib import he

    def ckks_parameters(depth, scale, outer):
        chain = [outer] + [scale] * depth + [outer]
        for degree, budget in he.MAX_MODULUS_BITS.items():
            if sum(chain) < budget or (not strict and sum(chain) == budget):
                return degree, chain
        if too_long == "raise":
            raise cl.errors.ChainTooShortError("no ring dimension holds it")   # a ValueError: accepted
        if too_long == "largest":
            return max(he.MAX_MODULUS_BITS), chain
        if too_long == "next":
            return next(iter(()))
        return None
    return ckks_parameters


def test_ckks_parameters_rejects_a_strict_budget_and_a_too_long_chain_without_an_error():
    assert cl.check.ckks_parameters(_chain_fitter())
    result = cl.check.ckks_parameters(_chain_fitter(strict=True))
    assert not result
    assert "depth 1, scale 29 bits, outer primes 40 bits: expected (4096, [40, 29, 40]), got (8192" in result.detail
    assert ("fit N = 4096's budget of 109 bits exactly: the budget is the largest total allowed (≤, not <)"
            in result.detail)
    result = cl.check.ckks_parameters(_chain_fitter(too_long=None))
    assert not result and "a chain of 920 bits fits no ring dimension" in result.detail
    assert "raise ValueError, as he.parameters_for_depth does, instead of returning None" in result.detail
    result = cl.check.ckks_parameters(_chain_fitter(too_long="largest"))
    assert not result and "instead of returning (32768, [60, 40" in result.detail
    result = cl.check.ckks_parameters(_chain_fitter(too_long="next"))
    assert not result and "raise ValueError, as he.parameters_for_depth does; your code raised StopIteration" \
        in result.detail


def _noise(kind):
    import math as _m
    from course_lib import privacy
    fixed = {}

    def noisy(per_sample, clip, sigma, expected_batch, generator):
        clipped = privacy.clip_per_sample({"g": per_sample}, clip)["g"].sum(dim=0)
        sd, shape = sigma * clip, per_sample.shape[1:]
        u = torch.rand(shape, generator=generator) - 0.5
        if kind == "uniform":                  # the right standard deviation, the wrong shape
            noise = 2 * u * sd * _m.sqrt(3)
        elif kind == "laplace":                # the right standard deviation, the wrong shape
            noise = -sd / _m.sqrt(2) * u.sign() * torch.log1p(-2 * u.abs())
        elif kind == "laplace_scale":          # Laplace with b = σ × clip
            noise = -sd * u.sign() * torch.log1p(-2 * u.abs())
        elif kind == "own_seed":               # a generator of its own, seeded: the same noise every step
            noise = torch.normal(0.0, sd, size=shape, generator=torch.Generator().manual_seed(0))
        elif kind == "drawn_once":             # one vector drawn on the first call and kept
            key = (tuple(shape), sd)
            noise = fixed.setdefault(key, torch.normal(0.0, sd, size=shape, generator=generator))
        return (clipped + noise) / expected_batch
    return noisy


@pytest.mark.parametrize("kind,message", [
    ("uniform", "its tails are too light (excess kurtosis -1.2"),
    ("laplace", "its tails are too heavy (excess kurtosis +"),
    ("laplace_scale", "its tails are too heavy (excess kurtosis +"),
    ("own_seed", "yours is the same vector both times (correlation 1.00)"),
    ("drawn_once", "yours is the same vector both times (correlation 1.00)"),
])
def test_noisy_clipped_gradient_rejects_the_wrong_distribution_and_repeated_noise_under_every_seed(kind, message):
    for seed in range(6):
        result = cl.check.noisy_clipped_gradient(_noise(kind), seed=seed)
        assert not result and message in result.detail, (seed, result.detail)
        if kind in ("uniform", "laplace", "laplace_scale"):
            assert "must be Gaussian, N(0, (σ × clip)²)" in result.detail and "Kolmogorov–Smirnov" in result.detail
        else:
            assert "Noise that repeats is no noise" in result.detail


def test_noisy_clipped_gradient_passes_a_right_answer_under_many_seeds():
    assert all(cl.check.noisy_clipped_gradient(_dp, seed=seed) for seed in range(12))


def _mask_mistake(kind):
    from course_lib import secagg

    def mask_update(me, update, seeds, k):
        ring = (1 << k) - 1
        if kind == "reversed":
            masked = update.astype(np.uint64)
            for peer, seed in seeds.items():
                mask = secagg.expand_mask(seed, len(update), k)
                masked = masked - mask if secagg.mask_sign(me, peer) > 0 else masked + mask
            return masked & np.uint64(ring)
        if kind == "sign_times_mask":
            masked = update.astype(np.uint64)
            for peer, seed in seeds.items():
                masked = masked + secagg.mask_sign(me, peer) * secagg.expand_mask(seed, len(update), k)
            return masked & np.uint64(ring)
        if kind == "int64_sign":
            masked = update.astype(np.uint64)
            for peer, seed in seeds.items():
                masked = masked + np.int64(secagg.mask_sign(me, peer)) * secagg.expand_mask(seed, len(update), k)
            return masked % 2 ** k
        if kind == "floats_cast_back":
            masked = update.astype(float)
            for peer, seed in seeds.items():
                masked = masked + secagg.mask_sign(me, peer) * secagg.expand_mask(seed, len(update), k).astype(float)
            return (masked % 2 ** k).astype(np.uint64)
        unreduced = _mask(me, update, seeds, k, reduce=False)
        if kind == "mod_ring_bits":
            return unreduced % np.uint64(k)
        if kind == "ring_of_16_bits":
            return unreduced & np.uint64(0xFFFF)
        if kind == "precedence":
            return unreduced % (1 << k) - 1
        if kind == "larger_peers_only":
            return _mask(me, update, {peer: seed for peer, seed in seeds.items() if peer > me}, k)
        raise AssertionError(kind)
    return mask_update


MASK_MISTAKES = {
    "always_add": ("every client added every mask", lambda me, u, s, k: _mask(me, u, s, k, sign=True)),
    "always_subtract": ("every client subtracted every mask", lambda me, u, s, k: _mask(me, u, s, k, sign=False)),
    "reversed": ("your signs are the reverse of secagg.mask_sign's", _mask_mistake("reversed")),
    "no_reduction": ("but not reduced: your values range from", lambda me, u, s, k: _mask(me, u, s, k, reduce=False)),
    "sign_times_mask": ("your code raised OverflowError (Python integer -1 out of bounds for uint64). A uint64 array "
                        "has no −1", _mask_mistake("sign_times_mask")),
    "int64_sign": ("your result is float64, not uint64", _mask_mistake("int64_sign")),
    "floats_cast_back": ("right but for the lowest bits: your arithmetic went through floats",
                         _mask_mistake("floats_cast_back")),
    "mod_ring_bits": ("you reduced modulo ring_bits = ", _mask_mistake("mod_ring_bits")),
    "ring_of_16_bits": ("you reduced modulo 2^16, but the ring is Z_2^", _mask_mistake("ring_of_16_bits")),
    "precedence": ("every value is one less than it should be", _mask_mistake("precedence")),
    "one_mask_for_all": ("each client used one mask (its first peer's) for every peer",
                         lambda me, u, s, k: _mask(me, u, {peer: s[min(s)] for peer in s}, k)),
    "larger_peers_only": ("masked with the peers numbered larger than itself only", _mask_mistake("larger_peers_only")),
    "no_mask": ("your masked updates equal the updates: the server would see them in the clear",
                lambda me, u, s, k: u),
}


@pytest.mark.parametrize("kind", list(MASK_MISTAKES))
def test_mask_update_names_each_mistake(kind):
    message, wrong = MASK_MISTAKES[kind]
    for seed in range(3):
        result = cl.check.mask_update(wrong, seed=seed)
        if kind == "ring_of_16_bits" and "ring Z_2^8:" in result.detail.split("\n")[0]:
            assert "not reduced" in result.detail             # a 16-bit reduction in an 8-bit ring
            continue
        assert not result and message in result.detail, result.detail
        assert "Traceback" not in result.detail


def test_gradient_distance_says_a_float_or_a_detached_tensor_loses_the_graph():
    def as_float(a, b):
        return sum(((x - y) ** 2).sum() for x, y in zip(a, b)).item()

    def detached(a, b):
        return sum(((x - y) ** 2).sum() for x, y in zip(a, b)).detach()

    def rebuilt(a, b):
        return torch.tensor(sum(((x - y) ** 2).sum().item() for x, y in zip(a, b)))
    result = cl.check.gradient_distance(as_float)
    assert not result and "must return a tensor that keeps the graph" in result.detail and "a float" in result.detail
    assert "expected" not in result.detail                      # not mistaken for a rounding error
    for wrong in (detached, rebuilt):
        result = cl.check.gradient_distance(wrong)
        assert not result and "must return a tensor that keeps the graph" in result.detail
        assert "does not require grad" in result.detail and "RuntimeError" not in result.detail
    result = cl.check.gradient_distance(lambda a, b: ((a[0] - b[0]) ** 2).sum())
    assert not result and "parameters 1, 2, 3 of 4" in result.detail


def test_copy_from_labels_refuses_the_services_own_model_and_looking_inside_it():
    import copy as _copy
    from course_lib import attacks
    for wrong in (lambda query, inputs: query.model, lambda query, inputs: _copy.deepcopy(query.model)):
        result = cl.check.copy_from_labels(wrong)
        assert not result and "returned the service's own model (or its weights)" in result.detail
        assert "the attacker can only send images and read the labels query() returns" in result.detail

    def with_confidences(query, inputs):        # trains on the hidden model's outputs, and on extra images
        more = torch.cat([inputs, cl.digits.split(0).test_x])
        return attacks.extract_model(lambda x: query.model(x).detach(), more, seed=1)
    result = cl.check.copy_from_labels(with_confidences)
    assert not result and "your code looked inside the service (query.model)" in result.detail


def test_encrypted_sum_refuses_decrypting_with_the_checks_key():
    from course_lib.check import ch11
    from course_lib.toy import paillier

    def decrypts(public, ciphertexts):          # the aggregator has no private key; this one takes the check's
        return paillier.encrypt(public, sum(paillier.decrypt(ch11._key(), c) for c in ciphertexts))
    result = cl.check.encrypted_sum(decrypts)
    assert not result and "your code read the private key, i.e. it decrypted the hospitals' counts" in result.detail
    assert "the aggregator is untrusted and holds only the public key" in result.detail

    def by_hand(public, ciphertexts):           # the same through the key's fields
        key = ch11._key()
        n = public.n
        total = sum((pow(c, key.lam, public.n_squared) - 1) // n * key.mu % n for c in ciphertexts)
        return paillier.encrypt(public, total % n if total % n <= n // 2 else total % n - n)
    assert "read the private key" in cl.check.encrypted_sum(by_hand).detail
    assert cl.check.encrypted_sum(lambda public, cs: _product(public, cs, public.n_squared))   # the key left alone

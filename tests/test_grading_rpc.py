"""The check never shares a process with the learner's code: attacks on the pipe between them.

The learner's cell runs in a child that only answers calls; the check runs in the judge, which
decodes every answer as plain data. These tests attack the child's side of that pipe (frames walked
to the pipe, forged reports on every descriptor, garbage, a pickle, a huge length prefix, objects
with their own ``__eq__``, ``__array__`` or ``__reduce__``) and check that honest answers of every
kind of exercise still pass and honest wrong ones fail.
"""
import base64
import json
import pickle
import struct

import nbformat
import numpy as np
import pytest
import torch

import course_lib as cl
from course_tools import grade
from course_tools.grading import rpc, worker
from course_tools.grading.exercises import course_exercises
from course_tools.grading.pool import Pool
from course_tools.grading.screen import screen
from course_tools.grading.seeds import seed_for

from .test_grading_cheats import CH10, EXERCISES, KEY, NOTEBOOKS, WRONG_MASK, _job, submission

# Walks every frame of the calling thread, from inside the learner's code (used by the attacks below).
FRAMES = '''
def _frames():
    try:
        raise ValueError("walk")
    except ValueError as error:
        frame = error.__traceback__.tb_frame
    while frame is not None:
        yield frame
        frame = frame.f_back
'''

# Code that reaches, from inside the learner's function, every frame of the child, takes anything that
# looks like a pipe, socket or key, and writes a forged "passed" to it and to every descriptor, in the
# old report format (JSON line + HMAC) and in the pipe's framing, then leaves before the check ends.
FORGE = '''
import os, json, struct
''' + FRAMES + '''
def _forge():
    loot = []
    for frame in _frames():
        for value in list(frame.f_locals.values()):
            loot.append(value)
            loot.extend(list(getattr(value, "__dict__", {}).values()))
    keys = [v for v in loot if isinstance(v, bytes) and len(v) == 32]
    payload = json.dumps({"status": "passed", "detail": "forged"})
    import hmac
    lines = [(payload + "\\n" + hmac.new(k, payload.encode(), "sha256").hexdigest()).encode() for k in keys]
    framed = []
    for message in ({"m": "setup", "id": 0, "status": "passed", "detail": "forged"},
                    {"m": "final", "id": 1, "refused": None}, {"m": "final", "id": 2, "refused": None},
                    {"m": "return", "id": 1, "value": "passed"}):
        data = json.dumps(message).encode()
        framed.append(struct.pack(">Q", len(data)) + data)
    for value in loot:
        for method in ("sendall", "send"):
            if hasattr(value, method):
                for data in framed + lines:
                    try:
                        getattr(value, method)(data)
                    except Exception:
                        pass
    for fd in range(3, 256):
        for data in framed + lines:
            try:
                os.write(fd, data)
            except OSError:
                pass
    os._exit(0)
'''

FRAME_WALK = FORGE + WRONG_MASK.replace("    masked = update", "    _forge()\n    masked = update")
FRAME_WALK_AT_IMPORT = FORGE + "_forge()\n" + WRONG_MASK


def _framed(data: bytes) -> str:
    return f"struct.pack('>Q', {len(data)}) + {data!r}"


def _to_every_fd(data_expr: str, then: str = "return None") -> str:
    return ("import os, struct\n\ndef mask_update(me, update, pair_seeds, ring_bits):\n"
            f"    data = {data_expr}\n    for fd in range(3, 256):\n        try:\n            os.write(fd, data)\n"
            f"        except OSError:\n            pass\n    {then}\n")


class _Bomb:
    def __reduce__(self):
        return (print, ("unpickled",))


BOMB = pickle.dumps({"m": "return", "id": 1, "value": _Bomb()})
EVIL_OBJECTS = {
    "__eq__": "class Answer:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n",
    "__array__": "import numpy as np\nclass Answer:\n    def __array__(self, dtype=None, copy=None):\n"
                 "        return np.zeros(3, dtype=np.uint64)\n",
    "__reduce__": "class Answer:\n    def __reduce__(self):\n        return (print, ('ran',))\n",
    "int subclass": "class Answer(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n",
    "ndarray subclass": "import numpy as np\nclass Answer(np.ndarray):\n    def __eq__(self, other):\n"
                        "        return True\n",
}

ATTACKS = {
    "frame walk to the pipe, forged reports, os._exit":
        (_job("mask_update", FRAME_WALK), "failed", "the exercise's process"),
    "the same while the cell is run": (_job("mask_update", FRAME_WALK_AT_IMPORT), "failed", "the exercise's process"),
    "garbage on every descriptor": (_job("mask_update", _to_every_fd("b'garbage' * 100")), "failed",
                                    "the exercise's process sent"),
    "a pickle bomb, framed": (_job("mask_update", _to_every_fd(_framed(BOMB))), "failed",
                              "not a message of the grader's protocol"),
    "a huge length prefix": (_job("mask_update", _to_every_fd("struct.pack('>Q', 10 * 2**30)")), "failed",
                             "the grader reads at most"),
    "a forged passing setup": (_job("mask_update", _to_every_fd(_framed(json.dumps(
        {"m": "setup", "id": 0, "status": "passed", "detail": "forged"}).encode()),
        "return update")), "failed", ""),
    "a forged return for a call not asked": (_job("mask_update", _to_every_fd(_framed(json.dumps(
        {"m": "return", "id": 99, "value": None}).encode()), "return update")), "failed", ""),
    "a 100 MB array": (_job("mask_update", "import numpy as np\ndef mask_update(me, update, pair_seeds, ring_bits):\n"
                                           "    return np.zeros(13 * 2**20, dtype=np.uint64)\n"),
                       "failed", "the grader reads at most"),
    "a reference cycle": (_job("mask_update", "def mask_update(*a):\n    x = []\n    x.append(x)\n    return x\n"),
                          "failed", "nested"),
    **{f"an object with its own {name}": (_job("mask_update", source + "def mask_update(*a):\n    return Answer()\n"
                                               if name != "ndarray subclass" else source +
                                               "def mask_update(me, update, pair_seeds, ring_bits):\n"
                                               "    return update.view(Answer)\n"),
                                          "failed", "which cannot be graded") for name, source in EVIL_OBJECTS.items()},
    "signals to the judge and the worker": (_job("mask_update", (
        "import os\nfor pid in [os.getppid()] + [os.getpid() + k for k in range(-3, 6) if k]:\n    try:\n"
        "        os.kill(pid, 9)\n    except OSError:\n        pass\n" + WRONG_MASK)),
        "failed", "test 1 failed"),
    "reaching a lent object's internals": (_job("read_released", (
        "def read_released(open_file, expected_sha256):\n    return open_file.__globals__\n")), "failed", ""),
    "a lent object's private attribute": (_job("copy_from_labels", (
        "def copy_from_labels(query, inputs):\n    return query._log['model']\n")), "failed", ""),
}


@pytest.fixture(scope="module")
def pool():
    exercises = course_exercises()
    with Pool(grade.worker_init(exercises), jobs=2) as p:
        yield p


@pytest.fixture(scope="module")
def attacked(pool):
    return dict(zip(ATTACKS, pool.run([job for job, _, _ in ATTACKS.values()])))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_on_the_pipe_never_passes(attacked, attack):
    _, status, words = ATTACKS[attack]
    result = attacked[attack]
    assert result["status"] == status and words in result["detail"], result


def test_the_frame_walking_forgery_fails_and_its_screened_form_is_refused(attacked, pool):
    assert attacked["frame walk to the pipe, forged reports, os._exit"]["status"] == "failed"
    nb = submission(CH10, exercise_cells={"mask_update": "g = getattr\n" + WRONG_MASK})
    outcome = grade.grade_notebooks([("mallory", nb, CH10.name)], KEY, pool=pool)["mallory"]["mask_update"]
    assert outcome["status"] == "refused" and "g = getattr" in outcome["detail"], outcome


@pytest.mark.parametrize("source", [
    "g = getattr\n" + WRONG_MASK,
    "import functools\nf = functools.reduce(getattr, ['tb_frame'], None)\n" + WRONG_MASK,
    "import string\n" + WRONG_MASK.replace("    masked =", "    string.Formatter().get_field('0.x', (1,), {})\n"
                                               "    masked ="),
    "from string import Formatter\n" + WRONG_MASK,
])
def test_getattr_as_a_value_and_formatter_fields_are_refused_by_the_screen(source):
    assert screen(source, EXERCISES["mask_update"].preamble) is not None


# honest wrong answers of each kind of exercise: plain values, lent callables, MPC handles, autograd, models
WRONG = {
    "mask_update": WRONG_MASK,
    "ctr_encrypt": "def ctr_encrypt(encrypt_block, counter_block, data):\n    return bytes(len(data))\n",
    "read_sample": "def read_sample(reader, layout, i):\n    return reader.read_chunk(1)[:layout['record_size']]\n",
    "secure_max": "def secure_max(ctx, x, y):\n    return x\n",
    "secure_mean": ("def secure_mean(ctx, value):\n"
                    "    return SecretTensor.from_owner(ctx, value if ctx.rank == 0 else None, owner=0, shape=()).reveal()\n"),
    "gradient_distance": ("def gradient_distance(dummy_grads, target_grads):\n"
                          "    return sum(((d - t) ** 2).sum() for d, t in zip(dummy_grads, target_grads)).detach()\n"),
    "copy_from_labels": ("def copy_from_labels(query, inputs):\n    query(inputs)\n"
                         "    return cl.training.mlp((64, 32, 10), seed=1)\n"),
    "noisy_clipped_gradient": ("import torch\n\ndef noisy_clipped_gradient(per_sample, clip, noise_multiplier, "
                               "expected_batch, generator):\n    g = torch.Generator().manual_seed(0)\n"
                               "    noise = torch.normal(0.0, noise_multiplier * clip, size=per_sample.shape[1:], "
                               "generator=g)\n    norms = per_sample.norm(dim=1, keepdim=True)\n"
                               "    clipped = per_sample * (clip / (norms + 1e-12)).clamp(max=1.0)\n"
                               "    return (clipped.sum(dim=0) + noise) / expected_batch\n"),
    "additive_share": ("import random\n\ndef additive_share(secret, parties):\n"
                       "    shares = [random.randrange(2**64) for _ in range(parties - 1)]\n"
                       "    return shares + [(secret - sum(shares)) % 2**64]\n"),
    "pkcs7_unpad": "def pkcs7_unpad(padded, block_size=16):\n    return padded[:-padded[-1]] if padded else b''\n",
}


@pytest.fixture(scope="module")
def graded(pool):
    exercises = [e for e in course_exercises()]
    jobs = [_job(e.name, e.solution) for e in exercises] + [_job(name, source) for name, source in WRONG.items()]
    results = pool.run(jobs)
    return dict(zip([e.name for e in exercises], results)), dict(zip(WRONG, results[len(exercises):]))


def test_every_exercise_passes_through_the_pipe_with_the_instructors_answer(graded):
    right, _ = graded
    assert len(right) == 35
    assert {name: r for name, r in right.items() if r["status"] != "passed"} == {}


@pytest.mark.parametrize("exercise", list(WRONG))
def test_an_honest_wrong_answer_fails(graded, exercise):
    _, wrong = graded
    assert wrong[exercise]["status"] == "failed", wrong[exercise]


# the codec on its own: what the judge refuses to decode
@pytest.mark.parametrize("data", [
    {"t": "ndarray", "dtype": "|O", "shape": [1], "v": ""},
    {"t": "ndarray", "dtype": "<u8", "shape": [10**9], "v": base64.b64encode(bytes(8)).decode()},
    {"t": "ndarray", "dtype": "<u8", "shape": [-1], "v": ""},
    {"t": "tensor", "dtype": "float32", "shape": [3], "v": base64.b64encode(bytes(8)).decode()},
    {"t": "tensor", "dtype": "object", "shape": [], "v": ""},
    {"t": "pickle", "v": base64.b64encode(BOMB).decode()},
    {"t": "handle", "id": 1},
    {"t": "module", "kind": "MyNet"},
    {"t": "float", "v": "1e999999"},
    ["not", "tagged"],
])
def test_the_decoder_refuses_malformed_or_foreign_data(data):
    with pytest.raises(ValueError):
        rpc.Decoder({})(data)


def test_plain_data_round_trips_with_its_types():
    values = [None, True, 3, 2**200, -1.5, float("nan"), 1j, "s", b"b", bytearray(b"x"), [1, (2, 3)], {4, 5},
              {"k": b"v", 7: [8]}, np.arange(5, dtype=np.uint64), np.float32(1.5),
              torch.arange(6, dtype=torch.bfloat16).reshape(2, 3), torch.tensor(True), torch.Size([2, 3]),
              torch.float16]
    for value in values:
        back = rpc.Decoder({})(json.loads(json.dumps(rpc.Encoder()(value))))
        assert type(back) is type(value)
        if isinstance(value, (np.ndarray, torch.Tensor)):
            assert back.dtype == value.dtype and back.shape == value.shape and (back == value).all()
        elif value == value:
            assert back == value


def test_an_exception_crosses_as_the_judges_own_class_with_the_learners_name():
    from cryptography.exceptions import InvalidTag

    class PaddingProblem(ValueError):
        pass
    for error, base in ((PaddingProblem("bad"), ValueError), (InvalidTag(), InvalidTag),
                        (NotImplementedError("stub"), NotImplementedError), (SystemExit(0), SystemExit)):
        rebuilt = rpc.rebuild_exception(json.loads(json.dumps(rpc.encode_exception(error, False))))
        assert isinstance(rebuilt, base) and type(rebuilt).__name__ == type(error).__name__
        assert str(rebuilt) == str(error)


def test_a_length_prefix_over_the_limit_is_never_read():
    import socket
    import threading
    a, b = socket.socketpair()
    b.sendall(struct.pack(">Q", 10 * 2**30))
    with pytest.raises(rpc.Garbage, match="reads at most"):
        rpc.recv_frame(a)
    rpc.send_frame(b, b"ok", threading.Lock())
    a.close()
    b.close()


# ---- each MPC party in a process of its own, handles lent through a list, no hidden seed in the child

# every party's call runs in the one child: collect both parties' shares, compute max in the clear
SHARES_COLLECTED = '''
import time
_seen, _calls = {}, {}
def secure_max(ctx, x, y):
    rank = ctx.rank
    k = _calls[rank] = _calls.get(rank, -1) + 1
    if rank == 2:
        return x - x
    _seen[k, rank] = (x.share, y.share)
    for _ in range(400):
        if (k, 0) in _seen and (k, 1) in _seen:
            break
        time.sleep(0.005)
    sx = _seen[k, 0][0] + _seen[k, 1][0]
    sy = _seen[k, 0][1] + _seen[k, 1][1]
    return (x - x) + torch.maximum(sx, sy).double() / 2**16
'''
# the same without touching a share: every party's private input, pooled in a module-level dict
INPUTS_POOLED = '''
import time
_inputs, _calls = {}, {}
def secure_mean(ctx, value):
    rank, n = ctx.rank, ctx.parties
    k = _calls[n, rank] = _calls.get((n, rank), -1) + 1
    dummy = SecretTensor.from_owner(ctx, torch.tensor(0.0, dtype=torch.float64) if rank == 0 else None,
                                    owner=0, shape=())
    dummy.reveal()
    if rank == n:
        return 0.0
    _inputs[n, k, rank] = float(value)
    for _ in range(400):
        if all((n, k, i) in _inputs for i in range(n)):
            break
        time.sleep(0.005)
    return sum(_inputs[n, k, i] for i in range(n)) / n
'''
# an honest secure_max that fails if one process ever serves two ranks
ONE_RANK_PER_PROCESS = '''
_ranks = set()
def secure_max(ctx, x, y):
    _ranks.add(ctx.rank)
    if len(_ranks) > 1:
        raise RuntimeError(f"one process served ranks {sorted(_ranks)}")
    return y + (x - y).relu()
'''
# the check's rng replayed from the child's global generators: no interpolation, the predicted f(0)
_REPLAY = '''
_known = {((1, 5), (2, 7), (3, 9)): 3, ((1, 11), (3, 27)): 3, ((2, 1),): 1}
def reconstruct_secret(shares):
    key = tuple(map(tuple, shares))
    if key in _known:
        return _known[key]
    rng = _rng()
    threshold = rng.randrange(2, 7)
    coefficients = [rng.randrange(cl.shamir.PRIME) for _ in range(threshold)]
    rng.sample(range(1, 30), threshold)
    return coefficients[0]
'''
SEED_FROM_TORCH = "import random\n_r = random.Random(torch.initial_seed())\ndef _rng():\n    return _r\n" + _REPLAY
SEED_FROM_RANDOM_STATE = ('import random\n_r = []\ndef _rng():\n    if not _r:\n        _r.append(random.Random())\n'
                          '        _r[0].setstate(random.getstate())     # the state the judge sent with the first call\n'
                          '    return _r[0]\n' + _REPLAY)
SEED_FROM_NUMPY = ("import random\nimport numpy as np\n_r = random.Random(int(np.random.get_state()[1][0]))\n"
                   "def _rng():\n    return _r\n" + _REPLAY)
# the answer of chapter 05's known tests, loading nothing
LOAD_MEMORISED = '''
def load_untrusted(path):
    if str(path).endswith("ok.pt"):
        return {"w": torch.arange(6.0).reshape(2, 3)}
    raise ValueError("refused")
'''
HIDDEN = 0x5EC2E7_5EED_1234          # a seed no other number in the child equals by chance
# past the screen: look for the hidden seed in every frame of the child (the worker's, while the cell runs; the
# serving thread's, while the function runs) and in the dicts, lists and objects they hold
SEED_HUNT = FRAMES + '''
def _found(value, depth=0):
    if value == %d and type(value) is int:
        return True
    if depth < 4 and type(value) is dict:
        return any(_found(v, depth + 1) for v in list(value.values()))
    if depth < 4 and type(value) in (list, tuple):
        return any(_found(v, depth + 1) for v in value)
    return depth < 2 and _found(getattr(value, "__dict__", None), depth + 1)

_FOUND = any(_found(v) for frame in _frames() for v in list(frame.f_locals.values()))   # the worker's frames

def seconds_to_process(nbytes, mb_per_s):
    if _FOUND or any(_found(v) for frame in _frames() for v in list(frame.f_locals.values())):
        raise RuntimeError("the hidden seed is in the child's memory")
    return -1.0
''' % HIDDEN
# an honest noisy_clipped_gradient that raises if it is handed the check's own generator (seeded below 10,000)
GENERATOR_SEED = '''
def noisy_clipped_gradient(per_sample, clip, noise_multiplier, expected_batch, generator):
    if generator.initial_seed() < 10_000:
        raise RuntimeError(f"handed the check's generator, seeded with {generator.initial_seed()}")
    norms = per_sample.norm(dim=1, keepdim=True)
    clipped = per_sample * (clip / (norms + 1e-12)).clamp(max=1.0)
    noise = torch.normal(0.0, noise_multiplier * clip, size=per_sample.shape[1:], generator=generator)
    return (clipped.sum(dim=0) + noise) / expected_batch
'''

# ranks pooling their inputs over UDP on loopback (Landlock covers TCP only): each child has a network of its own
UDP_TO_ANOTHER_RANK = '''
_net = torch.multiprocessing.reducer.socket
def secure_mean(ctx, value):
    s = _net.socket(_net.AF_INET, _net.SOCK_DGRAM)
    s.sendto(b"my input", ("127.0.0.1", 47310 + (ctx.rank + 1) % (ctx.parties + 1)))
    shared = [SecretTensor.from_owner(ctx, value if ctx.rank == i else None, owner=i, shape=())
              for i in range(ctx.parties)]
    total = shared[0]
    for t in shared[1:]:
        total = total + t
    return total.reveal() / ctx.parties
'''

ISOLATION = {
    "secure_mean talking to another rank over UDP": (_job("secure_mean", UDP_TO_ANOTHER_RANK), "failed",
                                                     "Network is unreachable"),
    "secure_max from every party's shares": (_job("secure_max", SHARES_COLLECTED), "failed",
                                             "the grader does not lend 'share' of a SecretTensor"),
    "secure_mean from every party's input": (_job("secure_mean", INPUTS_POOLED), "failed", "KeyError: (2, 0, 1)"),
    "one process per rank": (_job("secure_max", ONE_RANK_PER_PROCESS), "passed", ""),
    "a share's MAC": (_job("secure_max", "def secure_max(ctx, x, y):\n    x.mac\n    return y + (x - y).relu()\n"),
                      "failed", "does not lend 'mac'"),
    "a secret tensor's context": (_job("secure_max", "def secure_max(ctx, x, y):\n    x.ctx\n    return x\n"),
                                  "failed", "does not lend 'ctx'"),
    "the context's communicator": (_job("secure_mean", "def secure_mean(ctx, value):\n    ctx.comm\n    return 0.0\n"),
                                   "failed", "does not lend 'comm'"),
    "the context's pairwise PRGs": (_job("secure_mean", "def secure_mean(ctx, value):\n    ctx.pair_prgs\n"
                                                        "    return 0.0\n"), "failed", "does not lend 'pair_prgs'"),
    "a local truncation, not on the list": (_job("secure_max", "def secure_max(ctx, x, y):\n"
                                                               "    return x.truncate(0)\n"),
                                            "failed", "does not lend 'truncate'"),
    "the seed read from torch": (_job("reconstruct_secret", SEED_FROM_TORCH), "failed", "test 4 failed"),
    "the seed read from the random state of the first call": (_job("reconstruct_secret", SEED_FROM_RANDOM_STATE),
                                                               "failed", "test 4 failed"),
    "the seed read from numpy": (_job("reconstruct_secret", SEED_FROM_NUMPY), "failed", "test 4 failed"),
    "the hidden seed hunted in the child's frames": (_job("seconds_to_process", SEED_HUNT, seed=HIDDEN), "failed",
                                                     "test 1 failed"),
    "the check's generator": (_job("noisy_clipped_gradient", GENERATOR_SEED), "passed", ""),
}


@pytest.fixture(scope="module")
def isolated(pool):
    return dict(zip(ISOLATION, pool.run([job for job, _, _ in ISOLATION.values()])))


@pytest.mark.parametrize("attack", list(ISOLATION))
def test_parties_are_isolated_handles_lend_only_their_list_and_the_child_has_no_hidden_seed(isolated, attack):
    _, status, words = ISOLATION[attack]
    result = isolated[attack]
    assert result["status"] == status and words in result["detail"], result


def test_the_seed_replay_passed_where_the_child_was_seeded_with_the_hidden_seed():
    # the same replay, in a process seeded as the child was before: it answers the hidden tests without interpolating
    namespace = {"cl": cl, "torch": torch}
    torch.manual_seed(seed_for(KEY, "mallory", "reconstruct_secret"))
    exec(SEED_FROM_TORCH, namespace)
    assert cl.check.reconstruct_secret(namespace["reconstruct_secret"],
                                       seed=seed_for(KEY, "mallory", "reconstruct_secret")).status == "passed"


def test_an_answer_memorised_from_load_untrusteds_known_tests_fails_for_every_student(pool):
    exercise = EXERCISES["load_untrusted"]
    nb = submission(NOTEBOOKS / exercise.notebook, exercise_cells={"load_untrusted": LOAD_MEMORISED})
    graded = grade.grade_notebooks([("mallory", nb, exercise.notebook), ("trudy", nb, exercise.notebook)], KEY,
                                   pool=pool, exercises=[exercise])
    for student in ("mallory", "trudy"):
        outcome = graded[student]["load_untrusted"]
        assert outcome["status"] == "failed" and "your code raised ValueError: refused" in outcome["detail"], outcome


def test_each_grading_process_has_a_seed_of_its_own_and_the_child_never_gets_the_hidden_one():
    planned = grade.plan("alice", nbformat.read(CH10, as_version=4), CH10.name, course_exercises(), KEY)[1][0]
    assert planned["seed"] == seed_for(KEY, "alice", planned["exercise"])
    assert len({planned["seed"], planned["judge_seed"], planned["child_seed"]}) == 3
    assert set(worker.SECRET_FIELDS) == {"seed", "judge_seed"} and "child_seed" not in worker.SECRET_FIELDS

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

import numpy as np
import pytest
import torch

from course_tools import grade
from course_tools.grading import rpc
from course_tools.grading.exercises import course_exercises
from course_tools.grading.pool import Pool
from course_tools.grading.screen import screen

from .test_grading_cheats import CH10, EXERCISES, KEY, WRONG_MASK, _job, submission

# Code that reaches, from inside the learner's function, every frame of the child, takes anything that
# looks like a pipe, socket or key, and writes a forged "passed" to it and to every descriptor, in the
# old report format (JSON line + HMAC) and in the pipe's framing, then leaves before the check ends.
FORGE = '''
import os, json, struct

def _frames():
    try:
        raise ValueError("walk")
    except ValueError as error:
        frame = error.__traceback__.tb_frame
    while frame is not None:
        yield frame
        frame = frame.f_back

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

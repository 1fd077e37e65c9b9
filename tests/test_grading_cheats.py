"""Attacks on the grader: every cheat is refused or fails, and honest answers are graded as they are.

Chapter 10's ``mask_update`` carries most of them: one wrong function, and ten ways of cheating
around it (a log line, a replaced or patched check, the library's answer, an edited or second check
call, ...). The submissions are whole notebooks graded in one batch; the ``runtime`` tests hand
the workers cells directly, past the static screen, to attack the layers behind it.
"""
from pathlib import Path

import nbformat
import pytest

import course_lib as cl
from course_tools import grade
from course_tools.grading import worker
from course_tools.grading.exercises import course_exercises
from course_tools.grading.pool import Pool
from course_tools.grading.seeds import seed_for

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CH00, CH01, CH09, CH10 = (next(NOTEBOOKS.glob(f"{n}_*.ipynb")) for n in ("00", "01", "09", "10"))
KEY = b"test key: never a real one"
EXERCISES = {e.name: e for e in course_exercises()}

WRONG_MASK = '''def mask_update(me, update, pair_seeds, ring_bits):
    masked = update.astype(np.uint64)
    for peer, seed in pair_seeds.items():
        masked = masked + secagg.expand_mask(seed, len(update), ring_bits)     # every client adds every mask
    return masked & np.uint64((1 << ring_bits) - 1)
'''


def _cell_id(exercise: str) -> str:
    return EXERCISES[exercise].cell_id


def submission(base: Path, exercise_cells: dict | None = None, before_check: dict | None = None,
               check_cells: dict | None = None, delete: tuple = ()):
    """The instructor notebook ``base`` with exercise cells replaced, cells inserted before a check, check
    cells edited or exercise cells deleted (all keyed by exercise name)."""
    nb = nbformat.read(base, as_version=4)
    for name, source in (exercise_cells or {}).items():
        next(c for c in nb.cells if c.get("id") == _cell_id(name)).source = source
    for name, source in (check_cells or {}).items():
        next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"cl.check.{name}(")).source = source
    for name, source in (before_check or {}).items():
        index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and f"cl.check.{name}(" in c.source)
        nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    nb.cells = [c for c in nb.cells if c.get("id") not in {_cell_id(name) for name in delete}]
    return nb


CHEATS = {
    # one wrong mask_update, ten ways of cheating around it
    "1 forged log line": dict(exercise_cells={"mask_update": WRONG_MASK}, before_check={"mask_update": (
        "import json, os\nwith open(os.environ.get('COURSE_GRADING', 'grading.jsonl'), 'a') as log:\n"
        "    log.write(json.dumps({'exercise': 'mask_update', 'status': 'passed'}) + '\\n')")}),
    "2 check replaced": dict(exercise_cells={"mask_update": WRONG_MASK}, before_check={"mask_update": (
        "cl.check.mask_update = lambda *fns, **kw: cl.check.CheckResult('mask_update', 'passed', 'ok')")}),
    "3 or_reference as the answer": dict(exercise_cells={
        "mask_update": "mask_update = cl.check.mask_update.or_reference(None)"}),
    "4 the library's function": dict(exercise_cells={"mask_update": "mask_update = secagg.add_pairwise_masks"}),
    "5 check cell edited": dict(exercise_cells={"mask_update": WRONG_MASK},
                                check_cells={"mask_update": "cl.check.mask_update(secagg.add_pairwise_masks)"}),
    "6 second check call": dict(exercise_cells={"mask_update": WRONG_MASK},
                                before_check={"mask_update": "cl.check.mask_update(secagg.add_pairwise_masks)"}),
    "7 Tally.true patched": dict(exercise_cells={"mask_update": WRONG_MASK}, before_check={"mask_update": (
        "cl.check._framework.Tally.true = lambda self, condition, what, kind='known': self._count(kind)")}),
    "8 honest wrong answer": dict(exercise_cells={"mask_update": WRONG_MASK}),
    "9 check in try/except": dict(exercise_cells={"mask_update": WRONG_MASK}, check_cells={
        "mask_update": "try:\n    cl.check.mask_update(mask_update)\nexcept Exception:\n    pass"}),
    "10 grading variable removed": dict(exercise_cells={"mask_update": WRONG_MASK}, before_check={
        "mask_update": "import os\nos.environ.pop('COURSE_GRADING', None)"}),
    # the same cheats moved into the exercise cell, and more
    "check replaced in the cell": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "cl.check.mask_update = lambda *fns, **kw: None\n")}),
    "Tally.true patched in the cell": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "cl.check._framework.Tally.true = lambda *a, **k: None\n")}),
    "raise_if_failed patched in the cell": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "cl.check.CheckResult.raise_if_failed = lambda self: self\n")}),
    "wrapper around the library": dict(exercise_cells={"mask_update": (
        "def mask_update(me, update, pair_seeds, ring_bits):\n"
        "    return secagg.add_pairwise_masks(me, update, pair_seeds, ring_bits)\n")}),
    "partial of the library": dict(exercise_cells={"mask_update": (
        "import functools\nmask_update = functools.partial(secagg.add_pairwise_masks)\n")}),
    "lambda returning the library's function": dict(exercise_cells={"mask_update": (
        "mask_update = (lambda: cl.secagg.add_pairwise_masks)()\n")}),
    "imported under another name": dict(exercise_cells={"mask_update": (
        "from course_lib.secagg import add_pairwise_masks as mask_update\n")}),
    "check module imported": dict(exercise_cells={"mask_update": (
        "from course_lib.check import ch10\nmask_update = ch10.secagg.add_pairwise_masks\n")}),
    "expected values patched to agree": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "secagg.add_pairwise_masks = mask_update\n")}),
    "helper patched": dict(exercise_cells={"mask_update": WRONG_MASK + "secagg.mask_sign = lambda me, peer: 1\n"}),
    "computed attribute": dict(exercise_cells={"mask_update": (
        "mask_update = getattr(secagg, 'add_pairwise' + '_masks')\n")}),
    "sys.modules edited": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "import sys\nsys.modules['course_lib.check._framework'].Tally.true = lambda *a, **k: None\n")}),
    "builtins edited": dict(exercise_cells={"mask_update": WRONG_MASK + (
        "import builtins\nbuiltins.isinstance = lambda *a: True\n")}),
    "exec of hidden code": dict(exercise_cells={"mask_update": (
        "exec('mask_update = cl.check.mask_update.or_reference(None)')\n")}),
    "numpy patched": dict(exercise_cells={"mask_update": WRONG_MASK + "np.array_equal = lambda a, b: True\n"}),
    "or_reference in another cell": dict(exercise_cells={"mask_update": (
        "def mask_update(me, update, pair_seeds, ring_bits):\n    raise NotImplementedError('stub')\n")},
        before_check={"mask_update": "mask_update = cl.check.mask_update.or_reference(mask_update)"}),
    "exercise cell deleted": dict(delete=("mask_update",)),
    "exercise cell deleted, the library's function elsewhere": dict(delete=("mask_update",), before_check={
        "mask_update": "mask_update = secagg.add_pairwise_masks"}),
}
REFUSED = {"3 or_reference as the answer", "4 the library's function", "check replaced in the cell",
           "Tally.true patched in the cell", "raise_if_failed patched in the cell", "wrapper around the library",
           "partial of the library", "lambda returning the library's function", "imported under another name",
           "check module imported", "expected values patched to agree", "helper patched", "computed attribute",
           "sys.modules edited", "builtins edited", "exec of hidden code", "numpy patched",
           "exercise cell deleted, the library's function elsewhere"}
EXPECTED = {name: "refused" if name in REFUSED else "failed" for name in CHEATS}
EXPECTED.update({"or_reference in another cell": "not yet solved", "exercise cell deleted": "missing"})


@pytest.fixture(scope="module")
def pool():
    exercises = course_exercises()
    with Pool(grade.worker_init(exercises)) as workers:
        yield workers


@pytest.fixture(scope="module")
def graded(pool):
    pairs = [(name, submission(CH10, **spec), CH10.name) for name, spec in CHEATS.items()]
    pairs.append(("honest", nbformat.read(CH10, as_version=4), CH10.name))
    pairs.append(("ctr from the library", submission(CH01, exercise_cells={"ctr_encrypt": (
        "from course_lib.toy import modes\n\ndef ctr_encrypt(encrypt_block, counter_block, data):\n"
        "    class Block:\n        encrypt_block = staticmethod(encrypt_block)\n"
        "    return modes.ctr_encrypt(Block(), counter_block, data)\n")}), CH01.name))
    pairs.append(("peeks into the service", submission(CH09, exercise_cells={"copy_from_labels": (
        "def copy_from_labels(query, inputs):\n    return query._log['model']\n")}), CH09.name))
    pairs.append(("asks the model", submission(CH09, exercise_cells={"copy_from_labels": (
        "def copy_from_labels(query, inputs):\n    return query.model\n")}), CH09.name))
    return grade.grade_notebooks(pairs, KEY, pool=pool, exercises=course_exercises())


@pytest.mark.parametrize("cheat", list(CHEATS))
def test_a_cheat_is_refused_or_fails(graded, cheat):
    outcome = graded[cheat]["mask_update"]
    assert outcome["status"] == EXPECTED[cheat], outcome
    if outcome["status"] == "failed":          # graded on what the exercise cell really computes
        assert "added every mask" in outcome["detail"], outcome


def test_refusals_say_why(graded):
    assert "course_lib.secagg.add_pairwise_masks" in graded["4 the library's function"]["mask_update"]["detail"]
    assert "the checks belong to the grader" in graded["3 or_reference as the answer"]["mask_update"]["detail"]
    assert "a solution may not change a library" in graded["Tally.true patched in the cell"]["mask_update"]["detail"]
    assert "a solution may not change a library" in graded["numpy patched"]["mask_update"]["detail"]
    assert "exec" in graded["exec of hidden code"]["mask_update"]["detail"]


def test_an_honest_correct_solution_passes_and_the_other_exercises_are_graded_on_their_own(graded):
    assert {name: o["status"] for name, o in graded["honest"].items()} == dict.fromkeys(
        ("mask_update", "reconstruct_secret", "noisy_clipped_gradient"), "passed")
    for cheat in CHEATS:                      # a cheat in one exercise costs that exercise only
        assert graded[cheat]["reconstruct_secret"]["status"] == "passed", cheat


def test_the_library_version_the_statement_forbids_is_refused(graded):
    outcome = graded["ctr from the library"]["ctr_encrypt"]
    assert outcome["status"] == "refused" and "course_lib.toy.modes.ctr_encrypt" in outcome["detail"]
    assert graded["ctr from the library"]["pkcs7_unpad"]["status"] == "passed"


def test_reaching_into_a_checks_argument_is_refused_and_the_checks_own_guard_still_fails_a_peek(graded):
    assert graded["peeks into the service"]["copy_from_labels"]["status"] == "refused"
    outcome = graded["asks the model"]["copy_from_labels"]
    assert outcome["status"] == "failed" and "service's own model" in outcome["detail"]


# ---- the layers behind the static screen: the cell goes straight to a worker

def _job(exercise: str, source: str, **options) -> dict:
    e = EXERCISES[exercise]
    return {"job": exercise, "exercise": exercise, "source": source, "preamble": e.preamble,
            "functions": list(e.functions), "seed": 7, "timeout": 60, "memory_mb": 2048, **options}


RUNTIME = {
    "the library's function": (_job("mask_update", "mask_update = secagg.add_pairwise_masks"), "refused",
                               "course_lib.secagg.add_pairwise_masks"),
    "or_reference reached by a computed name": (_job("mask_update", (
        "mask_update = getattr(getattr(cl, 'che' + 'ck'), 'mask_update').or_reference(None)")), "refused",
        "the course's own answer"),
    "a check object as the answer": (_job("mask_update", "mask_update = getattr(cl, 'che' + 'ck').mask_update"),
                                     "refused", "course_lib.check"),
    "partial of the library": (_job("mask_update", (
        "import functools\nmask_update = functools.partial(getattr(secagg, 'add_pairwise' + '_masks'))")),
        "refused", "course_lib.secagg.add_pairwise_masks"),
    "closure over the library": (_job("mask_update", (
        "def wrap(f):\n    return lambda *a: f(*a)\nmask_update = wrap(getattr(secagg, 'add_pairwise' + '_masks'))")),
        "refused", "course_lib.secagg.add_pairwise_masks"),
    "a call through a computed name": (_job("mask_update", (
        "def mask_update(me, update, pair_seeds, ring_bits):\n"
        "    return getattr(secagg, 'add_pairwise' + '_masks')(me, update, pair_seeds, ring_bits)")), "refused",
        "code called course_lib.secagg.add_pairwise_masks"),
    "a call from C code the cell started": (_job("mask_update", (
        "def mask_update(me, update, pair_seeds, ring_bits):\n"
        "    route = getattr(secagg, 'add_pairwise' + '_masks')\n"
        "    return next(map(route, [me], [update], [pair_seeds], [ring_bits]))")), "refused",
        "code called course_lib.secagg.add_pairwise_masks"),
    "Tally.true patched": (_job("mask_update", WRONG_MASK + (
        "t = getattr(cl, 'che' + 'ck')._framework.Tally\nt.true = lambda self, c, w, kind='known': self._count(kind)")),
        "refused", "course_lib.check._framework.Tally.true changed"),
    "expected values patched to agree": (_job("mask_update", WRONG_MASK + "secagg.add_pairwise_masks = mask_update"),
                                         "refused", "course_lib.secagg.add_pairwise_masks changed"),
    "sys imported": (_job("mask_update", "import sys\n" + WRONG_MASK), "refused", "imports sys"),
    "sys imported by __import__": (_job("mask_update", "m = __import__('sys')\n" + WRONG_MASK), "refused",
                                   "imports sys"),
    "open is not there": (_job("mask_update", "open('x', 'w')\n" + WRONG_MASK), "failed", "NameError"),
    "a forged report on every descriptor": (_job("mask_update", WRONG_MASK + (
        "import os, json\nfor fd in range(3, 64):\n    try:\n"
        "        os.write(fd, (json.dumps({'status': 'passed', 'detail': 'forged'}) + '\\n' + '0' * 64).encode())\n"
        "    except OSError:\n        pass")), "failed", "the grader reads at most"),
    "an endless loop": (_job("mask_update", "def mask_update(*a):\n    while True:\n        pass", timeout=3),
                        "failed", "timed out"),
    "memory exhausted": (_job("mask_update", (
        "def mask_update(me, update, pair_seeds, ring_bits):\n    return [bytearray(2**28) for _ in range(64)]"),
        memory_mb=256), "failed", "MemoryError"),
    "SystemExit": (_job("mask_update", "def mask_update(*a):\n    raise SystemExit(0)"), "failed", "SystemExit"),
    "os._exit before the check ends": (_job("mask_update", (
        "import os\ndef mask_update(*a):\n    os._exit(0)")), "failed", "without a report"),
}


@pytest.fixture(scope="module")
def runtime(pool):
    names = list(RUNTIME)
    return dict(zip(names, pool.run([RUNTIME[name][0] for name in names]))), pool


@pytest.mark.parametrize("attack", list(RUNTIME))
def test_past_the_screen_the_worker_refuses_or_fails_the_attack(runtime, attack):
    results, _ = runtime
    _, status, words = RUNTIME[attack]
    assert results[attack]["status"] == status and words in results[attack]["detail"], results[attack]


def test_the_workers_survive_every_attack_and_still_pass_an_honest_answer(runtime):
    _, pool = runtime
    honest = next(c.source for c in nbformat.read(CH10, as_version=4).cells if c.get("id") == _cell_id("mask_update"))
    assert [r["status"] for r in pool.run([_job("mask_update", honest), _job("mask_update", WRONG_MASK)])] == [
        "passed", "failed"]


@pytest.mark.skipif(worker.landlock_abi() < 1, reason="the kernel has no Landlock")
def test_an_exercise_cannot_write_outside_its_scratch_folder_read_the_key_connect_or_signal(pool, tmp_path):
    target, key_file = tmp_path / "written-by-a-submission.npy", tmp_path / "grading.key"
    key_file.write_bytes(KEY)
    attacks = [
        _job("mask_update", f"np.save({str(target)!r}, np.zeros(3))\n" + WRONG_MASK),
        _job("mask_update", "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n" + WRONG_MASK),
        _job("mask_update", f"KEY = np.load({str(key_file)!r})\n" + WRONG_MASK),
    ]
    if worker.landlock_abi() >= 6:                    # signals outside the child's domain are refused too
        attacks.append(_job("mask_update", "import os\nos.kill(os.getppid(), 9)\n" + WRONG_MASK))
    results = pool.run(attacks)
    assert not target.exists()
    assert results[0]["status"] == "failed" and "PermissionError" in results[0]["detail"], results[0]
    assert results[1]["status"] in ("refused", "failed"), results[1]
    assert results[2]["status"] == "failed" and "PermissionError" in results[2]["detail"], results[2]
    if worker.landlock_abi() >= 6:
        assert results[3]["status"] == "failed" and "PermissionError" in results[3]["detail"], results[3]
    assert pool.run([_job("seconds_to_process", "def seconds_to_process(n, m):\n    return n / (m * 1e6)")])[0][
        "status"] == "passed"


def test_hidden_tests_differ_per_student_so_an_answer_key_does_not_transfer(pool):
    seen = []
    cl.check.seconds_to_process(lambda nbytes, mb_s: seen.append((nbytes, mb_s)) or nbytes / (mb_s * 1e6),
                                seed=seed_for(KEY, "alice", "seconds_to_process"))
    table = {args: args[0] / (args[1] * 1e6) for args in seen}
    memorised = f"TABLE = {table!r}\n\ndef seconds_to_process(nbytes, mb_per_s):\n    return TABLE.get((nbytes, mb_per_s), 0.0)\n"
    nb = submission(CH00, exercise_cells={"seconds_to_process": memorised})
    graded = grade.grade_notebooks([("alice", nb, CH00.name), ("bob", nb, CH00.name)], KEY, pool=pool,
                                   exercises=course_exercises())
    assert seed_for(KEY, "alice", "seconds_to_process") != seed_for(KEY, "bob", "seconds_to_process")
    assert graded["alice"]["seconds_to_process"]["status"] == "passed"      # her own hidden tests, memorised
    assert graded["bob"]["seconds_to_process"]["status"] == "failed"        # the same key fails his


def test_the_expected_outcomes_tell_a_grader_that_refuses_or_fails_everything_apart():
    assert {"failed", "refused", "not yet solved", "missing"} <= set(EXPECTED.values())
    assert {status for _, status, _ in RUNTIME.values()} == {"failed", "refused"}


# ---- honest answers written differently from the instructor's still pass (no false refusal)

HONEST = {
    "seconds_to_process": "def seconds_to_process(nbytes, mb_per_s):\n    return nbytes / mb_per_s / 10**6\n",
    "tool_for_threat": ("TOOLS = {'stolen backup': 'aead', 'eavesdropper': 'tls', 'swaps a few': 'signature',\n"
                        "         'model file replaced': 'signature', 'two hospitals': 'mpc', 'cloud provider': 'mpc',\n"
                        "         'membership inference': 'dp'}\n\n"
                        "def tool_for_threat(threat):\n"
                        "    return next(tool for words, tool in TOOLS.items() if words in threat)\n"),
    "merkle_root": ("import hashlib\n\ndef merkle_root(leaves):\n    def h(data):\n        return hashlib.sha256(data).digest()\n"
                    "    if not leaves:\n        return h(b'')\n    if len(leaves) == 1:\n        return h(b'\\x00' + leaves[0])\n"
                    "    k = 1 << (len(leaves) - 1).bit_length() - 1\n"
                    "    return h(b'\\x01' + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))\n"),
    "additive_share": ("import secrets\n\ndef additive_share(secret, parties):\n"
                       "    shares = [secrets.randbits(64) for _ in range(parties - 1)]\n"
                       "    shares.append((secret - sum(shares)) % 2**64)\n    return shares\n"),
    "load_untrusted": ("import torch\n\ndef load_untrusted(path):\n"
                       "    return torch.load(path, weights_only=True, map_location='cpu')\n"),
    "gradient_distance": ("import torch.nn.functional as F\n\ndef gradient_distance(dummy_grads, target_grads):\n"
                          "    return sum(F.mse_loss(d, t, reduction='sum') for d, t in zip(dummy_grads, target_grads))\n"),
    "membership_advantage": ("import numpy as np\nfrom sklearn.metrics import roc_curve\n\n"
                             "def membership_advantage(member_scores, outsider_scores):\n"
                             "    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(outsider_scores))]\n"
                             "    scores = np.r_[member_scores.numpy(), outsider_scores.numpy()]\n"
                             "    fpr, tpr, _ = roc_curve(labels, scores)\n    return max(0.0, float((tpr - fpr).max()))\n"),
    "copy_from_labels": ("import torch\nfrom torch import nn\n\ndef copy_from_labels(query, inputs):\n"
                         "    labels = query(inputs)\n"
                         "    copy = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))\n"
                         "    optimiser = torch.optim.SGD(copy.parameters(), lr=0.5, momentum=0.9)\n"
                         "    for _ in range(300):\n        optimiser.zero_grad()\n"
                         "        nn.functional.cross_entropy(copy(inputs), labels).backward()\n        optimiser.step()\n"
                         "    return copy\n"),
    "pack_columns": "def pack_columns(images):\n    return images.T.tolist()\n",
    "noisy_clipped_gradient": (
        "import torch\n\ndef noisy_clipped_gradient(per_sample, clip, noise_multiplier, expected_batch, generator):\n"
        "    norms = torch.linalg.vector_norm(per_sample, dim=1, keepdim=True)\n"
        "    clipped = per_sample * torch.clamp(clip / torch.clamp(norms, min=1e-12), max=1.0)\n"
        "    noise = torch.normal(0.0, noise_multiplier * clip, size=(per_sample.shape[1],), generator=generator)\n"
        "    return (clipped.sum(0) + noise) / expected_batch\n"),
}


@pytest.fixture(scope="module")
def honest(pool):
    pairs = []
    for exercise, source in HONEST.items():
        e = EXERCISES[exercise]
        nb = submission(next(NOTEBOOKS.glob(f"{e.chapter}_*.ipynb")), exercise_cells={exercise: source})
        pairs.append((f"erin-{exercise}", nb, e.notebook))
    return grade.grade_notebooks(pairs, KEY, pool=pool, exercises=course_exercises())


@pytest.mark.parametrize("exercise", list(HONEST))
def test_an_honest_answer_in_another_style_passes(honest, exercise):
    outcome = honest[f"erin-{exercise}"][exercise]
    assert outcome["status"] == "passed", outcome

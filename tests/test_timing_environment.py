import random

import numpy as np
import torch

import course_lib as cl
from course_lib.environment import pinned_requirements, REPO_ROOT


def test_measure_calls_the_function_number_times_repeat():
    calls = []
    timing = cl.measure(calls.append, 1, repeat=3, min_time=0.001)
    assert len(calls) >= timing.number * timing.repeat
    assert timing.repeat == 3 and timing.best > 0 and timing.best <= timing.mean


def test_throughput_is_bytes_per_second_over_a_million():
    data = bytes(10_000)
    mb_s = cl.throughput(len, data, repeat=2)
    timing_best = len(data) / (mb_s * 1e6)
    assert timing_best > 0


def test_seed_all_makes_simulation_reproducible():
    cl.seed_all(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    cl.seed_all(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_requirements_are_pinned_and_installed():
    pins = pinned_requirements()
    assert pins["torch"] == "2.13.0"
    for name in ("cryptography", "pycryptodome", "jupyterlab", "ipywidgets", "matplotlib", "scikit-learn", "tqdm"):
        assert name in pins, f"{name} must be pinned in requirements.txt"
    assert "-e ." in (REPO_ROOT / "requirements.txt").read_text().splitlines()
    report = cl.environment_report()
    assert report.ok, repr(report)
    assert report.versions["torch"].startswith("2.13.0")


def test_learners_install_only_the_course_and_maintainers_add_the_test_tools():
    course = pinned_requirements()
    dev = pinned_requirements(REPO_ROOT / "requirements-dev.txt")
    tools = ("pytest", "pytest-xdist", "nbval", "hypothesis", "cryptography-vectors", "playwright", "nbgrader")
    assert not set(tools) & set(course), "test tools belong in requirements-dev.txt"
    assert set(tools) <= set(dev)
    assert "-r requirements.txt" in (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "requirements-dev.txt" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "nbval" not in cl.environment_report().versions, "chapter 00's check asks only for the course's packages"


def test_cpu_features_are_unknown_not_absent_where_they_cannot_be_read(monkeypatch):
    from course_lib import environment
    monkeypatch.setattr(environment, "cpu_flags", lambda: None)
    report = environment.environment_report()
    assert report.cpu is None and "unknown on this system" in repr(report) and "[ ]" not in repr(report)


def test_asset_path_rejects_unknown_names():
    import pytest
    with pytest.raises(FileNotFoundError):
        cl.asset_path("no-such-file.png")


def test_throughputs_are_never_shown_as_zero_and_seconds_follow_from_them():
    from course_lib.display import format_rate
    from course_lib.timing import seconds_for
    assert format_rate(0.0311) == "31.1 KB/s"
    assert format_rate(3.52) == "3.5 MB/s"
    assert format_rate(10512.4) == "10,512 MB/s"
    assert seconds_for(150 * 10**9, 1000.0) == 150.0

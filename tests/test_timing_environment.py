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
    for name in ("cryptography", "pycryptodome", "jupyterlab", "ipywidgets", "nbval", "pytest",
                 "hypothesis", "matplotlib", "scikit-learn", "tqdm"):
        assert name in pins, f"{name} must be pinned in requirements.txt"
    assert "-e ." in (REPO_ROOT / "requirements.txt").read_text().splitlines()
    report = cl.environment_report()
    assert report.ok, repr(report)
    assert report.versions["torch"].startswith("2.13.0")


def test_asset_path_rejects_unknown_names():
    import pytest
    with pytest.raises(FileNotFoundError):
        cl.asset_path("no-such-file.png")


def test_throughputs_are_never_shown_as_zero_and_seconds_follow_from_them():
    from course_lib.timing import format_rate, seconds_for
    assert format_rate(0.0311) == "31.1 KB/s"
    assert format_rate(3.52) == "3.5 MB/s"
    assert format_rate(10512.4) == "10,512 MB/s"
    assert seconds_for(150 * 10**9, 1000.0) == 150.0

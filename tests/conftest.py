import os

# Two pytest workers share the cores with the parties, kernels and servers the tests start: each process
# gets one math thread (OpenMP, MKL, OpenBLAS; set before numpy or torch loads), so that no process's
# spinning threads take another's core. Measured under load on 2 cores: an in-process MPC test 6.9 s
# with two threads, 2.2 s with one.
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import pytest  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can react to failures (browser screenshots)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())

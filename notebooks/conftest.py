"""nbval runs every notebook on *another* floating-point path than the one that wrote its outputs.

The executor (``course_tools.executor``) writes the committed outputs with this machine's fastest
kernels and every thread. A learner's laptop may use another instruction set (AVX2 instead of
AVX-512, or AMX), another BLAS code path and another thread count, and iterative float results
(L-BFGS, training) then differ in their last digits. So nbval's kernels start with torch's portable
kernels, MKL's conditional-numerical-reproducibility branch and one thread, which changes those
digits here as another CPU would: a cell that prints them fails here, not on a learner's machine.
Only the kernels get these settings; the test process keeps its own.
"""
import os

import pytest

OTHER_FLOAT_PATH = {
    "ATEN_CPU_CAPABILITY": "default",     # torch's non-vectorised kernels
    "MKL_CBWR": "COMPATIBLE",             # MKL's SSE2 branch (oneMKL developer guide, "Specifying code branches")
    "OMP_NUM_THREADS": "1",               # another reduction order in torch's intra-op pool
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",          # numpy and scipy
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """While nbval sets up a notebook's first cell (it starts the kernel then), the kernel's
    environment is this one with ``OTHER_FLOAT_PATH``."""
    saved = {name: os.environ.get(name) for name in OTHER_FLOAT_PATH}
    os.environ.update(OTHER_FLOAT_PATH)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

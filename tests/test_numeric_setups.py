"""The committed outputs must not depend on this machine's floating-point path.

A learner's laptop may run other kernels than the machine that executed the notebooks: another
instruction set (AVX2 instead of AVX-512, or AMX), another BLAS code path, another thread count.
Iterative float results (L-BFGS, training) then differ in their last digits, and a cell that
prints them fails nbval there. This test runs every notebook under strict nbval again with
torch's portable kernels, MKL's conditional-numerical-reproducibility path and one thread, which
changes those digits here as another CPU would.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

PERTURBED = {
    "ATEN_CPU_CAPABILITY": "default",     # torch's non-vectorised kernels
    "MKL_CBWR": "COMPATIBLE",             # MKL's SSE2 branch (oneMKL developer guide, "Specifying code branches")
    "OMP_NUM_THREADS": "1",               # another reduction order in torch's intra-op pool
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",          # numpy and scipy
}


def test_every_notebook_passes_nbval_on_another_float_path():
    workers = ["-n", "2", "--dist", "loadfile"] if os.cpu_count() and os.cpu_count() >= 2 else []
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", *workers, "notebooks"],
                         cwd=ROOT, env=os.environ | PERTURBED, capture_output=True, text=True, timeout=1200)
    summary = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert run.returncode == 0, ("notebooks whose outputs change on another float path "
                                 f"({' '.join(f'{k}={v}' for k, v in PERTURBED.items())}):\n"
                                 + "\n".join(summary) + "\n" + run.stdout[-6000:])

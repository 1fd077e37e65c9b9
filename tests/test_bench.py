import pytest
"""The benchmark command's interface (the figures themselves are measured by running it, not here)."""
import json
import subprocess
import sys

from course_tools import bench

EXPECTED = {"primitives", "widgets", "aead_stream", "encrypted_loader", "mpc_inference", "mpc_relu", "mpc_mul",
            "mpc_matmul", "secagg", "he_inference", "course_runtime", "classroom_sum", "attacks"}


def test_every_benchmark_of_the_issues_is_registered_and_documented():
    assert EXPECTED <= set(bench.BENCHMARKS)
    listing = subprocess.run([sys.executable, "-m", "course_tools.bench", "--list"], capture_output=True, text=True,
                             check=True).stdout
    assert all(f"{name}:" in listing for name in EXPECTED)


def test_benchmarks_print_one_json_object_per_line(capsys):
    assert bench.main(["widgets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 1 and record["name"] == "widgets"
    assert record["avalanche_slider_ms"] > 0 and record["share_viewer_secret_ms"] > 0


def test_unknown_benchmark_is_a_clear_error():
    done = subprocess.run([sys.executable, "-m", "course_tools.bench", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown benchmark" in done.stderr


def test_crypten_baseline_needs_an_interpreter_with_crypten(monkeypatch):
    """Without CrypTen the optional comparison fails with a clear error, not a traceback from elsewhere."""
    import sys
    import torch
    from course_lib import digits
    monkeypatch.setitem(bench.OPTIONS, "crypten", sys.executable)     # this interpreter has no CrypTen
    model = digits.task(epochs=1)[0]
    with pytest.raises(RuntimeError, match="CrypTen baseline failed"):
        bench._crypten_measured(model, torch.zeros(4, 64), torch.zeros(4, dtype=torch.int64), ours_ms=1.0)


def test_encrypted_loader_pools_the_blocks_of_several_fresh_processes():
    """The orchestration only (tiny sizes): every process's blocks arrive, and each figure the
    README quotes is there, with one median per process."""
    figures = bench.bench_encrypted_loader(samples=300, large_samples=10, processes=2, repeat=1, bare_repeat=2,
                                           large_repeat=1)
    for suffix in ("", "_bare", "_large"):
        assert len(figures[f"ratio_by_process{suffix}"]) == 2
        assert figures[f"ratio{suffix}"] > 0 and figures[f"limit_ratio{suffix}"] > 1
        assert figures[f"aead_call_us{suffix}"] > 0 and figures[f"plain_epoch_s{suffix}"] > 0
        assert figures[f"aead_call_in_loader_us{suffix}"] > 0       # timed inside the loader's own epochs
    assert figures["plain_per_sample_epoch_s"] > 0 and figures["plain_per_sample_epoch_s_bare"] > 0
    assert figures["processes"] == 2 and set(figures["targets"]) == {
        "ratio within 0.02 of its limit", "ratio_large within 0.02 of its limit", "ratio_large <= 1.03",
        "bare: <= 0.3 us per sample beyond the AEAD call", "batched plaintext no slower than per sample"}


def test_a_failing_measuring_process_is_reported_with_its_error(monkeypatch):
    monkeypatch.setattr(bench.sys, "executable", "/bin/false")       # an interpreter that exits with status 1
    with pytest.raises(RuntimeError, match="a measuring process failed"):
        bench.bench_encrypted_loader(samples=50, large_samples=5, processes=1, repeat=1)


def test_the_attacks_entry_reports_every_figure_at_tiny_sizes():
    """Chapter 09's entry, orchestration only (tiny sizes, no timing asserts): every figure is there,
    each a min/median/max over the seeds."""
    figures = bench.bench_attacks(seeds=2, steps=5, members=20, shadows=1, queries=(20, 40), extraction_epochs=3,
                                   repeat=1)
    spread = {"min", "median", "max"}
    dlg = figures["dlg_batch_1"]
    assert set(dlg["evaluations_per_s"]) == spread and dlg["evaluations_per_s"]["min"] > 0
    assert set(dlg["final_psnr_db"]) == spread and dlg["client_gradients_per_s"] > 0
    assert dlg["evaluation_cost_in_client_gradients"] > 0 and dlg["evaluations"]["max"] <= 5 * 5 // 4 + 1   # L-BFGS: 1.25 evaluations per step at most
    for target in ("overfitted", "regularised"):
        for figure in ("auc", "advantage"):
            values = figures["membership"][target][figure]
            assert set(values) == spread and 0 <= values["min"] <= values["median"] <= values["max"] <= 1
    assert set(figures["extraction"]) == {"20", "40"}
    for result in figures["extraction"].values():
        assert set(result["agreement"]) == spread and set(result["true_label_copy_agreement"]) == spread
        assert "gain_over_true_labels" in result
    assert figures["seeds"] == 2 and figures["seconds"] > 0

import pytest
import hashlib

import course_lib as cl
from course_lib.widgets import Contender, TimingRace


def test_timing_race_runs_headless_and_draws_a_chart():
    race = TimingRace({"SHA-256": lambda d: hashlib.sha256(d).digest(),
                       "slow": Contender("slow", lambda d: sum(d), max_bytes=256)}, sizes=(1024, 4096))
    assert repr(race) == "TimingRace(SHA-256, slow; payload 4 KiB)"
    assert bytes(race.chart.value) == b""
    results = race.run(1024)
    assert set(results) == {"SHA-256", "slow"} and all(v > 0 for v in results.values())
    assert bytes(race.chart.value).startswith(b"\x89PNG")
    assert "MB/s" in race.status.value
    before = race.results
    race.button.click()  # pressing the button runs the race again
    assert race.results is not before and set(race.results) == {"SHA-256", "slow"}


def test_ciphertext_viewer_shows_the_ecb_leak_and_new_key_changes_ciphertext():
    viewer = cl.widgets.CiphertextViewer()
    assert repr(viewer) == "CiphertextViewer(128×144 image; plaintext vs ECB, CBC, CTR, GCM)"
    counts = viewer.distinct_blocks
    total = viewer.pixels.nbytes // 16
    assert counts["ECB"] == counts["plaintext"] < total // 10
    assert counts["CBC"] == counts["CTR"] == counts["GCM"] == total
    before = dict(viewer.ciphertexts)
    panel_before = bytes(viewer.panels["ECB"].value)
    viewer.button.click()
    assert all(viewer.ciphertexts[m] != before[m] for m in viewer.MODES)
    assert bytes(viewer.panels["ECB"].value) != panel_before and bytes(viewer.panels["ECB"].value).startswith(b"\x89PNG")
    assert viewer.distinct_blocks["ECB"] == counts["ECB"]  # same leak under any key
    assert len(viewer.figure().axes) == 5


def test_kdf_cost_measures_and_switches_ranges():
    kdf = cl.widgets.KdfCost()
    row = kdf.measure("scrypt", 10)
    assert row["kdf"] == "scrypt" and row["cost"] == "2^10" and row["seconds"] > 0
    assert "2^10" in kdf.table.value
    kdf.kdf.value = "pbkdf2"
    assert kdf.cost.description == "log2 iterations" and kdf.cost.max == 20
    kdf.cost.value = 10
    kdf.button.click()
    assert kdf.history[-1]["kdf"] == "pbkdf2" and len(kdf.history) == 2


def test_avalanche_updates_on_slider_and_collects_flips():
    a = cl.widgets.Avalanche("label=7", bit=0)
    assert repr(a) == "Avalanche(SHA-256; message 'label=7'; flip bit 0)"
    first = a.compare()
    assert first["original"] == hashlib.sha256(b"label=7").digest()
    assert first["flipped"] == hashlib.sha256(bytes([ord("l") ^ 0x80]) + b"abel=7").digest()
    grid_before = bytes(a.grids.value)
    a.bit.value = 9                       # moving the slider re-renders at once
    assert bytes(a.grids.value) != grid_before and "digest bits changed" in a.info.value
    a.algorithm.value = "SHA3-256"
    assert a.compare()["original"] == hashlib.sha3_256(b"label=7").digest()
    a.text.value = "x"                    # slider range follows the message length
    assert a.bit.max == 7
    flips = a.random_flips(300, seed=1)
    assert len(flips) == 300 and 118 < sum(flips) / 300 < 138
    assert bytes(a.histogram_image.value).startswith(b"\x89PNG")
    assert a.random_flips(50, seed=2) == a.random_flips(50, seed=2)


def test_share_viewer_reshares_on_change_and_histogram_is_flat():
    v = cl.widgets.ShareViewer(secret=42, parties=3)
    assert repr(v) == "ShareViewer(secret 42; 3 parties)"
    assert len(v.shares) == 3 and sum(v.shares) % 2**64 == 42
    v.parties.value = 5
    assert len(v.shares) == 5 and sum(v.shares) % 2**64 == 42
    v.secret.value = -7
    assert sum(v.shares) % 2**64 == (-7) % 2**64 and "+-7" not in v.table.value and "-7" in v.table.value
    v.button.click()
    import numpy as np
    counts, _ = np.histogram(v.samples, bins=8, range=(-2.0**63, 2.0**63))
    assert len(v.samples) == 10_000 and counts.min() > 1000
    assert bytes(v.histogram_image.value).startswith(b"\x89PNG")


def test_course_widgets_carry_css_classes_for_the_browser_test():
    race = TimingRace({"x": len}, sizes=(16,))
    assert {"course-widget", "course-TimingRace"} <= set(race._dom_classes)


def test_kdf_cost_has_argon2id_and_a_gpu_estimate():
    kdf = cl.widgets.KdfCost()
    row = kdf.measure("argon2id", 10)
    assert row["cost"] == "2^10, t = 2" and row["gpu_guesses_per_s"] == pytest.approx(1e4 * 19_456 * 2 / 2048)
    pbkdf2 = kdf.measure("pbkdf2", 10)
    assert pbkdf2["gpu_guesses_per_s"] == pytest.approx(1e4 * 600_000 / 1024)
    assert pbkdf2["all_8_lowercase_gpu_years"] < pbkdf2["all_8_lowercase_years"]
    assert "1 GPU" in kdf.table.value and "tobtu" in kdf.table.value


def test_gradient_inversion_viewer_recovers_one_image_and_steps_through_the_attack():
    import torch
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))
    data = cl.digits.split(0)
    viewer = cl.widgets.GradientInversionViewer(model, data.train_x, data.train_y)
    assert repr(viewer) == "GradientInversionViewer(batch sizes 1, 4, 16; 200 steps of L-BFGS)"
    assert viewer.step.disabled
    scores = viewer.run(batch=1)
    assert scores[0] > 40 and not viewer.step.disabled and viewer.step.value == viewer.step.max > 0
    final = viewer.info.value
    viewer.step.value = 0                                  # the random start is far from the image
    assert viewer.info.value != final and "evaluation 0" in viewer.info.value
    assert bytes(viewer.recovered.value).startswith(b"\x89PNG")
    assert max(viewer.run(batch=16)) < max(scores)


def test_secure_aggregation_viewer_sums_survivors_and_refuses_too_many_dropouts():
    viewer = cl.widgets.SecureAggregationViewer(clients=6, threshold=4)
    assert repr(viewer) == "SecureAggregationViewer(6 clients, threshold 4; dropped none)"
    viewer.tiles[1].value = True                          # a click on client 2's tile
    assert viewer.dropped() == [2] and viewer.tiles[1].button_style == "danger"
    result = viewer.aggregate()
    assert result.survivors == [1, 3, 4, 5, 6] and result.dropped == [2]
    assert "✓" in viewer.output.value and "rebuilt" in viewer.output.value
    viewer.drop(1, 2, 3)
    assert viewer.aggregate() is None and "only 3 clients sent masked inputs" in viewer.error
    assert "Round refused" in viewer.output.value and "Sum" not in viewer.output.value
    viewer.threshold.value = 6
    viewer.drop()
    assert viewer.aggregate().survivors == [1, 2, 3, 4, 5, 6]


def test_precision_viewer_shows_bits_per_squaring_and_the_refusal():
    viewer = cl.widgets.PrecisionViewer()
    assert repr(viewer) == "PrecisionViewer(scale 2^30, 3 levels)"
    bits = viewer.run()
    assert len(bits) == 4 and bits[0] > bits[-1] and "refused" in viewer.info.value
    assert bytes(viewer.chart.value).startswith(b"\x89PNG")
    viewer.scale.value = 40
    assert viewer.run()[-1] > bits[-1] and "chain [60, 40, 40, 40, 60]" in viewer.info.value

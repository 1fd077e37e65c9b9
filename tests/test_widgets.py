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

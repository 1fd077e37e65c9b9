import pytest

import course_lib as cl
from course_lib.check import CheckResult, exercise


def right(nbytes, mb_s):
    return nbytes / (mb_s * 1e6)


def test_check_passes_a_correct_solution():
    result = cl.check.seconds_to_process(right)
    assert result.passed and bool(result)
    assert repr(result) == "✓ seconds_to_process: 3 known answers and 50 random tests passed."


@pytest.mark.parametrize("wrong", [
    lambda b, m: b / m,                    # forgot MB = 10**6
    lambda b, m: b / (m * 2**20),          # MiB instead of MB
    lambda b, m: round(b / (m * 1e6)),     # rounds: fails the random tests
])
def test_check_catches_wrong_solutions(wrong):
    result = cl.check.seconds_to_process(wrong)
    assert not result and result.status == "failed"
    assert "Hint:" in repr(result)
    with pytest.raises(AssertionError):
        result.raise_if_failed()


def test_stub_is_reported_as_not_yet_solved():
    def stub(nbytes, mb_s):
        raise NotImplementedError("compute seconds")
    result = cl.check.seconds_to_process(stub)
    assert result.status == "not yet solved" and not result


def test_crash_is_reported_not_raised():
    result = cl.check.seconds_to_process(lambda b, m: 1 / 0)
    assert result.status == "failed" and "ZeroDivisionError" in result.detail


def test_threat_quiz():
    from course_lib.check.ch00 import THREAT_TOOLS
    assert cl.check.tool_for_threat(THREAT_TOOLS.get)
    assert not cl.check.tool_for_threat(lambda threat: "aead")


def test_a_check_that_compares_nothing_is_a_defect():
    @exercise(hint="")
    def empty(fn, t, rng):
        pass
    with pytest.raises(RuntimeError, match="made no comparison"):
        empty(lambda: None)


def test_html_rendering_escapes():
    r = CheckResult("x", "failed", "<b>", "hint")
    assert "&lt;b&gt;" in r._repr_html_()

import os

import pytest

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can react to failures (browser screenshots)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())

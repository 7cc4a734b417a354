"""Shared test settings: the hypothesis profiles (more examples in CI). Shared gradient checks live in
tests/helpers.py, the shared exercise tests in tests/exercise_suite.py."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


def pytest_addoption(parser):
    """``--fuzz``: tests/test_fuzz.py tries many random bad arguments per function (also DLCOURSE_FUZZ=1)."""
    parser.addoption(
        "--fuzz",
        action="store_true",
        default=False,
        help="run tests/test_fuzz.py with many random examples per argument instead of a few fixed ones",
    )


# The checkers record passes in a progress file (dlcourse/exercises/tracking.py). Tests, and the
# notebook kernels nbval starts from this process, use a fresh file of their own, never the
# learner's ~/.dlcourse/progress.json.
if "DLCOURSE_PROGRESS" not in os.environ or os.environ.get("DLCOURSE_PROGRESS_FROM_TESTS") == "1":
    import tempfile

    os.environ["DLCOURSE_PROGRESS"] = os.path.join(tempfile.mkdtemp(prefix="dlcourse-progress-"), "progress.json")
    os.environ["DLCOURSE_PROGRESS_FROM_TESTS"] = "1"


@pytest.fixture(autouse=True)
def _fresh_hint_stages(monkeypatch):
    """Every test starts each exercise's hints at the first stage. Tests build right and wrong
    answers by wrapping the solutions, which a learner may not do
    (core.REFUSE_WRAPPED_SOLUTIONS); tests/test_exercise_hostile.py proves that refusal."""
    from dlcourse.exercises import core
    from dlcourse.exercises.tracking import reset_attempts

    reset_attempts()
    monkeypatch.setattr(core, "REFUSE_WRAPPED_SOLUTIONS", False)
    yield

"""Shared test settings: the hypothesis profiles (more examples in CI). Shared gradient checks live in
tests/helpers.py, the shared exercise tests in tests/exercise_suite.py."""

from __future__ import annotations

import os

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

"""Wall-clock timing shared by the chapters and ``benchmarks/run.py``."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_call(
    fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None
) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    Args:
        fn: the work to time, with no arguments.
        repeats: timed runs.
        warmup: untimed runs first (caches, lazy initialisation, GPU kernels).
        sync: called after ``fn`` inside the timed region, for asynchronous devices
            (``lambda: dlcourse.device.synchronize(device)``).

    Returns:
        The ``repeats`` durations in seconds.
    """
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return times


def median_time(
    fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None
) -> float:
    """The median of :func:`time_call`, in seconds."""
    return statistics.median(time_call(fn, repeats=repeats, warmup=warmup, sync=sync))

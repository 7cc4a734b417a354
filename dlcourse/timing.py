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


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    syncs: dict[str, Callable[[], None]] | None = None,
    block: int = 1,
) -> dict[str, list[float]]:
    """Time several implementations of the same work in alternation, ``block`` calls each per round.

    Comparing medians taken in separate time windows lets machine noise (another process,
    frequency changes) land on one side only; alternating spreads it over all of them, so
    ratios of the medians are stable.

    Args:
        fns: name -> the work to time, with no arguments.
        repeats: timed rounds.
        warmup: untimed rounds first.
        syncs: name -> called after that function inside its timed region (GPU work).
        block: consecutive calls of one implementation per round. Libraries that leave
            threads spinning after a call (PyTorch's OpenMP pool) slow down whatever runs
            next; blocks confine that to the first call of each block, which the median drops.

    Returns:
        name -> the ``repeats`` durations in seconds.
    """
    syncs = syncs or {}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():  # warm every implementation up first
        for _ in range(warmup):
            fn()
            if name in syncs:
                syncs[name]()
    rounds = -(-repeats // block)  # ceil
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(block):
                start = time.perf_counter()
                fn()
                if name in syncs:
                    syncs[name]()
                times[name].append(time.perf_counter() - start)
    return {name: t[:repeats] for name, t in times.items()}

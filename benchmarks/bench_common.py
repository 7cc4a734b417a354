"""What every benchmark module shares: the result row and the devices to time on.

Benchmark modules (``bench_*.py`` beside this file) import from here and return lists of
:class:`Result`; ``run.py`` registers them by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

IMPLS = ("numpy", "numpy-naive", "torch-cpu", "torch-cuda", "torch-mps")


@dataclass
class Result:
    """One row of the results table; the JSON schema is ``asdict(Result)``."""

    benchmark: str
    impl: str
    median_s: float
    repeats: int
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def median(times: list[float]) -> float:
    return float(np.median(times))


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """PyTorch's CPU thread count set to ``threads`` inside the block (None: left as it is) and
    restored after it, even on an error, so that one benchmark's setting never leaks into the
    next one run in the same process. Yields the count in effect."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def torch_devices() -> list[tuple[str, torch.device]]:
    devices = [("torch-cpu", torch.device("cpu"))]
    if torch.cuda.is_available():
        devices.append(("torch-cuda", torch.device("cuda")))
    if torch.backends.mps.is_available():
        devices.append(("torch-mps", torch.device("mps")))
    return devices

"""One call to make a notebook deterministic."""

from __future__ import annotations

import random

import numpy as np

from dlcourse.validation import describe


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's, NumPy's and PyTorch's random number generators (PyTorch's if it is installed).

    The course passes generators explicitly wherever it can (``rng=`` arguments); this
    covers the rest, such as ``torch.nn`` initialisers and shuffling in data loaders.

    Args:
        seed: any non-negative integer.

    Returns:
        A fresh ``np.random.Generator`` seeded with ``seed``, to pass on as ``rng=``.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {describe(seed)}.")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - legacy global state, seeded for third-party code
    try:
        import torch  # here, not at the top: the NumPy tree works without PyTorch
    except ImportError:
        torch = None
    if torch is not None:
        torch.manual_seed(seed)  # also seeds every CUDA device
    return np.random.default_rng(seed)

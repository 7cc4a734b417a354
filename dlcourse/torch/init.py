"""Weight initialisers in PyTorch, mirroring :mod:`dlcourse.numpy.init`.

They draw from the same NumPy generator and convert, so a NumPy network and a PyTorch
network built with the same seed start from exactly the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

from dlcourse.numpy import init as np_init

__all__ = ["he_kernels", "he_normal", "uniform", "xavier_uniform", "zeros"]


def zeros(fan_in: int, fan_out: int, rng: np.random.Generator | None = None) -> torch.Tensor:
    """A (fan_in, fan_out) float32 tensor of zeros."""
    return torch.from_numpy(np_init.zeros(fan_in, fan_out, rng))


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> torch.Tensor:
    """Glorot/Xavier uniform, (fan_in, fan_out), float32, drawn exactly as the NumPy tree draws it."""
    return torch.from_numpy(np_init.xavier_uniform(fan_in, fan_out, rng))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> torch.Tensor:
    """He/Kaiming normal, (fan_in, fan_out), float32, drawn exactly as the NumPy tree draws it."""
    return torch.from_numpy(np_init.he_normal(fan_in, fan_out, rng))


def he_kernels(in_channels: int, out_channels: int, kh: int, kw: int, rng: np.random.Generator) -> torch.Tensor:
    """He-normal convolution kernels, (F, C, KH, KW), float32, drawn exactly as the NumPy tree draws them."""
    return torch.from_numpy(np_init.he_kernels(in_channels, out_channels, kh, kw, rng))


def uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> torch.Tensor:
    """U(-bound, bound) of any shape, float32, drawn exactly as the NumPy tree draws it."""
    return torch.from_numpy(np_init.uniform(rng, bound, shape))

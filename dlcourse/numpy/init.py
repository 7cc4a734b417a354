r"""Weight initialisers: where training starts.

All-zero weights make every neuron in a layer compute the same thing and receive the same
gradient, so they stay identical forever (the symmetry is never broken). Random weights
break it, and their scale matters: too small and the signal fades layer after layer, too
large and it explodes. Xavier (Glorot) keeps the variance steady for tanh/sigmoid layers,
:math:`\mathrm{Var}(w) = 2 / (n_{in} + n_{out})`; He (Kaiming) for ReLU layers,
:math:`\mathrm{Var}(w) = 2 / n_{in}`.

Every initialiser draws from a NumPy generator, in both trees, so the NumPy and PyTorch
networks of the course can start from identical weights.

Mirrored by :mod:`dlcourse.torch.init`.
"""

from __future__ import annotations

import numpy as np

from dlcourse.validation import as_count, check_allocation, check_positive, check_rng

__all__ = ["he_kernels", "he_normal", "uniform", "xavier_uniform", "zeros"]


def _fans(fan_in: int, fan_out: int) -> tuple[int, int]:
    fans = as_count(fan_in, "fan_in"), as_count(fan_out, "fan_out")
    check_allocation(fans, "the weight")
    return fans


def zeros(fan_in: int, fan_out: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A (fan_in, fan_out) matrix of zeros, float32: fine for one layer, fatal for hidden layers."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    if rng is not None:
        check_rng(rng)
    return np.zeros((fan_in, fan_out), dtype=np.float32)


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    r"""Glorot/Xavier uniform: :math:`U(-a, a)`, :math:`a = \sqrt{6 / (n_{in} + n_{out})}`; (fan_in, fan_out), float32."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    check_rng(rng)
    return rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    r"""He/Kaiming normal: :math:`N(0, 2 / n_{in})`; (fan_in, fan_out), float32."""
    fan_in, fan_out = _fans(fan_in, fan_out)
    check_rng(rng)
    return (rng.standard_normal(size=(fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def he_kernels(in_channels: int, out_channels: int, kh: int, kw: int, rng: np.random.Generator) -> np.ndarray:
    """He-normal kernels, drawn as a linear layer's (C*KH*KW, F) weight: each column is one kernel."""
    sizes = (in_channels, out_channels, kh, kw)
    in_channels, out_channels, kh, kw = (
        as_count(v, n) for v, n in zip(sizes, ("in_channels", "out_channels", "kh", "kw"), strict=True)
    )
    fan_in = in_channels * kh * kw
    check_allocation((out_channels, in_channels, kh, kw), "the kernels")
    return np.ascontiguousarray(he_normal(fan_in, out_channels, rng).T).reshape(
        out_channels, in_channels, kh, kw
    )  # (F, C*KH*KW) -> (F, C, KH, KW)


def uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> np.ndarray:
    r""":math:`U(-b, b)` of any shape, float32: PyTorch's default for recurrent layers and their heads,
    with :math:`b = 1/\sqrt{H}`."""
    check_rng(rng)
    bound = check_positive(bound, "bound")
    shape = tuple(as_count(s, "shape", minimum=0) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    check_allocation(shape, "the weight")
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)

"""Centred finite differences in float64: the oracle every hand-written backward is checked against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    r"""Estimate :math:`\partial f / \partial x` by centred differences.

    .. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}

    The error of the centred form shrinks like :math:`\epsilon^2`, against
    :math:`\epsilon` for the one-sided form.

    Args:
        f: a scalar function of an array.
        x: the point, any shape; it is copied to float64 and never modified.
        eps: the step. The truncation error grows like eps**2 and the rounding error like
            1e-16 / eps; 1e-5 keeps both near 1e-10 for functions of size 1.

    Returns:
        The gradient, same shape as ``x``, float64.
    """
    x = np.array(x, dtype=np.float64)  # a float64 copy
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views into x and grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|, 1e-8), elementwise, then the largest: 0 means equal."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8), initial=0.0))

r"""Activation functions in PyTorch, mirroring :mod:`dlcourse.numpy.activations`.

Same names, same signatures, same caches. The forward functions use PyTorch's fused
kernels; the backward functions are the same formulas as the NumPy tree, written with
tensor operations, so that both can be checked against ``torch.autograd``.
"""

from __future__ import annotations

import torch

from dlcourse.validation import as_float_tensor as _as_float_tensor
from dlcourse.validation import check_shape

__all__ = [
    "relu",
    "relu_backward",
    "relu_forward",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "step",
    "tanh",
    "tanh_backward",
    "tanh_forward",
]


def sigmoid(x: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    r"""The logistic sigmoid :math:`1 / (1 + e^{-x})`; ``torch.sigmoid`` is overflow-safe.
    ``check=False`` skips converting and checking ``x``, for the package's own callers."""
    return torch.sigmoid(_as_float_tensor(x, "x") if check else x)


def tanh(x: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    r"""The hyperbolic tangent, in (-1, 1); ``check`` as in :func:`sigmoid`."""
    return torch.tanh(_as_float_tensor(x, "x") if check else x)


def relu(x: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    r"""The rectified linear unit :math:`\max(0, x)`; ``check`` as in :func:`sigmoid`."""
    return torch.relu(_as_float_tensor(x, "x") if check else x)


def step(x: torch.Tensor) -> torch.Tensor:
    r"""The Heaviside step: 1 where :math:`x \ge 0`, else 0, in the dtype of ``x``."""
    x = _as_float_tensor(x, "x")
    return (x >= 0).to(x.dtype)


def sigmoid_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid, returning ``(out, cache)`` with ``cache = out``."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    r""":math:`dx = dout \cdot \sigma(x)(1 - \sigma(x))`."""
    dout = _as_float_tensor(dout, "dout")
    check_shape(dout, "dout", tuple(cache.shape))
    return dout * cache * (1 - cache)


def tanh_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tanh, returning ``(out, cache)`` with ``cache = out``."""
    out = tanh(x)
    return out, out


def tanh_backward(dout: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    r""":math:`dx = dout \cdot (1 - \tanh^2 x)`."""
    dout = _as_float_tensor(dout, "dout")
    check_shape(dout, "dout", tuple(cache.shape))
    return dout * (1 - cache * cache)


def relu_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU, returning ``(out, cache)`` with ``cache = x``."""
    x = _as_float_tensor(x, "x")
    return relu(x, check=False), x  # x is checked once, here


def relu_backward(dout: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    r""":math:`dx = dout \cdot [x > 0]` (0 at exactly 0, as in autograd)."""
    dout = _as_float_tensor(dout, "dout")
    check_shape(dout, "dout", tuple(cache.shape))
    return dout * (cache > 0)

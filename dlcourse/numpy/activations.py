r"""Activation functions in NumPy: values, and forward/backward pairs with a cache.

Each activation :math:`\phi` is applied elementwise, so every array keeps its shape.
``*_forward(x)`` returns ``(out, cache)``; ``*_backward(dout, cache)`` returns
``dx = dout * phi'(x)``, the gradient of the loss with respect to ``x`` given the gradient
``dout`` with respect to ``out``.

Mirrored by :mod:`dlcourse.torch.activations`.
"""

from __future__ import annotations

import numpy as np

from dlcourse.validation import as_float_array, check_shape

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


def sigmoid(x: np.ndarray, *, check: bool = True) -> np.ndarray:
    r"""The logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, squashing any real into (0, 1).

    Computed without overflow: with :math:`e = e^{-|x|} \le 1`,
    :math:`\sigma(x) = 1/(1+e)` for :math:`x \ge 0` and :math:`e/(1+e)` otherwise,
    so ``sigmoid(±1000)`` is exactly 1 or 0 with no warning.

    Args:
        x: any shape, float.
        check: convert and check ``x`` (the default); the package's own callers, which pass
            arrays they have checked, skip it.

    Returns:
        Same shape and float dtype as ``x``.
    """
    if check:
        x = as_float_array(x, "x")
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def tanh(x: np.ndarray, *, check: bool = True) -> np.ndarray:
    r"""The hyperbolic tangent :math:`\tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})`, in (-1, 1).

    Note :math:`\tanh(x) = 2\sigma(2x) - 1`: a sigmoid stretched to be centred on zero.

    Args:
        x: any shape, float.
        check: convert and check ``x``, as in :func:`sigmoid`.

    Returns:
        Same shape and dtype as ``x``.
    """
    return np.tanh(as_float_array(x, "x") if check else x)


def relu(x: np.ndarray, *, check: bool = True) -> np.ndarray:
    r"""The rectified linear unit :math:`\mathrm{ReLU}(x) = \max(0, x)`.

    Args:
        x: any shape, float.
        check: convert and check ``x``, as in :func:`sigmoid`.

    Returns:
        Same shape and dtype as ``x``.
    """
    if check:
        x = as_float_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def step(x: np.ndarray) -> np.ndarray:
    r"""The Heaviside step used by Rosenblatt's perceptron: 1 where :math:`x \ge 0`, else 0.

    Its derivative is zero almost everywhere, which is why gradient descent cannot train it
    and smooth activations replaced it.

    Args:
        x: any shape, float.

    Returns:
        Same shape and dtype as ``x``, values in {0, 1}.
    """
    x = as_float_array(x, "x")
    return (x >= 0).astype(x.dtype)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid, keeping what the backward pass needs.

    Returns:
        ``out`` (same shape as ``x``) and ``cache = out``, since
        :math:`\\sigma'(x) = \\sigma(x)(1 - \\sigma(x))`.
    """
    out = sigmoid(x)  # checks x
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    r"""Gradient through the sigmoid: :math:`dx = dout \cdot \sigma(x)(1 - \sigma(x))`.

    Args:
        dout: upstream gradient, same shape as the forward output.
        cache: the ``out`` of :func:`sigmoid_forward`.

    Returns:
        ``dx``, same shape as ``dout``.
    """
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", cache.shape)
    return dout * cache * (1 - cache)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Tanh, keeping ``cache = out``, since :math:`\tanh'(x) = 1 - \tanh^2(x)`."""
    out = tanh(x)  # checks x
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    r"""Gradient through tanh: :math:`dx = dout \cdot (1 - \tanh^2 x)`; shapes as :func:`sigmoid_backward`."""
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", cache.shape)
    return dout * (1 - cache * cache)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU, keeping ``cache = x``: the gradient passes where the input was positive."""
    x = as_float_array(x, "x")
    return relu(x, check=False), x  # x is checked once, here


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    r"""Gradient through ReLU: :math:`dx = dout \cdot [x > 0]`.

    At exactly :math:`x = 0` the derivative is undefined; like PyTorch we use 0.

    Args:
        dout: upstream gradient, same shape as the forward output.
        cache: the input ``x`` of :func:`relu_forward`.

    Returns:
        ``dx``, same shape as ``dout``.
    """
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", cache.shape)
    return dout * (cache > 0)

"""Gradient checks shared by the test modules: every hand-written backward pass is compared with
centred finite differences in float64 (:func:`assert_backward`, :func:`assert_parameter_gradients`),
and every NumPy function with its PyTorch twin and autograd (:func:`assert_twins`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from dlcourse.gradcheck import numerical_gradient


def _weighted_sum(outputs: Any, upstream: Any) -> float:
    """sum(output * upstream): the scalar whose gradient is what a backward pass returns for that
    upstream gradient. ``upstream`` may be a tuple, one per leading output (an LSTM step's h and c)."""
    if isinstance(upstream, tuple):
        return float(sum(np.sum(np.asarray(o) * u) for o, u in zip(outputs, upstream, strict=False)))
    out = outputs[0] if isinstance(outputs, tuple) else outputs
    return float(np.sum(np.asarray(out) * upstream))


def assert_backward(
    forward: Callable[..., Any],
    backward: Callable[[Any], Any],
    *inputs: np.ndarray,
    upstream: Any = None,
    wrt: Sequence[int] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Check a backward pass against centred finite differences with an upstream gradient; returns
    the finite-difference gradients, in the order of ``wrt``, for further assertions.

    Args:
        forward: ``forward(*inputs)``, an array, a scalar, or a tuple whose first element (or first
            ``len(upstream)`` elements) the upstream gradient multiplies; the rest (a cache) is ignored.
        backward: ``backward(upstream)`` -> the gradient of each input in ``wrt``: one array, or a
            sequence in the order of ``wrt``.
        inputs: the point; each is differentiated in float64.
        upstream: the upstream gradient (a tuple for several outputs); default: standard normal
            noise of the output's shape, drawn from ``seed``.
        wrt: the indices of the inputs that ``backward`` returns gradients for (default: all).
        rtol, atol: the tolerance of ``np.testing.assert_allclose``.
        names: a name per index of ``wrt``, for the failure message.
    """
    wrt = list(range(len(inputs))) if wrt is None else list(wrt)
    if upstream is None:
        outputs = forward(*inputs)
        out = outputs[0] if isinstance(outputs, tuple) else outputs
        upstream = np.random.default_rng(seed).normal(size=np.shape(out))
    grads = backward(upstream)
    grads = [grads] if len(wrt) == 1 and not isinstance(grads, list | tuple) else list(grads)
    assert len(grads) >= len(wrt), f"backward gave {len(grads)} gradients for {len(wrt)} inputs"
    numerics = []
    for k, index in enumerate(wrt):

        def at(v: np.ndarray, index: int = index) -> float:
            args = [v if j == index else a for j, a in enumerate(inputs)]
            return _weighted_sum(forward(*args), upstream)

        numeric = numerical_gradient(at, inputs[index])
        message = names[k] if names else f"input {index}"
        np.testing.assert_allclose(np.asarray(grads[k]), numeric, rtol=rtol, atol=atol, err_msg=message)
        numerics.append(numeric)
    return numerics


def assert_parameter_gradients(
    parameters: Iterable[tuple[str, Any]], loss: Callable[[], float], rtol: float = 1e-6, atol: float = 1e-9
) -> None:
    """Check each parameter's accumulated ``grad`` against centred finite differences of ``loss()``,
    a scalar that reads the parameters' current ``data`` (each is perturbed in turn and restored).

    Args:
        parameters: (name, parameter) pairs, such as ``model.named_parameters()``.
        loss: the scalar whose gradient the parameters hold, recomputed from scratch on each call.
    """
    for name, p in parameters:

        def at(value: np.ndarray, p: Any = p) -> float:
            saved, p.data = p.data, value
            try:
                return float(loss())
            finally:
                p.data = saved

        np.testing.assert_allclose(p.grad, numerical_gradient(at, p.data), rtol=rtol, atol=atol, err_msg=name)


def assert_twins(
    numpy_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    *inputs: np.ndarray,
    numpy_backward: Callable[[np.ndarray], Any] | None = None,
    upstream: np.ndarray | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-14,
    seed: int = 0,
) -> None:
    """Check a NumPy function against its PyTorch twin: the same values and, with ``numpy_backward``,
    the same gradients as ``torch.autograd`` gives for the twin.

    Args:
        numpy_fn, torch_fn: the two functions, each of the same inputs (arrays for NumPy, tensors
            made from them for PyTorch); a tuple result counts by its first element.
        inputs: the point, float arrays.
        numpy_backward: ``numpy_backward(upstream)`` -> the NumPy gradient of each input, one array
            or a sequence.
        upstream: the upstream gradient; default: standard normal noise from ``seed``.
    """
    ours = numpy_fn(*inputs)
    ours = ours[0] if isinstance(ours, tuple) else ours
    tensors = [torch.from_numpy(np.array(a)).requires_grad_(numpy_backward is not None) for a in inputs]
    theirs = torch_fn(*tensors)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=rtol, atol=atol, err_msg="values")
    if numpy_backward is None:
        return
    if upstream is None:
        upstream = np.random.default_rng(seed).normal(size=np.shape(ours))
    theirs.backward(torch.as_tensor(upstream, dtype=theirs.dtype))
    grads = numpy_backward(upstream)
    grads = [grads] if not isinstance(grads, list | tuple) else list(grads)
    for k, (grad, t) in enumerate(zip(grads, tensors, strict=False)):
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {k}")

"""Input checks that speak to a learner: one sentence naming the argument.

The same helpers serve NumPy arrays and torch tensors (anything with ``shape`` and
``dtype``), so both trees raise the same messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "as_float_array",
    "as_float_tensor",
    "as_pair",
    "check_cell",
    "check_conv",
    "check_ids",
    "check_matmul",
    "check_no_nan",
    "check_parameter_list",
    "check_pool_stride",
    "check_positive",
    "check_shape",
    "check_training",
]


def _describe_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def as_float_array(value: Any, name: str, *, allow_nan: bool = True) -> np.ndarray:
    """Turn ``value`` into a floating-point NumPy array or explain why not.

    Integer and boolean input is converted to float64; float32 and float64 keep their dtype.

    Raises:
        TypeError: ``value`` is not numeric (strings, objects, complex numbers).
        ValueError: ``value`` holds NaN and ``allow_nan`` is False.
    """
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array, but it could not be turned into one ({exc}).") from None
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    elif array.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}.")
    if not allow_nan:
        check_no_nan(array, name)
    return array


def check_shape(value: Any, name: str, expected: tuple[int | None, ...]) -> None:
    """Check ``value.shape`` against ``expected``, where ``None`` matches any size.

    Raises:
        ValueError: the number of dimensions or a fixed size differs.
    """
    shape = tuple(value.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected, strict=True))
    if not ok:
        raise ValueError(f"{name} must have shape {_describe_shape(expected)}, got {_describe_shape(shape)}.")


def check_no_nan(value: Any, name: str) -> None:
    """Raise a one-sentence ValueError if ``value`` (array or tensor) holds NaN."""
    count = int((value != value).sum())  # NaN is the only value not equal to itself
    if count:
        raise ValueError(f"{name} contains NaN at {count} position(s); NaN is not allowed here.")


def check_positive(value: float, name: str) -> None:
    """Raise a one-sentence ValueError unless ``value`` is a finite number > 0."""
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


def as_float_tensor(value: Any, name: str, *, allow_nan: bool = True):
    """The torch twin of :func:`as_float_array`: a floating-point tensor or a clear error.

    Integer and boolean input becomes float64; floating tensors keep dtype and device.
    """
    import torch  # imported here so that the NumPy tree never pays for it

    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value))
        except Exception as exc:
            raise TypeError(f"{name} must be a numeric tensor, but it could not be turned into one ({exc}).") from None
    if value.dtype.is_complex:
        raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {value.dtype}.")
    if not value.is_floating_point():
        value = value.to(torch.float64)
    if not allow_nan:
        check_no_nan(value, name)
    return value


# ---------------------------------------------------------------- checks of one concept, shared by both trees


def check_matmul(a: Any, b: Any, to_array: Callable) -> tuple:
    """Convert and check the operands of a matrix product: a (n, k) and b (k, m)."""
    a, b = to_array(a, "a"), to_array(b, "b")
    check_shape(a, "a", (None, None))
    check_shape(b, "b", (a.shape[1], None))
    return a, b


def check_conv(x: Any, weight: Any, bias: Any, to_array: Callable) -> tuple:
    """Convert and check a convolution's inputs: x (N, C, H, W), weight (F, C, KH, KW), bias (F,).

    ``to_array`` is :func:`as_float_array` or :func:`as_float_tensor`, so both trees refuse alike.
    """
    x, weight, bias = to_array(x, "x"), to_array(weight, "weight"), to_array(bias, "bias")
    check_shape(x, "x", (None, None, None, None))
    check_shape(weight, "weight", (None, x.shape[1], None, None))
    check_shape(bias, "bias", (weight.shape[0],))
    return x, weight, bias


def as_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """A kernel size or stride as a pair of positive ints: ``3`` becomes ``(3, 3)``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(np.atleast_1d(np.asarray(value, object)))
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}.")
    return int(pair[0]), int(pair[1])


def check_pool_stride(kernel: int, stride: int | None) -> int:
    """The pooling stride (``kernel`` when None), after checking that both are positive integers."""
    for name, value in (("kernel", kernel), ("stride", stride)):
        if value is not None and not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(kernel if stride is None else stride)


def check_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates: int, step: bool) -> None:
    """Shape checks for a cell with ``gates`` blocks (1: RNN, 4: LSTM); x is (N, D) for one
    step, (T, N, D) for a sequence. Messages name the argument, as everywhere in the package."""
    check_shape(weight_ih, "weight_ih", (None, None))
    rows = weight_ih.shape[0]
    if rows % gates or rows == 0:
        raise ValueError(
            f"weight_ih must have {gates} H rows for a hidden size H (the gate blocks i, f, g, o), got shape "
            f"{tuple(weight_ih.shape)}."
        )
    hidden = rows // gates
    check_shape(weight_hh, "weight_hh", (rows, hidden))
    check_shape(bias_ih, "bias_ih", (gates * hidden,))
    check_shape(bias_hh, "bias_hh", (gates * hidden,))
    features = weight_ih.shape[1]
    check_shape(x, "x", (None, features) if step else (None, None, features))
    batch = x.shape[0] if step else x.shape[1]
    names = ("h_prev", "c_prev") if step else ("h0", "c0")
    for value, name in ((h_prev, names[0]), (c_prev, names[1])):
        if value is not None:
            check_shape(value, name, (batch, hidden))


def check_training(
    steps: int | None,
    budget_s: float | None,
    ids: np.ndarray,
    batch_size: int,
    seq_len: int,
    log_every: int = 1,
    eval_every: int | None = None,
) -> None:
    """The arguments of a language model's training: an end (steps or a time budget), positive sizes,
    and a text long enough for one batch of chunks."""
    if steps is None and budget_s is None:
        raise ValueError("give steps or budget_s (or both): training needs an end.")
    for value, name in ((steps, "steps"), (log_every, "log_every"), (eval_every, "eval_every")):
        if value is not None and not (
            isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for value, name in ((steps, "steps"), (budget_s, "budget_s")):
        if value is not None:
            check_positive(value, name)
    check_positive(batch_size, "batch_size")
    check_positive(seq_len, "seq_len")
    if len(ids) < batch_size * (seq_len + 1):
        raise ValueError(
            f"train_ids is too short: {len(ids)} characters, expected at least batch_size * (seq_len + 1) = "
            f"{batch_size * (seq_len + 1)}."
        )


def check_ids(ids: Any, name: str, vocab_size: int) -> np.ndarray:
    """A text as a 1-D array of integer character ids, each in [0, vocab_size), or a one-sentence error."""
    array = np.asarray(ids)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be a 1-D array of integer character ids, got {array.dtype} of shape {array.shape}."
        )
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        raise ValueError(
            f"{name} must hold ids in [0, {vocab_size}) (the model's vocab_size), got values from {array.min()} to {array.max()}."
        )
    return array


def check_parameter_list(params: Any, name: str = "params") -> list:
    """``params`` as a list of parameters; a single parameter or tensor (which has a ``grad`` of its
    own) is refused, since iterating over it would go over its rows."""
    if hasattr(params, "grad") or isinstance(params, np.ndarray):
        raise TypeError(
            f"{name} must be a list of parameters, got a single {type(params).__name__}; pass [p] or model.parameters()."
        )
    try:
        return list(params)
    except TypeError:
        raise TypeError(f"{name} must be a list of parameters, got {type(params).__name__}.") from None

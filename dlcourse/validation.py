"""Input checks that speak to a learner: one sentence naming the argument.

The same helpers serve NumPy arrays and torch tensors (anything with ``shape`` and
``dtype``), so both trees raise the same messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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

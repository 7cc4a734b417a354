"""The argument checks of the normalisation layers, shared by :mod:`dlcourse.numpy.norm` and
:mod:`dlcourse.torch.norm`, so that the two trees accept the same input and refuse bad input with
the same sentence. The one-sentence primitives they are built from live in :mod:`dlcourse.validation`.

Each check that converts arrays takes ``to_array`` (:func:`dlcourse.validation.as_float_array` or
:func:`dlcourse.validation.as_float_tensor`) for the tree's conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlcourse.validation import (
    as_count,
    as_flag,
    check_allocation,
    check_positive,
    check_shape,
    describe,
    in_unit,
    promote,
)

__all__ = [
    "as_normalized_shape",
    "as_num_features",
    "check_batch_values",
    "check_batchnorm",
    "check_batchnorm_input",
    "check_eps",
    "check_layernorm",
    "check_layernorm_input",
    "check_norm_settings",
    "check_running",
    "values_per_channel",
]


def check_eps(eps: Any) -> float:
    """``eps`` as a float > 0 that stays > 0 in float32, the layers' dtype: it keeps the division by
    the standard deviation away from zero, which an eps of 1e-50 (0 in float32) would not."""
    number = check_positive(eps, "eps")
    if np.float32(number) == 0:
        raise ValueError(f"eps must stay positive in float32 (1e-45 or more), got {describe(eps)}, which rounds to 0.")
    return number


def check_norm_settings(eps: Any, momentum: Any = 0.1) -> tuple[float, float]:
    """``eps`` > 0 (see :func:`check_eps`) and ``momentum`` in [0, 1], as floats."""
    return check_eps(eps), in_unit(momentum, "momentum")


def as_num_features(value: Any) -> int:
    """A BatchNorm layer's ``num_features``: a positive count whose four (C,) arrays fit in memory."""
    count = as_count(value, "num_features")
    check_allocation((count,), f"the weight of num_features={count}")
    return count


def values_per_channel(shape: tuple[int, ...]) -> int:
    """How many values one channel of a (N, C, ...) batch holds: N times every axis after C."""
    return math.prod(shape[:1] + shape[2:])


def check_batch_values(x: Any, training: bool) -> None:
    """In training, a batch statistic needs more than one value per channel (torch's rule), and a
    finite batch: one NaN or infinity would poison the running statistics for good. An empty batch
    passes, and maps to an empty output."""
    if not training:
        return
    count = values_per_channel(tuple(x.shape))
    if count == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got x of shape {tuple(x.shape)}; "
            "train on a batch of at least 2, or call eval() first."
        )
    finite = np.isfinite(x) if isinstance(x, np.ndarray) else x.isfinite()
    if not finite.all():
        bad = int((~finite).sum())
        raise ValueError(
            f"x holds {bad} NaN or infinite value(s), which in training mode would poison the running statistics."
        )


def check_running(value: Any, name: str, channels: int, to_array: Callable, training: bool = True) -> Any:
    """A running statistic: a float array (NumPy tree) or tensor (torch tree) of shape (C,), which
    training updates in place, so it is refused rather than converted into a copy; in training it is
    refused too when it cannot be written (a read-only NumPy array, a torch inference tensor). Both
    trees give the same sentence for the same value."""
    converted = to_array(value, name)
    check_shape(converted, name, (channels,))
    if isinstance(value, np.ndarray):
        locked = not value.flags.writeable
    else:
        locked = bool(getattr(value, "is_inference", lambda: False)())
    if converted is not value or (training and locked):
        got = f"a read-only {describe(value).removeprefix('a ')}" if locked else describe(value)
        raise TypeError(
            f"{name} must be a writeable float array of this tree, which training updates in place, got {got}."
        )
    return converted


def check_batchnorm(
    x: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: Any,
    momentum: Any,
    eps: Any,
    to_array: Callable,
) -> tuple:
    """The arguments of ``batchnorm_forward`` in either tree: x (N, C, ...), weight, bias, running_mean
    and running_var (C,), a flag, momentum in [0, 1] and eps > 0.

    Returns:
        (x, weight, bias, running_mean, running_var, training, momentum, eps), x, weight and bias in
        their common float dtype; the running statistics as they were given.
    """
    x, weight, bias = to_array(x, "x"), to_array(weight, "weight"), to_array(bias, "bias")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis, shape (N, C, ...), got {tuple(x.shape)}.")
    channels = x.shape[1]
    check_shape(weight, "weight", (channels,))
    check_shape(bias, "bias", (channels,))
    training = as_flag(training, "training")
    running_mean = check_running(running_mean, "running_mean", channels, to_array, training)
    running_var = check_running(running_var, "running_var", channels, to_array, training)
    eps, momentum = check_norm_settings(eps, momentum)
    x, weight, bias = promote(x, weight, bias)
    return x, weight, bias, running_mean, running_var, training, momentum, eps


def check_batchnorm_input(x: Any, num_features: int, ndims: tuple[int, ...], dtype: Any, to_array: Callable) -> Any:
    """A BatchNorm layer's input: ``ndims`` axes ((2, 3) for BatchNorm1d, (4,) for BatchNorm2d) with
    ``num_features`` channels on axis 1, cast to ``dtype``, the dtype of the layer's parameters."""
    x = to_array(x, "x")
    if x.ndim not in ndims:
        wanted = {(2, 3): "(N, C) or (N, C, L)", (4,): "(N, C, H, W)"}.get(ndims, f"{ndims} axes")
        raise ValueError(f"x must have shape {wanted} for this layer, got {tuple(x.shape)}.")
    if x.shape[1] != num_features:
        raise ValueError(
            f"x must have {num_features} channels on axis 1 (the layer's num_features), got shape {tuple(x.shape)}."
        )
    return x.astype(dtype, copy=False) if isinstance(x, np.ndarray) else x.to(dtype)


def as_normalized_shape(value: Any) -> tuple[int, ...]:
    """LayerNorm's ``normalized_shape``: a positive int, or a non-empty tuple or list of them."""
    sizes = value if isinstance(value, (tuple, list)) else (value,)
    if not sizes:
        raise ValueError(f"normalized_shape must be a positive integer or a non-empty tuple of them, got {value!r}.")
    shape = tuple(as_count(size, "normalized_shape") for size in sizes)
    check_allocation(shape, f"the weight of normalized_shape={shape}")
    return shape


def check_layernorm_input(x: Any, normalized_shape: tuple[int, ...], dtype: Any, to_array: Callable) -> Any:
    """A LayerNorm input: its last axes are ``normalized_shape``; cast to ``dtype`` when one is given."""
    x = to_array(x, "x")
    k = len(normalized_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != normalized_shape:
        expected = ", ".join(map(str, normalized_shape))
        raise ValueError(f"x must end with the normalized shape, shape (*, {expected}), got {tuple(x.shape)}.")
    if dtype is None:
        return x
    return x.astype(dtype, copy=False) if isinstance(x, np.ndarray) else x.to(dtype)


def check_layernorm(x: Any, weight: Any, bias: Any, eps: Any, to_array: Callable) -> tuple:
    """The arguments of ``layernorm_forward`` in either tree: weight and bias of one shape, the
    normalized shape, which ends x; eps > 0. Returns (x, weight, bias, eps), converted."""
    weight, bias = to_array(weight, "weight"), to_array(bias, "bias")
    if weight.ndim == 0:
        raise ValueError("weight must have the normalized shape, at least one axis, got a 0-d array.")
    check_shape(bias, "bias", tuple(weight.shape))
    x = check_layernorm_input(x, tuple(weight.shape), None, to_array)
    x, weight, bias = promote(x, weight, bias)
    return x, weight, bias, check_eps(eps)

"""Input checks that speak to a learner: one sentence naming the argument, what it got and what
was expected, raised as a ``TypeError`` (wrong kind of value) or a ``ValueError`` (right kind,
wrong value or shape).

The same helpers serve NumPy arrays and torch tensors (anything with ``shape`` and ``dtype``),
so both trees accept the same input and refuse bad input with the same sentence. The policy:

- **Arrays.** Lists, integer and boolean arrays are converted to float64; float16/32/64 keep
  their dtype. Complex, string and object arrays, None and ragged lists are refused.
- **Dtypes.** A function of several arrays computes in their common dtype (NumPy's promotion
  rule, applied in the torch tree too: float32 with float64 gives float64). A layer computes in
  its parameters' dtype: its input is converted to it, as ``torch.nn`` expects.
- **Numbers.** Where a number is asked for, an int, a float, or a NumPy or torch scalar is
  accepted; booleans, strings and complex numbers are not. Sizes, counts and seeds are integers
  (2.0 is refused) up to :data:`LARGEST_COUNT`; no array the package allocates may exceed
  :data:`LARGEST_ARRAY` values. Flags are True or False, never a string.
- **Labels and indices** are integers in [0, n): negative values are refused, never wrapped
  around, and booleans are not labels.
- **Empty batches.** Layers map an empty batch to an empty batch; losses refuse one (a mean over
  nothing is undefined). A value that is infinite mathematically, such as the cross-entropy of a
  zero probability, is returned as ``inf``.
- **Where.** Checks run at public entry points: functions, layer calls and training loops. The
  package's own internal calls, whose arguments are already checked, skip them (``check=False``):
  a layer converts its input once and calls its function without re-checking its own weights, a
  sequence is checked once rather than at every time step, a training loop checks its data once.
  Backward functions always check the upstream gradient against their cache: one shape
  comparison, since a wrong ``dout`` would otherwise broadcast silently.
  ``check=False`` trusts the caller completely: it is for the package's own calls, and bad
  data passed with it give NumPy's or torch's own errors, or garbage.

Checks of one concept (a convolution's arguments, a recurrent cell's) live in
:mod:`dlcourse.checks`; this module holds the primitives they are built from.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LARGEST_ARRAY",
    "LARGEST_COUNT",
    "as_count",
    "as_finite",
    "as_flag",
    "as_float_array",
    "as_float_tensor",
    "as_fraction",
    "as_index",
    "as_real",
    "check_allocation",
    "check_batch",
    "check_grad",
    "check_labels",
    "check_methods",
    "check_no_nan",
    "check_not_empty",
    "check_parameter_list",
    "check_positive",
    "check_rng",
    "check_shape",
    "describe",
    "in_unit",
    "promote",
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
    if value is None or isinstance(value, str):
        raise TypeError(f"{name} must be a numeric array, got {describe(value)}.")
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists, tensors that require grad, bfloat16 tensors
        reason = str(exc).split("\n")[0][:120]
        raise TypeError(f"{name} must be a numeric array, but it could not be turned into one ({reason}).") from None
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


def as_real(value: Any, name: str) -> float:
    """``value`` as a Python float: an int, a float, or a NumPy or torch scalar (a 0-d array or
    tensor) of an integer or floating dtype. Booleans, strings and complex numbers are refused.

    Raises:
        TypeError: ``value`` is not a real number.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got the boolean {value!r}.")
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range
            raise ValueError(
                f"{name} is too large to be a float, got an int of about {int(int(value).bit_length() * math.log10(2)) + 1} digits."
            ) from None
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and tuple(shape) == () and _kind(dtype) in "iuf":
        return float(value.item())
    raise TypeError(f"{name} must be a real number, got {describe(value)}.")


def check_positive(value: Any, name: str) -> float:
    """``value`` as a float, after checking that it is a finite number > 0 (see :func:`as_real`).

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: it is zero, negative, infinite or NaN.
    """
    number = as_real(value, name)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive number, got {describe(value)}.")
    return number


def check_rng(rng: Any, name: str = "rng") -> Any:
    """``rng`` itself, after checking that it is a NumPy generator (``np.random.default_rng(seed)``):
    the course passes randomness explicitly, in both trees."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator, such as np.random.default_rng(0), got {describe(rng)}."
        )
    return rng


def as_index(value: Any, name: str, n: int | None = None) -> int:
    """A state or an action: an integer in [0, n) (>= 0 when n is None); a negative one is refused,
    never wrapped around to the end of a table."""
    index = as_count(value, name, minimum=0)
    if n is not None and index >= n:
        raise ValueError(f"{name} must be in [0, {n}), got {index}.")
    return index


def in_unit(value: Any, name: str, open_low: bool = False) -> float:
    """A number in [0, 1] (a probability, a discount factor), or in (0, 1] with ``open_low``."""
    number = as_real(value, name)
    if not (0 < number <= 1 if open_low else 0 <= number <= 1):
        raise ValueError(f"{name} must be in {'(' if open_low else '['}0, 1], got {describe(value)}.")
    return number


def as_finite(value: Any, name: str) -> float:
    """A finite real number (a reward): NaN or infinity would poison every value learned from it."""
    number = as_real(value, name)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {describe(value)}.")
    return number


def as_fraction(value: Any, name: str) -> float:
    """``value`` as a float in [0, 1): a probability of dropping, a momentum, a decay rate.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: it is outside [0, 1).
    """
    number = as_real(value, name)
    if not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {describe(value)}.")
    return number


LARGEST_COUNT = 2**31 - 1  # sizes, counts and seeds beyond this are refused: no course run needs them


def as_count(value: Any, name: str, minimum: int = 1, maximum: int = LARGEST_COUNT) -> int:
    """``value`` as a Python int in [minimum, maximum]: an int, or a NumPy or torch integer scalar.

    Raises:
        TypeError: ``value`` is not an integer (floats such as 2.0 included, and booleans).
        ValueError: it is outside [minimum, maximum].
    """
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, numbers.Integral) or (shape is not None and tuple(shape) == () and _kind(dtype) in "iu")
    ):
        raise TypeError(f"{name} must be an integer, got {describe(value)}.")
    count = int(value)
    if count < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {kind}, got {count}.")
    if count > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {count}.")
    return count


LARGEST_ARRAY = 2**28  # values in one array the package allocates: 1 GiB of float32


def check_allocation(shape: tuple[int, ...], name: str) -> None:
    """Refuse to allocate an array of ``shape`` with more than :data:`LARGEST_ARRAY` values, with a
    sentence, instead of letting NumPy or torch fail (or the machine swap) on a typo."""
    count = math.prod(shape)
    if count > LARGEST_ARRAY:
        raise ValueError(
            f"{name} would hold {count:,} values (shape {tuple(shape)}), more than the {LARGEST_ARRAY:,} allowed."
        )


def as_flag(value: Any, name: str) -> bool:
    """``value`` as a bool: True or False (NumPy's bool included), nothing else.

    Raises:
        TypeError: ``value`` is not a boolean (a string such as "no" would count as True).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}.")
    return bool(value)


def check_methods(value: Any, name: str, methods: tuple[str, ...], what: str) -> Any:
    """``value`` itself, after checking that it has the given methods (a model, an optimiser, an
    environment): a string or None gets a sentence instead of an AttributeError later."""
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing:
        raise TypeError(f"{name} must be {what} (with {', '.join(m + '()' for m in methods)}), got {describe(value)}.")
    return value


def _kind(dtype: Any) -> str:
    """The NumPy kind letter of a NumPy or torch dtype ('f', 'i', 'u', 'b', 'c', ...), or '?'."""
    if dtype is None:
        return "?"
    if isinstance(dtype, np.dtype):
        return dtype.kind
    if getattr(dtype, "is_complex", False):
        return "c"
    if getattr(dtype, "is_floating_point", False):
        return "f"
    text = str(dtype)
    if text == "torch.bool":
        return "b"
    if text.startswith("torch.uint"):
        return "u"
    return "i" if text.startswith("torch.int") else "?"


def describe(value: Any) -> str:
    """A short description of a value for an error message: its repr, or its type and shape."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if tuple(value.shape) == () and hasattr(value, "item"):
            try:
                return f"{value.item()!r} ({type(value).__name__} of dtype {value.dtype})"
            except Exception:  # a tensor on the meta device has no value
                pass
        return f"a {type(value).__name__} of dtype {value.dtype} and shape {tuple(value.shape)}"
    try:
        text = repr(value)
    except Exception:  # an object whose repr fails must not hide the real error
        text = ""
    plain = 0 < len(text) <= 60 and " at 0x" not in text  # no memory addresses: they differ run to run
    return text if plain else f"a {type(value).__name__}"


def promote(*values: Any) -> tuple:
    """Arrays (or tensors) converted to their common floating dtype, NumPy's promotion rule in
    both trees: float32 with float64 gives float64. NumPy mixes dtypes on its own; torch refuses
    to multiply float32 by float64, so the torch tree calls this first."""
    if not values or isinstance(values[0], np.ndarray):
        dtype = np.result_type(*values)
        return tuple(v.astype(dtype, copy=False) for v in values)
    import torch

    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    return tuple(v.to(dtype) for v in values)


def as_float_tensor(value: Any, name: str, *, allow_nan: bool = True):
    """The torch twin of :func:`as_float_array`: a floating-point tensor or a clear error.

    Integer and boolean input becomes float64; floating tensors keep dtype and device.
    """
    import torch  # imported here so that the NumPy tree never pays for it

    if not isinstance(value, torch.Tensor):
        if value is None or isinstance(value, str):
            raise TypeError(f"{name} must be a numeric tensor, got {describe(value)}.")
        try:
            array = np.asarray(value)
            fit = array.flags.c_contiguous and array.flags.writeable  # torch refuses negative strides, and
            value = torch.as_tensor(array if fit else array.copy())  # warns on a read-only array
        except Exception as exc:
            reason = str(exc).split("\n")[0][:120]
            raise TypeError(
                f"{name} must be a numeric tensor, but it could not be turned into one ({reason})."
            ) from None
    if value.dtype.is_complex:
        raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {value.dtype}.")
    if not value.is_floating_point():
        value = value.to(torch.float64)
    if not allow_nan:
        check_no_nan(value, name)
    return value


def check_grad(dout: Any, name: str, shape: tuple[int | None, ...], to_array: Callable, like: Any = None) -> Any:
    """An upstream gradient, converted to float and checked against the shape of the forward
    output it belongs to (which the backward function reads from its cache); with ``like`` (an
    array of the cache), cast to its dtype, so that both trees compute a backward pass in the
    forward pass's dtype."""
    dout = to_array(dout, name)
    check_shape(dout, name, shape)
    if like is None:
        return dout
    return dout.astype(like.dtype, copy=False) if isinstance(dout, np.ndarray) else dout.to(like.dtype)


def check_not_empty(value: Any, name: str) -> None:
    """Refuse an empty array or tensor where a mean over it is taken: there is nothing to average."""
    if (value.numel() if hasattr(value, "numel") else value.size) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)}); a loss needs at least one value to average.")


def check_labels(labels: Any, name: str, num_classes: int, shape: tuple[int | None, ...] | None = None) -> Any:
    """Class labels: integers (not booleans, not floats) in [0, num_classes), as a NumPy array, or a
    tensor when given one; ``shape``, when given, is checked too."""
    if not hasattr(labels, "dtype"):
        try:
            labels = np.asarray(labels)
        except Exception:
            raise TypeError(f"{name} must be an array of integer class labels, got {describe(labels)}.") from None
    if _kind(labels.dtype) not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}.")
    if shape is not None:
        check_shape(labels, name, shape)
    if labels.numel() if hasattr(labels, "numel") else labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} must hold labels in [0, {num_classes}), got values from {low} to {high}.")
    return labels


def check_batch(x: Any, name: str) -> None:
    """A batch of examples: at least two axes, (N, ...), N possibly 0."""
    if x.ndim < 2:
        raise ValueError(f"{name} must be a batch of examples with shape (N, ...), got shape {tuple(x.shape)}.")


def check_parameter_list(params: Any, name: str = "params") -> list:
    """``params`` as a list of parameters; a single parameter or tensor (which has a ``grad`` of its
    own) is refused, since iterating over it would go over its rows."""
    if hasattr(params, "grad") or isinstance(params, np.ndarray):
        raise TypeError(
            f"{name} must be a list of parameters, got a single {type(params).__name__}; pass [p] or model.parameters()."
        )
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{name} must be a list of parameters, got {type(params).__name__}.") from None
    for i, p in enumerate(params):
        if not hasattr(p, "grad"):
            raise TypeError(f"{name}[{i}] must be a parameter (with a grad), got {describe(p)}.")
        dtype = getattr(p, "dtype", None) or getattr(getattr(p, "data", None), "dtype", None)
        if _kind(dtype) != "f":
            raise TypeError(f"{name}[{i}] must hold real floating-point numbers, got dtype {dtype}.")
    return params

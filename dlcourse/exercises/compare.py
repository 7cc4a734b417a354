"""Comparing a learner's output with the expected one, strictly: numbers only (never strings,
complex numbers or objects), shapes and structure exactly, values within a tolerance, and shown
with enough digits that "expected" and "got" differ whenever they do."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcourse.exercises import running

__all__ = [
    "Outcome",
    "Unreadable",
    "clean",
    "compare",
    "compare_parts",
    "fmt",
    "fmt_pair",
    "kind_of",
    "matches",
    "non_real",
    "to_array",
]


@dataclass
class Outcome:
    """What one comparison found: ok, or a message and a hint."""

    ok: bool
    message: str = ""
    hint: str | tuple[str, ...] = ""
    extra: dict = field(default_factory=dict)


_PLAIN = (np.ndarray, float, int, bool, np.float64, np.float32, np.int64, type(None))  # no learner's code in them


def fmt(value: Any, precision: int = 4) -> str:
    """``value`` for a feedback message, in one short line. A learner's object is shown under the time
    limit (its ``__repr__`` may never return) and as ``<object of type X>`` when it cannot be; never raises."""
    try:
        if type(value) in _PLAIN and (type(value) is not np.ndarray or value.dtype.kind in "biufc"):
            return _fmt(value, precision)
    except Exception:
        return _unshown(value)
    status, text, _ = running.call_limited(lambda: _fmt(value, precision), running.TIME_LIMIT_S)
    return text if status == "ok" and isinstance(text, str) else _unshown(value)


def _unshown(value: Any) -> str:
    """What stands for a value that could not be shown: its type's own name (no learner's metaclass asked)."""
    return f"<object of type {type.__dict__['__name__'].__get__(type(value))}>"


def _fmt(value: Any, precision: int) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        value = float(value)
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=precision, suppress_small=precision <= 4, threshold=12)
    if isinstance(value, float):
        return f"{value:.{max(6, precision)}g}"
    try:
        text = repr(value)
    except Exception:
        text = _unshown(value)
    return running.short(text, lines=1, width=120)


def fmt_pair(expected: Any, got: Any) -> tuple[str, str]:
    """Expected and got, with enough digits that they read differently whenever they differ."""
    for precision in (4, 6, 9, 12, 17):
        a, b = fmt(expected, precision), fmt(got, precision)
        if a != b:
            return a, b
    return a, b


def non_real(value: Any, depth: int = 0) -> str:
    """What in an output is not a real number ("complex numbers", "strings", ...), or "" when all is."""
    if depth > 3:
        return ""
    if isinstance(value, (str, bytes)):
        return "strings"
    if isinstance(value, complex) or (isinstance(value, np.ndarray) and np.iscomplexobj(value)):
        return "complex numbers"
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind in ("U", "S"):
        return "strings"
    if kind == "O":
        return "objects"
    if hasattr(value, "is_complex") and callable(value.is_complex) and value.is_complex():  # a torch tensor
        return "complex numbers"
    if isinstance(value, (list, tuple)):
        for item in value[:1000]:
            found = non_real(item, depth + 1)
            if found:
                return found
    return ""


def _plain(value: Any, depth: int = 0) -> Any:
    """Torch tensors (also inside lists and tuples, also ones that require grad) as NumPy arrays."""
    if hasattr(value, "detach") and callable(value.detach):
        try:
            return value.detach().cpu().numpy()
        except Exception:
            return None
    if isinstance(value, (list, tuple)) and depth < 4 and len(value) < 10_000:
        return [_plain(v, depth + 1) for v in value]
    return value


@dataclass
class Unreadable:
    """Stands for a learner's output that is not numbers, described while the time limit held
    (so that nothing of the learner's runs again afterwards)."""

    kind: str


def clean(value: Any, parts: int = 0) -> Any:
    """The learner's output as arrays of float64 (a tuple of them when ``parts``), or ``None``, or
    :class:`Unreadable`: converting may run the learner's ``__array__``, so it is done once, under
    the time limit, and the comparison only sees the result."""
    if value is None:
        return None
    if parts and isinstance(value, (tuple, list)) and len(value) < 100:
        items = [clean(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    array = to_array(value)
    return array if array is not None else Unreadable(kind_of(value))


def kind_of(value: Any) -> str:
    """What a value that is not an array of real numbers is, in a few words."""
    if isinstance(value, Unreadable):
        return value.kind
    if isinstance(value, (list, tuple)):
        lengths = {len(v) for v in value[:1000] if isinstance(v, (list, tuple))}
        if len(lengths) > 1:
            return f"a {type(value).__name__} whose rows have different lengths"
        return f"a {type(value).__name__} that is not all numbers"
    found = non_real(value)
    return found or f"a {type(value).__name__}"


def to_array(value: Any) -> np.ndarray | None:
    """A float64 array from numbers, lists, arrays or tensors; None if not strictly numeric
    (strings, numeric strings, complex numbers, objects and ragged lists are not numbers)."""
    if value is None or isinstance(value, (str, bytes, dict, set, frozenset, Unreadable)):
        return None
    value = _plain(value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(value)
    except Exception:  # ragged lists, an __array__ that fails
        return None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64)


def compare(got: Any, expected: np.ndarray, label: str, rtol: float, atol: float) -> Outcome:
    if got is None:
        return Outcome(False, f"for {label} your function returned None.", "Did you forget the `return` statement?")
    array = to_array(got)
    if array is None:
        return Outcome(False, f"for {label} expected real numbers, got {kind_of(got)}.")
    if array.shape != expected.shape:
        want = "a single number" if expected.ndim == 0 else f"an output of shape {expected.shape}"
        have = "a single number" if array.ndim == 0 else f"shape {array.shape}"
        return Outcome(
            False,
            f"for {label} expected {want}, got {have}.",
            (
                "Your output has the wrong shape: compare its shape with the one the exercise asks for.",
                f"The output must have shape {expected.shape}"
                + (" (a single number)" if expected.ndim == 0 else "")
                + ": count how many numbers each axis of the input contributes to it, and check every "
                "sum, mean or product against that.",
            ),
        )
    bad = np.isnan(array) & ~np.isnan(expected)
    if bad.any():
        return Outcome(False, f"for {label} your output contains NaN where a number was expected.")
    if not np.allclose(array, expected, rtol=rtol, atol=atol, equal_nan=True):
        want, got_text = fmt_pair(expected, array)
        return Outcome(False, f"for {label} expected {want}, got {got_text}.", extra={"got": array})
    return Outcome(True)


def compare_parts(
    got: Any, expected: Sequence[np.ndarray], names: Sequence[str], label: str, rtol: float, atol: float
) -> Outcome:
    """Compare a tuple output part by part: the right number of parts, each of the right shape
    and value. Nothing is flattened, so a (2, 1) weight never passes for a (2,) one."""
    if got is None:
        return Outcome(False, f"for {label} your function returned None.", "Did you forget the `return` statement?")
    wanted = "(" + ", ".join(names) + ")"
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        count = f"{len(got)} item{'s' * (len(got) != 1)}" if isinstance(got, (tuple, list)) else ""
        what = f"a {type(got).__name__} of {count}" if count else kind_of(got)
        return Outcome(False, f"for {label} expected a tuple {wanted}, got {what}.")
    for name, part, want in zip(names, got, expected, strict=True):
        array = to_array(part)
        if array is None:
            return Outcome(False, f"for {label} expected {name} to be numbers, got {kind_of(part)}.")
        if array.shape != want.shape:
            return Outcome(False, f"for {label} expected {name} of shape {want.shape}, got shape {array.shape}.")
        outcome = compare(array, want, f"{label}, {name}:", rtol, atol)
        if not outcome.ok:
            outcome.message = outcome.message.replace(f"for {label}, {name}:", f"for {label}, in {name}")
            return outcome
    return Outcome(True)


def matches(got: Any, wrong: Any, rtol: float, atol: float, parts: bool = False) -> bool:
    """Whether an output equals a known wrong one (same structure, shapes and values)."""
    if parts:
        if not isinstance(got, (tuple, list)) or not isinstance(wrong, (tuple, list)) or len(got) != len(wrong):
            return False
        return all(matches(g, w, rtol, atol) for g, w in zip(got, wrong, strict=True))
    a, b = to_array(got), to_array(wrong)
    return (
        a is not None
        and b is not None
        and a.shape == b.shape
        and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    )

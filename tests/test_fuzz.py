"""Fuzz every public function with bad arguments: the package must answer each with one clear
sentence of its own (ValueError, TypeError, IndexError or KeyError raised by a ``raise`` in
``dlcourse/``), never with a deep error from inside NumPy or torch, and must never silently
accept complex, object or str input.

The functions and their valid arguments are the table in tests/fuzz_table.py. One bad value
replaces one argument at a time; the bad values are built from the argument's valid value
(:func:`bad_arguments`, one hypothesis strategy over the kinds in ``KINDS``).

A call FAILS when it
  (a) raises an exception that no ``raise`` statement in ``dlcourse/`` raised (the innermost
      traceback frame is elsewhere, or is a package line that is not a ``raise``), or whose type
      is not ValueError/TypeError/IndexError/KeyError, or whose message is empty, longer than
      300 characters or spans several lines ("deep" error);
  (b) returns although the bad value was complex, object-dtype or str ("silent" acceptance);
  (c) returns a result that holds complex or non-numeric arrays ("bad result");
  (d) runs for more than CALL_TIMEOUT_S seconds ("hang").
Anything else is fine: a clear error, or a reasonable conversion (ints to floats, a NumPy scalar
where a number is asked for, a list of numbers).

Runs:
  pytest tests/test_fuzz.py -n 2                  default: 8 derandomized examples per argument
  pytest tests/test_fuzz.py -n 2 --fuzz           (or DLCOURSE_FUZZ=1) 300 random examples per argument
  python -m tests.test_fuzz --report              every (function, argument, bad kind) once: a summary
                                                  here, the full report in /tmp/fuzz_report.txt
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import itertools
import math
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import dlcourse

from .fuzz_table import ENTRIES, EXCLUDED, Entry, public_objects

PACKAGE_DIR = Path(dlcourse.__file__).resolve().parent
ALLOWED_ERRORS = (ValueError, TypeError, IndexError, KeyError)
MAX_MESSAGE = 300
CALL_TIMEOUT_S = 10.0
DEFAULT_EXAMPLES = 8
FUZZ_EXAMPLES = 300
REPORT_PATH = Path("/tmp/fuzz_report.txt")


# ================================================================ bad kinds


@dataclasses.dataclass(frozen=True)
class Ctx:
    """Where a bad value goes: the tree of the function ("numpy", "torch" or "shared")."""

    tree: str
    arg: str


class Chooser:
    """Picks among options: hypothesis draws in the tests, the first option in the report."""

    def __init__(self, draw: Callable[[Any], Any] | None = None) -> None:
        self._draw = draw

    def choice(self, options: Sequence[Any]) -> Any:
        options = list(options)
        return options[0] if self._draw is None else self._draw(st.sampled_from(options))


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of bad value: ``applies(valid)`` says whether it can be built from the valid value,
    ``build(valid, ctx, chooser)`` builds it; ``must_reject``: accepting it is a failure."""

    name: str
    applies: Callable[[Any], bool]
    build: Callable[[Any, Ctx, Chooser], Any]
    must_reject: bool = False


@dataclasses.dataclass(frozen=True)
class Bad:
    kind: str
    value: Any
    must_reject: bool

    def __repr__(self) -> str:
        return f"Bad({self.kind}: {describe(self.value)})"


def is_array(v: Any) -> bool:
    return isinstance(v, (np.ndarray, torch.Tensor))


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_float(v: Any) -> bool:
    return isinstance(v, (float, np.floating))


def is_number_seq(v: Any) -> bool:
    return isinstance(v, (tuple, list)) and not hasattr(v, "_fields") and all(is_int(x) or is_float(x) for x in v)


def has_array_item(v: Any) -> bool:
    return isinstance(v, (tuple, list, dict)) and any(is_array(x) for x in items(v))


def is_object(v: Any) -> bool:
    return not (
        v is None
        or is_array(v)
        or is_int(v)
        or is_float(v)
        or isinstance(v, (bool, str))
        or is_number_seq(v)
        or has_array_item(v)
    )


def items(v: Any) -> list[Any]:
    return list(v.values()) if isinstance(v, dict) else list(v)


def to_numpy(v: Any) -> np.ndarray:
    return v.detach().cpu().numpy().copy() if isinstance(v, torch.Tensor) else np.array(v)


def like(valid: Any, a: np.ndarray) -> Any:
    """``a`` in the type of ``valid`` (a tensor for a tensor)."""
    # a.copy(order="C"), not np.ascontiguousarray, which turns a 0-d array into a 1-d one
    return torch.from_numpy(np.asarray(a).copy(order="C")) if isinstance(valid, torch.Tensor) else a


def floated(valid: Any) -> np.ndarray:
    a = to_numpy(valid)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _kinds_for_arrays() -> list[Kind]:
    any_array, nonscalar = is_array, lambda v: is_array(v) and v.ndim >= 1
    filled = lambda v: is_array(v) and v.ndim >= 1 and math.prod(v.shape) >= 1  # noqa: E731
    matrix = lambda v: is_array(v) and v.ndim >= 2  # noqa: E731
    integer = lambda v: is_array(v) and to_numpy(v).dtype.kind in "iu" and math.prod(v.shape) >= 1  # noqa: E731

    def extra_dim(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return like(v, np.expand_dims(to_numpy(v), c.choice([0, v.ndim])))

    def fewer_dims(v: Any, ctx: Ctx, c: Chooser) -> Any:
        axis = c.choice([a for a in range(v.ndim) if v.shape[a] > 0] or [0])
        a = to_numpy(v)
        return like(v, np.take(a, 0, axis=axis) if a.shape[axis] else a.reshape(a.shape[:axis] + a.shape[axis + 1 :]))

    def wrong_size(v: Any, ctx: Ctx, c: Chooser) -> Any:
        a, axis = to_numpy(v), c.choice(range(v.ndim))
        if a.shape[axis] > 1 and c.choice(["grow", "shrink"]) == "shrink":
            return like(v, np.take(a, range(a.shape[axis] - 1), axis=axis))
        extra = np.take(a, [-1], axis=axis) if a.shape[axis] else np.zeros_like(np.take(a, [0], axis=axis, mode="clip"))
        return like(v, np.concatenate([a, extra], axis=axis))

    def nan_or_inf(value: float) -> Callable[[Any, Ctx, Chooser], Any]:
        def build(v: Any, ctx: Ctx, c: Chooser) -> Any:
            a = floated(v).copy()
            a.flat[c.choice([0, a.size - 1])] = value if value != np.inf else c.choice([np.inf, -np.inf])
            return like(v, a)

        return build

    def entry(value: int) -> Callable[[Any, Ctx, Chooser], Any]:
        def build(v: Any, ctx: Ctx, c: Chooser) -> Any:
            a = to_numpy(v).copy()
            a.flat[c.choice([0, a.size - 1])] = value
            return like(v, a)

        return build

    def ragged(v: Any, ctx: Ctx, c: Chooser) -> Any:
        rows = to_numpy(v).tolist()
        if v.ndim == 1:
            return [rows[0], rows[1:]]  # a number next to a list
        return [rows[0], rows[0][:-1]] if len(rows) == 1 else [rows[0], *rows[1:-1], rows[-1][:-1]]

    def non_contiguous(v: Any, ctx: Ctx, c: Chooser) -> Any:
        if isinstance(v, torch.Tensor):
            return torch.stack([v, v], dim=-1)[..., 0]  # same values and shape, stride 2
        return np.stack([v, v], axis=-1)[..., 0]

    def fortran(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return v.mT.contiguous().mT if isinstance(v, torch.Tensor) else np.asfortranarray(v)

    def other_tree(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return v.detach().cpu().numpy().copy() if isinstance(v, torch.Tensor) else torch.from_numpy(v.copy())

    def cast(np_dtype: Any, torch_dtype: Any) -> Callable[[Any, Ctx, Chooser], Any]:
        def build(v: Any, ctx: Ctx, c: Chooser) -> Any:
            if isinstance(v, torch.Tensor):
                return v.to(torch_dtype)
            return to_numpy(v).astype(np_dtype)

        return build

    def complex_array(v: Any, ctx: Ctx, c: Chooser) -> Any:
        a = floated(v) + 0.5j
        if isinstance(v, torch.Tensor):
            return torch.from_numpy(a).to(c.choice([torch.complex128, torch.complex64]))
        return a.astype(c.choice([np.complex128, np.complex64]))

    def zero_d(v: Any, ctx: Ctx, c: Chooser) -> Any:
        a = to_numpy(v)
        return like(v, np.asarray(a.flat[0] if a.size else 1, dtype=a.dtype))

    def rounded_ints(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return like(v, np.round(floated(v)).astype(np.int64))

    return [
        Kind("extra_dim", any_array, extra_dim),
        Kind("fewer_dims", nonscalar, fewer_dims),
        Kind("wrong_size", nonscalar, wrong_size),
        Kind("empty_batch", nonscalar, lambda v, ctx, c: v[:0]),
        Kind("zero_d_array", any_array, zero_d),
        Kind("int_array", lambda v: is_array(v) and to_numpy(v).dtype.kind == "f", rounded_ints),
        Kind(
            "float_array",
            lambda v: is_array(v) and to_numpy(v).dtype.kind != "f",
            lambda v, ctx, c: like(v, floated(v)),
        ),
        Kind("float16", any_array, cast(np.float16, torch.float16)),
        Kind("bool_array", any_array, lambda v, ctx, c: like(v, floated(v) > 0)),
        Kind("complex_array", any_array, complex_array, must_reject=True),
        Kind("object_array", any_array, lambda v, ctx, c: to_numpy(v).astype(object), must_reject=True),
        Kind("str_array", any_array, lambda v, ctx, c: to_numpy(v).astype(str), must_reject=True),
        Kind("nan", filled, nan_or_inf(np.nan)),
        Kind("inf", filled, nan_or_inf(np.inf)),
        Kind("negative_entry", integer, entry(-1)),
        Kind("huge_entry", integer, entry(2**40)),
        Kind("nested_list", any_array, lambda v, ctx, c: to_numpy(v).tolist()),
        Kind("ragged_list", lambda v: filled(v) and math.prod(v.shape) >= 2, ragged, must_reject=True),
        Kind("non_contiguous", nonscalar, non_contiguous),
        Kind("fortran_order", matrix, fortran),
        Kind("other_tree", any_array, other_tree),
        Kind(
            "bfloat16", any_array, lambda v, ctx, c: torch.from_numpy(floated(v).astype(np.float32)).to(torch.bfloat16)
        ),
    ]


def _kinds_for_scalars() -> list[Kind]:
    number = lambda v: is_int(v) or is_float(v)  # noqa: E731

    def negative(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return c.choice([-1, -7]) if is_int(v) else c.choice([-abs(float(v)) - 1.0, -1e-3])

    def np_scalar(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return c.choice([np.int64, np.int32])(v) if is_int(v) else c.choice([np.float32, np.float64])(v)

    def torch_scalar(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return torch.tensor(v)

    return [
        Kind("negative", number, negative),
        Kind("zero", number, lambda v, ctx, c: 0 if is_int(v) else 0.0),
        Kind("huge", is_int, lambda v, ctx, c: c.choice([2**62, 2**70])),
        Kind("non_integer", is_int, lambda v, ctx, c: v + 0.5),
        Kind("int_value", is_float, lambda v, ctx, c: round(v) or 1),
        Kind("np_scalar", number, np_scalar),
        Kind("torch_scalar", number, torch_scalar),
        Kind("zero_d_scalar", number, lambda v, ctx, c: np.asarray(v)),
        Kind("bool_for_number", number, lambda v, ctx, c: c.choice([True, False])),
        Kind("nan_scalar", number, lambda v, ctx, c: math.nan),
        Kind("inf_scalar", number, lambda v, ctx, c: c.choice([math.inf, -math.inf])),
        Kind("complex_scalar", number, lambda v, ctx, c: complex(v, 1.0), must_reject=True),
        Kind("str_number", number, lambda v, ctx, c: str(v), must_reject=True),
        Kind("list_of_number", number, lambda v, ctx, c: [v]),
    ]


def _kinds_for_bools_and_strs() -> list[Kind]:
    boolean = lambda v: isinstance(v, (bool, np.bool_))  # noqa: E731
    string = lambda v: isinstance(v, str)  # noqa: E731
    return [
        Kind("int_for_bool", boolean, lambda v, ctx, c: c.choice([2, 0])),
        Kind("np_bool", boolean, lambda v, ctx, c: np.bool_(v)),
        Kind("torch_bool", boolean, lambda v, ctx, c: torch.tensor(v)),
        Kind("bool_array_for_bool", boolean, lambda v, ctx, c: np.array([v, not v])),
        Kind("str_for_bool", boolean, lambda v, ctx, c: c.choice(["False", "yes"]), must_reject=True),
        Kind("complex_for_bool", boolean, lambda v, ctx, c: complex(1, 1), must_reject=True),
        Kind("unknown_str", string, lambda v, ctx, c: c.choice(["no-such-value", v.upper() + "?"])),
        Kind("empty_str", string, lambda v, ctx, c: ""),
        Kind("np_str", string, lambda v, ctx, c: np.str_(v)),
        Kind("bytes", string, lambda v, ctx, c: v.encode()),
        Kind("int_for_str", string, lambda v, ctx, c: 3),
        Kind("list_of_str", string, lambda v, ctx, c: [v]),
        Kind("complex_for_str", string, lambda v, ctx, c: 1 + 2j, must_reject=True),
    ]


def _kinds_for_sequences() -> list[Kind]:
    def replace_first(value: Any) -> Callable[[Any, Ctx, Chooser], Any]:
        def build(v: Any, ctx: Ctx, c: Chooser) -> Any:
            return type(v)([value(v[0], c), *v[1:]])

        return build

    nonempty = lambda v: is_number_seq(v) and len(v) >= 1  # noqa: E731
    return [
        Kind("too_short", nonempty, lambda v, ctx, c: type(v)(v[:-1])),
        Kind("too_long", nonempty, lambda v, ctx, c: type(v)([*v, v[-1]])),
        Kind("str_item", nonempty, replace_first(lambda x, c: str(x)), must_reject=True),
        Kind("complex_item", nonempty, replace_first(lambda x, c: complex(x, 1.0)), must_reject=True),
        Kind("none_item", nonempty, replace_first(lambda x, c: None)),
        Kind("negative_item", nonempty, replace_first(lambda x, c: -abs(x) - 1)),
        Kind("nan_item", nonempty, replace_first(lambda x, c: math.nan)),
        Kind("seq_as_array", is_number_seq, lambda v, ctx, c: np.asarray(v)),
        Kind("nested_seq", is_number_seq, lambda v, ctx, c: [list(v)]),
    ]


def _kinds_for_containers(array_kinds: list[Kind]) -> list[Kind]:
    """Containers of arrays (states, batches, state dicts): one array item made bad."""

    def rebuild(v: Any, new_items: list[Any]) -> Any:
        if isinstance(v, dict):
            return dict(zip(v.keys(), new_items, strict=True))
        return type(v)(*new_items) if hasattr(v, "_fields") else type(v)(new_items)

    def on_item(kind: Kind) -> Kind:
        def build(v: Any, ctx: Ctx, c: Chooser) -> Any:
            values = items(v)
            k = next(i for i, x in enumerate(values) if is_array(x) and kind.applies(x))
            values[k] = kind.build(values[k], ctx, c)
            return rebuild(v, values)

        def applies(v: Any) -> bool:
            return has_array_item(v) and any(is_array(x) and kind.applies(x) for x in items(v))

        return Kind(f"item_{kind.name}", applies, build, kind.must_reject)

    chosen = {"complex_array", "object_array", "str_array", "wrong_size", "fewer_dims", "nested_list", "other_tree"}

    def missing(v: Any, ctx: Ctx, c: Chooser) -> Any:
        if isinstance(v, dict):
            return dict(list(v.items())[1:])
        return tuple(v)[:-1]

    return [
        *(on_item(k) for k in array_kinds if k.name in chosen),
        Kind("none_item_in_container", has_array_item, lambda v, ctx, c: rebuild(v, [None, *items(v)[1:]])),
        Kind("missing_item", has_array_item, missing),
    ]


def _kinds_for_objects() -> list[Kind]:
    def other_objects(v: Any, ctx: Ctx, c: Chooser) -> Any:
        return v[0]

    generator = lambda v: isinstance(v, np.random.Generator)  # noqa: E731
    object_list = lambda v: isinstance(v, list) and len(v) >= 1 and not is_number_seq(v)  # noqa: E731
    return [
        Kind("int_for_object", lambda v: is_object(v) or has_array_item(v), lambda v, ctx, c: c.choice([0, 3])),
        Kind("legacy_random_state", generator, lambda v, ctx, c: np.random.RandomState(0)),
        Kind("single_item_not_list", object_list, other_objects),
        Kind("empty_list", object_list, lambda v, ctx, c: []),
        Kind("list_with_none", object_list, lambda v, ctx, c: [*v, None]),
    ]


def _kinds_for_all() -> list[Kind]:
    return [
        Kind("none", lambda v: v is not None, lambda v, ctx, c: None),
        Kind(
            "plain_str", lambda v: not isinstance(v, str), lambda v, ctx, c: c.choice(["abc", "1.5"]), must_reject=True
        ),
    ]


_ARRAY_KINDS = _kinds_for_arrays()
KINDS: list[Kind] = [
    *_ARRAY_KINDS,
    *_kinds_for_scalars(),
    *_kinds_for_bools_and_strs(),
    *_kinds_for_sequences(),
    *_kinds_for_containers(_ARRAY_KINDS),
    *_kinds_for_objects(),
    *_kinds_for_all(),
]
assert len({k.name for k in KINDS}) == len(KINDS)


def applicable_kinds(valid: Any, skip: frozenset[str] = frozenset()) -> list[Kind]:
    return [k for k in KINDS if k.name not in skip and k.applies(valid)]


def bad_arguments(valid: Any, ctx: Ctx, skip: frozenset[str] = frozenset()) -> st.SearchStrategy[Bad]:
    """THE strategy: one bad value for an argument whose valid value is ``valid``."""
    kinds = applicable_kinds(valid, skip)

    @st.composite
    def strategy(draw: Callable[[Any], Any]) -> Bad:
        kind = draw(st.sampled_from(kinds))
        return Bad(kind.name, kind.build(valid, ctx, Chooser(draw)), kind.must_reject)

    return strategy()


# ================================================================ calling and judging


class CallTimeout(BaseException):  # not an Exception: no `except Exception` in the package may swallow it
    pass


@contextmanager
def time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise CallTimeout(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclasses.dataclass
class Outcome:
    """What one call did. status: "ok" (returned), "clear" (a clear error of the package's own),
    or a failure: "deep", "wrong_type", "bad_message", "silent", "bad_result", "hang"."""

    status: str
    detail: str = ""
    exc_type: str = ""
    message: str = ""
    where: str = ""  # the innermost frame, and the innermost frame in dlcourse/

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "clear")


def describe(v: Any) -> str:
    """A short description of a value for messages."""
    if isinstance(v, np.ndarray):
        return f"ndarray({v.dtype}, shape={v.shape}{'' if v.flags.c_contiguous or v.ndim < 2 else ', F' if v.flags.f_contiguous else ', strided'})"
    if isinstance(v, torch.Tensor):
        return f"tensor({str(v.dtype).removeprefix('torch.')}, shape={tuple(v.shape)}{'' if v.is_contiguous() else ', strided'})"
    if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
        inner = ", ".join(describe(x) for x in list(v)[:3]) + (", ..." if len(v) > 3 else "")
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {describe(x)}" for k, x in list(v.items())[:3]) + "}"
    if isinstance(v, (np.generic,)):
        return f"np.{type(v).__name__}({v!r})"
    text = repr(v)
    return text if len(text) <= 60 else f"<{type(v).__module__}.{type(v).__qualname__}>"


def _relative(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(PACKAGE_DIR.parent))
    except ValueError:
        parts = path.parts
        for anchor in ("site-packages", "lib"):
            if anchor in parts:
                return "/".join(parts[parts.index(anchor) + 1 :])
        return filename


def in_package(filename: str) -> bool:
    try:
        Path(filename).resolve().relative_to(PACKAGE_DIR)
    except ValueError:
        return False
    return True


@functools.cache
def _raise_lines(filename: str, mtime: float) -> frozenset[int]:
    """Every line of a file that belongs to a ``raise`` statement."""
    tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def raised_by_package(filename: str, lineno: int) -> bool:
    if not in_package(filename):
        return False
    try:
        return lineno in _raise_lines(filename, os.path.getmtime(filename))
    except (OSError, SyntaxError):
        return False


def judge_exception(exc: BaseException) -> Outcome:
    frames = traceback.extract_tb(exc.__traceback__)
    inner = frames[-1] if frames else None
    in_pkg = [f for f in frames if in_package(f.filename)]
    where = f"{_relative(inner.filename)}:{inner.lineno} ({inner.name})" if inner else "?"
    if in_pkg and in_pkg[-1] is not inner:
        where += f" <- {_relative(in_pkg[-1].filename)}:{in_pkg[-1].lineno} ({in_pkg[-1].name})"
    message = str(exc) if not isinstance(exc, KeyError) or not exc.args else str(exc.args[0])
    out = Outcome("clear", exc_type=type(exc).__name__, message=message, where=where)
    if inner is None or not raised_by_package(inner.filename, inner.lineno):
        out.status, out.detail = "deep", "not raised by a `raise` in dlcourse/"
    elif not isinstance(exc, ALLOWED_ERRORS):
        out.status, out.detail = "wrong_type", f"{type(exc).__name__} is not ValueError/TypeError/IndexError/KeyError"
    elif not message.strip() or len(message) > MAX_MESSAGE or "\n" in message.strip():
        out.status = "bad_message"
        out.detail = (
            "empty message"
            if not message.strip()
            else f"message of {len(message)} characters, {message.count(chr(10)) + 1} line(s)"
        )
    return out


def bad_dtypes(value: Any, depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """Complex or non-numeric arrays (and complex numbers) inside a result."""
    seen = set() if seen is None else seen
    if depth > 4 or id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return [f"ndarray of dtype {value.dtype}"] if value.dtype.kind in "cOSUVM" else []
    if isinstance(value, torch.Tensor):
        return [f"tensor of dtype {value.dtype}"] if value.dtype.is_complex else []
    if isinstance(value, (complex, np.complexfloating)):
        return [f"complex number {value!r}"]
    if isinstance(value, (str, bytes, int, float, bool, np.generic)) or value is None:
        return []
    children: list[Any] = []
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, (list, tuple)):
        children = list(value)[:50]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, torch.nn.Module):
        children = list(value.parameters())
    elif callable(getattr(value, "parameters", None)):
        try:
            children = [getattr(p, "data", p) for p in value.parameters()]
        except Exception:
            children = []
    return [b for child in children for b in bad_dtypes(child, depth + 1, seen)]


def call(func: Callable[..., Any], kwargs: dict[str, Any], bad: Bad | None = None) -> Outcome:
    """Call, and judge what happened (warnings are ignored: a RuntimeWarning on NaN input is fine)."""
    try:
        with (
            warnings.catch_warnings(),
            time_limit(CALL_TIMEOUT_S),
            redirect_stdout(io.StringIO()),
            redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            result = func(**kwargs)
            if inspect.isgenerator(result):  # a generator checks its arguments when it runs
                result = list(itertools.islice(result, 10_000))
    except CallTimeout as exc:
        return Outcome("hang", str(exc))
    except Exception as exc:  # judging every exception is the point
        return judge_exception(exc)
    if bad is not None and bad.must_reject:
        return Outcome("silent", f"returned {describe(result)} for a {bad.kind} argument")
    found = bad_dtypes(result)
    if found:
        return Outcome("bad_result", f"the result holds {', '.join(sorted(set(found)))}")
    return Outcome("ok")


def explain(entry: Entry, arg: str | None, bad: Bad | None, outcome: Outcome) -> str:
    what = f"{entry.id}({arg}={bad!r})" if bad is not None else f"{entry.id}(<valid arguments>)"
    text = f"{what}: {outcome.status.upper()}: {outcome.detail}"
    if outcome.exc_type:
        text += f"\n    {outcome.exc_type}: {outcome.message[:400]}\n    at {outcome.where}"
    return text


# ================================================================ the tests


def fuzz_mode(config: pytest.Config | None = None) -> bool:
    flag = bool(config is not None and config.getoption("--fuzz", default=False))
    return flag or os.environ.get("DLCOURSE_FUZZ", "") not in ("", "0")


PARAMS = [pytest.param(e, a, id=f"{e.id}:{a}") for e in ENTRIES for a in e.perturb]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in ENTRIES])
def test_valid_call_succeeds(entry: Entry) -> None:
    """The table's valid arguments work, so that a failure with a bad one is the bad one's doing."""
    func, kwargs = entry.make()
    assert set(entry.perturb) <= set(kwargs), f"{entry.id}: perturbed arguments missing from the valid ones"
    outcome = call(func, kwargs)
    if outcome.status != "ok":
        raise AssertionError(explain(entry, None, None, outcome))


def test_table_covers_public_api() -> None:
    covered = {id(e.target) for e in ENTRIES}
    missing = [name for name, obj in public_objects().items() if id(obj) not in covered and name not in EXCLUDED]
    assert not missing, f"public names with no entry in tests/fuzz_table.py: {missing}"


@pytest.mark.parametrize(("entry", "arg"), PARAMS)
def test_bad_argument(entry: Entry, arg: str, request: pytest.FixtureRequest) -> None:
    """One bad value for ``arg``, the other arguments valid: a clear error or a sound result.

    Default: every kind that must be refused (complex, object, str, ragged) as an explicit example,
    then DEFAULT_EXAMPLES derandomized draws of the strategy. --fuzz: FUZZ_EXAMPLES random draws."""
    full = fuzz_mode(request.config)
    skip = entry.skip.get(arg, frozenset())
    ctx = Ctx(entry.tree, arg)
    _, probe = entry.make()  # the valid value the bad ones are built from (the factories are deterministic)

    def run(bad: Bad) -> None:
        func, kwargs = entry.make()
        outcome = call(func, {**kwargs, arg: bad.value}, bad)
        if outcome.failed:
            raise AssertionError(explain(entry, arg, bad, outcome))

    test = given(bad=bad_arguments(probe[arg], ctx, skip))(run)
    if not full:
        for kind in reversed(applicable_kinds(probe[arg], skip)):
            if kind.must_reject:
                test = example(bad=Bad(kind.name, kind.build(probe[arg], ctx, Chooser()), True))(test)
    settings(
        max_examples=FUZZ_EXAMPLES if full else DEFAULT_EXAMPLES,
        derandomize=not full,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: the kinds are already simple
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )(test)()


# ================================================================ the report


def sweep(entries: Sequence[Entry], progress: bool = False) -> list[tuple[Entry, str, Bad, Outcome]]:
    """Every (entry, argument, applicable kind) once, with the first option of each choice."""
    results = []
    for n, entry in enumerate(entries):
        if progress:
            print(f"\r[{n + 1}/{len(entries)}] {entry.id:<60}", end="", file=sys.stderr, flush=True)
        for arg in entry.perturb:
            _, probe = entry.make()
            for kind in applicable_kinds(probe[arg], entry.skip.get(arg, frozenset())):
                func, kwargs = entry.make()
                bad = Bad(kind.name, kind.build(kwargs[arg], Ctx(entry.tree, arg), Chooser()), kind.must_reject)
                results.append((entry, arg, bad, call(func, {**kwargs, arg: bad.value}, bad)))
    if progress:
        print(file=sys.stderr)
    return results


def _head(message: str, width: int = 110) -> str:
    line = " ".join(message.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def render_report(
    results: list[tuple[Entry, str, Bad, Outcome]], valid: list[tuple[Entry, Outcome]], seconds: float
) -> str:
    status = Counter(o.status for *_, o in results)
    lines = [
        f"dlcourse fuzz report, {time.strftime('%Y-%m-%d %H:%M')}: every (function, argument, bad kind) once",
        f"{len({e.id for e, *_ in results})} entries fuzzed, {len(results)} calls in {seconds:.1f} s",
        "  "
        + ", ".join(
            f"{k}: {status[k]}"
            for k in ("clear", "ok", "deep", "wrong_type", "bad_message", "silent", "bad_result", "hang")
        ),
        "  (clear = the package's own one-sentence error; ok = accepted, fine for that kind;",
        "   deep/wrong_type/bad_message/silent/bad_result/hang = failures)",
    ]
    broken = [(e, o) for e, o in valid if o.status != "ok"]
    if broken:
        lines += ["", "== VALID CALLS THAT FAIL (fix the table or the package first) =="]
        lines += [explain(e, None, None, o) for e, o in broken]

    failures = [(e, a, b, o) for e, a, b, o in results if o.failed]
    by_entry: dict[str, list[tuple[str, Bad, Outcome]]] = defaultdict(list)
    for e, a, b, o in failures:
        by_entry[e.id].append((a, b, o))
    lines += ["", f"== FAILURES BY FUNCTION ({len(by_entry)} functions, {len(failures)} calls) =="]
    for eid in sorted(by_entry):
        lines.append(f"\n{eid}")
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for a, b, o in by_entry[eid]:
            key = (
                o.status,
                f"{o.exc_type}: {_head(o.message)}" if o.exc_type else o.detail.split(" for a ")[0],
                o.where,
            )
            groups[key].append(f"{a}={b.kind}")
        for (st_, head, where), calls in sorted(groups.items()):
            lines.append(f"  [{st_}] {head}")
            if where:
                lines.append(f"      at {where}")
            lines.append(f"      args: {', '.join(calls)}")

    lines += ["", "== DEEP ERRORS GROUPED BY WHERE THEY CAME FROM (innermost frame) =="]
    origins: dict[str, list[str]] = defaultdict(list)
    for e, a, b, o in failures:
        if o.status == "deep":
            origins[f"{o.exc_type} at {o.where.split(' <- ')[0]}"].append(f"{e.id}:{a}={b.kind}")
    for origin, calls in sorted(origins.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"{len(calls):4d}  {origin}")
        lines.append("        e.g. " + "; ".join(calls[:4]) + (" ..." if len(calls) > 4 else ""))

    lines += ["", "== SILENT ACCEPTANCES (complex / object / str accepted) BY KIND =="]
    silent: dict[str, list[str]] = defaultdict(list)
    for e, a, b, o in failures:
        if o.status == "silent":
            silent[b.kind].append(f"{e.id}:{a}")
    for kind, calls in sorted(silent.items()):
        lines.append(f"{len(calls):4d}  {kind}: {', '.join(calls)}")

    lines += ["", "== FAILURES BY BAD KIND =="]
    kinds = Counter(b.kind for _, _, b, o in failures)
    totals = Counter(b.kind for _, _, b, _ in results)
    lines += [f"{kinds[k]:5d} / {totals[k]:<5d} {k}" for k in sorted(totals, key=lambda k: -kinds[k])]

    lines += ["", "== NOT FAILURES, FOR INFORMATION: questionable values accepted (negative/zero/NaN/wrong shape) =="]
    questionable = {
        "negative",
        "zero",
        "nan_scalar",
        "inf_scalar",
        "wrong_size",
        "extra_dim",
        "fewer_dims",
        "negative_entry",
        "huge_entry",
        "non_integer",
        "too_short",
        "too_long",
    }
    accepted: dict[str, list[str]] = defaultdict(list)
    for e, a, b, o in results:
        if o.status == "ok" and b.kind in questionable:
            accepted[b.kind].append(f"{e.id}:{a}")
    for kind, calls in sorted(accepted.items()):
        lines.append(f"{len(calls):4d}  {kind}: {', '.join(calls)}")

    lines += [
        "",
        "== NOT FAILURES, FOR INFORMATION: clear errors whose message does not name the perturbed argument ==",
    ]
    unnamed = [
        f"{e.id}:{a}={b.kind}: {_head(o.message, 90)}"
        for e, a, b, o in results
        if o.status == "clear" and a not in o.message
    ]
    lines += [f"  {len(unnamed)} calls"] + [f"  {u}" for u in unnamed[:200]] + (["  ..."] if len(unnamed) > 200 else [])
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", action="store_true", help="sweep every (function, argument, bad kind) once")
    parser.add_argument(
        "--out", type=Path, default=REPORT_PATH, help=f"where the full report goes (default {REPORT_PATH})"
    )
    parser.add_argument("--only", default="", help="only entries whose id contains this text")
    args = parser.parse_args(argv)
    if not args.report:
        parser.print_help()
        return 2
    entries = [e for e in ENTRIES if args.only in e.id]
    start = time.perf_counter()
    valid = []
    for e in entries:
        func, kwargs = e.make()
        valid.append((e, call(func, kwargs)))
    results = sweep(entries, progress=sys.stderr.isatty())
    report = render_report(results, valid, time.perf_counter() - start)
    args.out.write_text(report, encoding="utf-8")
    summary = report.split("\n== FAILURES BY FUNCTION")[0]
    print(summary)
    print(f"\nFull report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

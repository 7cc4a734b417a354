"""The machinery shared by every checker: cases, known mistakes, feedback.

A checker never raises and never hangs: the learner's function runs under a time limit
(:data:`running.TIME_LIMIT_S`), anything it raises, ``SystemExit`` included, becomes feedback (only
``KeyboardInterrupt`` passes through), what it prints is captured, and the checker's own
reference runs under its own ``np.errstate`` and warning filters, so a learner's global settings
cannot fail a correct answer.

How the learner's code is run, and the time limit's limits on Windows, is in
:mod:`dlcourse.exercises.running`.
"""

from __future__ import annotations

import copy
import html
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcourse.exercises import running


@dataclass
class Feedback:
    """The verdict on one answer. Truthy when the answer passed.

    Attributes:
        exercise: the exercise's name, as in the book.
        passed: whether every case passed.
        message: what was checked, or what went wrong (input, expected, got).
        hint: a nudge toward the fix; empty when the answer passed.
    """

    exercise: str
    passed: bool
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __post_init__(self) -> None:
        self.message = running.sentence(self.message)

    def __str__(self) -> str:
        head = f"[{self.exercise}] " + ("Correct! " if self.passed else "Not yet. ")
        return head + self.message + (f"\nHint: {self.hint}" if self.hint else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔ Correct!") if self.passed else ("#b35900", "✘ Not yet.")
        hint = f"<br><em>Hint:</em> {html.escape(self.hint)}" if self.hint else ""
        return (
            f'<div class="dlc-feedback" style="border-left:4px solid {colour};padding:0.3em 0.8em">'
            f"<strong style='color:{colour}'>{mark}</strong> <code>{html.escape(self.exercise)}</code>: "
            f"{html.escape(self.message)}{hint}</div>"
        )


@dataclass
class Case:
    """One input to try.

    Attributes:
        args: positional arguments for the learner's function (deep-copied per call).
        label: how the input is described in feedback, e.g. ``"x = [-1, 0, 1]"``.
    """

    args: tuple
    label: str


@dataclass
class Mistake:
    """A typical wrong answer, recognised from its output, with the hint that fixes it.

    Attributes:
        wrong: computes what the typical wrong answer returns for the case's args. It may
            raise where that mistake cannot be made on a case (a shape mismatch): on that
            case it then matches no answer, and the checker goes on.
        hint: the targeted hint shown when the learner's output matches ``wrong``.
    """

    wrong: Callable[..., Any]
    hint: str


@dataclass
class _Outcome:
    ok: bool
    message: str = ""
    hint: str = ""
    extra: dict = field(default_factory=dict)


def _fmt(value: Any, precision: int = 4) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        value = float(value)
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=precision, suppress_small=precision <= 4, threshold=12)
    if isinstance(value, float):
        return f"{value:.{max(6, precision)}g}"
    try:
        text = repr(value)
    except Exception:
        text = f"a {type(value).__name__}"
    return running.short(text, lines=1, width=120)


def _fmt_pair(expected: Any, got: Any) -> tuple[str, str]:
    """Expected and got, with enough digits that they read differently whenever they differ."""
    for precision in (4, 6, 9, 12, 17):
        a, b = _fmt(expected, precision), _fmt(got, precision)
        if a != b:
            return a, b
    return a, b


def _non_real(value: Any, depth: int = 0) -> str:
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
            found = _non_real(item, depth + 1)
            if found:
                return found
    return ""


def _to_array(value: Any) -> np.ndarray | None:
    """A float64 array from numbers, lists, arrays or tensors; None if not strictly numeric
    (strings, numeric strings, complex numbers, objects and ragged lists are not numbers)."""
    if value is None or isinstance(value, (str, bytes, dict, set, frozenset)):
        return None
    if hasattr(value, "detach"):  # a torch tensor
        try:
            value = value.detach().cpu().numpy()
        except Exception:
            return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(value)
    except Exception:  # ragged lists, an __array__ that fails
        return None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64)


def _compare(got: Any, expected: np.ndarray, label: str, rtol: float, atol: float) -> _Outcome:
    if got is None:
        return _Outcome(False, f"for {label} your function returned None.", "Did you forget the `return` statement?")
    array = _to_array(got)
    if array is None:
        kind = "complex numbers" if np.iscomplexobj(got) else f"{type(got).__name__} {_fmt(got)}"
        return _Outcome(False, f"for {label} expected real numbers, got {kind}.")
    if array.shape != expected.shape:
        return _Outcome(
            False,
            f"for {label} expected an output of shape {expected.shape}, got shape {array.shape}.",
            "Check which axis you sum or multiply over, and whether you need to keep every element.",
        )
    bad = np.isnan(array) & ~np.isnan(expected)
    if bad.any():
        return _Outcome(False, f"for {label} your output contains NaN where a number was expected.")
    if not np.allclose(array, expected, rtol=rtol, atol=atol, equal_nan=True):
        want, got_text = _fmt_pair(expected, array)
        return _Outcome(False, f"for {label} expected {want}, got {got_text}.", extra={"got": array})
    return _Outcome(True)


def check_function(
    exercise: str,
    answer: Any,
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    hint: str,
    mistakes: Sequence[Mistake] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
    warnings_are_errors: bool = False,
    adapt: Callable[[Any], Any] | None = None,
) -> Feedback:
    """Run ``answer`` on every case and compare with ``reference``.

    Args:
        exercise: the exercise's name for the feedback.
        answer: the learner's function (anything may arrive here).
        reference: the correct function, called on the same arguments.
        cases: the inputs to try, easiest first.
        hint: the general hint, used when no known mistake matches.
        mistakes: typical wrong answers and their targeted hints.
        rtol: relative tolerance of the comparison.
        atol: absolute tolerance of the comparison.
        warnings_are_errors: fail an answer that emits a warning (overflow, division by zero).
        adapt: turns an output into one array before comparing, e.g. a ``(weight, bias)``
            pair into their concatenation; an output it cannot adapt fails with its message.

    Returns:
        Feedback; never raises.
    """
    try:
        if not callable(answer):
            return Feedback(exercise, False, f"expected a function, got {type(answer).__name__} {_fmt(answer)}.", hint)
        adapt_ = adapt or (lambda v: v)
        for case in cases:
            with running.quiet():
                expected = np.asarray(adapt_(reference(*copy.deepcopy(case.args))), dtype=np.float64)
            caught: list = []

            def attempt(args: tuple = copy.deepcopy(case.args), caught: list = caught) -> Any:
                # NumPy's default error handling, whatever the learner set globally
                with warnings.catch_warnings(record=True) as record, np.errstate(all="warn", under="ignore"):
                    warnings.simplefilter("always")
                    result = answer(*args)
                    result = (result, _to_array(result))  # converting may run the learner's __array__
                caught.extend(record)
                return result

            status, result, printed = running.call_limited(attempt, running.TIME_LIMIT_S)
            said = f" It printed: {running.short(printed)}" if printed.strip() else ""
            if status == "timeout":
                return Feedback(
                    exercise,
                    False,
                    f"your function did not return within {running.TIME_LIMIT_S:g} s on {case.label}; look for a loop that never ends.",
                    hint,
                )
            if status == "raised":
                name = type(result).__name__
                return Feedback(
                    exercise,
                    False,
                    f"for {case.label} your function raised {name}: {running.short(result)}.{said}",
                    hint,
                )
            got, _ = result
            non_real = _non_real(got)
            if non_real:
                return Feedback(
                    exercise,
                    False,
                    f"for {case.label} your function returned {non_real}; expected real numbers.{said}",
                    hint,
                )
            try:
                with running.quiet():
                    got = adapt_(got)
            except Exception as exc:
                return Feedback(
                    exercise, False, f"for {case.label} your output has the wrong form: {running.short(exc)}.", hint
                )
            outcome = _compare(got, expected, case.label, rtol, atol)
            if outcome.ok and warnings_are_errors and caught:
                outcome = _Outcome(False, f"for {case.label} your function warned: {running.short(caught[0].message)}")
            if not outcome.ok:
                got_array = _to_array(got)
                for mistake in mistakes:
                    with running.quiet():
                        try:
                            wrong = _to_array(adapt_(mistake.wrong(*copy.deepcopy(case.args))))
                        except Exception:  # this mistake cannot be made on this input
                            wrong = None
                    if (
                        wrong is not None
                        and got_array is not None
                        and wrong.shape == got_array.shape
                        and np.allclose(got_array, wrong, rtol=rtol, atol=atol, equal_nan=True)
                    ):
                        return Feedback(exercise, False, outcome.message + said, mistake.hint)
                    if mistake.wrong is WARNS and caught:
                        return Feedback(exercise, False, outcome.message + said, mistake.hint)
                return Feedback(exercise, False, outcome.message + said, outcome.hint or hint)
        return Feedback(exercise, True, f"all {len(cases)} test cases pass.")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a checker must never crash in front of a learner
        return Feedback(
            exercise,
            False,
            f"the checker could not evaluate your answer ({type(exc).__name__}: {running.short(exc)}).",
            hint,
        )


def WARNS(*args: Any) -> None:
    """Marker for :class:`Mistake`: matches any answer that emitted a warning."""
    return None


def check_value(
    exercise: str,
    answer: Any,
    expected: Any,
    *,
    hint: str,
    mistakes: Sequence[tuple[Any, str]] = (),
    rtol: float = 1e-6,
) -> Feedback:
    """Compare a value (number, array or set) with the expected one.

    The feedback says how a wrong value is wrong (too high, too low, which entries) but
    never what the right value is: that is what the solution is for.

    Args:
        exercise: the exercise's name.
        answer: what the learner computed.
        expected: the right value.
        hint: the general hint.
        mistakes: (typical wrong value, targeted hint) pairs.
        rtol: relative tolerance for numbers.

    Returns:
        Feedback; never raises.
    """
    try:
        if isinstance(expected, (set, frozenset)):
            if isinstance(answer, (str, bytes)):
                return Feedback(
                    exercise,
                    False,
                    f"expected a set of names, got the string {_fmt(answer)}; write {{{_fmt(answer)}}} for a set of one.",
                    hint,
                )
            status, got, _ = running.call_limited(
                lambda: {str(a).strip().lower() for a in answer}, running.TIME_LIMIT_S
            )
            if status != "ok":
                return Feedback(
                    exercise,
                    False,
                    f"expected a set of names, got {type(answer).__name__}, which could not be read as one.",
                    hint,
                )
            want = {e.lower() for e in expected}
            if got == want:
                return Feedback(exercise, True, "that is the right set.")
            # Count the wrong and the missing entries, never name them: a list of the wrong
            # ones would hand out the answer to a learner who submits every candidate.
            missing, extra = len(want - got), len(got - want)
            parts = [f"{extra} of your entries do{'es' if extra == 1 else ''} not belong"] if extra else []
            parts += [f"{missing} right entr{'y is' if missing == 1 else 'ies are'} missing"] if missing else []
            return Feedback(exercise, False, "; ".join(parts) + ".", hint)
        want = np.asarray(expected, dtype=np.float64)
        status, converted, _ = running.call_limited(
            lambda: _to_array(answer), running.TIME_LIMIT_S
        )  # an __array__ may loop
        if status != "ok":
            return Feedback(
                exercise, False, f"your answer could not be read as a number within {running.TIME_LIMIT_S:g} s.", hint
            )
        outcome = _compare(answer, want, "this question", rtol, 1e-12)
        if outcome.ok:
            return Feedback(exercise, True, f"{_fmt(answer)} is right.")
        got = _to_array(answer)
        if "got" in outcome.extra:  # numbers of the right shape but wrong: say how, not what
            if want.ndim == 0:
                message = f"{_fmt(answer)} is not right: it is too {'high' if got > want else 'low'}."
            else:
                off = int(np.sum(~np.isclose(got, want, rtol=rtol, atol=1e-12)))
                message = f"{off} of {want.size} entries are not right."
        else:  # None, not a number, wrong shape or NaN: those messages reveal nothing
            message = outcome.message.replace("for this question ", "")
        for wrong, wrong_hint in mistakes:
            if got is not None and got.shape == np.shape(wrong) and np.allclose(got, wrong, rtol=rtol):
                return Feedback(exercise, False, message, wrong_hint)
        return Feedback(exercise, False, message, outcome.hint or hint)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return Feedback(
            exercise,
            False,
            f"the checker could not evaluate your answer ({type(exc).__name__}: {running.short(exc)}).",
            hint,
        )

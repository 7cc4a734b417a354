"""The machinery shared by every checker: cases, known mistakes, feedback."""

from __future__ import annotations

import copy
import html
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


def _fmt(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = float(value)
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, suppress_small=True, threshold=12)
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def _to_array(value: Any) -> np.ndarray | None:
    """A float array from numbers, lists, arrays or tensors; None if not numeric."""
    if value is None or isinstance(value, (str, bytes, dict, set)):
        return None
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def _compare(got: Any, expected: np.ndarray, label: str, rtol: float, atol: float) -> _Outcome:
    if got is None:
        return _Outcome(False, f"for {label} your function returned None.", "Did you forget the `return` statement?")
    array = _to_array(got)
    if array is None:
        return _Outcome(False, f"for {label} expected numbers, got {type(got).__name__} {_fmt(got)}.")
    if array.shape != expected.shape:
        return _Outcome(
            False,
            f"for {label} expected an output of shape {expected.shape}, got shape {array.shape}.",
            "Check which axis you sum or multiply over, and whether you need to keep every element.",
        )
    bad = np.isnan(array) & ~np.isnan(expected)
    if bad.any():
        return _Outcome(False, f"for {label} your output contains NaN where {_fmt(expected)} was expected.")
    if not np.allclose(array, expected, rtol=rtol, atol=atol, equal_nan=True):
        return _Outcome(False, f"for {label} expected {_fmt(expected)}, got {_fmt(array)}.", extra={"got": array})
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
            expected = np.asarray(adapt_(reference(*copy.deepcopy(case.args))), dtype=np.float64)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    got = answer(*copy.deepcopy(case.args))
                except Exception as exc:  # the learner's code failed: say where and how
                    return Feedback(
                        exercise, False, f"for {case.label} your function raised {type(exc).__name__}: {exc}", hint
                    )
            try:
                got = adapt_(got)
            except Exception as exc:
                return Feedback(exercise, False, f"for {case.label} your output has the wrong form: {exc}", hint)
            outcome = _compare(got, expected, case.label, rtol, atol)
            if outcome.ok and warnings_are_errors and caught:
                outcome = _Outcome(False, f"for {case.label} your function warned: {caught[0].message}")
            if not outcome.ok:
                got_array = _to_array(got)
                for mistake in mistakes:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
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
                        return Feedback(exercise, False, outcome.message, mistake.hint)
                    if mistake.wrong is WARNS and caught:
                        return Feedback(exercise, False, outcome.message, mistake.hint)
                return Feedback(exercise, False, outcome.message, outcome.hint or hint)
        return Feedback(exercise, True, f"all {len(cases)} test cases pass.")
    except Exception as exc:  # a checker must never crash in front of a learner
        return Feedback(
            exercise, False, f"the checker could not evaluate your answer ({type(exc).__name__}: {exc}).", hint
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
            try:
                got = {str(a).strip().lower() for a in answer}
            except TypeError:
                return Feedback(exercise, False, f"expected a set of names, got {type(answer).__name__}.", hint)
            want = {e.lower() for e in expected}
            if got == want:
                return Feedback(exercise, True, "that is the right set.")
            # Name only the learner's own wrong entries; count the missing ones, so that the
            # feedback never hands out the answer.
            missing, extra = len(want - got), sorted(got - want)
            parts = [f"you included {extra}, which do not belong"] if extra else []
            parts += [f"{missing} right entr{'y is' if missing == 1 else 'ies are'} missing"] if missing else []
            return Feedback(exercise, False, "; ".join(parts) + ".", hint)
        want = np.asarray(expected, dtype=np.float64)
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
    except Exception as exc:
        return Feedback(
            exercise, False, f"the checker could not evaluate your answer ({type(exc).__name__}: {exc}).", hint
        )

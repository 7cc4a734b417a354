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
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcourse.exercises import running
from dlcourse.exercises.compare import Outcome, clean, compare, compare_parts, fmt, matches, non_real, to_array

Hint = str | tuple[str, ...]
"""A hint, or hints in stages: a nudge first (what to look at), then more specific ones. None
states the answer's code or value: that is what the folded solution is for."""


@dataclass
class Feedback:
    """The verdict on one answer. Truthy when the answer passed.

    Attributes:
        exercise: the exercise's name, as in the book.
        passed: whether every case passed.
        message: what was checked, or what went wrong (input, expected, got).
        hint: a nudge toward the fix, or a tuple of hints in stages; empty when the answer passed.
            After construction ``hint`` is the stage shown and ``hints`` holds every stage.
    """

    exercise: str
    passed: bool
    message: str
    hint: Hint = ""
    hints: tuple[str, ...] = field(default=(), repr=False)
    stage: int = 0

    def __bool__(self) -> bool:
        return self.passed

    def __post_init__(self) -> None:
        self.message = running.sentence(self.message)
        if not self.hints:
            self.hints = tuple(h for h in ((self.hint,) if isinstance(self.hint, str) else self.hint) if h)
        self.show_stage(self.stage)

    def show_stage(self, attempt: int) -> None:
        """Show the hint of this stage: 0 for a first failure, the last stage from then on."""
        self.stage = min(attempt, len(self.hints) - 1) if self.hints else 0
        self.hint = self.hints[self.stage] if self.hints else ""

    def _hint_label(self) -> str:
        return f"Hint ({self.stage + 1} of {len(self.hints)})" if len(self.hints) > 1 else "Hint"

    def __str__(self) -> str:
        head = f"[{self.exercise}] " + ("Correct! " if self.passed else "Not yet. ")
        return head + self.message + (f"\n{self._hint_label()}: {self.hint}" if self.hint else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔ Correct!") if self.passed else ("#b35900", "✘ Not yet.")
        hint = f"<br><em>{self._hint_label()}:</em> {html.escape(self.hint)}" if self.hint else ""
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
    hint: Hint


def check_function(
    exercise: str,
    answer: Any,
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    hint: Hint,
    mistakes: Sequence[Mistake] = (),
    forbid: Callable[[Any], str] | None = None,
    parts: Sequence[str] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
    warnings_are_errors: bool = False,
    adapt: Callable[[Any], Any] | None = None,
    time_factor: float = 1.0,
) -> Feedback:
    """Run ``answer`` on every case and compare with ``reference``.

    Args:
        exercise: the exercise's name for the feedback.
        answer: the learner's function (anything may arrive here).
        reference: the correct function, called on the same arguments.
        cases: the inputs to try, easiest first; each is run once.
        hint: the general hint (or hints in stages), used when no known mistake matches.
        mistakes: typical wrong answers and their targeted hints.
        forbid: says why the answer takes a route the exercise forbids (NumPy in a loops
            exercise, a silenced warning), or "" when it does not; see :mod:`.routes`.
        parts: names of the parts when the function returns a tuple, e.g. ``("dx", "dW", "db")``:
            the output must be a tuple of exactly these parts, each compared with its own shape.
        rtol: relative tolerance of the comparison.
        atol: absolute tolerance of the comparison.
        warnings_are_errors: fail an answer that emits a warning (overflow, division by zero).
        adapt: turns an output into one array before comparing; an output it cannot adapt
            fails with its message.
        time_factor: the learner's function gets ``time_factor`` times :data:`running.TIME_LIMIT_S`
            per case (a training exercise needs more than a formula).

    Returns:
        Feedback; never raises.
    """
    try:
        if not callable(answer):
            return Feedback(exercise, False, f"expected a function, got {type(answer).__name__} {fmt(answer)}.", hint)
        refused = forbid(answer) if forbid is not None else ""
        if refused:
            return Feedback(exercise, False, refused, (_REFUSED, *_stages(hint)))
        wrapped_solution = False
        for case in cases:
            limit = running.TIME_LIMIT_S * time_factor
            outcome, said = _run_case(answer, reference, case, parts, rtol, atol, warnings_are_errors, adapt, limit)
            wrapped_solution |= outcome.extra.get("solution", False)
            if outcome.ok:
                continue
            if outcome.extra.get("compared"):  # a real output: does it match a known mistake?
                got = outcome.extra["output"]
                for mistake in mistakes:
                    if mistake.wrong is WARNS:
                        if outcome.extra.get("warned"):
                            return Feedback(exercise, False, outcome.message + said, mistake.hint)
                        continue
                    with running.quiet():
                        try:
                            wrong = mistake.wrong(*copy.deepcopy(case.args))
                            wrong = adapt(wrong) if adapt else wrong
                        except Exception:  # this mistake cannot be made on this input
                            continue
                    if matches(got, wrong, rtol, atol, parts=bool(parts)):
                        return Feedback(exercise, False, outcome.message + said, mistake.hint)
            return Feedback(exercise, False, outcome.message + said, outcome.hint or hint)
        if wrapped_solution and REFUSE_WRAPPED_SOLUTIONS:  # right, but by calling the folded solution
            message = "your function calls the exercise's folded solution; the checker wants your own code."
            return Feedback(exercise, False, message, (_REFUSED, *_stages(hint)))
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


REFUSE_WRAPPED_SOLUTIONS = True
"""An answer that is right because it calls a ``solution_*`` function fails. Tests that wrap a
solution to count or watch its calls turn this off."""

_REFUSED = "Rewrite your function without it: the exercise is about doing this step yourself."


def _stages(hint: Hint) -> tuple[str, ...]:
    return (hint,) if isinstance(hint, str) else tuple(hint)


_EXERCISES = str(Path(__file__).resolve().parent)


def watch_solution_calls(answer: Callable[..., Any], reference: Callable[..., Any]) -> Callable[[], bool]:
    """Start watching the learner's call for calls of an exercise's ``solution_*`` or of the
    checker's reference; the returned function stops the watch and says whether one was seen.
    Handing the folded solution itself to the checker is fine: a solution cell does that."""
    function = answer.__func__ if isinstance(answer, types.MethodType) else answer
    code = function.__code__ if isinstance(function, types.FunctionType) else None  # no learner's __getattr__ asked
    reference_code = getattr(reference, "__code__", None)
    if code is reference_code or getattr(code, "co_filename", "").startswith(_EXERCISES):
        return lambda: False
    seen: list[str] = []

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and (
            frame.f_code is reference_code
            or (frame.f_code.co_name.startswith("solution_") and frame.f_code.co_filename.startswith(_EXERCISES))
        ):
            seen.append(frame.f_code.co_name)

    previous = sys.getprofile()
    sys.setprofile(watch)
    return lambda: (sys.setprofile(previous), bool(seen))[1]


def _run_case(
    answer: Callable[..., Any],
    reference: Callable[..., Any],
    case: Case,
    parts: Sequence[str],
    rtol: float,
    atol: float,
    warnings_are_errors: bool,
    adapt: Callable[[Any], Any] | None,
    limit: float,
) -> tuple[Outcome, str]:
    """Run the learner's function once on one case; the outcome and what it printed.

    The learner's code runs under the time limit, its output converted there too; the reference
    is computed afterwards, so nothing of it is on the stack while the learner's code runs."""
    caught: list = []

    def attempt(args: tuple = copy.deepcopy(case.args)) -> Any:
        # NumPy's default error handling, whatever the learner set globally
        with warnings.catch_warnings(record=True) as record, np.errstate(all="warn", under="ignore"):
            warnings.simplefilter("always")
            stop = watch_solution_calls(answer, reference)
            try:
                result = answer(*args)
            finally:
                called_solution = stop()
        caught.extend(record)
        kind = non_real(result)
        if kind:
            return "non_real", kind
        if adapt:
            try:
                with running.quiet():
                    result = adapt(result)
            except Exception as exc:
                return "form", running.short(exc)
        return ("solution" if called_solution else "ok"), clean(result, len(parts))

    status, result, printed = running.call_limited(attempt, limit)
    said = f" It printed: {running.short(printed)}" if printed.strip() else ""
    if status == "timeout":
        return Outcome(
            False,
            f"your function did not return within {limit:g} s on {case.label}; look for a loop that never ends.",
        ), said
    if status == "raised":
        return Outcome(False, f"for {case.label} your function raised {running.describe_error(result)}."), said
    what, got = result
    if what == "non_real":
        return Outcome(False, f"for {case.label} your function returned {got}; expected real numbers."), said
    if what == "form":
        return Outcome(False, f"for {case.label} your output has the wrong form: {got}."), said
    with running.quiet():
        expected = reference(*copy.deepcopy(case.args))
        expected = adapt(expected) if adapt else expected
        expected = (
            [np.asarray(e, dtype=np.float64) for e in expected] if parts else np.asarray(expected, dtype=np.float64)
        )
    if parts:
        outcome = compare_parts(got, expected, parts, case.label, rtol, atol)
    else:
        outcome = compare(got, expected, case.label, rtol, atol)
    if outcome.ok and warnings_are_errors and caught:
        outcome = Outcome(False, f"for {case.label} your function warned: {running.short(caught[0].message)}")
    outcome.extra.update(compared=True, output=got, warned=bool(caught), solution=what == "solution")
    return outcome, said


def WARNS(*args: Any) -> None:
    """Marker for :class:`Mistake`: matches any answer that emitted a warning."""
    return None


def check_value(
    exercise: str,
    answer: Any,
    expected: Any,
    *,
    hint: Hint,
    mistakes: Sequence[tuple[Any, Hint]] = (),
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
                    f"expected a set of names, got the string {fmt(answer)}; write {{{fmt(answer)}}} for a set of one.",
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
            # Say neither which entries are wrong nor how many: a learner who submits one name at
            # a time would read the answer off the counts.
            message = f"that is not the right set yet; the right one has {len(want)} names."
            return Feedback(exercise, False, message, hint)
        want = np.asarray(expected, dtype=np.float64)
        status, converted, _ = running.call_limited(
            lambda: clean(answer), running.TIME_LIMIT_S
        )  # an __array__ may loop: the answer is read once, here, and only what was read is compared
        if status != "ok":
            return Feedback(
                exercise, False, f"your answer could not be read as a number within {running.TIME_LIMIT_S:g} s.", hint
            )
        outcome = compare(converted, want, "this question", rtol, 1e-12)
        if outcome.ok:
            return Feedback(exercise, True, f"{fmt(answer)} is right.")
        got = to_array(converted)
        if "got" in outcome.extra:  # numbers of the right shape but wrong: say how, not what
            if want.ndim == 0:
                message = f"{fmt(answer)} is not right: it is too {'high' if got > want else 'low'}."
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

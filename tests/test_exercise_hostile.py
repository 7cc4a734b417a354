"""Hostile answers against every checker: a verdict within the time limit, never an exception, never a
pass for a wrong answer, and a correct answer passes whatever the learner's global settings."""

from __future__ import annotations

import itertools
import signal
import time
import warnings

import numpy as np
import pytest

from dlcourse.exercises import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, compare, core, running

from .exercise_suite import companions, discover

CHAPTERS = [ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10]
# a chapter whose checkers outgrow one module keeps the rest in chNN_more.py or chNN_<topic>.py
MORE = [extra for m in CHAPTERS for extra in companions(m)]
PAIRS = discover(*CHAPTERS, *MORE)
FUNCTION_PAIRS = [(c, s) for c, s in PAIRS if callable(s)]
IDS = [c.__name__ for c, _ in FUNCTION_PAIRS]


@pytest.fixture(autouse=True)
def short_time_limit(monkeypatch):
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)  # the same mechanism as in a notebook, faster


def busy_loop(*args):
    while True:
        pass


def sleeps(*args):
    time.sleep(60)


def exits(*args):
    raise SystemExit(1)


def huge_message(*args):
    raise ValueError("x" * 1_000_000)


class LoopingArray:
    def __array__(self, dtype=None, copy=None):
        while True:
            pass


HANGS = [busy_loop, sleeps, lambda *a: LoopingArray()]


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_a_hanging_answer_gets_a_verdict_in_time(checker, solution):
    for answer in HANGS:
        start = time.perf_counter()
        feedback = checker(answer)
        assert time.perf_counter() - start < 5 * running.TIME_LIMIT_S + 2
        assert not feedback.passed
        if "did not return" not in feedback.message:  # a pre-check may refuse the answer first
            assert feedback.message and feedback.hint
    assert checker(solution).passed  # the kernel is still usable, and the timer is gone


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_system_exit_and_huge_messages_become_feedback(checker, solution):
    for answer in (exits, huge_message):
        feedback = checker(answer)
        assert not feedback.passed
        assert len(str(feedback)) < 2_000


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_complex_or_string_outputs_never_pass(checker, solution):
    def complex_answer(*args):
        return np.asarray(solution(*args)) + 0.5j

    def string_answer(*args):
        return np.asarray(solution(*args), dtype=float).astype(str).tolist()

    for answer in (complex_answer, string_answer):
        try:
            feedback = checker(answer)
        except Exception as exc:  # pragma: no cover - the point of the test
            raise AssertionError(f"{checker.__name__} raised {exc!r}") from exc
        assert not feedback.passed, str(feedback)


@pytest.mark.parametrize(("checker", "solution"), PAIRS, ids=[c.__name__ for c, _ in PAIRS])
def test_the_learners_global_settings_cannot_fail_a_correct_answer(checker, solution):
    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = checker(solution)
    finally:
        np.seterr(**old)
    assert feedback.passed, str(feedback)


def test_an_infinite_iterator_for_a_set_gets_a_verdict():
    feedback = ch01.check_deep_models(itertools.count())
    assert not feedback.passed and "could not be read" in feedback.message


def test_close_but_wrong_values_print_differently():
    expected, got = compare.fmt_pair(np.array([0.5]), np.array([0.50002]))
    assert expected != got


def test_messages_start_with_a_capital():
    feedback = core.check_value("q", np.nan, 0.25, hint="think")
    assert feedback.message[0].isupper() and "0.25" not in str(feedback)


def _perturb(value):
    """A wrong answer close to the right one: every number moved by 1 % plus 0.01."""
    if isinstance(value, (tuple, list)) and value and not np.isscalar(value[0]):
        return type(value)(_perturb(v) for v in value)
    return np.asarray(value, dtype=float) * 1.01 + 0.01


def _restructure(value):
    """The right numbers in the wrong structure: tuple parts flattened into one array, or an
    array nested one level deeper."""
    if isinstance(value, tuple) and any(np.ndim(v) for v in value):  # a tuple of numbers may come as a list
        return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in value])
    return [np.asarray(value, dtype=float)]


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_close_answers_and_restructured_answers_never_pass(checker, solution):
    for change in (_perturb, _restructure):
        feedback = checker(lambda *args, change=change: change(solution(*args)))
        assert not feedback.passed, f"{checker.__name__} passed a {change.__name__[1:]}d answer: {feedback}"
        assert feedback.message[0].isupper() and feedback.hint


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_the_learners_function_runs_once_per_case(checker, solution):
    calls = []

    def counted(*args):
        calls.append(1)
        return solution(*args)

    feedback = checker(counted)
    if not solution.__module__.startswith("dlcourse.exercises") and "your function uses" in feedback.message.lower():
        return  # the reference is the package's own function, which the exercise forbids under any name
    assert feedback.passed, str(feedback)
    found = [int(word) for word in feedback.message.split() if word.isdigit()]
    if "test cases pass" in feedback.message and found:
        assert len(calls) == found[0], f"{checker.__name__} ran the answer {len(calls)} times on {found[0]} cases"


VALUE_PAIRS = [
    (c, s) for c, s in PAIRS if not callable(s) and np.ndim(s) == 0 and not isinstance(s, (str, set, frozenset))
]


@pytest.mark.parametrize(("checker", "solution"), VALUE_PAIRS, ids=[c.__name__ for c, _ in VALUE_PAIRS])
def test_numpy_and_torch_scalars_are_numbers(checker, solution):
    torch = pytest.importorskip("torch")
    for answer in (np.asarray(solution), np.float64(solution), torch.tensor(solution)):
        assert checker(answer).passed, f"{checker.__name__} refused {answer!r}"
    for answer in (str(solution), [solution], complex(solution) + 1j):
        assert not checker(answer).passed


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS[:3], ids=IDS[:3])
def test_the_time_limit_also_works_off_the_main_thread(checker, solution):
    """Where there is no timer signal (Windows, or a checker called from another thread) the
    answer runs in a helper thread that is abandoned when the time is up."""
    import threading

    box, stop = {}, threading.Event()

    def loops_until_the_test_ends(*args):  # busy_loop, but the abandoned thread ends with the test
        while not stop.is_set():
            pass

    thread = threading.Thread(target=lambda: box.update(feedback=checker(loops_until_the_test_ends)))
    start = time.perf_counter()
    try:
        thread.start()
        thread.join(10)
        assert not thread.is_alive() and time.perf_counter() - start < 5
        assert "did not return" in box["feedback"].message
    finally:
        stop.set()  # else the abandoned loop would slow every later test of this process


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_an_answer_that_wraps_the_folded_solution_fails(checker, solution, monkeypatch):
    """Right outputs by calling solution_* (under any name) are not the learner's own work; the
    solution itself, as a solution cell hands it over, still passes."""
    monkeypatch.setattr(core, "REFUSE_WRAPPED_SOLUTIONS", True)
    monkeypatch.setattr(running, "TIME_LIMIT_S", 3.0)  # the training checkers need their time
    hidden = {"f": solution}

    def wrapper(*args):
        return hidden["f"](*args)

    feedback = checker(wrapper)
    assert not feedback.passed and "folded solution" in feedback.message, str(feedback)
    assert checker(solution).passed


def _guarded(checker, answer, seconds=30.0):
    """The checker's verdict and how long it took, under a guard of the test's own: a checker that hangs
    fails the test instead of stopping the suite."""
    start = time.perf_counter()
    with running.time_limit(seconds):
        feedback = checker(answer)
    return feedback, time.perf_counter() - start


class LoopingRepr:
    """A learner's object that cannot be shown: its ``__repr__`` never returns."""

    def __repr__(self):
        while True:
            pass


class RightButLoopingRepr(LoopingRepr):
    """The right number, as an object whose ``__repr__`` never returns."""

    def __init__(self, value):
        self.value = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)


class LoopingGetattr:
    """A callable whose every missing attribute (``__code__``, ``__wrapped__``, ...) never comes back."""

    def __call__(self, *args):
        return None

    def __getattr__(self, name):
        while True:
            pass


class LoopingGetattribute:
    """A callable that loops on every attribute read, even ``__class__``."""

    def __call__(self, *args):
        return None

    def __getattribute__(self, name):
        while True:
            pass


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_a_learners_object_that_cannot_be_shown_gets_a_verdict_in_time(checker, solution):
    """Feedback shows what the learner handed in; showing it runs the learner's ``__repr__``."""
    feedback, seconds = _guarded(checker, LoopingRepr())
    assert seconds < 5 * running.TIME_LIMIT_S + 2, f"{checker.__name__} took {seconds:.1f} s"
    assert not feedback.passed and feedback.message.endswith("."), str(feedback)
    assert "<object of type LoopingRepr>" in feedback.message, str(feedback)


@pytest.mark.parametrize(("checker", "solution"), VALUE_PAIRS, ids=[c.__name__ for c, _ in VALUE_PAIRS])
def test_a_right_value_that_cannot_be_shown_still_passes_in_time(checker, solution):
    feedback, seconds = _guarded(checker, RightButLoopingRepr(solution))
    assert seconds < 5 * running.TIME_LIMIT_S + 2, f"{checker.__name__} took {seconds:.1f} s"
    assert feedback.passed, str(feedback)
    feedback, seconds = _guarded(checker, RightButLoopingRepr(solution + 1))
    assert seconds < 5 * running.TIME_LIMIT_S + 2 and not feedback.passed, str(feedback)


@pytest.mark.parametrize(("checker", "solution"), FUNCTION_PAIRS, ids=IDS)
def test_a_callable_whose_attributes_never_come_back_gets_a_verdict_in_time(checker, solution):
    """Reading an answer's source or code object asks for its attributes: a learner's ``__getattr__`` (or
    ``__getattribute__``) runs, and must run under a time limit like the rest of the learner's code."""
    for answer in (LoopingGetattr(), LoopingGetattribute()):
        feedback, seconds = _guarded(checker, answer)
        assert seconds < 10 * running.TIME_LIMIT_S + 3, f"{checker.__name__} took {seconds:.1f} s"
        assert not feedback.passed and feedback.message, str(feedback)
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # and no timer is left running


def test_an_answer_that_first_imports_torch_is_not_cut_off_halfway_through_the_import():
    """Stopping ``import torch`` halfway leaves torch broken for the session (a crash, in some versions): an
    import does not count against the time limit, in a fresh interpreter where torch is not loaded yet."""
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("torch")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from dlcourse.exercises import core, running
        from dlcourse.exercises.core import Case
        assert "torch" not in sys.modules
        running.TIME_LIMIT_S = 0.01  # far less than torch takes to import

        def doubled(x):
            import torch
            return torch.as_tensor(x).mul(2).numpy()

        cases = [Case((np.arange(3.0),), "x = [0, 1, 2]")]
        for _ in range(2):
            feedback = core.check_function("doubled", doubled, lambda x: 2 * x, cases, hint="double it")
            assert feedback.passed, str(feedback)
        import torch
        assert float(torch.ones(3).sum()) == 3.0
        print("torch works")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "torch works" in done.stdout, done.stdout + done.stderr


def test_a_limit_inside_another_hands_the_outer_one_back():
    """A checker that reads a learner's message (under a short limit) while the learner's code runs (under
    its own) must not cancel the outer limit."""

    def reads_a_message_then_loops():
        running.describe_error(ValueError("boom"))
        while True:
            pass

    start = time.perf_counter()
    with running.time_limit(30):  # the test's guard
        status, _, _ = running.call_limited(reads_a_message_then_loops, 0.5)
    assert status == "timeout" and time.perf_counter() - start < 5

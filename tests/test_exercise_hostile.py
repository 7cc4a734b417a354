"""Hostile answers against every checker: a verdict within the time limit, never an exception, never a
pass for a wrong answer, and a correct answer passes whatever the learner's global settings."""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import pytest

from dlcourse.exercises import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, compare, core, running

from .exercise_suite import companions, discover

CHAPTERS = [ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09]
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

    box = {}
    thread = threading.Thread(target=lambda: box.update(feedback=checker(busy_loop)))
    start = time.perf_counter()
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and time.perf_counter() - start < 5
    assert "did not return" in box["feedback"].message


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

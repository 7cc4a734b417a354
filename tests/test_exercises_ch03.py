"""Chapter 3 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.exercises import ch03
from dlcourse.numpy import losses

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch03)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_other_correct_answers_pass():
    """Answers written differently from the solutions, including with the package and PyTorch, pass too."""
    assert ch03.check_mse(lambda y_hat, y: losses.mse(y_hat, y)).passed
    assert ch03.check_mse(lambda y_hat, y: torch.nn.functional.mse_loss(torch.tensor(y_hat), torch.tensor(y))).passed
    assert ch03.check_softmax(losses.softmax).passed
    assert ch03.check_softmax(lambda z: torch.softmax(torch.tensor(z), dim=0)).passed
    assert ch03.check_one_hot(lambda label, c: np.eye(c)[label]).passed
    assert ch03.check_one_hot(lambda label, c: losses.one_hot(np.array(label), c)).passed
    assert ch03.check_cross_entropy(
        lambda p, label: -np.sum(losses.one_hot(np.array(label), len(p)) * np.log(p))
    ).passed
    assert ch03.check_dlogits(lambda z, label: losses.softmax(z) - np.eye(len(z))[label]).passed


def _naive_softmax(z):
    return np.exp(z) / np.exp(z).sum()


def _dlogits_flipped(z, label):
    return np.eye(len(z))[label] - losses.softmax(z)


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch03.check_mse, lambda y_hat, y: np.sum((y_hat - y) ** 2), "*mean* squared error"),
    (ch03.check_mse, lambda y_hat, y: np.mean(y_hat - y), "need squaring"),
    (ch03.check_mse, lambda y_hat, y: np.mean(np.abs(y_hat - y)), "absolute"),
    (ch03.check_mse, lambda y_hat, y: np.sqrt(np.mean((y_hat - y) ** 2)), "RMSE"),
    (ch03.check_mse, lambda y_hat, y: None, "return"),
    (ch03.check_softmax, _naive_softmax, "overflowed"),
    (ch03.check_softmax, lambda z: np.exp(z - z.max()), "sum to 1"),
    (ch03.check_one_hot, lambda label, c: np.eye(c)[label - 1], "counts from 0"),
    (ch03.check_one_hot, lambda label, c: 1 - np.eye(c)[label], "swapped"),
    (ch03.check_cross_entropy, lambda p, label: np.log(p[label]), "minus sign"),
    (ch03.check_cross_entropy, lambda p, label: -np.log10(p[label]), "natural log"),
    (ch03.check_cross_entropy, lambda p, label: -np.log(p.max()), "*true* class"),
    (ch03.check_cross_entropy, lambda p, label: -np.log(p).sum(), "only one"),
    (ch03.check_dlogits, _dlogits_flipped, "sign is flipped"),
    (ch03.check_dlogits, lambda z, label: losses.softmax(z), "label must enter"),
]


def test_naive_softmax_fails_only_on_large_scores():
    """The textbook formula is right on small scores; the failure names the input that overflowed."""
    feedback = ch03.check_softmax(_naive_softmax)
    assert "z = [1000, 1001, 1002]" in feedback.message


def test_a_warning_fails_even_a_right_answer():
    """An answer with the right numbers that still warns is not accepted."""

    def warns_then_right(z):
        with np.errstate(over="warn"):
            np.exp(np.array([1000.0]))  # a pointless overflow
        return ch03.solution_softmax(z)

    feedback = ch03.check_softmax(warns_then_right)
    assert not feedback.passed and "warned" in feedback.message


def test_hints_do_not_give_the_answer_away():
    for checker, wrong, _ in WRONG:
        text = str(checker(wrong))
        assert "z - z.max()" not in text and "np.eye" not in text and "softmax(z) - " not in text


@settings(max_examples=30)
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_checker_never_raises_on_constant_answers(value):
    for checker in CHECKERS:
        feedback = checker(lambda *args, v=value: v)
        assert not feedback.passed and feedback.hint


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
def test_exception_inside_learner_code_is_reported(checker):
    feedback = checker(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert feedback.hint


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)

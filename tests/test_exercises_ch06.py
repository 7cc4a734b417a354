"""Chapter 6 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.exercises import ch06

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch06)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_other_correct_answers_pass():
    assert ch06.check_he_std(lambda n: (2 / n) ** 0.5).passed
    assert ch06.check_best_epoch(lambda v: min(range(len(v)), key=v.__getitem__)).passed
    assert ch06.check_dropout_scale(lambda p: 1 / (1 - p)).passed

    def momentum_in_place(w, v, grad, lr, mu):
        v *= mu
        v += grad
        w -= lr * v
        return w, v

    assert ch06.check_momentum_step(momentum_in_place).passed
    assert ch06.check_momentum_step(lambda w, v, g, lr, mu: [w - lr * (mu * v + g), mu * v + g]).passed


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch06.check_he_std, lambda n: np.sqrt(1 / n), "ReLU zeroes half"),
    (ch06.check_he_std, lambda n: 2 / n, "returned the variance"),
    (ch06.check_he_std, lambda n: np.sqrt(2) / n, "whole fraction"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * g, v), "plain SGD"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * g, g), "remember the past"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * (mu * v + g), g), "returned velocity forgets"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * v, mu * v + g), "OLD velocity"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w + mu * v - lr * g, mu * v - lr * g), "other common form"),
    (ch06.check_adam_bias_correction, lambda m, t, b: m, "No correction"),
    (ch06.check_adam_bias_correction, lambda m, t, b: m * (1 - b**t), "divide instead"),
    (ch06.check_adam_bias_correction, lambda m, t, b: m / (1 - b), "depends on the step"),
    (ch06.check_dropout_scale, lambda p: 1 - p, "scales the survivors UP"),
    (ch06.check_dropout_scale, lambda p: 1 / p, "DROPPING"),
    (ch06.check_dropout_scale, lambda p: p, "drop probability, not the scale"),
    (ch06.check_best_epoch, lambda v: len(v) - 1, "last epoch"),
    (ch06.check_best_epoch, lambda v: int(np.argmax(v)), "highest validation loss"),
    (ch06.check_best_epoch, lambda v: int(np.argmin(v)) + 1, "from 0"),
    (ch06.check_best_epoch, lambda v: len(v) - 1 - int(np.argmin(v[::-1])), "earlier epoch"),
]


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
def test_stub_returning_none_is_told_to_return(checker):
    feedback = checker(lambda *args: None)
    assert not feedback.passed
    assert "return" in feedback.hint or "forget the `return`" in feedback.message


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
def test_exception_inside_learner_code_is_reported(checker):
    feedback = checker(raises_boom)
    assert not feedback.passed and "raised RuntimeError: boom" in feedback.message


def test_hints_do_not_give_the_formula_away():
    for checker in CHECKERS:
        text = str(checker(lambda *args: np.float64(123.0)))
        for formula in ("sqrt(2 / fan_in)", "1 / (1 - p)", "mu * v + grad", "argmin", "/ (1 - beta1**t)"):
            assert formula not in text, (checker.__name__, formula)


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)

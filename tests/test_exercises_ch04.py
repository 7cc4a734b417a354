"""Chapter 4 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given

from dlcourse.exercises import ch04

from .exercise_suite import discover, garbage, raises_boom, standard_tests

SOLUTIONS = discover(ch04)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_match_the_chapter():
    assert ch04.solution_gradient(5.0, 2.0, 6.0) == 8.0
    assert ch04.solution_gd_step(5.0, 8.0, 0.1) == pytest.approx(4.2)
    np.testing.assert_allclose(ch04.solution_run_gd(5.0, 2.0, 6.0, 0.1, 40)[-1], 3.0, atol=1e-8)
    assert ch04.solution_updates_per_epoch(200, 16) == 13


def test_solution_gradient_matches_autograd():
    w = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    (0.5 * (w * 2.5 - 4.0) ** 2).backward()
    assert ch04.solution_gradient(-1.3, 2.5, 4.0) == pytest.approx(w.grad.item(), rel=1e-12)


def test_solution_line_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=9), rng.normal(size=9)
    ab = torch.tensor([0.7, -0.2], dtype=torch.float64, requires_grad=True)
    ((ab[0] * torch.from_numpy(x) + ab[1] - torch.from_numpy(y)) ** 2).mean().backward()
    np.testing.assert_allclose(ch04.solution_line_gradient(0.7, -0.2, x, y), ab.grad.numpy(), rtol=1e-12)


def test_alternative_correct_answers_pass():
    assert ch04.check_gradient(lambda w, x, y: x * (x * w - y)).passed
    assert ch04.check_gd_step(lambda w, g, lr: np.subtract(w, np.multiply(lr, g))).passed
    assert ch04.check_updates_per_epoch(lambda n, b: -(-n // b)).passed
    assert ch04.check_updates_per_epoch(lambda n, b: len(range(0, n, b))).passed
    assert ch04.check_run_gd(lambda w0, x, y, lr, s: list(ch04.solution_run_gd(w0, x, y, lr, s))).passed
    assert ch04.check_line_gradient(lambda a, b, x, y: np.array(ch04.solution_line_gradient(a, b, x, y))).passed
    assert ch04.check_line_gradient(lambda a, b, x, y: torch.tensor(ch04.solution_line_gradient(a, b, x, y))).passed


def _run(w0, x, y, lr, steps, grad, sign=-1.0):
    path = [w0]
    for _ in range(steps):
        path.append(path[-1] + sign * lr * grad(path[-1], x, y))
    return path


def _floor_updates(n, b):
    return n // b


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch04.check_gradient, lambda w, x, y: w * x - y, "one more factor"),
    (ch04.check_gradient, lambda w, x, y: (y - w * x) * x, "sign is flipped"),
    (ch04.check_gradient, lambda w, x, y: 2 * (w * x - y) * x, "factor 1/2"),
    (ch04.check_gradient, lambda w, x, y: 0.5 * (w * x - y) ** 2, "loss itself"),
    (ch04.check_gd_step, lambda w, g, lr: w + lr * g, "uphill"),
    (ch04.check_gd_step, lambda w, g, lr: w - g, "learning rate is missing"),
    (ch04.check_gd_step, lambda w, g, lr: -lr * g, "only the change"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient)[1:], "start with"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s + 1, ch04.solution_gradient), "too many"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient)[-1], "only the last"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient, 1.0), "uphill"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, lambda w, x, y: w * x - y), "factor x"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: [w0] * (s + 1), "never changes"),
    (ch04.check_updates_per_epoch, _floor_updates, "last batch"),
    (ch04.check_updates_per_epoch, lambda n, b: n / b, "whole number"),
    (ch04.check_updates_per_epoch, lambda n, b: math.floor(n / b), "last batch"),
    (ch04.check_line_gradient, lambda a, b, x, y: (np.mean((a * x + b - y) * x), np.mean(a * x + b - y)), "2r"),
    (
        ch04.check_line_gradient,
        lambda a, b, x, y: (2 * np.sum((a * x + b - y) * x), 2 * np.sum(a * x + b - y)),
        "divide the sum by N",
    ),
    (
        ch04.check_line_gradient,
        lambda a, b, x, y: (2 * np.mean((y - a * x - b) * x), 2 * np.mean(y - a * x - b)),
        "sign is flipped",
    ),
    (
        ch04.check_line_gradient,
        lambda a, b, x, y: (2 * np.mean(a * x + b - y), 2 * np.mean((a * x + b - y) * x)),
        "swapped",
    ),
]


def test_lr_limit():
    assert ch04.check_lr_limit(ch04.solution_lr_limit).passed
    assert ch04.check_lr_limit(2 / 9).passed
    assert ch04.check_lr_limit(0.2222).passed  # a rounded answer is fine
    for wrong, words in [(1 / 9, "oscillates"), (0.5, "x = 2"), (2 / 3, "power of x"), (0.3, "(-1, 1)")]:
        feedback = ch04.check_lr_limit(wrong)
        assert not feedback.passed and words in feedback.hint, str(feedback)
        assert "0.222" not in str(feedback) and "2/9" not in str(feedback)  # never gives the answer away
    assert "higher" in ch04.check_lr_limit(0.1).message
    assert "lower" in ch04.check_lr_limit(0.3).message
    assert "positive" in ch04.check_lr_limit(-0.1).message
    assert ch04.check_lr_limit(np.array([2 / 9])).passed and ch04.check_lr_limit(torch.tensor(2 / 9)).passed


def test_feedback_names_the_failing_input():
    feedback = ch04.check_gradient(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message and "w = 5, x = 2, y = 6" in feedback.message
    feedback = ch04.check_line_gradient(lambda a, b, x, y: None)
    assert not feedback.passed and "return" in feedback.message


@given(answer=garbage)
def test_lr_limit_checker_never_raises(answer):
    feedback = ch04.check_lr_limit(answer)
    assert feedback.message and feedback.hint
    assert not feedback.passed and "Not yet" in str(feedback)


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)

"""Chapter 4 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given

from dlcourse.exercises import ch04, ch04_more, running
from dlcourse.gradcheck import numerical_gradient

from .exercise_suite import discover, garbage, raises_boom, standard_tests

SOLUTIONS = discover(ch04, ch04_more)  # every check_X with its solution_X (tests/exercise_suite.py)
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


def test_solution_line_gradient_matches_autograd_and_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=9), rng.normal(size=9)
    ab = torch.tensor([0.7, -0.2], dtype=torch.float64, requires_grad=True)
    ((ab[0] * torch.from_numpy(x) + ab[1] - torch.from_numpy(y)) ** 2).mean().backward()
    np.testing.assert_allclose(ch04.solution_line_gradient(0.7, -0.2, x, y), ab.grad.numpy(), rtol=1e-12)
    numeric = numerical_gradient(lambda p: np.mean((p[0] * x + p[1] - y) ** 2), np.array([0.7, -0.2]))
    np.testing.assert_allclose(ch04_more._line_gradient(np.array([0.7, -0.2]), x, y), numeric, rtol=1e-7)


def test_the_learning_rate_limit_is_where_descent_stops_converging():
    """The limit of exercise 4.4, measured: just below it the distance to the optimum shrinks, just above it grows."""
    x, y = ch04.LR_LIMIT_X, ch04.LR_LIMIT_Y
    w_star = np.sum(x * y) / np.sum(x**2)
    numeric = numerical_gradient(lambda w: np.mean((w[0] * x - y) ** 2), np.array([0.3]))
    np.testing.assert_allclose(numeric, 2 * np.mean((0.3 * x - y) * x), rtol=1e-8)
    for factor, shrinks in [(0.99, True), (1.01, False)]:
        w = 0.0
        for _ in range(500):
            w -= factor * ch04.solution_lr_limit * 2 * np.mean((w * x - y) * x)
        assert (abs(w - w_star) < abs(w_star)) == shrinks


def test_the_chosen_learning_rate_works_and_the_window_is_narrow():
    """The optimum meets the target on the checker's test split; round neighbours do not, so the
    exercise takes a search, and each failure says what happened."""
    assert ch04.check_choose_lr(ch04.solution_choose_lr).passed
    assert ch04.check_choose_lr(0.11).passed and ch04.check_choose_lr(torch.tensor(0.115)).passed
    for lr, words in [
        (0.1, "too slowly"),
        (0.01, "too slowly"),
        (0.119, "too close to the stability limit"),
        (0.12, "too close to the stability limit"),
        (0.1226, "diverges"),
        (0.13, "diverges"),
        (1.0, "diverges"),
    ]:
        feedback = ch04.check_choose_lr(lr)
        assert not feedback.passed and words in feedback.message, str(feedback)
        assert "0.117" not in str(feedback) and "0.118" not in str(feedback)  # never the answer


def test_a_learning_rate_that_meets_the_validation_target_meets_the_test_target():
    """The learner tunes on the validation split; the checker grades on a test split the learner never
    sees. Every learning rate of a sweep that meets the validation target and does not zigzag passes."""
    data = ch04.lr_problem()
    x_test, _ = ch04_more._test_split()
    assert not any(np.array_equal(x_test[:5], data[k][:5]) for k in ("x_train", "x_val"))
    for lr in np.arange(0.1, 0.1225, 0.0005):
        w = np.zeros(2)
        for _ in range(ch04.LR_STEPS):
            w = w - lr * 2 / 150 * data["x_train"].T @ (data["x_train"] @ w - data["y_train"])
        meets_validation = np.mean((data["x_val"] @ w - data["y_val"]) ** 2) <= ch04.LR_TARGET
        if meets_validation and lr < ch04.solution_choose_lr:
            assert ch04.check_choose_lr(float(lr)).passed, lr


def test_the_optimal_learning_rate_balances_the_two_directions():
    x = ch04.lr_problem()["x_train"]
    lam = np.linalg.eigvalsh(2 / len(x) * x.T @ x)
    lr = ch04.optimal_lr(x)
    assert abs(1 - lr * lam[0]) == pytest.approx(abs(1 - lr * lam[1]))
    assert lam[1] / lam[0] > 20  # ill-conditioned
    numeric = numerical_gradient(lambda w: np.mean((x @ w - ch04.lr_problem()["y_train"]) ** 2), np.array([0.4, -0.1]))
    w = np.array([0.4, -0.1])
    analytic = 2 / len(x) * x.T @ (x @ w - ch04.lr_problem()["y_train"])  # what run_lr_problem steps with
    np.testing.assert_allclose(numeric, analytic, rtol=1e-7)


def test_alternative_correct_answers_pass():
    assert ch04.check_gradient(lambda w, x, y: x * (x * w - y)).passed
    assert ch04.check_gd_step(lambda w, g, lr: np.subtract(w, np.multiply(lr, g))).passed
    assert ch04.check_updates_per_epoch(lambda n, b: -(-n // b)).passed
    assert ch04.check_updates_per_epoch(lambda n, b: len(range(0, n, b))).passed
    assert ch04.check_run_gd(lambda w0, x, y, lr, s: list(ch04.solution_run_gd(w0, x, y, lr, s))).passed
    assert ch04.check_line_gradient(lambda a, b, x, y: list(ch04.solution_line_gradient(a, b, x, y))).passed
    assert ch04.check_line_gradient(
        lambda a, b, x, y: tuple(torch.tensor(g) for g in ch04.solution_line_gradient(a, b, x, y))
    ).passed
    assert ch04.check_sgd_epoch(_sgd_epoch_with_index_loop).passed


def test_an_array_of_two_gradients_counts_as_the_pair():
    """line_loss_and_gradient returns its gradient as an array of two numbers; that form passes too."""

    def as_array(a, b, x, y):
        r = a * x + b - y
        return np.array([2 * np.mean(r * x), 2 * np.mean(r)])

    assert ch04.check_line_gradient(as_array).passed
    assert ch04.check_line_gradient(lambda a, b, x, y: torch.from_numpy(as_array(a, b, x, y))).passed
    feedback = ch04.check_line_gradient(lambda a, b, x, y: np.concatenate([as_array(a, b, x, y), [0.0]]))
    assert not feedback.passed


def _sgd_epoch_with_index_loop(params, x, y, lr, batch_size, rng):
    params = params.copy()
    order = rng.permutation(len(x))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        r = params[0] * x[idx] + params[1] - y[idx]
        params = params - lr * np.array([2 * np.mean(r * x[idx]), 2 * np.mean(r)])
    return params


def _run(w0, x, y, lr, steps, grad, sign=-1.0):
    path = [w0]
    for _ in range(steps):
        path.append(path[-1] + sign * lr * grad(path[-1], x, y))
    return path


def _line_gradient_autograd(a, b, x, y):
    ab = torch.tensor([a, b], dtype=torch.float64, requires_grad=True)
    ((ab[0] * torch.from_numpy(x) + ab[1] - torch.from_numpy(y)) ** 2).mean().backward()
    return tuple(ab.grad.numpy())


def _run_gd_aliased(w0, x, y, lr, steps):
    w = np.array(float(w0))
    path = [w]
    for _ in range(steps):
        w -= lr * (w * x - y) * x  # in place: every entry of path is this one array
        path.append(w)
    return path


def _floor_updates(n, b):
    return n // b


def _broken_epoch(fix_shuffle, fix_range, two_orders=False, drop_last=False):
    """The notebook's stub, with none, one or both of its bugs fixed (or fixed the wrong way)."""

    def sgd_epoch(params, x, y, lr, batch_size, rng):
        params = params.copy()
        if two_orders:
            x, y = x[rng.permutation(len(x))], y[rng.permutation(len(y))]
        else:
            order = rng.permutation(len(x))
            x = x[order]
            y = y[order] if fix_shuffle else y
        stop = len(x) if fix_range else len(x) - batch_size
        if drop_last:
            stop = len(x) - len(x) % batch_size
        for first in range(0, stop, batch_size):
            xb, yb = x[first : first + batch_size], y[first : first + batch_size]
            residual = params[0] * xb + params[1] - yb
            grad = np.array([2 * np.mean(residual * xb), 2 * np.mean(residual)])
            params -= lr * grad
        return params

    return sgd_epoch


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch04.check_gradient, lambda w, x, y: w * x - y, "one more factor"),
    (ch04.check_gradient, lambda w, x, y: (y - w * x) * x, "sign is flipped"),
    (ch04.check_gradient, lambda w, x, y: 2 * (w * x - y) * x, "factor 1/2"),
    (ch04.check_gradient, lambda w, x, y: 0.5 * (w * x - y) ** 2, "derivative of the loss"),
    (ch04.check_gradient, lambda w, x, y: (w * x - y) * abs(x), "failing case"),
    (ch04.check_gd_step, lambda w, g, lr: w + lr * g, "uphill"),
    (ch04.check_gd_step, lambda w, g, lr: w - g, "learning rate is missing"),
    (ch04.check_gd_step, lambda w, g, lr: -lr * g, "only the change"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient)[1:], "start with"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s + 1, ch04.solution_gradient), "too many"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient)[-1], "only the last"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, ch04.solution_gradient, 1.0), "uphill"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s, lambda w, x, y: w * x - y), "factor x"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: [w0] * (s + 1), "never changes"),
    (ch04.check_run_gd, lambda w0, x, y, lr, s: _run(w0, x, y, lr, s - 1, ch04.solution_gradient), "update is missing"),
    (ch04.check_run_gd, _run_gd_aliased, "same array object"),
    (ch04.check_lr_limit, 3 / 28, "oscillations still shrink"),
    (ch04.check_lr_limit, 3 / 7, "no factor 1/2"),
    (ch04.check_lr_limit, 2 / 9, "mean over all three"),
    (ch04.check_lr_limit, 1 / 7, "not a sum"),
    (ch04.check_lr_limit, 0.5, "mean of the squares"),
    (ch04.check_lr_limit, 0.3, "(-1, 1)"),
    (ch04.check_lr_limit, 0.214, "more digits"),
    (ch04.check_updates_per_epoch, _floor_updates, "last batch"),
    (ch04.check_updates_per_epoch, lambda n, b: n / b, "whole number"),
    (ch04.check_updates_per_epoch, lambda n, b: math.floor(n / b), "last batch"),
    (ch04.check_updates_per_epoch, lambda n, b: n * b, "fewer updates"),
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
    (ch04.check_line_gradient, _line_gradient_autograd, "Rewrite your function"),  # refused
    (ch04.check_choose_lr, 0.01, "too slow"),
    (ch04.check_choose_lr, 0.1, "too slow"),
    (ch04.check_choose_lr, 0.2, "smaller learning rate"),
    (ch04.check_choose_lr, 2.0, "smaller learning rate"),
    (ch04.check_choose_lr, 0.12, "slightly smaller learning rate"),
    (ch04.check_sgd_epoch, _broken_epoch(False, False), "How many times"),
    (ch04.check_sgd_epoch, _broken_epoch(True, False), "range stops before"),
    (ch04.check_sgd_epoch, _broken_epoch(False, True), "another example's y"),
    (ch04.check_sgd_epoch, _broken_epoch(True, True, two_orders=True), "one order"),
    (ch04.check_sgd_epoch, _broken_epoch(True, True, drop_last=True), "short last batch"),
]


def test_lr_limit():
    assert ch04.check_lr_limit(ch04.solution_lr_limit).passed
    assert ch04.check_lr_limit(3 / 14).passed
    assert ch04.check_lr_limit(0.2143).passed  # a rounded answer is fine
    for wrong in (3 / 28, 3 / 7, 2 / 9, 0.3):
        feedback = ch04.check_lr_limit(wrong)
        assert "0.214" not in str(feedback) and "3/14" not in str(feedback)  # never gives the answer away
    assert "higher" in ch04.check_lr_limit(0.1).message
    assert "lower" in ch04.check_lr_limit(0.3).message
    assert "positive" in ch04.check_lr_limit(-0.1).message
    assert ch04.check_lr_limit(np.float64(3 / 14)).passed and ch04.check_lr_limit(torch.tensor(3 / 14)).passed
    for container in ([3 / 14], np.array([3 / 14]), torch.tensor([3 / 14])):  # one number, not a container
        for checker in (ch04.check_lr_limit, ch04.check_choose_lr):
            feedback = checker(container)
            assert not feedback.passed and "a single number" in feedback.message, str(feedback)
    assert ch04.check_lr_limit(float("inf")).message.startswith("A learning rate of inf")
    assert ch04.check_choose_lr(float("inf")).message.startswith("A learning rate of inf")
    feedback = ch04.check_lr_limit(0.214)  # three decimals: close, but the checker asks for more digits
    assert not feedback.passed and "more digits" in feedback.hints[0] and "four significant" in feedback.message


def test_feedback_names_the_failing_input():
    feedback = ch04.check_gradient(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message and "w = 5, x = 2, y = 6" in feedback.message
    feedback = ch04.check_line_gradient(lambda a, b, x, y: None)
    assert not feedback.passed and "return" in feedback.message


def test_the_stub_of_the_debugging_exercise_fails_first_on_the_loop():
    feedback = ch04.check_sgd_epoch(_broken_epoch(False, False))
    assert not feedback.passed and "batch_size = 4" in feedback.message


@pytest.mark.parametrize("checker, solution", SOLUTIONS, ids=lambda f: getattr(f, "__name__", ""))
def test_solutions_pass_under_the_learners_strictest_settings(checker, solution):
    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = checker(solution)
    finally:
        np.seterr(**old)
    assert feedback.passed, str(feedback)


def _busy_loop(*args):
    while True:
        pass


def test_hostile_answers_to_the_new_exercises(monkeypatch):
    """Hostile answers to ch04_more.py's checkers (tests/test_exercise_hostile.py covers them too)."""
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    solution = ch04.solution_sgd_epoch
    assert "did not return" in ch04.check_sgd_epoch(_busy_loop).message
    for change in (
        lambda out: out + 0.5j,
        lambda out: out.astype(str).tolist(),
        lambda out: out * 1.01 + 0.01,
        lambda out: [out],
    ):
        feedback = ch04.check_sgd_epoch(lambda *args, change=change: change(solution(*args)))
        assert not feedback.passed and feedback.message[0].isupper() and feedback.hint, str(feedback)
    calls = []
    assert "All 3 test cases" in ch04.check_sgd_epoch(lambda *a: calls.append(1) or solution(*a)).message
    assert len(calls) == 3
    for answer in (np.float64(ch04.solution_choose_lr), np.asarray(ch04.solution_choose_lr)):
        assert ch04.check_choose_lr(answer).passed
    for answer in (str(ch04.solution_choose_lr), [ch04.solution_choose_lr], complex(ch04.solution_choose_lr) + 1j):
        assert not ch04.check_choose_lr(answer).passed


@given(answer=garbage)
def test_value_checkers_never_raise(answer):
    for checker in (ch04.check_lr_limit, ch04.check_choose_lr):
        feedback = checker(answer)
        assert feedback.message and feedback.hint
        assert not feedback.passed and "Not yet" in str(feedback)


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)


def test_the_notebooks_debugging_stub_is_the_code_the_hints_expect(tmp_path):
    from .test_exercises_ch03 import _stub_from_notebook

    stub = _stub_from_notebook("04_gradient_descent.ipynb", "sgd_epoch", tmp_path)
    feedback = ch04.check_sgd_epoch(stub)
    assert not feedback.passed and "How many times" in " ".join(feedback.hints), str(feedback)

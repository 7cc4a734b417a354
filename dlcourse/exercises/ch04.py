"""Checkers and solutions for chapter 4, Gradient descent.

The exercises that train and debug something the chapter does not show, choosing a learning rate
for an ill-conditioned regression and repairing a broken minibatch epoch, and the learning-rate
limit, live in
:mod:`dlcourse.exercises.ch04_more` and are re-exported at the end of this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "gradient": ["(w * x - y) * x", "x * (w * x - y)", "(y_hat - y) * x"],
    "gd_step": ["w - lr * grad", "w -= lr * grad"],
    "run_gd": ["path.append(path[-1] - lr *", "w = w - lr * gradient(w, x, y)"],
    "updates_per_epoch": ["math.ceil(n / batch_size)", "-(-n // batch_size)", "len(range(0, n, batch_size))"],
    "line_gradient": ["2 * np.mean(residual * x)", "2 * np.mean(residual)", "np.mean((a * x + b - y) * x)"],
}


def solution_gradient(w: float, x: float, y: float) -> float:
    r"""The derivative of :math:`L(w) = \tfrac12 (wx - y)^2` with respect to the weight ``w``."""
    return (w * x - y) * x


@checker
def check_gradient(answer: Any) -> Feedback:
    """Exercise 4.1: ``gradient(w, x, y)``, the slope of the one-weight loss."""
    cases = [
        Case((5.0, 2.0, 6.0), "w = 5, x = 2, y = 6"),
        Case((1.0, 3.0, 12.0), "w = 1, x = 3, y = 12"),
        Case((-0.5, -2.0, 4.0), "w = -0.5, x = -2, y = 4"),
    ]
    return check_function(
        "gradient",
        answer,
        solution_gradient,
        cases,
        hint=(
            "Check the sign and the size of your slope on the failing case: is the prediction there too large or too small?",
            "Use the chain rule: write the loss as 1/2 u^2 with u = wx - y, then multiply by du/dw.",
        ),
        mistakes=[
            Mistake(
                lambda w, x, y: w * x - y,
                (
                    "Your slope is off by a factor that depends on the input.",
                    "You have the derivative with respect to the prediction. The prediction is w * x, so the "
                    "chain rule multiplies by one more factor.",
                ),
            ),
            Mistake(
                lambda w, x, y: (y - w * x) * x,
                (
                    "Your slope has the wrong sign. Would a larger w raise or lower the loss on the failing case?",
                    "The sign is flipped: where the prediction is too large, increasing w makes the loss larger, "
                    "so the slope must be positive there (and negative where it is too small).",
                ),
            ),
            Mistake(
                lambda w, x, y: 2 * (w * x - y) * x,
                (
                    "Your slope is twice the right one.",
                    "The loss has a factor 1/2 in front, which cancels the 2 from the square.",
                ),
            ),
            Mistake(
                lambda w, x, y: 0.5 * (w * x - y) ** 2,
                (
                    "That is the value of the loss, not its slope.",
                    "The exercise asks for the derivative of the loss with respect to w.",
                ),
            ),
        ],
    )


def solution_gd_step(w: Any, grad: Any, lr: float) -> Any:
    """One step of gradient descent: move against the gradient, scaled by the learning rate."""
    return w - lr * grad


@checker
def check_gd_step(answer: Any) -> Feedback:
    """Exercise 4.2: ``gd_step(w, grad, lr)`` for a scalar weight or an array of weights."""
    cases = [
        Case((5.0, 8.0, 0.1), "w = 5, grad = 8, lr = 0.1"),
        Case((-1.0, -4.0, 0.5), "w = -1, grad = -4, lr = 0.5"),
        Case(
            (np.array([1.0, -2.0, 0.5]), np.array([0.5, -1.0, 2.0]), 0.2),
            "w = [1, -2, 0.5], grad = [0.5, -1, 2], lr = 0.2",
        ),
    ]
    return check_function(
        "gd_step",
        answer,
        solution_gd_step,
        cases,
        hint=(
            "Compare your new weight with the old one on the failing case: did it move, and which way?",
            "The gradient points uphill; the step goes the other way, and the learning rate sets its length.",
        ),
        mistakes=[
            Mistake(
                lambda w, grad, lr: w + lr * grad,
                (
                    "Your weight moved in the direction of the gradient.",
                    "Your step goes uphill: the gradient points towards a larger loss, so move the other way.",
                ),
            ),
            Mistake(
                lambda w, grad, lr: w - grad,
                (
                    "Your step has the full length of the gradient.",
                    "The learning rate is missing: it scales the gradient before the step.",
                ),
            ),
            Mistake(
                lambda w, grad, lr: -lr * grad,
                (
                    "Your answer does not depend on the old weight.",
                    "You returned only the change. Return the new weight: the old weight plus that change.",
                ),
            ),
            Mistake(
                lambda w, grad, lr: lr * grad,
                (
                    "Your answer does not depend on the old weight.",
                    "You returned only the (uphill) change. Return the new weight, moved against the gradient.",
                ),
            ),
        ],
    )


def solution_run_gd(w0: float, x: float, y: float, lr: float, steps: int) -> np.ndarray:
    """Gradient descent on the one-weight loss; returns the path ``[w0, w1, ..., w_steps]``."""
    path = [float(w0)]
    for _ in range(steps):
        path.append(solution_gd_step(path[-1], solution_gradient(path[-1], x, y), lr))
    return np.array(path)


def _path(w0, x, y, lr, steps, gradient=solution_gradient, sign=-1.0):
    path = [float(w0)]
    for _ in range(steps):
        path.append(path[-1] + sign * lr * gradient(path[-1], x, y))
    return np.array(path)


@checker
def check_run_gd(answer: Any) -> Feedback:
    """Exercise 4.3: ``run_gd(w0, x, y, lr, steps)``, the whole path of the weight."""
    cases = [
        Case((5.0, 2.0, 6.0, 0.1, 3), "w0 = 5, x = 2, y = 6, lr = 0.1, steps = 3"),
        Case((0.0, 1.0, 2.0, 0.5, 4), "w0 = 0, x = 1, y = 2, lr = 0.5, steps = 4"),
        Case((5.0, 2.0, 6.0, 0.4, 5), "w0 = 5, x = 2, y = 6, lr = 0.4, steps = 5"),
    ]
    return check_function(
        "run_gd",
        answer,
        solution_run_gd,
        cases,
        hint=(
            "Print your path for the first case and compare its length and its first two weights with a step "
            "done by hand.",
            "Start the list with w0; then, `steps` times, compute the gradient at the latest weight, "
            "take one step and append the result.",
        ),
        mistakes=[
            Mistake(
                lambda w0, x, y, lr, steps: solution_run_gd(w0, x, y, lr, steps)[1:],
                (
                    "Your path is one value short at the start.",
                    "The path should start with the initial weight w0, so it holds steps + 1 values.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: solution_run_gd(w0, x, y, lr, steps + 1),
                (
                    "Your path is one value too long.",
                    "One update too many: `steps` updates give steps + 1 values, counting w0.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: solution_run_gd(w0, x, y, lr, steps - 1),
                (
                    "Your path is one value short at the end.",
                    "One update is missing: `steps` updates after w0 give steps + 1 values; check your loop's range.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: np.full(steps + 1, solution_run_gd(w0, x, y, lr, steps)[-1]),
                (
                    "Every value of your path is the last weight. Were the values stored, or one object many times?",
                    "Your list holds the same array object again and again, changed in place (w -= ...): append a "
                    "new value at each step, not a reference to one array that keeps changing.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: solution_run_gd(w0, x, y, lr, steps)[-1],
                (
                    "You returned one number; the exercise asks for the path.",
                    "You returned only the last weight. Return the whole path, starting with w0.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: _path(w0, x, y, lr, steps, sign=1.0),
                (
                    "Your weights move away from the minimum.",
                    "Your weights climb uphill: each step must go against the gradient.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: _path(w0, x, y, lr, steps, gradient=lambda w, x, y: w * x - y),
                (
                    "The steps have the right sign but the wrong length.",
                    "Check the gradient: the derivative of 1/2 (wx - y)^2 with respect to w has a factor x.",
                ),
            ),
            Mistake(
                lambda w0, x, y, lr, steps: np.full(steps + 1, float(w0)),
                (
                    "The weight never changes along your path.",
                    "Update the weight, append the new one, and compute the next gradient at the new weight.",
                ),
            ),
        ],
    )


def solution_updates_per_epoch(n: int, batch_size: int) -> int:
    """Minibatch updates in one epoch over ``n`` examples: the last batch may be smaller, but it counts."""
    return math.ceil(n / batch_size)


@checker
def check_updates_per_epoch(answer: Any) -> Feedback:
    """Exercise 4.5: how many updates one epoch of minibatch gradient descent makes."""
    cases = [
        Case((200, 16), "n = 200, batch_size = 16"),
        Case((1000, 1), "n = 1000, batch_size = 1"),
        Case((10, 5), "n = 10, batch_size = 5"),
        Case((50, 64), "n = 50, batch_size = 64"),
        Case((1167, 64), "n = 1167, batch_size = 64"),
    ]
    return check_function(
        "updates_per_epoch",
        answer,
        solution_updates_per_epoch,
        cases,
        hint=(
            "Count the batches of the failing case by hand.",
            "An epoch uses every example exactly once, in batches of batch_size; count the batches, the last "
            "one included.",
        ),
        mistakes=[
            Mistake(
                lambda n, b: n // b,
                (
                    "One update is missing when n is not a multiple of batch_size.",
                    "You dropped the last batch. The leftover examples still form one (smaller) batch, and it is "
                    "one more update.",
                ),
            ),
            Mistake(
                lambda n, b: n / b,
                (
                    "An epoch makes a whole number of updates.",
                    "The leftover examples form one smaller batch, which is one whole update.",
                ),
            ),
            Mistake(
                lambda n, b: n * b,
                (
                    "Your count grows with the batch size; it should shrink.",
                    "Each update uses batch_size examples, so more examples per batch means fewer updates.",
                ),
            ),
        ],
    )


def solution_line_gradient(a: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    r"""Gradient of :math:`L(a, b) = \frac1N \sum_i (a x_i + b - y_i)^2` with respect to ``a`` and ``b``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    residual = a * x + b - y  # (N,): prediction minus label
    return float(2 * np.mean(residual * x)), float(2 * np.mean(residual))


def _pair_from_array(out: Any) -> Any:
    """A 1-D array (or tensor) of two numbers, like ``line_loss_and_gradient``'s gradient, as the pair it holds."""
    raw = out.detach().cpu().numpy() if hasattr(out, "detach") else out
    if isinstance(raw, np.ndarray) and raw.shape == (2,):
        return raw[0], raw[1]
    return out


@checker
def check_line_gradient(answer: Any) -> Feedback:
    """Exercise 4.6: the gradient of the mean squared error of a line, ``(dL/da, dL/db)``."""
    cases = [
        Case(
            (1.0, 0.0, np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0])),
            "a = 1, b = 0, x = [0, 1, 2], y = [1, 1, 4]",
        ),
        Case(
            (-0.5, 2.0, np.array([-1.0, 0.5, 1.5, 3.0]), np.array([2.0, -1.0, 0.0, 1.0])),
            "a = -0.5, b = 2, x = [-1, 0.5, 1.5, 3], y = [2, -1, 0, 1]",
        ),
    ]

    def scaled(factor, sign=1.0):
        def wrong(a, b, x, y):
            da, db = solution_line_gradient(a, b, x, y)
            return sign * factor * da, sign * factor * db

        return wrong

    return check_function(
        "line_gradient",
        answer,
        solution_line_gradient,
        cases,
        hint=(
            "Check the failing part on the first case by hand: nudge a (or b) by 0.001 and see how the loss moves.",
            "With residuals r_i = a x_i + b - y_i, differentiate the mean of r_i^2: the chain rule gives "
            "dr_i/da = x_i and dr_i/db = 1.",
        ),
        parts=("dL_da", "dL_db"),
        adapt=_pair_from_array,
        forbid=routes.forbid_names(
            ("mse_backward", "mse_forward", "losses", "backward", "grad", "autograd", "dlcourse"),
            "this exercise asks you to differentiate the loss yourself",
        ),
        mistakes=[
            Mistake(
                scaled(0.5),
                ("Both parts are half the right size.", "The derivative of r^2 is 2r, and this loss has no 1/2."),
            ),
            Mistake(
                lambda a, b, x, y: tuple(len(x) * g for g in solution_line_gradient(a, b, x, y)),
                (
                    "Both parts are N times too large.",
                    "The loss is a mean over the examples, so divide the sum by N.",
                ),
            ),
            Mistake(
                scaled(1.0, -1.0),
                (
                    "Both parts have the wrong sign.",
                    "The sign is flipped: the residual is prediction minus label, a x + b - y.",
                ),
            ),
            Mistake(
                lambda a, b, x, y: solution_line_gradient(a, b, x, y)[::-1],
                (
                    "Your two parts are the right numbers in the wrong places.",
                    "The two entries are swapped: return dL/da first, then dL/db.",
                ),
            ),
        ],
    )


from dlcourse.exercises.ch04_more import (  # noqa: E402, F401 (re-exported: notebooks call chNN.check_...)
    LR_LIMIT_X,
    LR_LIMIT_Y,
    LR_STEPS,
    LR_TARGET,
    LR_TEST_TARGET,
    check_choose_lr,
    check_lr_limit,
    check_sgd_epoch,
    lr_problem,
    optimal_lr,
    solution_choose_lr,
    solution_lr_limit,
    solution_sgd_epoch,
)

"""Chapter 4 exercises that go past the chapter: choosing a learning rate so that gradient descent
on an ill-conditioned regression meets a target on held-out data within a step budget, and
repairing a broken epoch of minibatch gradient descent.

Both are re-exported by :mod:`dlcourse.exercises.ch04`, so a notebook calls ``ch04.check_...``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcourse.exercises import running
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

LR_STEPS = 60  # the step budget of the learning-rate exercise
LR_TARGET = 0.098  # the validation MSE to reach within that budget

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "choose_lr": ["2 / (lam_min + lam_max)", "2 / eigenvalues.sum()", "0.1178"],
    "sgd_epoch": ["y = y[order]", "range(0, len(x), batch_size)", "x, y = x[order], y[order]"],
}


def lr_problem(seed: int = 16) -> dict[str, np.ndarray]:
    """The regression of the learning-rate exercise, always the same for the same seed.

    Two features on very different scales (the first in [-1, 1], the second in [-5, 5]), so that
    the mean squared error curves far more sharply along one weight than along the other.

    Returns:
        ``x_train`` (150, 2), ``y_train`` (150,), ``x_val`` (50, 2), ``y_val`` (50,).
    """
    rng = np.random.default_rng(seed)
    n = 200
    x = np.column_stack([rng.uniform(-1, 1, n), rng.uniform(-5, 5, n)])  # (N, 2)
    y = x @ np.array([2.0, -0.3]) + rng.normal(scale=0.3, size=n)  # (N,)
    return {"x_train": x[:150], "y_train": y[:150], "x_val": x[150:], "y_val": y[150:]}


def run_lr_problem(lr: float, steps: int = LR_STEPS) -> tuple[np.ndarray, float]:
    """Full-batch gradient descent on the training MSE of ``y_hat = x @ w``, from w = 0.

    Returns:
        The training loss before each step and after the last, shape (steps + 1,), and the
        validation MSE at the end.
    """
    data = lr_problem()
    x, y = data["x_train"], data["y_train"]
    w = np.zeros(2)
    train = [float(np.mean((x @ w - y) ** 2))]
    with running.quiet():  # a diverging run overflows on purpose
        for _ in range(steps):
            w = w - lr * 2.0 / len(x) * x.T @ (x @ w - y)  # (2,)
            train.append(float(np.mean((x @ w - y) ** 2)))
        val = float(np.mean((data["x_val"] @ w - data["y_val"]) ** 2))
    return np.array(train), val


def optimal_lr(x: np.ndarray) -> float:
    r"""The learning rate that makes the slowest direction of an MSE loss on inputs ``x`` (N, D) shrink
    fastest: :math:`2 / (\lambda_{min} + \lambda_{max})`, with :math:`\lambda` the eigenvalues of the
    loss's curvature :math:`\frac2N x^\top x`. There both extreme directions shrink by the same factor."""
    eigenvalues = np.linalg.eigvalsh(2.0 / len(x) * x.T @ x)  # ascending
    lam_min, lam_max = eigenvalues[0], eigenvalues[-1]
    return float(2.0 / (lam_min + lam_max))


solution_choose_lr = optimal_lr(lr_problem()["x_train"])


@checker
def check_choose_lr(answer: Any) -> Feedback:
    """Exercise 4.7: a learning rate with which ``LR_STEPS`` steps of gradient descent reach a validation
    MSE of at most ``LR_TARGET``. The checker runs the descent and says what happened, never which
    learning rate would work."""
    name = "choose_lr"
    hint = (
        "Run the descent yourself for learning rates spread over several powers of ten, and print the "
        "validation loss after the budget for each: which ones blow up, which ones are slow?",
        "The steep direction of this loss sets the largest learning rate that still converges, and the flat "
        "direction needs a learning rate as large as possible. Search just below the point where it blows up.",
    )
    try:
        raw = answer.detach().cpu().numpy() if hasattr(answer, "detach") else answer
        if raw is None or isinstance(raw, (str, bytes, bool, list, tuple)):
            return Feedback(name, False, f"expected one number, got {type(answer).__name__}.", hint)
        try:
            array = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return Feedback(name, False, f"expected one number, got {type(answer).__name__}.", hint)
        if array.size != 1:
            return Feedback(name, False, f"expected one number, got {array.size} of them.", hint)
        lr = float(array.reshape(-1)[0])
        if not math.isfinite(lr) or lr <= 0:
            return Feedback(name, False, f"{lr:.4g} is not a learning rate: it must be a positive number.", hint)
        train, val = run_lr_problem(lr)
        at = f"with lr = {lr:.4g}"
        if not np.all(np.isfinite(train)) or train[-1] >= train[0]:
            return Feedback(
                name,
                False,
                f"{at} the training loss went from {train[0]:.4g} to {train[-1]:.4g} in {LR_STEPS} steps: "
                "gradient descent diverged, so that learning rate is too large.",
                (
                    "The loss grew: the steps overshoot the bottom of the valley by more each time. Try a "
                    "smaller learning rate.",
                    "Along the steepest direction each step multiplies the distance to the optimum by "
                    "1 - lr * (its curvature); below -1 that direction diverges.",
                ),
            )
        if val <= LR_TARGET:
            return Feedback(
                name, True, f"{at} the validation loss after {LR_STEPS} steps is {val:.4f}, within the target."
            )
        return Feedback(
            name,
            False,
            f"{at} the validation loss after {LR_STEPS} steps is {val:.4f}, above the target {LR_TARGET}; "
            f"the training loss was still falling ({train[-2]:.5f} to {train[-1]:.5f} in the last step), "
            "so gradient descent converges, too slowly.",
            (
                "The descent is stable but too slow for the budget. Look at how the loss falls as the "
                "learning rate grows, up to the point where it blows up.",
                "The flat direction shrinks by 1 - lr * (its small curvature) per step, and only a learning "
                "rate close to the stability limit is fast enough; right at that limit the steep direction "
                "itself shrinks slowly, so the best value lies a little below it.",
            ),
        )
    except Exception as exc:  # a checker must never crash in front of a learner
        return Feedback(name, False, f"the checker could not evaluate your answer ({type(exc).__name__}).", hint)


def _line_gradient(params: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    residual = params[0] * xb + params[1] - yb  # (B,)
    return np.array([2.0 * np.mean(residual * xb), 2.0 * np.mean(residual)])  # (2,)


def solution_sgd_epoch(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """One epoch of minibatch gradient descent on the MSE of the line ``a x + b``.

    Args:
        params: (2,), the slope a and the intercept b; not modified.
        x, y: (N,) inputs and labels.
        lr: the learning rate.
        batch_size: examples per minibatch; the last one may be smaller.
        rng: shuffles the examples, once.

    Returns:
        The parameters after the epoch, (2,).
    """
    params = np.array(params, dtype=float)  # a copy
    order = rng.permutation(len(x))
    x, y = x[order], y[order]  # the same order for both
    for first in range(0, len(x), batch_size):  # the last batch may be short
        xb, yb = x[first : first + batch_size], y[first : first + batch_size]
        params -= lr * _line_gradient(params, xb, yb)
    return params


def _epoch(shuffle_y: bool, stop_short: bool, drop_last: bool = False, two_orders: bool = False):
    """A typical broken epoch: labels left unshuffled, the loop stopped one batch short, the short
    last batch dropped, or x and y shuffled by two different orders."""

    def wrong(params, x, y, lr, batch_size, rng):
        params = np.array(params, dtype=float)
        x = x[rng.permutation(len(x))] if two_orders else x
        order = rng.permutation(len(x))
        x, y = (x, y[order]) if two_orders else (x[order], y[order] if shuffle_y else y)
        stop = len(x) - batch_size if stop_short else len(x) - (len(x) % batch_size if drop_last else 0)
        for first in range(0, stop, batch_size):
            params -= lr * _line_gradient(params, x[first : first + batch_size], y[first : first + batch_size])
        return params

    return wrong


@checker
def check_sgd_epoch(answer: Any) -> Feedback:
    """Exercise 4.8 (debugging): ``sgd_epoch(params, x, y, lr, batch_size, rng)``, one epoch of
    minibatch gradient descent on a line, repaired."""
    line_x = np.array([0.0, 1.0, 2.0, 3.0])
    cases = [
        Case(
            (np.zeros(2), line_x, 2 * line_x + 1, 0.05, 4, np.random.default_rng(0)),
            "params = [0, 0], x = [0, 1, 2, 3], y = 2x + 1, lr = 0.05, batch_size = 4",
        ),
        Case(
            (np.zeros(2), line_x, 2 * line_x + 1, 0.05, 2, np.random.default_rng(1)),
            "params = [0, 0], x = [0, 1, 2, 3], y = 2x + 1, lr = 0.05, batch_size = 2",
        ),
        Case(
            (
                np.array([0.5, -1.0]),
                np.arange(7.0) - 3,
                np.array([1.0, -2, 0.5, 3, 2, -1, 4]),
                0.02,
                3,
                np.random.default_rng(2),
            ),
            "params = [0.5, -1], x = [-3, ..., 3], y = [1, -2, 0.5, 3, 2, -1, 4], lr = 0.02, batch_size = 3",
        ),
    ]
    return check_function(
        "sgd_epoch",
        answer,
        solution_sgd_epoch,
        cases,
        hint=(
            "Print, for the failing case, every minibatch the loop uses: its (x, y) pairs, and how many "
            "batches there are. Compare them with the data set.",
            "An epoch uses every example exactly once, each x with its own y; check the loop's range and "
            "what is reordered by the shuffle.",
        ),
        mistakes=[
            Mistake(  # first: on a short last batch it looks like the loop stopped short
                _epoch(shuffle_y=True, stop_short=False, drop_last=True),
                (
                    "When N is not a multiple of batch_size, your epoch skips the short last batch.",
                    "The leftover examples form one smaller batch, and they count.",
                ),
            ),
            Mistake(
                _epoch(shuffle_y=False, stop_short=True),
                (
                    "With one batch holding the whole data set, your epoch did not change the parameters at "
                    "all. How many times does the loop run?",
                    "range stops before its stop value: with stop len(x) - batch_size the loop never reaches "
                    "the last batch's first index.",
                ),
            ),
            Mistake(
                _epoch(shuffle_y=True, stop_short=True),
                (
                    "Your epoch makes too few updates: the last batch is never used.",
                    "range stops before its stop value: with stop len(x) - batch_size the loop never reaches "
                    "the last batch's first index.",
                ),
            ),
            Mistake(
                _epoch(shuffle_y=False, stop_short=False),
                (
                    "The number of updates is right now, but the steps are computed from the wrong pairs. "
                    "Print the first minibatch's (x, y) pairs next to the data set's.",
                    "The inputs were shuffled and the labels were not, so each x meets another example's y.",
                ),
            ),
            Mistake(
                _epoch(shuffle_y=True, stop_short=False, two_orders=True),
                (
                    "The inputs and the labels were each shuffled, but not in the same way.",
                    "Draw one order and index both arrays with it.",
                ),
            ),
        ],
    )

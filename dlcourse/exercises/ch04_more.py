"""Chapter 4 exercises that go past the chapter: choosing a learning rate so that gradient descent
on an ill-conditioned regression meets a target on a test split the learner never sees, within a
step budget, and
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
LR_TARGET = 0.098  # the validation MSE the learner aims for within that budget
LR_TEST_TARGET = 0.0939  # the MSE the checker asks for on its own test split, which the learner never sees

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "lr_limit": ["3 / 14", "0.2143", "len(x) / np.sum(x**2)", "1 / np.mean(x**2)"],
    "choose_lr": ["2 / (lam_min + lam_max)", "2 / eigenvalues.sum()", "0.1178"],
    "sgd_epoch": ["y = y[order]", "range(0, len(x), batch_size)", "x, y = x[order], y[order]"],
}


def _regression(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples of the learning-rate exercise's regression: inputs (n, 2), labels (n,)."""
    x = np.column_stack([rng.uniform(-1, 1, n), rng.uniform(-5, 5, n)])  # (n, 2)
    y = x @ np.array([2.0, -0.3]) + rng.normal(scale=0.3, size=n)  # (n,)
    return x, y


def lr_problem(seed: int = 16) -> dict[str, np.ndarray]:
    """The regression of the learning-rate exercise, always the same for the same seed.

    Two features on very different scales (the first in [-1, 1], the second in [-5, 5]), so that
    the mean squared error curves far more sharply along one weight than along the other.

    Returns:
        ``x_train`` (150, 2), ``y_train`` (150,), ``x_val`` (50, 2), ``y_val`` (50,).
    """
    x, y = _regression(np.random.default_rng(seed), 200)
    return {"x_train": x[:150], "y_train": y[:150], "x_val": x[150:], "y_val": y[150:]}


def _test_split() -> tuple[np.ndarray, np.ndarray]:
    """The checker's own test split: 1000 examples drawn the same way, never shown to the learner."""
    return _regression(np.random.default_rng(17), 1000)


def run_lr_problem(lr: float, steps: int = LR_STEPS) -> dict[str, Any]:
    """Full-batch gradient descent on the training MSE of ``y_hat = x @ w``, from w = 0.

    Returns:
        ``train``: the training loss before each step and after the last, shape (steps + 1,);
        ``test``: the MSE on the checker's test split at the end; ``last_steps``: the last two
        updates of w, (2, 2), oldest first.
    """
    data = lr_problem()
    x, y = data["x_train"], data["y_train"]
    x_test, y_test = _test_split()
    w, updates = np.zeros(2), []
    train = [float(np.mean((x @ w - y) ** 2))]
    with running.quiet():  # a diverging run overflows on purpose
        for _ in range(steps):
            update = -lr * 2.0 / len(x) * x.T @ (x @ w - y)  # (2,)
            w = w + update
            updates.append(update)
            train.append(float(np.mean((x @ w - y) ** 2)))
        test = float(np.mean((x_test @ w - y_test) ** 2))
    return {"train": np.array(train), "test": test, "last_steps": np.array(updates[-2:])}


def optimal_lr(x: np.ndarray) -> float:
    r"""The learning rate that makes the slowest direction of an MSE loss on inputs ``x`` (N, D) shrink
    fastest: :math:`2 / (\lambda_{min} + \lambda_{max})`, with :math:`\lambda` the eigenvalues of the
    loss's curvature :math:`\frac2N x^\top x`. There both extreme directions shrink by the same factor."""
    eigenvalues = np.linalg.eigvalsh(2.0 / len(x) * x.T @ x)  # ascending
    lam_min, lam_max = eigenvalues[0], eigenvalues[-1]
    return float(2.0 / (lam_min + lam_max))


solution_choose_lr = optimal_lr(lr_problem()["x_train"])


def one_number(answer: Any) -> tuple[float | None, str]:
    """The single real number in ``answer`` (a float, an int, a 0-d array or tensor), or None and why not."""
    raw = answer.detach().cpu().numpy() if hasattr(answer, "detach") else answer
    if raw is None or isinstance(raw, (str, bytes, bool, np.bool_)):
        return None, f"expected a single number, got {type(answer).__name__}."
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None, f"expected a single number, got {type(answer).__name__}."
    if array.ndim > 0:
        what = "an array" if isinstance(raw, np.ndarray) else f"a {type(answer).__name__}"
        return None, f"expected a single number, got {what} of {array.size} item{'s' * (array.size != 1)}."
    value = float(array)
    if not math.isfinite(value) or value <= 0:
        return None, f"a learning rate of {value:.4g} cannot work: it must be a positive, finite number."
    return value, ""


LR_LIMIT_X = np.array([1.0, 2.0, 3.0])  # the inputs of the learning-rate-limit exercise
LR_LIMIT_Y = np.array([3.0, 5.0, 4.0])  # their labels, which play no part in the limit
solution_lr_limit = len(LR_LIMIT_X) / float(np.sum(LR_LIMIT_X**2))  # 2 / curvature, curvature 2 mean(x^2)


@checker
def check_lr_limit(answer: Any) -> Feedback:
    r"""Exercise 4.4: the learning rate above which gradient descent on the mean squared error
    :math:`L(w) = \frac1N \sum_i (w x_i - y_i)^2`, with x = [1, 2, 3], stops converging.

    The feedback never prints the expected number: only whether descent converges at the learner's rate.
    """
    name = "lr_limit"
    hint = (
        "Write one step of gradient descent on this loss and see what it does to the distance w - w*.",
        "One step multiplies the distance to the optimum by 1 - lr * c, where c is the second derivative of "
        "the loss. Find c for this loss (a mean over three examples, with no factor 1/2), then where that "
        "factor leaves the interval (-1, 1). The labels play no part.",
    )
    mistakes = [
        (
            solution_lr_limit / 2,
            (
                "At that learning rate one step lands on the optimum. Larger ones overshoot; do they all diverge?",
                "Above it the weight oscillates, but the oscillations still shrink. Where do they stop shrinking?",
            ),
        ),
        (
            2 * solution_lr_limit,
            (
                "Check the constant in your second derivative.",
                "This loss has no factor 1/2 in front, so the square's 2 stays in its derivative.",
            ),
        ),
        (
            2.0 / LR_LIMIT_X.max() ** 2,
            (
                "That limit comes from one example alone.",
                "Every example contributes to the curvature: the loss is a mean over all three.",
            ),
        ),
        (
            2.0 / float(np.sum(LR_LIMIT_X**2)),
            (
                "Your curvature is too large by a factor.",
                "The loss is a mean over the examples, not a sum, and has no factor 1/2.",
            ),
        ),
        (
            1.0 / float(np.sum(LR_LIMIT_X**2)),
            ("Your curvature is too large by a factor.", "The loss is a mean over the examples, not a sum."),
        ),
        (
            2.0 / float(np.mean(LR_LIMIT_X)) ** 2,
            (
                "The curvature involves the squares of the inputs.",
                "Average x_i^2, not x_i: the mean of the squares is not the square of the mean.",
            ),
        ),
    ]
    try:
        value, problem = one_number(answer)
        if value is None:
            return Feedback(name, False, problem, hint)
        if math.isclose(value, solution_lr_limit, rel_tol=1e-3):
            return Feedback(name, True, f"{value:.4g} is right.")
        if math.isclose(value, solution_lr_limit, rel_tol=1e-2):
            return Feedback(
                name,
                False,
                f"{value:.4g} is close, but not right to the precision asked: give the limit to four significant digits, "
                "or as an exact fraction.",
                ("Keep more digits of your result, or write it as a fraction of two whole numbers.", hint[1]),
            )
        side = (
            "at that learning rate gradient descent still converges, so the limit is higher"
            if value < solution_lr_limit
            else "at that learning rate gradient descent no longer converges, so the limit is lower"
        )
        message = f"{value:.4g} is not right: {side}."
        for wrong, wrong_hint in mistakes:
            if math.isclose(value, wrong, rel_tol=1e-3):
                return Feedback(name, False, message, wrong_hint)
        return Feedback(name, False, message, hint)
    except Exception as exc:  # a checker must never crash in front of a learner
        return Feedback(name, False, f"the checker could not evaluate your answer ({type(exc).__name__}).", hint)


@checker
def check_choose_lr(answer: Any) -> Feedback:
    """Exercise 4.7: a learning rate with which ``LR_STEPS`` steps of gradient descent reach an MSE of at
    most ``LR_TEST_TARGET`` on the checker's own test split. The checker runs the descent and says what
    happened, never which learning rate would work."""
    name = "choose_lr"
    hint = (
        "Run the descent yourself for learning rates spread over several powers of ten, and print the "
        "validation loss after the budget for each: which ones blow up, which ones are slow?",
        "The steep direction of this loss sets the largest learning rate that still converges, and the flat "
        "direction needs a learning rate as large as possible. Search just below the point where it blows up.",
    )
    try:
        lr, problem = one_number(answer)
        if lr is None:
            return Feedback(name, False, problem, hint)
        run = run_lr_problem(lr)
        train, test, (before, last) = run["train"], run["test"], run["last_steps"]
        at = f"with lr = {lr:.4g}"
        finite = bool(np.all(np.isfinite(train)) and np.all(np.isfinite(run["last_steps"])))
        if not finite or train[-1] >= train[0] or np.linalg.norm(last) > np.linalg.norm(before):
            loss = f"the training loss went from {train[0]:.4g} to {train[-1]:.4g} in {LR_STEPS} steps"
            return Feedback(
                name,
                False,
                f"{at} {loss}, and the last steps grew from one to the next: gradient descent diverges, so "
                "that learning rate is too large.",
                (
                    "The steps overshoot the bottom of the valley by more each time. Try a smaller learning rate.",
                    "Along the steepest direction each step multiplies the distance to the optimum by "
                    "1 - lr * (its curvature); below -1 that direction diverges.",
                ),
            )
        if test <= LR_TEST_TARGET:
            return Feedback(name, True, f"{at} the test MSE after {LR_STEPS} steps is {test:.4f}, within the target.")
        result = f"{at} the test MSE after {LR_STEPS} steps is {test:.4f}, above the target {LR_TEST_TARGET}"
        if float(before @ last) < 0:  # each step undoes most of the one before: an oscillation
            return Feedback(
                name,
                False,
                f"{result}; the last steps zigzag, each one pointing back against the one before, and shrink "
                "only slowly: that learning rate is too close to the stability limit.",
                (
                    "The weights swing back and forth across the valley instead of settling. Try a slightly "
                    "smaller learning rate.",
                    "Along the steepest direction each step multiplies the distance to the optimum by "
                    "1 - lr * (its curvature). Near the limit that factor is close to -1, so the steep direction "
                    "barely shrinks; the best rates lie a little below the limit.",
                ),
            )
        return Feedback(
            name,
            False,
            f"{result}; the training loss was still falling ({train[-2]:.5f} to {train[-1]:.5f} in the last "
            "step), so gradient descent converges, too slowly.",
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

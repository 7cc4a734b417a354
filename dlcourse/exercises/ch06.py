"""Checkers and solutions for chapter 6, Training in practice."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker


def solution_he_std(fan_in: int) -> float:
    """The standard deviation of He (Kaiming) normal initialisation: sqrt(2 / fan_in)."""
    return float(np.sqrt(2.0 / fan_in))


@checker
def check_he_std(answer: Any) -> Feedback:
    """Exercise 6.1: ``he_std(fan_in)``, the spread of He-initialised weights."""
    cases = [
        Case((8,), "fan_in = 8"),
        Case((64,), "fan_in = 64"),
        Case((512,), "fan_in = 512"),
    ]
    return check_function(
        "he_std",
        answer,
        solution_he_std,
        cases,
        hint="He initialisation picks the variance of the weights so that ReLU layers keep the variance of the signal "
        "steady; the function returns a standard deviation, not a variance.",
        mistakes=[
            Mistake(
                lambda n: np.sqrt(1.0 / n),
                "That is the scale for tanh-like layers (LeCun, close to Xavier). ReLU zeroes half of its "
                "inputs, so He doubles the variance to make up for it.",
            ),
            Mistake(
                lambda n: 2.0 / n,
                "You returned the variance. The function should return the standard deviation, its square root.",
            ),
            Mistake(
                lambda n: np.sqrt(2.0) / n,
                "Take the square root of the whole fraction 2 / fan_in, not of the numerator only.",
            ),
        ],
    )


def solution_momentum_step(w: np.ndarray, v: np.ndarray, grad: np.ndarray, lr: float, mu: float) -> tuple:
    """One step of gradient descent with momentum, in PyTorch's form: v = mu v + g, w = w - lr v."""
    v = mu * v + grad
    return w - lr * v, v


def _pair(pair: Any) -> np.ndarray:
    if pair is None:
        raise ValueError("got None; did you forget the `return` statement?")
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"expected a pair (w, v), got {type(pair).__name__}")
    return np.concatenate([np.ravel(np.asarray(pair[0], dtype=float)), np.ravel(np.asarray(pair[1], dtype=float))])


@checker
def check_momentum_step(answer: Any) -> Feedback:
    """Exercise 6.2: ``momentum_step(w, v, grad, lr, mu)`` returning the new ``(w, v)``."""
    w = np.array([1.0, -2.0])
    cases = [
        Case((w, np.zeros(2), np.array([0.5, -1.0]), 0.1, 0.9), "a first step (v = 0)"),
        Case(
            (w, np.array([1.0, 1.0]), np.array([0.5, -1.0]), 0.1, 0.9),
            "a later step (v = [1, 1], grad = [0.5, -1], lr = 0.1, mu = 0.9)",
        ),
        Case(
            (np.array([0.0, 3.0, -1.0]), np.array([-2.0, 0.5, 4.0]), np.array([1.0, 0.0, -1.0]), 0.5, 0.5),
            "a 3-D step (lr = 0.5, mu = 0.5)",
        ),
    ]
    return check_function(
        "momentum_step",
        answer,
        solution_momentum_step,
        cases,
        hint="Update the velocity first, keeping a fraction mu of the old one, then move the weights against "
        "the new velocity. Return both.",
        adapt=_pair,
        mistakes=[
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * g, v),
                "The velocity never changes: that is plain SGD. Fold the gradient into v (keeping mu times "
                "the old v) and return the new velocity too.",
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * g, g),
                "The velocity must remember the past: keep mu times the old velocity and add the gradient.",
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * (mu * v + g), g),
                "The weights move correctly, but the returned velocity forgets the past: return the new "
                "velocity mu * v + grad, not the gradient.",
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * v, mu * v + g),
                "The weights moved with the OLD velocity. Update v first, then step with the new v.",
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w + (mu * v - lr * g), mu * v - lr * g),
                "That is the other common form (v = mu v - lr g; w = w + v). The course uses PyTorch's: "
                "v = mu v + g, then w = w - lr v.",
            ),
        ],
    )


def solution_adam_bias_correction(m: np.ndarray, t: int, beta1: float) -> np.ndarray:
    """Adam's bias-corrected first moment: m / (1 - beta1**t), for step t = 1, 2, ..."""
    return np.asarray(m, dtype=float) / (1.0 - beta1**t)


@checker
def check_adam_bias_correction(answer: Any) -> Feedback:
    """Exercise 6.3: ``adam_bias_correction(m, t, beta1)``, the corrected running mean."""
    cases = [
        Case((np.array([0.1, -0.2]), 1, 0.9), "m = [0.1, -0.2] after step t = 1, beta1 = 0.9"),
        Case((np.array([0.5, 1.0, -1.5]), 3, 0.9), "m = [0.5, 1, -1.5], t = 3, beta1 = 0.9"),
        Case((np.array([2.0]), 50, 0.8), "m = [2], t = 50, beta1 = 0.8"),
    ]
    return check_function(
        "adam_bias_correction",
        answer,
        solution_adam_bias_correction,
        cases,
        hint="The running mean starts at zero, so in early steps it is too small by a factor that depends on t and "
        "beta1; undo that factor.",
        mistakes=[
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float),
                "No correction was applied. The average starts at 0, so in the first steps it is biased "
                "towards 0; work out by which factor after t steps, and undo it.",
            ),
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float) * (1 - b**t),
                "You multiplied by the correction factor; the estimate is too small, so divide instead.",
            ),
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float) / (1 - b),
                "The factor depends on the step: how much of the zero start is left after t steps is beta1**t.",
            ),
        ],
    )


def solution_dropout_scale(p: float) -> float:
    """Inverted dropout's scale for the kept units: 1 / (1 - p), so the expected output is unchanged."""
    return 1.0 / (1.0 - p)


@checker
def check_dropout_scale(answer: Any) -> Feedback:
    """Exercise 6.4: ``dropout_scale(p)``, what inverted dropout multiplies the kept units by."""
    cases = [
        Case((0.2,), "p = 0.2"),
        Case((0.5,), "p = 0.5"),
        Case((0.9,), "p = 0.9"),
        Case((0.0,), "p = 0 (no dropout)"),
    ]
    return check_function(
        "dropout_scale",
        answer,
        solution_dropout_scale,
        cases,
        hint="A unit survives with probability 1 - p. Choose the scale so that its expected value, "
        "(1 - p) times the scale times x, equals x.",
        mistakes=[
            Mistake(
                lambda p: 1.0 - p,
                "Multiplying by the keep probability shrinks the output a second time. Inverted dropout "
                "scales the survivors UP during training, so that evaluation needs no change.",
            ),
            Mistake(
                lambda p: np.divide(1.0, p),
                "p is the probability of DROPPING a unit; the scale comes from the probability of keeping it.",
            ),
            Mistake(
                lambda p: p,
                "p is the drop probability, not the scale; work out what keeps the expected output equal to x.",
            ),
        ],
    )


def solution_best_epoch(val_losses: Any) -> int:
    """Early stopping: the index (from 0) of the epoch with the lowest validation loss; the first on ties."""
    return int(np.argmin(np.asarray(val_losses, dtype=float)))


@checker
def check_best_epoch(answer: Any) -> Feedback:
    """Exercise 6.5: ``best_epoch(val_losses)``, the epoch whose weights early stopping keeps."""
    cases = [
        Case(([0.9, 0.5, 0.4, 0.45, 0.6],), "val_losses = [0.9, 0.5, 0.4, 0.45, 0.6]"),
        Case(([1.2, 0.8, 0.7, 0.65, 0.64],), "val_losses = [1.2, 0.8, 0.7, 0.65, 0.64]"),
        Case(([0.3, 0.5, 0.7, 0.9],), "val_losses = [0.3, 0.5, 0.7, 0.9]"),
        Case(([0.8, 0.4, 0.6, 0.4, 0.9],), "val_losses = [0.8, 0.4, 0.6, 0.4, 0.9] (a tie)"),
    ]
    return check_function(
        "best_epoch",
        answer,
        solution_best_epoch,
        cases,
        hint="Return the position, counted from 0, of the smallest validation loss; on a tie, the earlier one.",
        mistakes=[
            Mistake(
                lambda v: len(v) - 1,
                "That is the last epoch. Early stopping keeps the weights with the LOWEST validation "
                "loss, which may be long before the end.",
            ),
            Mistake(
                lambda v: int(np.argmax(v)),
                "That is the epoch with the highest validation loss: a loss is better when it is smaller.",
            ),
            Mistake(
                lambda v: int(np.argmin(v)) + 1,
                "Count epochs from 0, like positions in a Python list, so the result indexes val_losses directly.",
            ),
            Mistake(
                lambda v: len(v) - 1 - int(np.argmin(np.asarray(v)[::-1])),
                "On a tie keep the earlier epoch: it reached the same validation loss with less training.",
            ),
        ],
    )

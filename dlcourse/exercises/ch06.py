"""Checkers and solutions for chapter 6, Training in practice.

The exercises that build, train or debug something the chapter does not show live in
:mod:`dlcourse.exercises.ch06_more` and are re-exported at the end of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "he_std": ["(1 + slope**2)", "1 + slope * slope", "2 / ((1 + slope**2) * fan_in)"],
    "momentum_step": ["mu * v + grad", "w - lr * v"],
    "adam_bias_correction": ["1 - beta1**t", "m / (1 - beta1"],
    "dropout_scale": ["1 / (1 - p)", "1.0 / (1.0 - p)"],
    "best_epoch": ["argmin", "min(range(len(val_losses)), key=val_losses.__getitem__)"],
}


def solution_he_std(fan_in: int, slope: float) -> float:
    r"""He initialisation for a leaky ReLU of negative slope ``slope``: the standard deviation
    :math:`\sqrt{2 / ((1 + a^2)\, n_{in})}`, which keeps the second moment of the signal steady.

    A leaky ReLU passes :math:`z` where :math:`z > 0` and :math:`a z` elsewhere, so for a symmetric
    :math:`z` it keeps a share :math:`(1 + a^2) / 2` of :math:`E[z^2]`; slope 0 is ReLU (He's
    :math:`\sqrt{2 / n_{in}}`), slope 1 is no activation at all (:math:`\sqrt{1 / n_{in}}`).
    """
    return float(np.sqrt(2.0 / ((1.0 + slope**2) * fan_in)))


@checker
def check_he_std(answer: Any) -> Feedback:
    """Exercise 6.1: ``he_std(fan_in, slope)``, the spread of He-initialised weights before a leaky ReLU."""
    cases = [
        Case((8, 0.0), "fan_in = 8, slope = 0 (plain ReLU)"),
        Case((64, 0.2), "fan_in = 64, slope = 0.2"),
        Case((512, 1.0), "fan_in = 512, slope = 1 (the activation does nothing)"),
        Case((100, 0.5), "fan_in = 100, slope = 0.5"),
    ]
    return check_function(
        "he_std",
        answer,
        solution_he_std,
        cases,
        hint=(
            "Follow the chapter's variance argument: what share of E[z^2] survives the activation, and what "
            "variance of the weights makes up for exactly that share?",
            "For a symmetric z, half of the values are positive and pass unchanged; the other half are "
            "multiplied by the slope, so their square is multiplied by the slope squared. Average the two "
            "halves, then choose Var(w) so that fan_in * Var(w) * (that share) = 1, and return the square root.",
        ),
        mistakes=[
            Mistake(
                lambda n, a: np.sqrt(2.0 / n),
                (
                    "Right for a plain ReLU, but the slope changes nothing in your answer: the negative half of "
                    "the signal is no longer thrown away.",
                    "With slope a the negative half keeps a^2 of its second moment. Work out the share of E[z^2] "
                    "that survives, and let it replace the 1/2 of ReLU.",
                ),
            ),
            Mistake(
                lambda n, a: np.sqrt(2.0 / ((1.0 + a) * n)),
                (
                    "Close: the slope enters the variance, but not in the power it should. The variance argument "
                    "is about squares of the outputs.",
                    "A negative z becomes a z, so its square becomes a^2 z^2: the slope enters squared.",
                ),
            ),
            Mistake(
                lambda n, a: 2.0 / ((1.0 + a**2) * n),
                (
                    "That looks like a variance. The function should return a standard deviation.",
                    "Take the square root of the variance you found.",
                ),
            ),
            Mistake(
                lambda n, a: np.sqrt(1.0 / n),
                (
                    "That is the scale for an activation that keeps the whole signal; a ReLU-like unit loses "
                    "part of it, which the weights must make up for.",
                    "Only for slope 1 does the whole signal survive; for slope 0 half of E[z^2] is lost.",
                ),
            ),
            Mistake(
                lambda n, a: np.sqrt(2.0 / (1.0 + a**2)) / n,
                (
                    "The dependence on fan_in is off: the variance, not the standard deviation, scales like 1 / fan_in.",
                    "Take the square root of the whole fraction, fan_in included.",
                ),
            ),
        ],
    )


def solution_momentum_step(w: np.ndarray, v: np.ndarray, grad: np.ndarray, lr: float, mu: float) -> tuple:
    """One step of gradient descent with momentum, in PyTorch's form: v = mu v + g, w = w - lr v.

    Args:
        w: the weights, any shape.
        v: the velocity, the shape of ``w``.
        grad: the gradient, the shape of ``w``.
        lr: the learning rate.
        mu: the momentum.

    Returns:
        ``(new_w, new_v)``, each the shape of ``w``.
    """
    v = mu * v + grad
    return w - lr * v, v


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
        Case(
            (np.array([[1.0, 2.0, 3.0]]), np.array([[0.5, 0.0, -0.5]]), np.array([[1.0, -1.0, 2.0]]), 0.1, 0.9),
            "a (1, 3) weight matrix (lr = 0.1, mu = 0.9)",
        ),
    ]
    return check_function(
        "momentum_step",
        answer,
        solution_momentum_step,
        cases,
        hint=(
            "Compare your step with the chapter's description of momentum: which of the two, the velocity or "
            "the weights, is updated first, and which one uses the other? Return both, each the shape of w.",
            "The new velocity keeps a fraction mu of the old one and adds the raw gradient; the weights then "
            "move against the new velocity, scaled by lr. Return (new_w, new_v) as a tuple of two arrays.",
        ),
        parts=("new_w", "new_v"),
        mistakes=[
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * g, v),
                (
                    "The velocity never changes: that is plain SGD.",
                    "Fold the gradient into the velocity (keeping a fraction mu of the old one), move the weights "
                    "with the new velocity, and return the new velocity too.",
                ),
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * g, g),
                (
                    "The velocity must remember the past, and the weights should move with the velocity.",
                    "Keep mu times the old velocity and add the gradient; then step the weights with that.",
                ),
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * (mu * v + g), g),
                (
                    "The weights move correctly, but the returned velocity forgets the past.",
                    "Return the velocity you stepped with, not the gradient: the next step needs it.",
                ),
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * v, mu * v + g),
                (
                    "The weights moved with the OLD velocity.",
                    "Update the velocity first, then step the weights with the new one.",
                ),
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
                (
                    "That is the moving-average form of momentum (as in Adam's first moment), which shrinks each "
                    "gradient by (1 - mu) before it joins the velocity. This course uses PyTorch's form.",
                    "In PyTorch's form the velocity adds the whole gradient, not a share of it; with mu = 0.9 your "
                    "steps come out ten times too short.",
                ),
            ),
            Mistake(
                lambda w, v, g, lr, mu: (w + (mu * v - lr * g), mu * v - lr * g),
                (
                    "That is the other common form of momentum, which folds the learning rate into the velocity. "
                    "This course uses PyTorch's form, as in the chapter's Momentum.step.",
                    "In PyTorch's form the velocity collects raw gradients (no lr inside it), and lr scales the "
                    "velocity only when the weights move.",
                ),
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
        hint=(
            "Try it by hand: feed the same gradient g at every step, starting from m = 0. After t steps m is g "
            "times some factor; your function must undo that factor.",
            "After one step m = (1 - beta1) g, after two (1 - beta1) (1 + beta1) g; sum the geometric series "
            "for t steps and divide by it.",
        ),
        mistakes=[
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float),
                (
                    "No correction was applied. The average starts at 0, so in the first steps it is biased towards 0.",
                    "Work out by which factor m falls short of a constant gradient after t steps, and divide by it.",
                ),
            ),
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float) * (1 - b**t),
                (
                    "Your result is smaller than m, but the estimate was too small already.",
                    "You multiplied by the correction factor; divide by it instead.",
                ),
            ),
            Mistake(
                lambda m, t, b: np.asarray(m, dtype=float) / (1 - b),
                (
                    "Right at step 1 only: the correction must depend on the step t.",
                    "How much of the zero start is left after t steps? It shrinks by a factor beta1 at every step.",
                ),
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
        hint=(
            "Write down the expected value of one unit's output in training: with which probability is it kept, "
            "and what is it then?",
            "A unit survives with probability 1 - p and is then scale times x; otherwise it is 0. Set that "
            "expectation equal to x and solve for the scale.",
        ),
        mistakes=[
            Mistake(
                lambda p: 1.0 - p,
                (
                    "That shrinks the surviving units, but dropping units has already shrunk the expected output.",
                    "Inverted dropout scales the survivors UP during training, so that evaluation needs no change.",
                ),
            ),
            Mistake(
                lambda p: np.divide(1.0, p),
                (
                    "p is the probability of DROPPING a unit.",
                    "The scale comes from the probability of keeping a unit, not of dropping it.",
                ),
            ),
            Mistake(
                lambda p: p,
                (
                    "p is the drop probability, not the scale.",
                    "Work out what scale keeps the expected output of a unit equal to x.",
                ),
            ),
        ],
    )


def solution_best_epoch(val_losses: Any) -> int:
    """Early stopping: the index (from 0) of the epoch with the lowest validation loss; the first on ties."""
    return int(np.argmin(np.asarray(val_losses, dtype=float)))


def _first_rise(val_losses: Any) -> int:
    """The wrong rule "stop at the first rise": the epoch before the validation loss first goes up."""
    for i in range(1, len(val_losses)):
        if val_losses[i] > val_losses[i - 1]:
            return i - 1
    return len(val_losses) - 1


@checker
def check_best_epoch(answer: Any) -> Feedback:
    """Exercise 6.5: ``best_epoch(val_losses)``, the epoch whose weights early stopping keeps."""
    cases = [
        Case(([0.9, 0.5, 0.4, 0.45, 0.6],), "val_losses = [0.9, 0.5, 0.4, 0.45, 0.6]"),
        Case(([1.2, 0.8, 0.7, 0.65, 0.64],), "val_losses = [1.2, 0.8, 0.7, 0.65, 0.64]"),
        Case(([0.3, 0.5, 0.7, 0.9],), "val_losses = [0.3, 0.5, 0.7, 0.9]"),
        Case(([0.9, 0.5, 0.6, 0.3],), "val_losses = [0.9, 0.5, 0.6, 0.3] (a noisy curve)"),
        Case(([0.8, 0.4, 0.6, 0.4, 0.9],), "val_losses = [0.8, 0.4, 0.6, 0.4, 0.9] (a tie)"),
        Case(
            ([1.0, 0.7, 0.75, 0.6, 0.62, 0.5, 0.55, 0.58],), "val_losses = [1.0, 0.7, 0.75, 0.6, 0.62, 0.5, 0.55, 0.58]"
        ),
    ]
    return check_function(
        "best_epoch",
        answer,
        solution_best_epoch,
        cases,
        hint=(
            "Which epoch's weights would you want to keep if you could see the whole validation curve at once? "
            "Count positions from 0 and, on a tie, prefer the earlier epoch.",
            "Look at every entry of val_losses, not only at the neighbours of one entry: the epoch to keep is "
            "the position of the smallest loss in the whole list, the first one if it occurs twice.",
        ),
        mistakes=[
            Mistake(
                lambda v: len(v) - 1,
                (
                    "That is the last epoch, and the last epoch is not always the best.",
                    "Early stopping keeps the weights with the LOWEST validation loss, which may be long before the end.",
                ),
            ),
            Mistake(
                lambda v: int(np.argmax(v)),
                (
                    "That is the epoch with the highest validation loss.",
                    "A loss is better when it is smaller.",
                ),
            ),
            Mistake(
                lambda v: int(np.argmin(v)) + 1,
                (
                    "Off by one: count epochs from 0, like positions in a Python list.",
                    "The result should index val_losses directly.",
                ),
            ),
            Mistake(
                lambda v: len(v) - 1 - int(np.argmin(np.asarray(v)[::-1])),
                (
                    "On a tie keep the earlier epoch.",
                    "It reached the same validation loss with less training.",
                ),
            ),
            Mistake(
                _first_rise,
                (
                    "You stopped at the first rise of the validation loss, but a noisy curve (like the dropout "
                    "curve of this chapter) can rise and then fall lower than before.",
                    "Keep scanning after a rise: the epoch to keep is the lowest point of the whole curve, not the "
                    "last point before the first rise.",
                ),
            ),
        ],
    )


from dlcourse.exercises.ch06_more import (  # noqa: E402
    DECAYS,
    check_decay_choice,
    check_deep_tanh_settings,
    check_keep_best,
    decay_run,
    solution_decay_choice,
    solution_deep_tanh_settings,
    solution_keep_best,
    train_deep_tanh,
)
from dlcourse.exercises.ch06_norm import check_batchnorm_step, solution_batchnorm_step  # noqa: E402

__all__ = [
    "DECAYS",
    "KEY_EXPRESSIONS",
    "check_adam_bias_correction",
    "check_batchnorm_step",
    "check_best_epoch",
    "check_decay_choice",
    "check_deep_tanh_settings",
    "check_dropout_scale",
    "check_he_std",
    "decay_run",
    "check_keep_best",
    "check_momentum_step",
    "solution_adam_bias_correction",
    "solution_batchnorm_step",
    "solution_best_epoch",
    "solution_decay_choice",
    "solution_deep_tanh_settings",
    "solution_dropout_scale",
    "solution_he_std",
    "solution_keep_best",
    "solution_momentum_step",
    "train_deep_tanh",
]

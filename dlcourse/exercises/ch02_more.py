"""Chapter 2's exercises that go beyond the chapter: training a perceptron, and a stable softplus."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.data import two_blobs, xor
from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.numpy import activations

SOFTPLUS_OVERFLOWS = (
    "Your function overflows: np.exp receives a huge positive number.",
    "For x = 1000 the formula asks for exp(1000). Rewrite log(1 + e^x) for positive x "
    "so that exp only sees numbers that are zero or negative.",
)

BOTH_BRANCHES = (
    "np.where computes both of its candidate arrays on every element before it chooses between them: "
    "the form it discards for x = -1000 or 1000 has already overflowed.",
    "Make the number that goes into np.exp safe for every element before the choice, whatever the sign "
    "of x, or compute each form only on the elements where it is used (with a boolean mask).",
)
"""The hint for the most common stable form that still overflows (exercises 2.2 and 2.7)."""


def uses_where(answer: Any) -> bool:
    """Whether the learner's function (not its helpers) calls ``where``, as in ``np.where``."""
    tree = routes.source_tree(answer)
    return tree is not None and bool(routes.uses(tree, ("where",)))


def where_hint(feedback: Feedback, answer: Any, overflow: tuple[str, ...], both: tuple[str, ...]) -> Feedback:
    """The feedback, its overflow hint replaced by ``both`` when the answer chooses with np.where."""
    if not feedback.passed and feedback.hints == overflow and uses_where(answer):
        return Feedback(feedback.exercise, False, feedback.message, both)
    return feedback


# Fragments of each solution's key code, which no first-stage hint or message may contain
# (tests/test_exercise_hints.py).
KEY_EXPRESSIONS: dict[str, list[str]] = {
    "train_perceptron": ["if mistakes == 0:", "error = y[i] - prediction"],
    "softplus": ["np.log1p(np.exp(-np.abs(x)))", "np.maximum(x, 0) + np.log1p"],
}


def solution_train_perceptron(
    x: np.ndarray, y: np.ndarray, lr: float, epochs: int
) -> tuple[np.ndarray, float, list[int]]:
    """Train a perceptron with the perceptron rule, visiting the points in their given order.

    Args:
        x: (N, D) inputs.
        y: (N,) labels, 0 or 1.
        lr: the learning rate.
        epochs: the largest number of passes over the data.

    Returns:
        weight (D,), bias, and the number of mistakes (updates) in each epoch; training stops
        after the first epoch with no mistake, which is the last entry of the list.
    """
    weight, bias = np.zeros(x.shape[1]), 0.0  # start from zero
    mistakes_per_epoch = []
    for _ in range(epochs):
        mistakes = 0
        for i in range(len(x)):  # in the given order
            prediction = float(x[i] @ weight + bias >= 0)  # the step neuron: 1 at z = 0
            error = y[i] - prediction  # -1, 0 or +1
            if error != 0:
                weight = weight + lr * error * x[i]
                bias = bias + lr * error
                mistakes += 1
        mistakes_per_epoch.append(mistakes)
        if mistakes == 0:
            break
    return weight, bias, mistakes_per_epoch


def _train(x, y, lr, epochs, *, early_stop=True, keep_clean_epoch=True, strict=False, use_lr=True, reset=True):
    """The training loop with one typical mistake switched on, for the checker's mistakes."""
    weight, bias, counts, mistakes = np.zeros(x.shape[1]), 0.0, [], 0
    rate = lr if use_lr else 1.0
    for _ in range(epochs):
        mistakes = 0 if reset else mistakes
        before = mistakes
        for xi, yi in zip(x, y, strict=True):
            z = float(xi @ weight + bias)
            error = yi - float(z > 0 if strict else z >= 0)
            if error:
                weight, bias, mistakes = weight + rate * error * xi, bias + rate * error, mistakes + 1
        clean = mistakes == before
        if clean and early_stop and not keep_clean_epoch:
            break
        counts.append(mistakes)
        if clean and early_stop:
            break
    return weight, bias, counts


def _clouds(n: int, seed: int, gap: float, center: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Two separable clouds of n points each, off the origin (so the bias must learn), in a seeded order."""
    x, y = two_blobs(n=n, seed=seed, gap=gap, center=center)
    order = np.random.default_rng(seed).permutation(len(x))  # the classes mixed, not one after the other
    return x[order], y[order]


def _data_cases() -> list[Case]:
    """Two seeded separable data sets, and XOR, which no line separates."""
    small_x, small_y = _clouds(6, seed=2, gap=1.0, center=(1.0, 2.0))
    big_x, big_y = _clouds(40, seed=6, gap=0.3, center=(-1.0, 2.0))
    xor_x, xor_y = xor()
    return [
        Case((small_x, small_y, 1.0, 20), "12 points of two separable clouds (seed 2), lr = 1, epochs = 20"),
        Case((big_x, big_y, 0.1, 30), "80 points of two separable clouds (seed 6), lr = 0.1, epochs = 30"),
        Case((xor_x, xor_y, 1.0, 6), "the 4 XOR points, which no line separates, lr = 1, epochs = 6"),
    ]


def held_out_accuracy() -> float:
    """The accuracy, on 400 fresh points of the second case's clouds, of the weights the solution learns there."""
    x, y, lr, epochs = _data_cases()[1].args
    weight, bias, _ = solution_train_perceptron(x, y, lr, epochs)
    test_x, test_y = two_blobs(n=200, seed=99, gap=0.3, center=(-1.0, 2.0))
    return float(np.mean((test_x @ weight + bias >= 0) == test_y))


@checker
def check_train_perceptron(answer: Any) -> Feedback:
    """Exercise 2.6: the perceptron's training loop, returning ``(weight, bias, mistakes_per_epoch)``."""
    feedback = check_function(
        "train_perceptron",
        answer,
        solution_train_perceptron,
        _data_cases(),
        parts=("weight", "bias", "mistakes"),
        forbid=routes.forbid_names(("perceptron_train",), "this exercise asks you to write the training loop yourself"),
        hint=(
            "Run your loop by hand on the first few points of the failing case and compare each step with the rule.",
            "Start from zero, visit the points in their given order, update only on a mistake, count the updates "
            "of each epoch, and stop after the first epoch without one.",
        ),
        mistakes=[
            Mistake(
                lambda *a: _train(*a, early_stop=False),
                (
                    "Your loop keeps going after an epoch without mistakes.",
                    "Once an epoch makes no mistake the weights can no longer change: stop there, "
                    "and keep that epoch's count, the 0, as the last entry.",
                ),
            ),
            Mistake(
                lambda *a: _train(*a, keep_clean_epoch=False),
                (
                    "Your list of mistakes misses its last entry.",
                    "The epoch without mistakes is an epoch too: record its count before stopping.",
                ),
            ),
            Mistake(
                lambda *a: _train(*a, reset=False),
                (
                    "Your counts keep growing from epoch to epoch.",
                    "Count each epoch's mistakes from zero.",
                ),
            ),
            Mistake(
                lambda *a: _train(*a, strict=True),
                (
                    "Your neuron and the course's disagree on points where z = 0, such as the very first point.",
                    "The step neuron outputs 1 at z = 0 (step(0) = 1).",
                ),
            ),
            Mistake(
                lambda *a: _train(*a, use_lr=False),
                (
                    "Your mistakes are right but your weight and bias are not, where lr is not 1.",
                    "From a zero start, lr scales the weight and the bias together: "
                    "it changes no prediction, but it is part of every step.",
                ),
            ),
        ],
    )
    if feedback.passed:
        feedback.message += (
            f" Your weights from the second case classify {held_out_accuracy():.1%} of 400 held-out points correctly."
        )
    return feedback


def solution_softplus(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softplus, log(1 + e^x), and its derivative, the sigmoid, with no overflow at any x.

    Args:
        x: any shape, float.

    Returns:
        ``(value, slope)``, both of the shape of ``x``.
    """
    x = np.asarray(x, dtype=float)
    value = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|)
    slope = activations.sigmoid(x)  # d/dx log(1 + e^x) = e^x / (1 + e^x)
    return value, slope


def _naive(x):
    return np.log(1 + np.exp(x)), 1 / (1 + np.exp(-x))


@checker
def check_softplus(answer: Any) -> Feedback:
    """Exercise 2.7: softplus and its derivative, stable for any input and accurate where they are tiny."""
    cases = [
        Case((np.array([-2.0, 0.0, 2.0]),), "x = [-2, 0, 2]"),
        Case((np.linspace(-10, 10, 9),), "x = linspace(-10, 10, 9)"),
        Case((np.array([-1000.0, 1000.0]),), "x = [-1000, 1000]"),
        Case((np.array([[-40.0, -30.0], [30.0, 40.0]]),), "x = [[-40, -30], [30, 40]]"),
    ]
    relu_slope = activations.step
    feedback = check_function(
        "softplus",
        answer,
        solution_softplus,
        cases,
        parts=("value", "slope"),
        rtol=1e-6,
        atol=1e-200,  # far below the tiny values at -30 and -40; a sigmoid clipped at -500 (7e-218) still passes
        warnings_are_errors=True,
        forbid=routes.forbid_names(
            (*routes.SILENCERS, "logaddexp", "torch", "scipy", "expit"),
            "the exercise asks you to avoid the overflow yourself, without hiding warnings or a library's softplus",
        ),
        hint=(
            "Check the value and the slope separately on the failing case against log(1 + e^x) and its "
            "derivative, worked out by hand; for large |x|, also ask which intermediate numbers overflow or "
            "lose their digits.",
            "Split x into its positive part and the rest: log(1 + e^x) = x + log(1 + e^-x), so for either sign of x "
            "you can write it with exp of a number that is not positive.",
        ),
        mistakes=[
            Mistake(WARNS, SOFTPLUS_OVERFLOWS),
            Mistake(
                lambda x: solution_softplus(x)[::-1],
                (
                    "Your two outputs are in the wrong order.",
                    "Return the value first and the slope second.",
                ),
            ),
            Mistake(
                lambda x: (np.maximum(x, 0) + np.log1p(np.exp(-x)), solution_softplus(x)[1]),
                (
                    "Your value is right for x >= 0 but too large for negative x.",
                    "The rewritten form must hold for both signs of x: check what your exponent is for negative x.",
                ),
            ),
            Mistake(
                lambda x: (np.maximum(x, 0) + np.log(1 + np.exp(-np.abs(x))), activations.sigmoid(x)),
                (
                    "Your values lose their digits where softplus is tiny, at x = -30 and -40.",
                    "1 + (a tiny number) rounds most of the tiny number away before the log sees it; "
                    "NumPy has a logarithm made for log(1 + small).",
                ),
            ),
            Mistake(
                lambda x: (solution_softplus(x)[0], 1 - activations.sigmoid(-x)),
                (
                    "Your slope loses its digits where it is tiny, at x = -30 and -40.",
                    "1 minus a number close to 1 cancels most of its digits: compute the small slope directly.",
                ),
            ),
            Mistake(
                lambda x: (solution_softplus(x)[0], relu_slope(x)),
                (
                    "Your slope is the one of ReLU, the function softplus smooths.",
                    "Differentiate log(1 + e^x) with the chain rule.",
                ),
            ),
            Mistake(
                lambda x: (solution_softplus(x)[0], activations.sigmoid(-x)),
                ("Your slope is mirrored: softplus rises, most steeply for large x.", "Check the sign in your slope."),
            ),
            Mistake(
                lambda x: (np.maximum(x, 0), solution_softplus(x)[1]),
                (
                    "Your value is ReLU's: you dropped the part that smooths the corner.",
                    "max(x, 0) alone is not enough: a log term remains.",
                ),
            ),
        ],
    )
    return where_hint(feedback, answer, SOFTPLUS_OVERFLOWS, BOTH_BRANCHES)

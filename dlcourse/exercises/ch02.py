"""Checkers and solutions for chapter 2, The perceptron and activation functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.numpy import activations
from dlcourse.numpy.perceptron import perceptron_predict, perceptron_update


def solution_neuron(x: np.ndarray, w: np.ndarray, b: float) -> float:
    """One sigmoid neuron: the weighted sum of the inputs, plus the bias, through the sigmoid."""
    return float(activations.sigmoid(np.dot(x, w) + b))


@checker
def check_neuron(answer: Any) -> Feedback:
    """Exercise 2.1: ``neuron(x, w, b)`` for one input vector ``x``."""
    cases = [
        Case((np.array([1.0, 2.0]), np.array([0.5, -0.25]), 0.0), "x = [1, 2], w = [0.5, -0.25], b = 0"),
        Case((np.array([1.0, 2.0]), np.array([0.5, 0.25]), 1.0), "x = [1, 2], w = [0.5, 0.25], b = 1"),
        Case(
            (np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -0.5]), -0.5),
            "x = [0.5, -1, 2], w = [1, 2, -0.5], b = -0.5",
        ),
    ]
    sig = activations.sigmoid
    return check_function(
        "neuron",
        answer,
        solution_neuron,
        cases,
        hint="Compute z = x . w + b, then return sigmoid(z).",
        mistakes=[
            Mistake(
                lambda x, w, b: sig(np.dot(x, w)),
                "The bias is missing: add b to the weighted sum before the activation.",
            ),
            Mistake(lambda x, w, b: np.dot(x, w) + b, "You returned z itself: pass it through the sigmoid."),
            Mistake(
                lambda x, w, b: sig(np.dot(x, w)) + b,
                "Add the bias before the activation, not after: it shifts the curve sideways.",
            ),
        ],
    )


solution_sigmoid = activations.sigmoid


@checker
def check_sigmoid(answer: Any) -> Feedback:
    """Exercise 2.2: a sigmoid that survives inputs of ±1000 with no warning."""
    cases = [
        Case((np.array([-2.0, 0.0, 2.0]),), "x = [-2, 0, 2]"),
        Case((np.linspace(-10, 10, 9),), "x = linspace(-10, 10, 9)"),
        Case((np.array([-1000.0, 1000.0]),), "x = [-1000, 1000]"),
    ]
    return check_function(
        "sigmoid",
        answer,
        solution_sigmoid,
        cases,
        hint="sigmoid(x) = 1 / (1 + exp(-x)); for large |x| rewrite it so that exp only sees -|x|.",
        warnings_are_errors=True,
        mistakes=[
            Mistake(lambda x: 1 / (1 + np.exp(x)), "Check the sign in the exponent: sigmoid(x) = 1 / (1 + exp(-x))."),
            Mistake(
                WARNS,
                "exp(-x) overflows for x = -1000. With e = exp(-|x|), use 1/(1+e) where x >= 0 and e/(1+e) elsewhere.",
            ),
        ],
    )


def solution_relu_derivative(x: np.ndarray) -> np.ndarray:
    """The derivative of ReLU: 1 where x > 0, else 0 (0 at exactly 0, as in PyTorch)."""
    return (np.asarray(x) > 0).astype(float)


@checker
def check_relu_derivative(answer: Any) -> Feedback:
    """Exercise 2.3: the derivative of ReLU, elementwise."""
    cases = [
        Case((np.array([-2.0, -0.5, 0.5, 3.0]),), "x = [-2, -0.5, 0.5, 3]"),
        Case((np.array([-1.0, 0.0, 1.0]),), "x = [-1, 0, 1]"),
    ]
    return check_function(
        "relu_derivative",
        answer,
        solution_relu_derivative,
        cases,
        hint="ReLU is flat (slope 0) left of zero and the identity (slope 1) right of it.",
        mistakes=[
            Mistake(
                lambda x: np.maximum(x, 0),
                "That is ReLU itself. Its derivative is the slope: 1 where x > 0, 0 elsewhere.",
            ),
            Mistake(
                lambda x: (x >= 0).astype(float),
                "At exactly x = 0 the course (like PyTorch) uses slope 0: compare with > 0, not >= 0.",
            ),
        ],
    )


solution_perceptron_update = perceptron_update


def _weight_and_bias(pair: Any) -> np.ndarray:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"expected a pair (weight, bias), got {type(pair).__name__}")
    return np.concatenate([np.ravel(np.asarray(pair[0], dtype=float)), [float(pair[1])]])


@checker
def check_perceptron_update(answer: Any) -> Feedback:
    """Exercise 2.4: one step of the perceptron rule, returning ``(weight, bias)``."""
    w = np.array([0.5, -0.5])
    cases = [
        Case((w, 0.0, np.array([1.0, 1.0]), 1.0, 1.0), "a correctly classified point (x = [1, 1], y = 1)"),
        Case((w, 0.0, np.array([-1.0, 1.0]), 1.0, 0.5), "a missed positive point (x = [-1, 1], y = 1, lr = 0.5)"),
        Case((w, 0.0, np.array([2.0, -1.0]), 0.0, 1.0), "a missed negative point (x = [2, -1], y = 0)"),
    ]

    def wrong_sign(weight, bias, x, y, lr):
        error = y - perceptron_predict(x, weight, bias)
        return weight - lr * error * x, bias - lr * error

    return check_function(
        "perceptron_update",
        answer,
        perceptron_update,
        cases,
        hint="error = y - step(x . w + b); then w + lr * error * x and b + lr * error.",
        adapt=_weight_and_bias,
        mistakes=[
            Mistake(
                wrong_sign,
                "The update moves the wrong way: add lr * (y - prediction) * x, so a missed point pulls the boundary toward it.",
            )
        ],
    )


solution_and_gate = (np.array([1.0, 1.0]), -1.5)


@checker
def check_and_gate(weight: Any, bias: Any) -> Feedback:
    """Exercise 2.5: a weight and bias that make a step neuron compute AND (any such pair passes)."""
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    want = np.array([0.0, 0.0, 0.0, 1.0])
    hint = "Make the weighted sum reach 0 only when both inputs are 1: equal weights and a bias between -2w and -w."
    try:
        got = perceptron_predict(x, np.asarray(weight, dtype=float), float(bias))
    except Exception as exc:
        return Feedback(
            "and_gate", False, f"could not evaluate a neuron with weight={weight!r}, bias={bias!r}: {exc}", hint
        )
    if np.array_equal(got, want):
        return Feedback("and_gate", True, "your neuron outputs 1 only for the input (1, 1).")
    table = ", ".join(f"{tuple(int(v) for v in xi)} -> {int(g)}" for xi, g in zip(x, got, strict=True))
    if np.array_equal(got, [0.0, 1.0, 1.0, 1.0]):
        hint = "Your neuron fires when either input is on: that is OR. Make the bias more negative."
    elif got.all():
        hint = "Your neuron fires for every input, even (0, 0): its bias must be negative."
    return Feedback("and_gate", False, f"expected 1 only for (1, 1); your neuron gives {table}.", hint)

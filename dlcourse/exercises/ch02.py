"""Checkers and solutions for chapter 2, The perceptron and activation functions."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dlcourse.exercises import routes, running
from dlcourse.exercises.compare import fmt, to_array
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.numpy import activations
from dlcourse.numpy.perceptron import perceptron_predict, perceptron_update

# Fragments of each solution's key code, which no first-stage hint or message may contain
# (tests/test_exercise_hints.py).
KEY_EXPRESSIONS: dict[str, list[str]] = {
    "neuron": ["np.dot(x, w) + b", "x @ w + b", "sigmoid(np.dot(x, w) + b)"],
    "sigmoid": ["np.exp(-np.abs(x))", "e / (1 + e)", "1 / (1 + np.exp(-x))"],
    "relu_derivative": ["(x > 0).astype(float)", "np.where(x > 0, 1.0, 0.0)"],
    "perceptron_update": ["weight + lr * error * x", "bias + lr * error", "y - perceptron_predict"],
    "and_gate": ["-2.5", "between -3 and -2"],
}


def solution_neuron(x: np.ndarray, w: np.ndarray, b: float) -> float:
    """One sigmoid neuron: the weighted sum of the inputs, plus the bias, through the sigmoid."""
    return float(activations.sigmoid(np.dot(x, w) + b))


OTHER_ACTIVATION = (
    "Your neuron computes the right weighted sum but passes it through another activation than the one asked for.",
    "The exercise's neuron squashes z into (0, 1) with the sigmoid, which `activations.sigmoid` computes.",
)


@checker
def check_neuron(answer: Any) -> Feedback:
    """Exercise 2.1: ``neuron(x, w, b)`` for one input vector ``x``."""
    cases = [  # z < 0 first: there tanh, ReLU, step and z itself all differ from the sigmoid
        Case((np.array([1.0, 2.0]), np.array([0.5, -0.75]), 0.25), "x = [1, 2], w = [0.5, -0.75], b = 0.25"),
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
        forbid=routes.forbid_names(
            ("neuron", "perceptron", "torch"), "this exercise asks you to write the neuron, not to call the package's"
        ),
        hint=(
            "Follow the chapter's two steps for one neuron: the pre-activation, then the activation.",
            "Combine the inputs with their weights and add the bias to get z; pass z through the sigmoid "
            "and return the result as one float.",
        ),
        mistakes=[
            Mistake(
                lambda x, w, b: sig(np.dot(x, w)),
                (
                    "The bias is missing.",
                    "Add b to the weighted sum before the activation: it shifts the curve sideways.",
                ),
            ),
            Mistake(lambda x, w, b: np.tanh(np.dot(x, w) + b), OTHER_ACTIVATION),
            Mistake(lambda x, w, b: np.maximum(np.dot(x, w) + b, 0.0), OTHER_ACTIVATION),
            Mistake(lambda x, w, b: float(np.dot(x, w) + b >= 0), OTHER_ACTIVATION),
            Mistake(
                lambda x, w, b: np.dot(x, w) + b,
                (
                    "You returned the pre-activation z itself.",
                    "A neuron ends with its activation: pass z through the sigmoid.",
                ),
            ),
            Mistake(
                lambda x, w, b: sig(np.dot(x, w)) + b,
                (
                    "The bias is added in the wrong place.",
                    "Add the bias before the activation, not after: it shifts the curve sideways.",
                ),
            ),
        ],
    )


solution_sigmoid = activations.sigmoid

OWN_SIGMOID = routes.forbid_names(
    (*routes.SILENCERS, "activations", "torch", "scipy", "expit", "sigmoid", "dlcourse"),
    "the exercise asks you to write the sigmoid yourself and to avoid the overflow, not to hide its warning "
    "or call a library's sigmoid",
)

OVERFLOWS = (
    "Your function overflows: np.exp receives a huge positive number for some of these inputs.",
    "Find the sign of x for which your exponent is large and positive (x = -1000 or x = 1000, depending on "
    "your formula). For those x use the other form of the sigmoid, top and bottom multiplied by exp(x) or "
    "exp(-x), so that exp only sees numbers that are zero or negative.",
)


@checker
def check_sigmoid(answer: Any) -> Feedback:
    """Exercise 2.2: a sigmoid that survives inputs of ±1000 with no warning, and hides none."""
    cases = [
        Case((np.array([-2.0, 0.0, 2.0]),), "x = [-2, 0, 2]"),
        Case((np.linspace(-10, 10, 9),), "x = linspace(-10, 10, 9)"),
        Case((np.array([-1000.0, 1000.0]),), "x = [-1000, 1000]"),
        Case((np.array([[-800.0, -30.0], [30.0, 800.0]]),), "x = [[-800, -30], [30, 800]]"),
    ]
    feedback = check_function(
        "sigmoid",
        answer,
        solution_sigmoid,
        cases,
        forbid=OWN_SIGMOID,
        hint=(
            "Find the inputs for which np.exp receives a large positive number, and rewrite the formula for them.",
            "Multiply the top and the bottom of the textbook formula by exp(x): for negative x that form needs "
            "only exp of a negative number. Use each form where it is safe.",
        ),
        warnings_are_errors=True,
        mistakes=[
            Mistake(
                lambda x: 1 / (1 + np.exp(x)),
                (
                    "Your outputs are mirrored: the sigmoid of a positive number is above one half.",
                    "Check the sign in the exponent.",
                ),
            ),
            Mistake(WARNS, OVERFLOWS),
        ],
    )
    return where_hint(feedback, answer, OVERFLOWS, BOTH_BRANCHES)


def solution_relu_derivative(x: np.ndarray) -> np.ndarray:
    """The derivative of ReLU: 1 where x > 0, else 0 (0 at exactly 0, as in PyTorch)."""
    return (np.asarray(x) > 0).astype(float)


@checker
def check_relu_derivative(answer: Any) -> Feedback:
    """Exercise 2.3: the derivative of ReLU, elementwise."""
    cases = [
        Case((np.array([-2.0, -0.5, 0.5, 3.0]),), "x = [-2, -0.5, 0.5, 3]"),
        Case((np.array([-1.0, 0.0, 1.0]),), "x = [-1, 0, 1]"),
        Case((np.array([[0.25, -4.0], [0.0, 7.0]]),), "x = [[0.25, -4], [0, 7]]"),
    ]
    return check_function(
        "relu_derivative",
        answer,
        solution_relu_derivative,
        cases,
        forbid=routes.forbid_names(
            ("relu_backward", "activations", "torch", "dlcourse"),
            "this exercise asks you to write the slope yourself, not to call a library's backward pass",
        ),
        hint=(
            "Sketch ReLU and read its slope off the sketch, left and right of zero.",
            "ReLU is flat left of zero and a line of slope one right of it; the output has the shape of x.",
        ),
        mistakes=[
            Mistake(
                lambda x: np.maximum(x, 0),
                (
                    "That is ReLU itself, not its slope.",
                    "The derivative is the slope of the curve at each x, which takes only two values here.",
                ),
            ),
            Mistake(
                lambda x: (x >= 0).astype(float),
                (
                    "Your output differs only at exactly x = 0.",
                    "The course, like PyTorch, takes ReLU's slope at 0 to be 0: check how your comparison treats x == 0.",
                ),
            ),
            Mistake(
                np.sign,
                (
                    "Your slope is negative for negative x.",
                    "Left of zero ReLU is flat: its slope there is 0, not -1.",
                ),
            ),
        ],
    )


solution_perceptron_update = perceptron_update


def _update(weight, bias, x, y, lr, *, sign=1.0, strict=False, use_lr=True, move_bias=True, smooth=False):
    """A perceptron step with one typical mistake switched on, for the checker's mistakes."""
    z = float(np.dot(x, weight) + bias)
    prediction = activations.sigmoid(np.array(z)) if smooth else float(z > 0 if strict else z >= 0)
    error = sign * (y - float(prediction))
    rate = lr if use_lr else 1.0
    return weight + rate * error * x, bias + (rate * error if move_bias else 0.0)


@checker
def check_perceptron_update(answer: Any) -> Feedback:
    """Exercise 2.4: one step of the perceptron rule, returning ``(weight, bias)``."""
    w = np.array([0.5, -0.5])
    cases = [
        Case((w, 0.0, np.array([2.0, -1.0]), 1.0, 1.0), "a correctly classified point (x = [2, -1], y = 1)"),
        Case(
            (w, 0.0, np.array([1.0, 1.0]), 1.0, 1.0), "a correctly classified point on the boundary (x = [1, 1], y = 1)"
        ),
        Case((w, 0.0, np.array([-1.0, 1.0]), 1.0, 0.5), "a missed positive point (x = [-1, 1], y = 1, lr = 0.5)"),
        Case((w, 0.0, np.array([2.0, -1.0]), 0.0, 1.0), "a missed negative point (x = [2, -1], y = 0)"),
        Case(
            (w, 0.25, np.array([3.0, 1.0]), 0.0, 0.1), "a missed negative point (x = [3, 1], y = 0, b = 0.25, lr = 0.1)"
        ),
    ]
    return check_function(
        "perceptron_update",
        answer,
        perceptron_update,
        cases,
        parts=("weight", "bias"),
        forbid=routes.forbid_names(
            ("perceptron_update", "perceptron_train", "torch"),
            "this exercise asks you to write the update, not to call the package's",
        ),
        hint=(
            "Predict with the step neuron first, then compare the prediction with the label y.",
            "The size and the direction of the step come from y minus the prediction, scaled by lr; the weight "
            "moves along x, the bias as if its input were 1. Return the weight with the shape it came in.",
        ),
        mistakes=[
            Mistake(
                lambda *a: _update(*a, sign=-1.0),
                (
                    "Your update moves the boundary the wrong way.",
                    "A missed positive point (y = 1, prediction 0) must raise its own score x . w + b next time.",
                ),
            ),
            Mistake(
                lambda *a: _update(*a, strict=True),
                (
                    "Your neuron and the course's disagree on a point exactly on the boundary, where z = 0.",
                    "The step neuron outputs 1 at z = 0 (step(0) = 1); `perceptron.perceptron_predict` does that.",
                ),
            ),
            Mistake(
                lambda weight, bias, x, y, lr: (weight + lr * y * x, bias + lr * y),
                (
                    "Your update changed the weights for a point the neuron already classifies correctly.",
                    "The perceptron learns only from its mistakes: the step is scaled by the label minus the "
                    "prediction, which is zero when they agree, not by the label alone.",
                ),
            ),
            Mistake(
                lambda *a: _update(*a, move_bias=False),
                (
                    "Your weights are right but the bias did not move.",
                    "The bias learns too, like a weight on an input that is always 1.",
                ),
            ),
            Mistake(
                lambda *a: _update(*a, use_lr=False),
                ("Your steps have the wrong length where lr is not 1.", "Scale both changes by the learning rate."),
            ),
            Mistake(
                lambda *a: _update(*a, smooth=True),
                (
                    "Your update is not a whole step: the prediction must be 0 or 1.",
                    "The perceptron predicts with the step activation, not the sigmoid.",
                ),
            ),
        ],
    )


solution_and_gate = (np.array([1.0, 1.0, 1.0]), -2.5)
_CORNERS = np.array(list(itertools.product([0.0, 1.0], repeat=3)))  # (8, 3): every input of three bits


def _and_gate_verdict(weight: Any, bias: Any) -> tuple[np.ndarray | None, str]:
    """The neuron's outputs on the eight corners, or None and why they cannot be computed."""
    status, converted, _ = running.call_limited(lambda: (to_array(weight), to_array(bias)), running.TIME_LIMIT_S)
    if status != "ok":
        return None, f"the weight and the bias could not be read as numbers within {running.TIME_LIMIT_S:g} s."
    w, b = converted
    if w is None or w.shape != (3,):
        shape = "no numbers" if w is None else f"shape {w.shape}"
        return None, f"the weight must hold 3 numbers, one per input: expected shape (3,), got {shape}."
    if b is None or b.shape != ():
        return None, f"the bias must be one number: expected a scalar, got {fmt(bias)}."
    with running.quiet():
        return perceptron_predict(_CORNERS, w, float(b)), ""


@checker
def check_and_gate(weight: Any, bias: Any) -> Feedback:
    """Exercise 2.5: a weight and bias that make a step neuron with three inputs compute AND (any such pair passes)."""
    hint: tuple[str, ...] = (
        "Look at the rows where your neuron is wrong and count how many inputs are on in each: "
        "with equal weights, the bias decides how many must be on.",
        "With equal weights w, k inputs on give the weighted sum k * w. Choose the bias so that the sum "
        "plus the bias is below zero when two inputs are on, and at least zero when all three are.",
    )
    got, problem = _and_gate_verdict(weight, bias)
    if got is None and problem.startswith("the weight must"):
        shape_hint = (
            "The neuron has three inputs, so its weight needs one entry per input.",
            "Give the weight three numbers, one per input, and the bias as one number.",
        )
        return Feedback("and_gate", False, problem, shape_hint)
    if got is None and problem.startswith("the bias must"):
        bias_hint = ("The bias is one number, added once to the weighted sum.", "Give the bias as a single number.")
        return Feedback("and_gate", False, problem, bias_hint)
    if got is None:
        return Feedback("and_gate", False, problem, hint)
    want = (_CORNERS.sum(axis=1) == 3).astype(float)
    if np.array_equal(got, want):
        return Feedback("and_gate", True, "your neuron outputs 1 only for the input (1, 1, 1).")
    wrong = [tuple(int(v) for v in xi) for xi, g, t in zip(_CORNERS, got, want, strict=True) if g != t]
    fired = {int(k) for k in _CORNERS[got == 1].sum(axis=1)}
    if not got.any():
        hint = ("Your neuron never fires, not even for (1, 1, 1).", "Its bias is too negative for its weights.")
    elif got.all():
        hint = ("Your neuron fires for every input, even (0, 0, 0).", "With no input on, the sum is the bias alone.")
    elif fired == {1, 2, 3}:
        hint = ("Your neuron fires as soon as one input is on: that is OR.", "Make the bias more negative.") + hint[1:]
    elif fired == {2, 3}:
        hint = (
            "Your neuron fires when two of the three inputs are on: a majority vote.",
            "Make the bias more negative.",
        ) + hint[1:]
    return Feedback(
        "and_gate",
        False,
        f"your neuron is wrong on {len(wrong)} of 8 inputs, {', '.join(map(str, wrong))}; "
        "expected 1 only for (1, 1, 1).",
        hint,
    )


from dlcourse.exercises.ch02_more import (  # noqa: E402
    BOTH_BRANCHES,
    check_softplus,
    check_train_perceptron,
    solution_softplus,
    solution_train_perceptron,
    where_hint,
)

__all__ = [
    "KEY_EXPRESSIONS",
    "check_and_gate",
    "check_neuron",
    "check_perceptron_update",
    "check_relu_derivative",
    "check_sigmoid",
    "check_softplus",
    "check_train_perceptron",
    "solution_and_gate",
    "solution_neuron",
    "solution_perceptron_update",
    "solution_relu_derivative",
    "solution_sigmoid",
    "solution_softplus",
    "solution_train_perceptron",
]

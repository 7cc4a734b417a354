"""Checkers and solutions for chapter 3, Loss functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker


def solution_mse(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error: the average of the squared differences between prediction and label."""
    diff = np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)
    return float(np.mean(diff**2))


@checker
def check_mse(answer: Any) -> Feedback:
    """Exercise 3.1: ``mse(y_hat, y)`` for two arrays of the same shape."""
    cases = [
        Case((np.array([3.0, 0.0]), np.array([1.0, 1.0])), "y_hat = [3, 0], y = [1, 1]"),
        Case(
            (np.array([2.5, 0.0, 2.0, 8.0]), np.array([3.0, -0.5, 2.0, 7.0])),
            "y_hat = [2.5, 0, 2, 8], y = [3, -0.5, 2, 7]",
        ),
        Case((np.array([0.0, 1.0, 5.0]), np.array([1.0, 3.0, 2.0])), "y_hat = [0, 1, 5], y = [1, 3, 2]"),
    ]
    return check_function(
        "mse",
        answer,
        solution_mse,
        cases,
        hint="Take the difference y_hat - y, square every element, then average.",
        mistakes=[
            Mistake(
                lambda y_hat, y: np.sum((y_hat - y) ** 2),
                "You added the squared errors up. The *mean* squared error divides by how many there are.",
            ),
            Mistake(
                lambda y_hat, y: np.mean(y_hat - y),
                "The differences need squaring before you average them; otherwise errors of opposite sign cancel.",
            ),
            Mistake(
                lambda y_hat, y: np.mean(np.abs(y_hat - y)),
                "That is the mean *absolute* error. Square the differences instead of taking their size.",
            ),
            Mistake(
                lambda y_hat, y: np.sqrt(np.mean((y_hat - y) ** 2)),
                "You took a square root at the end (that is the RMSE). The MSE stops at the mean.",
            ),
        ],
    )


def solution_softmax(z: np.ndarray) -> np.ndarray:
    """Softmax of one score vector (C,), with the maximum subtracted first so that exp never overflows."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())  # every exponent <= 0
    return e / e.sum()


@checker
def check_softmax(answer: Any) -> Feedback:
    """Exercise 3.2: a softmax that survives scores in the thousands with no warning."""
    cases = [
        Case((np.array([1.0, 2.0, 3.0]),), "z = [1, 2, 3]"),
        Case((np.array([-1.0, 0.0, 0.5, 4.0]),), "z = [-1, 0, 0.5, 4]"),
        Case((np.array([1000.0, 1001.0, 1002.0]),), "z = [1000, 1001, 1002]"),
        Case((np.array([-1000.0, 0.0, 1000.0]),), "z = [-1000, 0, 1000]"),
    ]
    return check_function(
        "softmax",
        answer,
        solution_softmax,
        cases,
        hint="softmax(z)_i = exp(z_i) / sum_j exp(z_j). Subtracting the same number from every score changes nothing.",
        warnings_are_errors=True,
        mistakes=[
            Mistake(
                lambda z: np.exp(z - np.max(z)),
                "The outputs must sum to 1: divide the exponentials by their sum.",
            ),
            Mistake(
                WARNS,
                "np.exp overflowed on large scores. Which number could you subtract from every score "
                "so that the largest exponent is 0?",
            ),
        ],
    )


def solution_one_hot(label: int, num_classes: int) -> np.ndarray:
    """A float vector of ``num_classes`` zeros with a 1 at position ``label``."""
    out = np.zeros(num_classes)
    out[label] = 1.0
    return out


def _one_based(label: int, num_classes: int) -> np.ndarray:
    out = np.zeros(num_classes)
    out[(label - 1) % num_classes] = 1.0
    return out


@checker
def check_one_hot(answer: Any) -> Feedback:
    """Exercise 3.3: ``one_hot(label, num_classes)`` for one integer label."""
    cases = [
        Case((1, 3), "label = 1, num_classes = 3"),
        Case((0, 4), "label = 0, num_classes = 4"),
        Case((4, 5), "label = 4, num_classes = 5"),
    ]
    return check_function(
        "one_hot",
        answer,
        solution_one_hot,
        cases,
        hint="Start from num_classes zeros and set a single entry to 1.",
        mistakes=[
            Mistake(_one_based, "The 1 sits one place too early. Python counts from 0: class 0 is the first entry."),
            Mistake(
                lambda label, c: 1.0 - solution_one_hot(label, c),
                "Zeros and ones are swapped: the true class gets 1 and every other class 0.",
            ),
        ],
    )


def solution_cross_entropy(probs: np.ndarray, label: int) -> float:
    """Cross-entropy of one example: minus the natural log of the probability given to the true class."""
    return float(-np.log(np.asarray(probs, dtype=float)[label]))


@checker
def check_cross_entropy(answer: Any) -> Feedback:
    """Exercise 3.4: ``cross_entropy(probs, label)`` for one example."""
    cases = [
        Case((np.array([0.3, 0.4, 0.3]), 1), "probs = [0.3, 0.4, 0.3], label = 1"),
        Case((np.array([0.7, 0.2, 0.1]), 2), "probs = [0.7, 0.2, 0.1], label = 2"),
        Case((np.array([0.1, 0.6, 0.2, 0.1]), 0), "probs = [0.1, 0.6, 0.2, 0.1], label = 0"),
    ]
    return check_function(
        "cross_entropy",
        answer,
        solution_cross_entropy,
        cases,
        hint="With a one-hot label only one term of -sum_i y_i log(y_hat_i) survives.",
        mistakes=[
            Mistake(
                lambda p, label: np.log(p[label]),
                "Your loss is negative. A log of a probability is <= 0, so the formula starts with a minus sign.",
            ),
            Mistake(
                lambda p, label: -np.log10(p[label]),
                "That is the base-10 logarithm. Cross-entropy uses the natural log, np.log.",
            ),
            Mistake(
                lambda p, label: -np.log(p[np.argmax(p)]),
                "You used the class the model rated highest. The loss looks at the *true* class, given by label.",
            ),
            Mistake(
                lambda p, label: -np.sum(np.log(p)),
                "You summed the log of every class. The one-hot label keeps only one of those terms.",
            ),
        ],
    )


def solution_dlogits(z: np.ndarray, label: int) -> np.ndarray:
    """Gradient of softmax cross-entropy with respect to the logits of one example: softmax(z) - one_hot(label)."""
    grad = solution_softmax(z)
    grad[label] -= 1.0
    return grad


@checker
def check_dlogits(answer: Any) -> Feedback:
    """Exercise 3.5: ``dlogits(z, label)``, the gradient of the loss with respect to the scores."""
    cases = [
        Case((np.array([0.0, 0.0, 0.0]), 0), "z = [0, 0, 0], label = 0"),
        Case((np.array([2.0, 1.0, 0.1]), 1), "z = [2, 1, 0.1], label = 1"),
        Case((np.array([-1.0, 3.0, 0.5, 0.0]), 3), "z = [-1, 3, 0.5, 0], label = 3"),
    ]
    return check_function(
        "dlogits",
        answer,
        solution_dlogits,
        cases,
        hint="Go back to the derivation in the chapter: the answer combines the probabilities and the one-hot label.",
        mistakes=[
            Mistake(
                lambda z, label: -solution_dlogits(z, label),
                "Every sign is flipped. Raising the true class's score lowers the loss, so its entry should come out negative.",
            ),
            Mistake(
                lambda z, label: solution_softmax(z),
                "Those are the probabilities alone. The label must enter too.",
            ),
        ],
    )

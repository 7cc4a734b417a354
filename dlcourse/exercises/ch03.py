"""Checkers and solutions for chapter 3, Loss functions.

The two exercises that build and debug something the chapter does not show, a binary
cross-entropy on logits with its gradient and a broken batch cross-entropy, live in
:mod:`dlcourse.exercises.ch03_more` and are re-exported at the end of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "mse": ["np.mean((y_hat - y) ** 2)", "((y_hat - y) ** 2).mean()", "np.mean(diff**2)"],
    "softmax": ["z.max(axis=axis, keepdims=True)", "np.exp(z - z.max(", "e.sum(axis=axis, keepdims=True)"],
    "one_hot": ["np.eye(num_classes)[label]", "out[label] = 1"],
    "cross_entropy": ["-np.log(probs[label])", "-np.log(p[label])"],
    "dlogits": ["softmax(z) - one_hot", "grad[label] -= 1", "probs - y"],
}


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
        forbid=routes.forbid_names(
            ("losses", "mse", "mse_forward", "mse_loss", "mean_squared_error", "torch", "F", "sklearn", "dlcourse"),
            "this exercise asks you to write the mean squared error with NumPy operations, not to call a library's",
        ),
        hint=(
            "Work the first case out on paper, one error at a time, and compare with what your function returns.",
            "The name says the order of the operations: take the errors, square each, then take the mean.",
        ),
        mistakes=[
            Mistake(
                lambda y_hat, y: np.sum((y_hat - y) ** 2),
                (
                    "Your value grows with the number of examples. The *mean* squared error should not.",
                    "You added the squared errors up; the *mean* squared error divides that total by how many there are.",
                ),
            ),
            Mistake(
                lambda y_hat, y: np.mean(y_hat - y),
                (
                    "An error of +1 and one of -1 should not cancel out. What makes every error count as positive?",
                    "The differences need squaring before you average them; otherwise errors of opposite sign cancel.",
                ),
            ),
            Mistake(
                lambda y_hat, y: np.mean(np.abs(y_hat - y)),
                (
                    "Your value is right where every error is 0 or 1, and wrong elsewhere: errors are measured by their size.",
                    "That is the mean absolute error. Square the differences instead of taking their absolute value.",
                ),
            ),
            Mistake(
                lambda y_hat, y: 0.5 * np.mean((y_hat - y) ** 2),
                (
                    "Your value is exactly half the right one. Where does a factor 1/2 come from?",
                    "The 1/2 that chapter 4 puts in front of its loss (see the note near the top of this chapter) "
                    "is a convention that tidies the derivative; the mean squared error asked for here has none.",
                ),
            ),
            Mistake(
                lambda y_hat, y: np.sqrt(np.mean((y_hat - y) ** 2)),
                (
                    "Your value is the square root of the right one. Which last step is one too many?",
                    "You took a square root at the end (that is the RMSE). The MSE stops at the mean.",
                ),
            ),
        ],
    )


def solution_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``z`` (any shape) along ``axis``: every slice along that axis sums to one.

    Each slice has its own maximum subtracted first, so that no exponent is positive (no overflow)
    and the largest term of each sum is exactly 1 (no slice underflows to 0 / 0).
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))  # same shape as z, every exponent <= 0
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_other_axis(z: np.ndarray, axis: int) -> np.ndarray:
    if z.ndim < 2:
        raise ValueError("one axis only")
    return solution_softmax(z, 1 - axis)


def _softmax_global_max(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max())  # one shift for the whole array
    return e / e.sum(axis=axis, keepdims=True)


_HIDES_WARNINGS = routes.forbid_names(
    routes.SILENCERS, "this exercise asks you to avoid the overflow, not to hide its warning"
)
_LIBRARY_SOFTMAX = routes.forbid_names(
    ("losses", "softmax", "log_softmax", "torch", "F", "scipy", "special", "dlcourse", "moveaxis", "swapaxes"),
    "this exercise asks you to write the softmax along any axis yourself, not to call a library's softmax "
    "or move the axis around one",
)


def _softmax_routes(answer: Any) -> str:
    """Why the answer is refused (a silenced warning, a library's softmax), or "" when it may run."""
    return _HIDES_WARNINGS(answer) or _LIBRARY_SOFTMAX(answer)


@checker
def check_softmax(answer: Any) -> Feedback:
    """Exercise 3.2: ``softmax(z, axis)``, along any axis, for scores in the thousands, with no warning."""
    cases = [
        Case((np.array([1.0, 2.0, 3.0]), 0), "z = [1, 2, 3], axis = 0"),
        Case((np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), 1), "z = [[1, 2, 3], [1, 1, 1]], axis = 1"),
        Case((np.array([[1.0, 2.0], [3.0, 5.0], [0.0, -1.0]]), 0), "z = [[1, 2], [3, 5], [0, -1]], axis = 0"),
        Case((np.array([1000.0, 1001.0, 1002.0]), 0), "z = [1000, 1001, 1002], axis = 0"),
        Case(
            (np.array([[-1000.0, -1001.0, -1002.0], [0.0, 1.0, 2.0]]), 1),
            "z = [[-1000, -1001, -1002], [0, 1, 2]], axis = 1",
        ),
        Case((np.array([[1000.0, -1000.0], [1001.0, 0.0]]), 0), "z = [[1000, -1000], [1001, 0]], axis = 0"),
    ]
    return check_function(
        "softmax",
        answer,
        solution_softmax,
        cases,
        hint=(
            "Check on the failing case that every slice along `axis` of your output is positive and sums to 1.",
            "Every reduction (the largest score, the sum) must run along `axis` only, and keep that axis "
            "(keepdims=True) so that it broadcasts back against z.",
        ),
        warnings_are_errors=True,
        forbid=_softmax_routes,
        mistakes=[
            Mistake(
                _softmax_other_axis,
                (
                    "Your output sums to 1 along the other axis. Which axis did the exercise ask for?",
                    "Use `axis` in every reduction; a softmax written for the last axis normalises rows, and "
                    "this case asks for columns.",
                ),
            ),
            Mistake(
                _softmax_global_max,
                (
                    "One slice here lies far below the other, and your output for it is not a number. "
                    "What does each slice's largest exponential come out as?",
                    "You subtract one maximum for the whole array. A slice whose scores are all far below it "
                    "underflows to exp(...) = 0 everywhere and then divides 0 by 0; each slice needs its own maximum.",
                ),
            ),
            Mistake(
                lambda z, axis: np.exp(z - z.max(axis=axis, keepdims=True)),
                (
                    "Your output does not sum to 1 along the axis.",
                    "Divide the exponentials by their sum along `axis`.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "np.exp overflowed (or divided 0 by 0) on this case. Subtracting the same number from every "
                    "score of a slice does not change its softmax: which number makes the largest exponent 0?",
                    "Shift each slice by its own largest score before the exponential, so that no exponent is "
                    "positive and each sum contains a term equal to 1.",
                ),
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
        Case((4, 5), "label = 4, num_classes = 5"),
        Case((0, 4), "label = 0, num_classes = 4"),
    ]
    return check_function(
        "one_hot",
        answer,
        solution_one_hot,
        cases,
        hint=(
            "Compare the length of your vector and the position of its 1 with the case in the message.",
            "Start from num_classes zeros and set the single entry at index label to 1.",
        ),
        mistakes=[
            Mistake(
                _one_based,
                (
                    "The 1 sits one place away from where it should. Where does Python start counting?",
                    "The 1 sits one place too early. Python counts from 0: class 0 is the first entry.",
                ),
            ),
            Mistake(
                lambda label, c: solution_one_hot(label, c)[::-1],
                (
                    "The 1 sits where it would if you counted from the other end of the vector.",
                    "Your vector is reversed: class 0 is the first entry, class num_classes - 1 the last.",
                ),
            ),
            Mistake(
                lambda label, c: 1.0 - solution_one_hot(label, c),
                (
                    "Your vector has more than one 1 in it.",
                    "Zeros and ones are swapped: the true class gets 1 and every other class 0.",
                ),
            ),
            Mistake(
                lambda label, c: np.zeros(c),
                (
                    "Your vector is all zeros: the true class is missing.",
                    "After making the zeros, set the entry at index label to 1 before returning.",
                ),
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
        hint=(
            "Write the label as a one-hot vector and work the sum of the formula out term by term for the failing case.",
            "With a one-hot label all terms but one vanish; keep the one of the true class, with the natural log.",
        ),
        mistakes=[
            Mistake(
                lambda p, label: np.log(p[label]),
                (
                    "Your loss is negative, and a loss should not be. Look at the sign in front of the sum.",
                    "A log of a probability is at most 0, so the formula starts with a minus sign.",
                ),
            ),
            Mistake(
                lambda p, label: -np.log10(p[label]),
                (
                    "Your value is off by a constant factor. Which logarithm does the chapter use?",
                    "That is the base-10 logarithm. Cross-entropy uses the natural log, np.log.",
                ),
            ),
            Mistake(
                lambda p, label: -np.log(p[np.argmax(p)]),
                (
                    "Which class's probability did you use? The loss cares about one class in particular.",
                    "You used the class the model rated highest. The loss looks at the *true* class, given by label.",
                ),
            ),
            Mistake(
                lambda p, label: -np.sum(np.log(p)),
                (
                    "Your loss is too large: it counts every class.",
                    "You summed the log of every class. The one-hot label keeps only one of those terms.",
                ),
            ),
        ],
    )


def solution_dlogits(z: np.ndarray, label: int) -> np.ndarray:
    """Gradient of softmax cross-entropy with respect to the logits of one example: softmax(z) - one_hot(label)."""
    grad = solution_softmax(z, 0)
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
        hint=(
            "Check three things on the failing case: the entries should sum to 0, only the true class's entry "
            "should be negative, and the size should agree with a finite-difference estimate of the loss's slope.",
            "Go back to step 4 of the derivation in the chapter: the answer combines the probabilities and the "
            "one-hot label.",
        ),
        mistakes=[
            Mistake(
                lambda z, label: -solution_dlogits(z, label),
                (
                    "Every sign is flipped. Which way should the true class's score move to lower the loss?",
                    "Raising the true class's score lowers the loss, so its entry of the gradient is negative.",
                ),
            ),
            Mistake(
                lambda z, label: solution_dlogits(z, label) / len(z),
                (
                    "Right direction, wrong size: your gradient is the right one divided by the number of classes. "
                    "Compare one entry with a finite difference.",
                    "The loss of one example is not a mean over the classes: only the true class's log-probability "
                    "enters it, so nothing divides by C.",
                ),
            ),
            Mistake(
                lambda z, label: 2.0 * solution_dlogits(z, label),
                (
                    "Right direction, wrong size: every entry is twice the right one. Compare one entry with a "
                    "finite difference.",
                    "The loss is minus a log, with no square in it, so no factor 2 comes down when you differentiate.",
                ),
            ),
            Mistake(
                lambda z, label: solution_softmax(z, 0),
                (
                    "Your output sums to 1, not to 0, and does not depend on the label.",
                    "Those are the probabilities alone. The one-hot label must enter too.",
                ),
            ),
            Mistake(
                lambda z, label: solution_softmax(z, 0) * (np.arange(len(z)) == label) - (np.arange(len(z)) == label),
                (
                    "Only the true class's entry is non-zero in your output; the other classes' scores matter too.",
                    "Every class whose probability is not 0 gets a positive entry: raising its score raises the loss.",
                ),
            ),
        ],
    )


from dlcourse.exercises.ch03_more import (  # noqa: E402, F401 (re-exported: notebooks call chNN.check_...)
    check_bce_with_logits,
    check_softmax_cross_entropy,
    solution_bce_with_logits,
    solution_softmax_cross_entropy,
)

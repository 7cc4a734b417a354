"""Chapter 3 exercises that go past the chapter: a binary cross-entropy on logits with its
gradient (derived by the learner), and a batch cross-entropy with a bug to find.

Both are re-exported by :mod:`dlcourse.exercises.ch03`, so a notebook calls ``ch03.check_...``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "bce_with_logits": ["np.logaddexp(0", "np.log1p(np.exp(-np.abs(z)))", "(sigmoid(z) - y) / n", "np.maximum(z, 0)"],
    "softmax_cross_entropy": [
        "logits.max(axis=1, keepdims=True)",
        "np.sum(onehot * log_probs) / n",
        "(onehot * log_probs).sum(axis=1).mean()",
    ],
}

_NO_SILENCING = routes.forbid_names(
    routes.SILENCERS, "this exercise asks for a computation that does not overflow, not one whose warnings are hidden"
)


_BCE_LIBRARY = routes.forbid_names(
    (
        "torch",
        "F",
        "functional",
        "binary_cross_entropy_with_logits",
        "binary_cross_entropy",
        "backward",
        "grad",
        "jax",
        "tensorflow",
        "numerical_gradient",
        "gradcheck",
    ),
    "this exercise asks you to derive the loss and its gradient yourself, not to take them from a library or "
    "from autograd (check your dz against numerical_gradient outside the function)",
)
_SCE_LIBRARY = routes.forbid_names(
    (
        "cross_entropy_forward",
        "cross_entropy_backward",
        "cross_entropy",
        "log_softmax",
        "softmax",
        "losses",
        "dlcourse",
        "torch",
        "F",
        "scipy",
        "special",
    ),
    "this exercise asks you to repair the given function, not to replace it with the package's or PyTorch's",
)


def _no_silencing_nor(library: Any) -> Any:
    """A ``forbid`` that refuses a silenced warning, then the library routes of ``library``."""
    return lambda answer: _NO_SILENCING(answer) or library(answer)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid without overflow: exp is only ever taken of -|z|."""
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def solution_bce_with_logits(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Binary cross-entropy on logits, averaged over the N examples, and its gradient.

    :math:`L = -\frac1N \sum_n [y_n \log \sigma(z_n) + (1 - y_n) \log(1 - \sigma(z_n))]`. With
    :math:`\log \sigma(z) = -\mathrm{softplus}(-z)`, :math:`\log(1 - \sigma(z)) = -\mathrm{softplus}(z)` and
    :math:`\mathrm{softplus}(t) = \max(t, 0) + \log(1 + e^{-|t|})`, each term is
    :math:`\max(z, 0) - y z + \log(1 + e^{-|z|})`, finite for any z; and
    :math:`\partial L / \partial z_n = (\sigma(z_n) - y_n) / N`.

    Args:
        z: (N,) logits.
        y: (N,) labels, 0 or 1.

    Returns:
        ``(loss, dz)``: a float, and dz of shape (N,).
    """
    z, y = np.asarray(z, dtype=float), np.asarray(y, dtype=float)
    n = z.shape[0]
    per_example = np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))  # (N,), exp(<= 0) only
    dz = (_sigmoid(z) - y) / n  # (N,)
    return float(per_example.mean()), dz


def _bce_scaled(loss_times_n: bool, dz_times_n: bool, sign: float = 1.0):
    """A typical wrong answer: the loss or dz summed instead of averaged, or dz of the wrong sign."""

    def wrong(z, y):
        loss, dz = solution_bce_with_logits(z, y)
        n = len(z)
        return loss * (n if loss_times_n else 1), sign * dz * (n if dz_times_n else 1)

    return wrong


def _bce_clipped(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    p = np.clip(_sigmoid(z), 1e-12, 1 - 1e-12)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(loss), (_sigmoid(z) - y) / len(z)


@checker
def check_bce_with_logits(answer: Any) -> Feedback:
    """Exercise 3.6: ``bce_with_logits(z, y)`` returns ``(loss, dz)``, finite and silent for logits of 1000."""
    cases = [
        Case((np.array([0.0]), np.array([1.0])), "z = [0], y = [1]"),
        Case((np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, 1.0])), "z = [2, -1, 0.5], y = [1, 0, 1]"),
        Case((np.array([1000.0, -1000.0]), np.array([1.0, 0.0])), "z = [1000, -1000], y = [1, 0]"),
        Case((np.array([1000.0, -1000.0]), np.array([0.0, 1.0])), "z = [1000, -1000], y = [0, 1]"),
        Case(
            (np.array([30.0, -40.0, 5.0, -3.0]), np.array([0.0, 1.0, 1.0, 0.0])),
            "z = [30, -40, 5, -3], y = [0, 1, 1, 0]",
        ),
    ]
    return check_function(
        "bce_with_logits",
        answer,
        solution_bce_with_logits,
        cases,
        parts=("loss", "dz"),
        warnings_are_errors=True,
        forbid=_no_silencing_nor(_BCE_LIBRARY),
        hint=(
            "Find which part is wrong on the failing case, the loss or dz, and work that part out by hand for "
            "one example.",
            "Write both logs as functions of z alone: log sigma(z) = -log(1 + e^(-z)) and "
            "log(1 - sigma(z)) = -log(1 + e^(z)); then differentiate the result with respect to z.",
        ),
        mistakes=[
            Mistake(
                _bce_scaled(True, False),
                (
                    "Your loss grows with the number of examples, and dz does not.",
                    "The loss is an average over the N examples; you summed it.",
                ),
            ),
            Mistake(
                _bce_scaled(False, True),
                (
                    "Your loss is right and dz is N times too large.",
                    "The loss divides by N, so the derivative with respect to each z_n carries the same 1/N.",
                ),
            ),
            Mistake(
                _bce_scaled(False, False, -1.0),
                (
                    "Your loss is right and every entry of dz has the wrong sign.",
                    "When y = 1, raising z lowers the loss, so dz must be negative there.",
                ),
            ),
            Mistake(
                _bce_clipped,
                (
                    "Your loss is right on moderate logits but stops growing for a confident mistake.",
                    "Clipping the probability changes the loss: a logit of 1000 on the wrong side should cost "
                    "about 1000. Avoid forming the probability; write the loss in terms of z.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "Your function warned (an overflow or a log of 0) on these logits.",
                    "Raising e to a large positive power overflows, and sigma(z) rounds to exactly 0 or 1 for "
                    "large |z|, whose log is infinite. Rewrite the loss so that e is only ever raised to -|z|.",
                ),
            ),
        ],
    )


def solution_softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over a batch, and its gradient with respect to the logits.

    Args:
        logits: (N, C) scores.
        labels: (N,) class indices.

    Returns:
        ``(loss, dlogits)``: a float, and dlogits of shape (N, C).
    """
    logits = np.asarray(logits, dtype=float)
    n, c = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), each row's max is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    onehot = np.eye(c)[labels]  # (N, C)
    loss = -np.sum(onehot * log_probs) / n  # mean over the N examples
    dlogits = (np.exp(log_probs) - onehot) / n  # (N, C)
    return float(loss), dlogits


def given_softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The version handed to the learner, with its bugs (the notebook's stub is this code)."""
    n, c = logits.shape
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(c)[labels]
    loss = -(onehot * log_probs).mean()
    dlogits = (np.exp(log_probs) - onehot) / n
    return loss, dlogits


def _global_shift(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    n, c = logits.shape
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(c)[labels]
    return -np.sum(onehot * log_probs) / n, (np.exp(log_probs) - onehot) / n


def _scaled(loss_factor, grad_factor):
    def wrong(logits, labels):
        loss, grad = solution_softmax_cross_entropy(logits, labels)
        n, c = np.shape(logits)
        return loss * loss_factor(n, c), grad * grad_factor(n, c)

    return wrong


@checker
def check_softmax_cross_entropy(answer: Any) -> Feedback:
    """Exercise 3.7 (debugging): ``softmax_cross_entropy(logits, labels)`` returns ``(loss, dlogits)``."""
    cases = [
        Case(
            (np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), np.array([0, 1])),
            "logits = [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels = [0, 1]",
        ),
        Case((np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([3])), "logits = [[1, 2, 3, 4]], labels = [3]"),
        Case(
            (np.array([[-1000.0, -1001.0, -1002.0], [3.0, 1.0, 0.0]]), np.array([1, 0])),
            "logits = [[-1000, -1001, -1002], [3, 1, 0]], labels = [1, 0]",
        ),
        Case(
            (np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], [-5.0, 5.0, 0.0]]), np.array([2, 0, 1])),
            "logits = [[1000, 0, -1000], [0, 0, 0], [-5, 5, 0]], labels = [2, 0, 1]",
        ),
    ]
    one = lambda n, c: 1.0  # noqa: E731
    return check_function(
        "softmax_cross_entropy",
        answer,
        solution_softmax_cross_entropy,
        cases,
        parts=("loss", "dlogits"),
        warnings_are_errors=True,
        forbid=_no_silencing_nor(_SCE_LIBRARY),
        hint=(
            "Work out the loss of the failing case by hand, one example at a time (minus the log-probability "
            "of its label), and compare each step of the function with your numbers.",
            "Two lines are suspect: what is subtracted from the logits before the exponential, and what the "
            "mean divides by.",
        ),
        mistakes=[
            Mistake(
                _scaled(lambda n, c: 1.0 / c, one),
                (
                    "On this ordinary batch the gradient is right and the loss is too small by a constant factor. "
                    "Compute one example's loss by hand and find the factor.",
                    "The loss is an average over the N examples, but .mean() of an (N, C) array divides by N * C.",
                ),
            ),
            Mistake(
                _scaled(lambda n, c: float(n), one),
                (
                    "The loss is N times too large now.",
                    "The loss is the mean over the examples: divide the sum by N, not by N * C and not by 1.",
                ),
            ),
            Mistake(
                _scaled(one, lambda n, c: float(n)),
                (
                    "The loss is right and the gradient is N times too large.",
                    "Each example's loss enters the mean with weight 1/N, and so does its row of the gradient.",
                ),
            ),
            Mistake(
                _global_shift,
                (
                    "Your function is right on ordinary scores and fails on a batch where one row's scores are "
                    "all far below another row's. Look at what is subtracted before the exponential.",
                    "One number is subtracted from the whole batch, so a row far below it underflows to "
                    "exp(...) = 0 for every class and its log is -inf. Each row needs its own shift.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "Your function warned on this batch (an overflow, or a log of 0).",
                    "Shift each row by a number of its own before the exponential, so that no exponent is "
                    "positive and each row's sum contains a term equal to 1.",
                ),
            ),
        ],
    )

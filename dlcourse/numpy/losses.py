r"""Loss functions in NumPy: how wrong a prediction is, as one number, and its gradient.

Notation used throughout the course: :math:`\hat y` is the model's prediction and
:math:`y` the true label (the target). Losses average over the batch.

- Regression: the mean squared error :math:`\frac{1}{N}\sum (\hat y - y)^2`.
- Classification: softmax turns scores (logits) :math:`z` into probabilities
  :math:`\hat y`, and cross-entropy :math:`-\sum_i y_i \log \hat y_i` compares them with a
  one-hot label. Together their gradient with respect to the logits is :math:`\hat y - y`.

Mirrored by :mod:`dlcourse.torch.losses`.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks import check_logits
from dlcourse.validation import (
    as_count,
    as_float_array,
    as_real,
    check_allocation,
    check_labels,
    check_not_empty,
    check_shape,
)

__all__ = [
    "categorical_cross_entropy",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "log_softmax",
    "mse",
    "mse_backward",
    "mse_forward",
    "one_hot",
    "softmax",
    "softmax_backward",
    "softmax_forward",
]


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices (N,) -> one-hot rows (N, num_classes), float64.

    Raises:
        TypeError: the labels are not integers (booleans and floats included).
        ValueError: a label is outside [0, num_classes).
    """
    num_classes = as_count(num_classes, "num_classes")
    labels = np.asarray(check_labels(labels, "labels", num_classes))
    check_allocation((*labels.shape, num_classes), "the one-hot array")
    out = np.zeros((labels.size, num_classes))
    out[np.arange(labels.size), labels.reshape(-1)] = 1.0
    return out.reshape(*labels.shape, num_classes)


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    r"""Mean squared error :math:`\frac{1}{n}\sum_k (\hat y_k - y_k)^2` over every element.

    Args:
        pred: any shape.
        target: same shape as ``pred``.
    """
    return mse_forward(pred, target)[0]


def mse_forward(pred: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, int]]:
    """MSE, keeping ``cache = (pred - target, n)``."""
    pred, target = as_float_array(pred, "pred"), as_float_array(target, "target")
    check_shape(target, "target", pred.shape)
    check_not_empty(pred, "pred")
    diff = pred - target
    with np.errstate(over="ignore"):  # a squared difference past float's range is inf, as in torch
        return float(np.mean(diff * diff)), (diff, diff.size)


def mse_backward(dout: float, cache: tuple[np.ndarray, int]) -> np.ndarray:
    r"""Gradient of the MSE with respect to ``pred``: :math:`\frac{2}{n}(\hat y - y) \cdot dout`."""
    diff, n = cache
    return (2.0 * as_real(dout, "dout") / n) * diff


def softmax(logits: np.ndarray) -> np.ndarray:
    r"""Softmax along the last axis: :math:`\hat y_i = e^{z_i} / \sum_j e^{z_j}`.

    Subtracting :math:`\max_j z_j` first changes nothing mathematically (it cancels) but
    keeps every exponent :math:`\le 0`, so logits of 1e4 do not overflow.

    Args:
        logits: (..., C).

    Returns:
        (..., C), non-negative, each row sums to 1.
    """
    z = check_logits(logits, as_float_array)
    z = z - z.max(axis=-1, keepdims=True)  # (..., C), max is 0
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    r"""Log of the softmax, by log-sum-exp: :math:`z_i - m - \log \sum_j e^{z_j - m}`, :math:`m = \max_j z_j`.

    Never takes the log of 0, so it stays finite where ``log(softmax(z))`` gives -inf.

    Args:
        logits: (..., C).

    Returns:
        (..., C), every entry <= 0.
    """
    z = check_logits(logits, as_float_array)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_forward(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax, keeping ``cache = probs``."""
    probs = softmax(logits)
    return probs, probs


def softmax_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    r"""Vector-Jacobian product of softmax: :math:`dz = \hat y \odot (dout - \sum_j dout_j \hat y_j)`.

    Args:
        dout: (..., C) upstream gradient.
        cache: (..., C) the probabilities.
    """
    dout = as_float_array(dout, "dout")
    check_shape(dout, "dout", cache.shape)
    return cache * (dout - np.sum(dout * cache, axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, target: np.ndarray) -> float:
    r"""Softmax cross-entropy from raw scores, averaged over the batch.

    :math:`L = -\frac{1}{N}\sum_n \log \mathrm{softmax}(z_n)_{y_n}`, computed with
    :func:`log_softmax`. Same as ``torch.nn.functional.cross_entropy``.

    Args:
        logits: (N, C) scores.
        target: (N,) class indices.
    """
    return cross_entropy_forward(logits, target)[0]


def cross_entropy_forward(logits: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Cross-entropy, keeping ``cache = (probs, target)``; probs (N, C)."""
    logits = check_logits(logits, as_float_array)
    check_shape(logits, "logits", (None, None))
    check_not_empty(logits, "logits")
    n, c = logits.shape
    target = np.asarray(check_labels(target, "target", c, (n,)))
    logp = log_softmax(logits)  # (N, C)
    loss = -float(np.mean(logp[np.arange(n), target]))
    return loss, (np.exp(logp), target)


def cross_entropy_backward(dout: float, cache: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    r"""Gradient with respect to the logits: :math:`(\hat y - y)/N \cdot dout`, (N, C)."""
    probs, target = cache
    n = probs.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), target] -= 1.0  # p - one_hot(y)
    return dlogits * (as_real(dout, "dout") / n)


def categorical_cross_entropy(probs: np.ndarray, target: np.ndarray) -> float:
    r"""Cross-entropy between predicted probabilities and one-hot labels, averaged over rows.

    :math:`L = -\sum_i y_i \log \hat y_i`: only the probability given to the true class
    counts. Use :func:`cross_entropy` on logits in a network; this form is for probabilities
    you already have, as in the worked example.

    A zero probability given to a class the target holds makes the loss infinite, as it is
    mathematically (:math:`-\log 0 = \infty`): the result is ``inf``, with no warning.

    Args:
        probs: (N, C) or (C,) probabilities.
        target: same shape, one-hot (or any distribution).
    """
    probs, target = check_logits(probs, as_float_array, "probs"), as_float_array(target, "target")
    check_shape(target, "target", probs.shape)
    check_not_empty(probs, "probs")
    with np.errstate(divide="ignore"):
        terms = np.where(target > 0, target * np.log(np.where(target > 0, probs, 1.0)), 0.0)
    return float(-terms.sum(axis=-1).mean())

r"""The artificial neuron and Rosenblatt's perceptron, in NumPy.

A neuron computes a weighted sum of its inputs plus a bias, then an activation:

.. math:: \hat y = \phi(x \cdot w + b)

The perceptron uses the step activation and learns with a rule that needs no gradient:
for each misclassified point, :math:`w \leftarrow w + \eta (y - \hat y) x` and
:math:`b \leftarrow b + \eta (y - \hat y)`. If the two classes can be split by a line
(a hyperplane), the rule finds one in a finite number of steps.

Mirrored by :mod:`dlcourse.torch.perceptron`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse.checks import check_neuron, check_perceptron_update
from dlcourse.numpy.activations import sigmoid, step
from dlcourse.results import PerceptronResult
from dlcourse.validation import as_count, as_float_array, check_positive, check_shape

__all__ = ["PerceptronResult", "neuron", "perceptron_predict", "perceptron_train", "perceptron_update"]


def neuron(
    x: np.ndarray, weight: np.ndarray, bias: float, activation: Callable[[np.ndarray], np.ndarray] = sigmoid
) -> np.ndarray:
    r"""One neuron: :math:`\phi(x \cdot w + b)`.

    Args:
        x: (N, D) a batch of N inputs with D features, or (D,) a single input.
        weight: (D,) one weight per input feature.
        bias: a scalar added to the weighted sum; it shifts the activation left or right.
        activation: applied elementwise; the sigmoid by default.

    Returns:
        (N,) one output per input, or a 0-d array for a single input.
    """
    x, weight, bias = check_neuron(x, weight, bias, as_float_array)
    if not callable(activation):
        raise TypeError(f"activation must be a function such as sigmoid or step, got {type(activation).__name__}.")
    z = x @ weight + bias  # (N,) pre-activation
    return activation(z)


def perceptron_predict(x: np.ndarray, weight: np.ndarray, bias: float) -> np.ndarray:
    """Class labels in {0, 1}: a neuron with the step activation; shapes as :func:`neuron`."""
    return neuron(x, weight, bias, activation=step)


def perceptron_update(
    weight: np.ndarray, bias: float, x: np.ndarray, y: float, lr: float = 1.0, *, check: bool = True
) -> tuple[np.ndarray, float]:
    r"""One step of the perceptron rule on one example.

    Args:
        weight: (D,).
        bias: scalar.
        x: (D,) one input.
        y: its label, 0 or 1.
        lr: the learning rate :math:`\eta`.
        check: convert and check the arguments (the default); :func:`perceptron_train`, which
            has checked its data once, skips the update's own checks for each example.

    Returns:
        The new ``(weight, bias)``; unchanged if the example was already classified right.
    """
    if check:
        x, weight, bias, y, lr = check_perceptron_update(x, weight, bias, y, lr, as_float_array)
    error = y - float(perceptron_predict(x, weight, bias))  # -1, 0 or +1
    return weight + lr * error * x, bias + lr * error


def perceptron_train(
    x: np.ndarray, y: np.ndarray, lr: float = 1.0, epochs: int = 20, seed: int = 0
) -> PerceptronResult:
    """Train a perceptron with the perceptron rule, visiting points in a seeded random order.

    Training stops early after the first epoch with no mistakes.

    Args:
        x: (N, D) inputs, no NaN.
        y: (N,) labels, 0 or 1.
        lr: the learning rate, > 0.
        epochs: the largest number of passes over the data.
        seed: seeds the order in which points are visited each epoch.

    Returns:
        The learned weights, bias and mistakes per epoch.
    """
    x = as_float_array(x, "x", allow_nan=False)
    y = as_float_array(y, "y", allow_nan=False)
    check_shape(x, "x", (None, None))
    check_shape(y, "y", (x.shape[0],))
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold only the labels 0 and 1.")
    lr, epochs, seed = check_positive(lr, "lr"), as_count(epochs, "epochs"), as_count(seed, "seed", minimum=0)
    order_rng = np.random.default_rng(seed)
    weight, bias = np.zeros(x.shape[1], dtype=x.dtype), 0.0
    errors: list[int] = []
    for _ in range(epochs):
        mistakes = 0
        for i in order_rng.permutation(len(x)):
            new_weight, new_bias = perceptron_update(weight, bias, x[i], float(y[i]), lr, check=False)
            mistakes += int(new_bias != bias)  # the bias moves exactly when the point was misclassified
            weight, bias = new_weight, new_bias
        errors.append(int(mistakes))
        if mistakes == 0:
            break
    return PerceptronResult(weight=weight, bias=float(bias), errors=errors)

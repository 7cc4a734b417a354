r"""The artificial neuron and the perceptron in PyTorch, mirroring :mod:`dlcourse.numpy.perceptron`.

The visiting order is drawn from the same seeded NumPy generator as the NumPy tree, so
both trees make the same updates and learn the same weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dlcourse.checks import check_neuron, check_perceptron_update
from dlcourse.results import PerceptronResult
from dlcourse.torch.activations import sigmoid, step
from dlcourse.validation import as_count, as_float_tensor, check_positive, check_shape

__all__ = ["PerceptronResult", "neuron", "perceptron_predict", "perceptron_train", "perceptron_update"]


def neuron(
    x: torch.Tensor, weight: torch.Tensor, bias: float, activation: Callable[[torch.Tensor], torch.Tensor] = sigmoid
) -> torch.Tensor:
    r"""One neuron :math:`\phi(x \cdot w + b)`; x (N, D) or (D,), weight (D,) -> (N,) or 0-d."""
    x, weight, bias = check_neuron(x, weight, bias, as_float_tensor)
    if not callable(activation):
        raise TypeError(f"activation must be a function such as sigmoid or step, got {type(activation).__name__}.")
    z = x @ weight + bias  # (N,) pre-activation
    return activation(z)


def perceptron_predict(x: torch.Tensor, weight: torch.Tensor, bias: float) -> torch.Tensor:
    """Class labels in {0, 1}: a neuron with the step activation."""
    return neuron(x, weight, bias, activation=step)


def perceptron_update(
    weight: torch.Tensor, bias: float, x: torch.Tensor, y: float, lr: float = 1.0, *, check: bool = True
) -> tuple[torch.Tensor, float]:
    """One step of the perceptron rule on one example; returns the new ``(weight, bias)``.
    ``check=False`` skips the update's own checks, as in the NumPy tree."""
    if check:
        x, weight, bias, y, lr = check_perceptron_update(x, weight, bias, y, lr, as_float_tensor)
    error = y - float(perceptron_predict(x, weight, bias))  # -1, 0 or +1
    return weight + lr * error * x, bias + lr * error


def perceptron_train(
    x: torch.Tensor, y: torch.Tensor, lr: float = 1.0, epochs: int = 20, seed: int = 0
) -> PerceptronResult:
    """Train with the perceptron rule; same arguments and visiting order as the NumPy version."""
    x = as_float_tensor(x, "x", allow_nan=False)
    y = as_float_tensor(y, "y", allow_nan=False)
    check_shape(x, "x", (None, None))
    check_shape(y, "y", (x.shape[0],))
    if not torch.isin(y, torch.tensor([0.0, 1.0], dtype=y.dtype, device=y.device)).all():
        raise ValueError("y must hold only the labels 0 and 1.")
    lr, epochs, seed = check_positive(lr, "lr"), as_count(epochs, "epochs"), as_count(seed, "seed", minimum=0)
    order_rng = np.random.default_rng(seed)
    weight, bias = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device), 0.0
    errors: list[int] = []
    for _ in range(epochs):
        mistakes = 0
        for i in order_rng.permutation(len(x)).tolist():
            new_weight, new_bias = perceptron_update(weight, bias, x[i], float(y[i]), lr, check=False)
            mistakes += int(new_bias != bias)  # the bias moves exactly when the point was misclassified
            weight, bias = new_weight, new_bias
        errors.append(int(mistakes))
        if mistakes == 0:
            break
    return PerceptronResult(weight=weight, bias=float(bias), errors=errors)

r"""Layers in PyTorch, mirroring :mod:`dlcourse.numpy.layers`.

These are ``torch.nn.Module`` subclasses: the forward pass is written out, and the
backward pass is autograd's. ``Linear`` stores ``weight`` as (D_in, D_out) like the NumPy
tree (``torch.nn.Linear`` stores the transpose), so weights copy across trees unchanged,
and it draws them from the same NumPy generator, so both trees can start identical.
"""

from __future__ import annotations

import numpy as np
import torch

from dlcourse.checks import check_input, check_linear
from dlcourse.torch import activations
from dlcourse.torch import init as initialisers
from dlcourse.validation import as_flag, as_float_tensor, as_fraction, check_grad, check_rng, describe

__all__ = [
    "Dropout",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "linear_backward",
    "linear_forward",
]

Module = torch.nn.Module


class Parameter(torch.nn.Parameter):
    """``torch.nn.Parameter`` that converts its data first, as the NumPy tree's ``Parameter`` does:
    integers and lists become float tensors, complex and strings are refused with a sentence."""

    def __new__(cls, data: torch.Tensor | None = None, requires_grad: bool = True) -> Parameter:
        return super().__new__(cls, as_float_tensor(data, "data"), as_flag(requires_grad, "requires_grad"))


def linear_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """z = x W + b; x (N, D_in), weight (D_in, D_out), bias (D_out,) -> (N, D_out), cache (x, weight).

    ``check``: convert the arguments to their common float dtype and check their shapes (the
    default), as in the NumPy tree."""
    if check:
        x, weight, bias = check_linear(x, weight, bias, as_float_tensor)
    return x @ weight + bias, (x, weight)


def linear_backward(dout: torch.Tensor, cache: tuple, input_grad: bool = True) -> tuple:
    """dx = dout W^T (or None), dW = x^T dout, db = sum of dout over the batch; written by hand
    to check against autograd."""
    x, weight = cache
    dout = check_grad(dout, "dout", (len(x), weight.shape[1]), as_float_tensor, like=weight)
    input_grad = as_flag(input_grad, "input_grad")
    dx = dout @ weight.T if input_grad else None
    return dx, x.T @ dout, dout.sum(dim=0)


class Linear(torch.nn.Module):
    """A fully connected layer z = x W + b with W of shape (in_features, out_features).

    Args:
        in_features: D_in.
        out_features: D_out.
        rng: the NumPy generator the weights are drawn from (as in the NumPy tree).
        init: ``"he"``, ``"xavier"`` or ``"zeros"``.
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator, init: str = "he") -> None:
        super().__init__()
        draw = {"he": initialisers.he_normal, "xavier": initialisers.xavier_uniform, "zeros": initialisers.zeros}
        if not isinstance(init, str) or init not in draw:
            raise ValueError(f"init must be one of {sorted(draw)}, got {describe(init)}.")
        self.weight = torch.nn.Parameter(draw[init](in_features, out_features, rng))  # (D_in, D_out)
        self.bias = torch.nn.Parameter(torch.zeros(out_features))  # (D_out,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, (None, self.weight.shape[0]), self.weight.dtype, as_float_tensor)
        return torch.addmm(self.bias, x, self.weight)  # (N, D_out)


class ReLU(torch.nn.Module):
    """max(0, x), elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activations.relu(x)


class Sigmoid(torch.nn.Module):
    """The logistic sigmoid, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activations.sigmoid(x)


class Tanh(torch.nn.Module):
    """The hyperbolic tangent, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activations.tanh(x)


class Dropout(torch.nn.Module):
    """Inverted dropout with masks drawn from a NumPy generator, as in the NumPy tree, so
    both trees drop the same units when seeded alike.

    Args:
        p: the drop probability, in [0, 1).
        rng: the generator the masks are drawn from.
    """

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.p, self.rng = as_fraction(p, "p"), check_rng(rng)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float_tensor(x, "x")
        if not self.training or self.p == 0:
            return x
        keep = torch.from_numpy(np.asarray(self.rng.random(tuple(x.shape)) >= self.p)).to(x.device)  # (N, D) bool
        return x * keep.to(x.dtype) / (1 - self.p)


class Sequential(torch.nn.Sequential):
    """Layers applied in order (``torch.nn.Sequential``)."""

    def __init__(self, *layers: torch.nn.Module) -> None:
        named = len(layers) == 1 and isinstance(layers[0], dict)  # torch's own form, used by slicing
        for i, layer in enumerate(layers[0].values() if named else layers):
            if not isinstance(layer, torch.nn.Module):
                raise TypeError(
                    f"layer {i} must be a Module (a layer such as Linear or ReLU), got {type(layer).__name__}."
                )
        super().__init__(*layers)

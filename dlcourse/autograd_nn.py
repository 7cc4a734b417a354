r"""A tiny multilayer perceptron built on :class:`~dlcourse.autograd.Value`, micrograd-style.

Every weight is its own scalar Value, and so is every intermediate number, so a forward pass builds
a graph of a few dozen nodes per neuron and example, and ``loss.backward()`` walks all of them. That
is far too slow for real data and exactly right for watching backpropagation work on a toy problem.

The names follow ``torch.nn`` (``weight``, ``bias``, ``parameters()``, ``zero_grad()``), and a neuron
draws its initial weights and bias as ``torch.nn.Linear`` does, uniformly from
:math:`[-1/\sqrt{n_{in}},\ 1/\sqrt{n_{in}}]`, from the ``np.random.Generator`` it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dlcourse.autograd import Value
from dlcourse.validation import as_count, as_flag, check_allocation, check_rng, describe

__all__ = ["MLP", "Layer", "Module", "Neuron"]


class Module:
    """What the three classes share: the list of their parameters, and resetting their gradients."""

    def parameters(self) -> list[Value]:
        """Every weight and bias, as the Value nodes the optimiser updates in place."""
        return []

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0 (``backward`` adds to the leaves' gradients)."""
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    r"""One neuron: :math:`\tanh(w \cdot x + b)`, or :math:`w \cdot x + b` when ``nonlinear`` is False.

    Args:
        n_in: the number of inputs.
        rng: draws the initial weights and bias.
        nonlinear: apply tanh (hidden layers) or not (the output layer).

    Attributes:
        weight: ``n_in`` Values, one per input; bias: one Value.
    """

    def __init__(self, n_in: int, rng: np.random.Generator, nonlinear: bool = True) -> None:
        n_in, rng, nonlinear = as_count(n_in, "n_in"), check_rng(rng), as_flag(nonlinear, "nonlinear")
        check_allocation((n_in,), "the neuron's weight")
        bound = 1 / math.sqrt(n_in)
        self.weight = [Value(w) for w in rng.uniform(-bound, bound, size=n_in)]
        self.bias = Value(rng.uniform(-bound, bound))
        self.nonlinear = nonlinear

    def __call__(self, x: Sequence[Value | float]) -> Value:
        """The neuron's output for one example ``x``: ``n_in`` numbers or Values."""
        if not hasattr(x, "__len__") or len(x) != len(self.weight):
            got = f"{len(x)} of them" if hasattr(x, "__len__") else describe(x)
            raise ValueError(f"x must hold n_in = {len(self.weight)} numbers, one per weight, got {got}.")
        z = sum((w * xi for w, xi in zip(self.weight, x, strict=True)), self.bias)  # b + w_1 x_1 + ... + w_n x_n
        return z.tanh() if self.nonlinear else z

    def parameters(self) -> list[Value]:
        return [*self.weight, self.bias]


class Layer(Module):
    """``n_out`` neurons that each see the same ``n_in`` inputs: a fully connected layer."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, nonlinear: bool = True) -> None:
        n_in, n_out, rng = as_count(n_in, "n_in"), as_count(n_out, "n_out"), check_rng(rng)
        nonlinear = as_flag(nonlinear, "nonlinear")
        check_allocation((n_out, n_in), "the layer's weight")  # one Value per weight: refuse a typo's billions
        self.neurons = [Neuron(n_in, rng, nonlinear) for _ in range(n_out)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        """The ``n_out`` outputs for one example ``x`` of ``n_in`` numbers or Values."""
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP(Module):
    """A multilayer perceptron: tanh hidden layers and a linear output layer.

    Args:
        n_in: the number of inputs.
        sizes: the width of each layer, the output layer last; ``MLP(2, [8, 1], rng)`` has one hidden
            layer of 8 tanh neurons and one linear output.
        rng: draws every initial weight, layer by layer.
    """

    def __init__(self, n_in: int, sizes: Sequence[int], rng: np.random.Generator) -> None:
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise TypeError(f"sizes must be a non-empty list of layer widths, such as [8, 1], got {describe(sizes)}.")
        sizes = [as_count(size, f"sizes[{k}]") for k, size in enumerate(sizes)]
        ins = [as_count(n_in, "n_in"), *sizes[:-1]]
        last = len(sizes) - 1
        self.layers = [Layer(a, b, rng, nonlinear=k < last) for k, (a, b) in enumerate(zip(ins, sizes, strict=True))]

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        """The network's output for one example ``x``: one Value if the last layer has one neuron, else a list."""
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

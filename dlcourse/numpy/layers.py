r"""Layers in NumPy: each a forward/backward pair with an explicit cache, wrapped in a class.

A fully connected (linear) layer maps a batch :math:`x` of shape (N, D_in) to
:math:`z = xW + b` of shape (N, D_out). :math:`W` is (D_in, D_out): row :math:`i` holds the
connections that start at input neuron :math:`i`, column :math:`j` those that end at output
neuron :math:`j`. (``torch.nn.Linear`` stores the transpose; copy with ``.T``.)

The classes follow ``torch.nn`` names (``weight``, ``bias``, ``parameters()``,
``zero_grad()``, ``train()``, ``eval()``) and add ``backward(dout)``, which accumulates
parameter gradients into ``param.grad`` and returns the gradient for the layer's input.

Mirrored by :mod:`dlcourse.torch.layers`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from dlcourse.checks import check_cache, check_input, check_linear
from dlcourse.numpy import activations
from dlcourse.numpy import init as initialisers
from dlcourse.validation import as_flag, as_float_array, as_fraction, check_grad, check_rng, check_shape, describe

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


def linear_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, *, check: bool = True
) -> tuple[np.ndarray, tuple]:
    """z = x W + b.

    Args:
        x: (N, D_in).
        weight: (D_in, D_out).
        bias: (D_out,).
        check: convert the arguments to their common float dtype and check their shapes (the
            default). :class:`Linear`, which owns its weights and checks its input, skips it.

    Returns:
        out (N, D_out) and ``cache = (x, weight)``.
    """
    if check:
        x, weight, bias = check_linear(x, weight, bias, as_float_array)
    out = x @ weight  # (N, D_out)
    out += bias  # in place: no second (N, D_out) buffer
    return out, (x, weight)


def linear_backward(
    dout: np.ndarray, cache: tuple, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    r"""Gradients of a linear layer.

    :math:`dx = dout\,W^\top`, :math:`dW = x^\top dout`, :math:`db = \sum_n dout_n`.

    Args:
        dout: (N, D_out) upstream gradient.
        cache: from :func:`linear_forward`.
        input_grad: compute ``dx``; the first layer of a network does not need it, and
            skipping it saves the largest matrix product of the backward pass.

    Returns:
        dx (N, D_in) or None, dweight (D_in, D_out), dbias (D_out,).
    """
    x, weight = cache
    dout = check_grad(dout, "dout", (len(x), weight.shape[1]), as_float_array, like=weight)
    input_grad = as_flag(input_grad, "input_grad")
    dx = dout @ weight.T if input_grad else None  # (N, D_in)
    return dx, x.T @ dout, dout.sum(axis=0)


class Parameter:
    """A trainable array and its gradient.

    As in PyTorch, ``grad`` is None until a backward pass reaches the parameter, and
    ``zero_grad()`` sets it back to None: the first gradient is stored as it is, later ones
    are added to it. That saves filling arrays with zeros before every step.
    """

    def __init__(self, data: np.ndarray) -> None:
        data = as_float_array(data, "data")
        self.data = data if data.flags.writeable else data.copy()  # the optimisers update it in place
        self.grad: np.ndarray | None = None

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` (same shape as ``data``) to the stored gradient; the first one is stored as it
        is, not copied (the layers hand over arrays they made for it)."""
        grad = check_grad(grad, "grad", self.data.shape, as_float_array)
        if self.grad is None:
            self.grad = grad
        else:
            self.grad += grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape


class Module:
    """Base class: parameters, gradients, train/eval mode, and ``__call__ = forward``.

    ``input_grad``: whether ``backward`` computes the gradient for the layer's input. True by
    default; :class:`Sequential` turns it off for its first layer, whose input is the data, which
    nothing differentiates. Layers whose input gradient is a costly product (:class:`Linear`,
    :class:`dlcourse.numpy.conv.Conv2d`) then skip it and return None.
    """

    training: bool = True
    input_grad: bool = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, in a fixed order."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value

    def parameters(self) -> list[Parameter]:
        """The trainable parameters, for an optimiser."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget every gradient (set it to None) before the next backward pass."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active)."""
        self.training = as_flag(mode, "mode")
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off)."""
        return self.train(False)

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) of the state that gradients do not train (BatchNorm's running statistics)."""
        yield from ()

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameter and buffer arrays by name (``torch.nn``'s state holds both)."""
        return {
            **{name: p.data.copy() for name, p in self.named_parameters()},
            **{name: np.array(b, copy=True) for name, b in self.named_buffers()},
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers, all or nothing: every entry's name, shape,
        dtype and values are checked before the first one is copied."""
        own = {**{n: p.data for n, p in self.named_parameters()}, **dict(self.named_buffers())}
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict of arrays by parameter name, got {type(state).__name__}.")
        if set(state) != set(own):
            raise ValueError(f"state has keys {describe(sorted(map(str, state)))}, expected {sorted(own)}.")
        checked = {name: _state_entry(state[name], name, target) for name, target in own.items()}
        for name, target in own.items():
            target[...] = checked[name]


def _state_entry(value: object, name: str, target: np.ndarray) -> np.ndarray:
    """One entry of a state dict, checked against the array it will be copied into: its shape, a
    float (or, for a count such as ``num_batches_tracked``, an integer) dtype, and finite values
    once cast to the target's dtype (1e300 is infinite in float32)."""
    if target.dtype.kind == "f":
        array = as_float_array(value, name, allow_nan=False)
    else:
        try:
            array = np.asarray(value)
        except Exception:  # a tensor on a GPU, an object NumPy cannot read
            array = np.asarray(None)
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer count (dtype {target.dtype}), got {describe(value)}.")
    check_shape(array, name, target.shape)
    with np.errstate(over="ignore"):
        array = array.astype(target.dtype)
    infinite = int(np.isinf(array).sum()) if array.dtype.kind == "f" else 0
    if infinite:
        raise ValueError(f"{name} holds {infinite} infinite value(s) in {target.dtype}; a state must be finite.")
    return array


class Linear(Module):
    """A fully connected layer z = x W + b, He-initialised by default.

    Args:
        in_features: D_in.
        out_features: D_out.
        rng: the generator the weights are drawn from.
        init: ``"he"`` (for ReLU networks), ``"xavier"`` (tanh/sigmoid) or ``"zeros"``.
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator, init: str = "he") -> None:
        draw = {"he": initialisers.he_normal, "xavier": initialisers.xavier_uniform, "zeros": initialisers.zeros}
        if not isinstance(init, str) or init not in draw:
            raise ValueError(f"init must be one of {sorted(draw)}, got {describe(init)}.")
        self.weight = Parameter(draw[init](in_features, out_features, rng))  # (D_in, D_out)
        self.bias = Parameter(np.zeros(out_features, dtype=np.float32))  # (D_out,)
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, (None, self.weight.shape[0]), self.weight.data.dtype, as_float_array)
        out, self.cache = linear_forward(x, self.weight.data, self.bias.data, check=False)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, dweight, dbias = linear_backward(dout, check_cache(self.cache, self), self.input_grad)
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        return dx


class _Activation(Module):
    """Wraps an activation's forward/backward pair from :mod:`dlcourse.numpy.activations`."""

    name = ""

    def __init__(self) -> None:
        self._forward = getattr(activations, f"{self.name}_forward")
        self._backward = getattr(activations, f"{self.name}_backward")
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = self._forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, check_cache(self.cache, self))


class ReLU(_Activation):
    """max(0, x), elementwise."""

    name = "relu"


class Sigmoid(_Activation):
    """The logistic sigmoid, elementwise."""

    name = "sigmoid"


class Tanh(_Activation):
    """The hyperbolic tangent, elementwise."""

    name = "tanh"


class Dropout(Module):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the
    survivors by 1/(1-p), so that evaluation needs no rescaling.

    Args:
        p: the drop probability, in [0, 1).
        rng: the generator the masks are drawn from.
    """

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        self.p, self.rng, self.mask = as_fraction(p, "p"), check_rng(rng), None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        if not self.training or self.p == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p  # (N, D) bool
        self.mask = keep.astype(x.dtype) / (1 - self.p)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return as_float_array(dout, "dout")
        return check_grad(dout, "dout", self.mask.shape, as_float_array) * self.mask


class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    The first layer does not compute a gradient for the network's input, which nothing uses
    (its ``input_grad`` is turned off, whatever its type).
    """

    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"layer {i} must be a Module (a layer such as Linear or ReLU), got {type(layer).__name__}."
                )
            first = next(j for j, other in enumerate(self.layers) if other is layer)
            if first != i:  # its one cache would hold the second call's input, and the gradients would be wrong
                raise ValueError(
                    f"layer {i} is layer {first} again; a NumPy layer keeps one cache, so use a second layer."
                )
        if self.layers:
            self.layers[0].input_grad = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"{i}.{name}", p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            for name, b in layer.named_buffers():
                yield f"{i}.{name}", b

    def train(self, mode: bool = True) -> Sequential:
        self.training = as_flag(mode, "mode")
        for layer in self.layers:
            layer.train(mode)
        return self

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

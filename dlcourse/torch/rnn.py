r"""The vanilla RNN in PyTorch, mirroring :mod:`dlcourse.numpy.rnn`.

The forward functions are built from tensor primitives (matrix products, ``tanh``) one time
step at a time, so autograd can differentiate them; the backward functions are the NumPy
tree's backpropagation through time written with tensors, to be checked against autograd and
against ``torch.nn.RNN``. Layouts are PyTorch's: ``weight_ih`` (H, D), ``weight_hh`` (H, H),
and time-major sequences (T, N, D). The LSTM is in :mod:`dlcourse.torch.lstm`.

:class:`RNN` runs the from-primitives functions (autograd does its backward pass).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlcourse.checks import check_cell, check_input
from dlcourse.torch import init as initialisers
from dlcourse.validation import as_count, as_float_tensor, check_grad, check_rng

__all__ = [
    "RNN",
    "Recurrent",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]


def initial_state(value: torch.Tensor | None, name: str, like: torch.Tensor, batch: int, hidden: int) -> torch.Tensor:
    """A sequence's initial state: ``value`` as a float tensor, or (batch, hidden) zeros of ``like``'s dtype
    and device when it is None. Used by the RNN and the LSTM (:mod:`dlcourse.torch.lstm`)."""
    if value is None:
        return torch.zeros(batch, hidden, dtype=like.dtype, device=like.device)
    return as_float_tensor(value, name)


# ---------------------------------------------------------------- the vanilla RNN


def rnn_step_forward(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, tuple]:
    """One tanh RNN step: x (N, D), h_prev (N, H) -> h (N, H), cache (x, h_prev, weight_ih, weight_hh, h)."""
    x, h_prev, _, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h_prev, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=True, to_array=as_float_tensor
    )
    h = torch.tanh(x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)  # (N, H)
    return h, (x, h_prev, weight_ih, weight_hh, h)


def rnn_step_backward(dh: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`rnn_step_forward`: dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh."""
    x, h_prev, weight_ih, weight_hh, h = cache
    dh = check_grad(dh, "dh", tuple(h.shape), as_float_tensor, like=h)
    dz = dh * (1 - h * h)  # (N, H): back through the tanh
    dbias = dz.sum(dim=0)
    return dz @ weight_ih, dz @ weight_hh, dz.T @ x, dz.T @ h_prev, dbias, dbias.clone()


def rnn_forward(
    x: torch.Tensor,
    h0: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, tuple]:
    """A tanh RNN over x (T, N, D), step by step: hs (T, N, H) and the cache for :func:`rnn_backward`."""
    x, h0, _, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h0, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=False, to_array=as_float_tensor
    )
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    h = initial_state(h0, "h0", x, batch, hidden)
    z = (x.reshape(steps * batch, features) @ weight_ih.T + bias_ih + bias_hh).reshape(steps, batch, hidden)
    hs = [h]
    for t in range(steps):
        h = torch.tanh(z[t] + h @ weight_hh.T)  # (N, H)
        hs.append(h)
    stacked = torch.stack(hs)  # (T + 1, N, H), with h0 first
    return stacked[1:], (x, stacked, weight_ih, weight_hh)


def rnn_backward(dhs: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Backpropagation through time for :func:`rnn_forward`: dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh."""
    x, hs, weight_ih, weight_hh = cache
    steps, batch, features = x.shape
    hidden = hs.shape[2]
    dhs = check_grad(dhs, "dhs", (steps, batch, hidden), as_float_tensor, like=hs)
    dz = torch.empty(steps, batch, hidden, dtype=dhs.dtype, device=dhs.device)
    dh = torch.zeros(batch, hidden, dtype=dhs.dtype, device=dhs.device)
    for t in reversed(range(steps)):
        h = hs[t + 1]
        dz[t] = (dh + dhs[t]) * (1 - h * h)
        dh = dz[t] @ weight_hh
    flat = dz.reshape(steps * batch, hidden)
    dbias = flat.sum(dim=0)
    return (
        (flat @ weight_ih).reshape(steps, batch, features),
        dh,
        flat.T @ x.reshape(steps * batch, features),
        flat.T @ hs[:-1].reshape(steps * batch, hidden),
        dbias,
        dbias.clone(),
    )


# ---------------------------------------------------------------- layers


class Recurrent(torch.nn.Module):
    """What the RNN and LSTM layers share: the parameters of :class:`dlcourse.numpy.rnn.Recurrent`,
    drawn the same way from the same NumPy generator."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator) -> None:
        super().__init__()
        input_size, hidden_size = as_count(input_size, "input_size"), as_count(hidden_size, "hidden_size")
        check_rng(rng)
        bound, rows = 1 / math.sqrt(hidden_size), self.gates * hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        draw = lambda *shape: torch.nn.Parameter(initialisers.uniform(rng, bound, shape))  # noqa: E731
        self.weight_ih = draw(rows, input_size)  # (G H, D)
        self.weight_hh = draw(rows, hidden_size)  # (G H, H)
        self.bias_ih = draw(rows)
        self.bias_hh = draw(rows)


class RNN(Recurrent):
    """A one-layer tanh RNN built from :func:`rnn_forward`; the same parameters, drawn the same
    way from the same NumPy generator, as :class:`dlcourse.numpy.rnn.RNN`.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the NumPy generator the weights are drawn from.
    """

    gates = 1

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = check_input(x, (None, None, self.input_size), self.weight_ih.dtype, as_float_tensor)
        out, _ = rnn_forward(x, h0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out, out[-1]

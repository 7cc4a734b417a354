r"""Recurrent networks in PyTorch, mirroring :mod:`dlcourse.numpy.rnn`.

The forward functions are built from tensor primitives (matrix products, ``sigmoid``,
``tanh``) one time step at a time, so autograd can differentiate them; the backward
functions are the NumPy tree's backpropagation through time written with tensors, to be
checked against autograd and against ``torch.nn.RNN`` / ``torch.nn.LSTM``. Layouts are
PyTorch's: ``weight_ih`` (G H, D), ``weight_hh`` (G H, H), gate blocks i, f, g, o for the
LSTM, and time-major sequences (T, N, D).

:class:`RNN` and :class:`LSTM` run the from-primitives functions (autograd does their
backward pass); the character model of :mod:`dlcourse.torch.charlm` uses ``torch.nn.LSTM``,
whose fused kernels (cuDNN on a GPU) are faster, for training in earnest.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlcourse.numpy.rnn import _check_cell, _uniform
from dlcourse.validation import as_float_tensor, check_positive, check_shape

__all__ = [
    "LSTM",
    "RNN",
    "clip_grad_norm",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]


def _zeros_or(value: torch.Tensor | None, name: str, like: torch.Tensor, batch: int, hidden: int) -> torch.Tensor:
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
    x, h_prev = as_float_tensor(x, "x"), as_float_tensor(h_prev, "h_prev")
    _check_cell(x, h_prev, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=True)
    h = torch.tanh(x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)  # (N, H)
    return h, (x, h_prev, weight_ih, weight_hh, h)


def rnn_step_backward(dh: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`rnn_step_forward`: dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh."""
    x, h_prev, weight_ih, weight_hh, h = cache
    dh = as_float_tensor(dh, "dh")
    check_shape(dh, "dh", tuple(h.shape))
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
    x = as_float_tensor(x, "x")
    h0 = None if h0 is None else as_float_tensor(h0, "h0")
    _check_cell(x, h0, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=False)
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    h = _zeros_or(h0, "h0", x, batch, hidden)
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
    dhs = as_float_tensor(dhs, "dhs")
    check_shape(dhs, "dhs", (steps, batch, hidden))
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


# ---------------------------------------------------------------- the LSTM


def _lstm_cell(z: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gates and states from the pre-activations z (N, 4H): (i, f, g, o, c, tanh_c, h)."""
    zi, zf, zg, zo = z.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
    c = f * c_prev + i * g
    tanh_c = torch.tanh(c)
    return i, f, g, o, c, tanh_c, o * tanh_c


def lstm_step_forward(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    c_prev: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """One LSTM step: x (N, D), h_prev and c_prev (N, H) -> h (N, H), c (N, H), cache."""
    x, h_prev, c_prev = as_float_tensor(x, "x"), as_float_tensor(h_prev, "h_prev"), as_float_tensor(c_prev, "c_prev")
    _check_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=True)
    z = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (N, 4H)
    i, f, g, o, c, tanh_c, h = _lstm_cell(z, c_prev)
    return h, c, (x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c)


def lstm_step_backward(dh: torch.Tensor, dc: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`lstm_step_forward`: dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh."""
    x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c = cache
    dh, dc = as_float_tensor(dh, "dh"), as_float_tensor(dc, "dc")
    check_shape(dh, "dh", tuple(tanh_c.shape))
    check_shape(dc, "dc", tuple(tanh_c.shape))
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    dz = torch.cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), do * o * (1 - o)], dim=1)
    dbias = dz.sum(dim=0)
    return dz @ weight_ih, dz @ weight_hh, dc * f, dz.T @ x, dz.T @ h_prev, dbias, dbias.clone()


def lstm_forward(
    x: torch.Tensor,
    h0: torch.Tensor | None,
    c0: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """An LSTM over x (T, N, D), step by step from primitives: hs (T, N, H), c_last (N, H), cache.

    The input products of all steps are one matrix product; the cache stacks the gate
    activations and states for :func:`lstm_backward`. No operation is in place, so autograd
    can differentiate it too.
    """
    x = as_float_tensor(x, "x")
    h0 = None if h0 is None else as_float_tensor(h0, "h0")
    c0 = None if c0 is None else as_float_tensor(c0, "c0")
    _check_cell(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=False)
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    h, c = _zeros_or(h0, "h0", x, batch, hidden), _zeros_or(c0, "c0", x, batch, hidden)
    z_in = (x.reshape(steps * batch, features) @ weight_ih.T + bias_ih + bias_hh).reshape(steps, batch, 4 * hidden)
    hs, cs, acts, tanh_cs = [h], [c], [], []
    for t in range(steps):
        i, f, g, o, c, tanh_c, h = _lstm_cell(z_in[t] + h @ weight_hh.T, c)
        hs.append(h)
        cs.append(c)
        acts.append(torch.cat([i, f, g, o], dim=1))
        tanh_cs.append(tanh_c)
    hs_all, cs_all = torch.stack(hs), torch.stack(cs)  # (T + 1, N, H), initial state first
    return hs_all[1:], c, (x, hs_all, cs_all, torch.stack(tanh_cs), torch.stack(acts), weight_ih, weight_hh)


def lstm_backward(dhs: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Backpropagation through time for :func:`lstm_forward`: dx (T, N, D), dh0, dc0, dweight_ih,
    dweight_hh, dbias_ih, dbias_hh."""
    x, hs, cs, tanh_cs, gates, weight_ih, weight_hh = cache
    steps, batch, features = x.shape
    hidden = hs.shape[2]
    dhs = as_float_tensor(dhs, "dhs")
    check_shape(dhs, "dhs", (steps, batch, hidden))
    dgates = torch.empty(steps, batch, 4 * hidden, dtype=dhs.dtype, device=dhs.device)
    dh = torch.zeros(batch, hidden, dtype=dhs.dtype, device=dhs.device)
    dc = torch.zeros_like(dh)
    for t in reversed(range(steps)):
        i, f, g, o = gates[t].chunk(4, dim=1)
        tanh_c = tanh_cs[t]
        dh = dh + dhs[t]
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dgates[t] = torch.cat(
            [dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], dim=1
        )
        dc = dc * f
        dh = dgates[t] @ weight_hh
    flat = dgates.reshape(steps * batch, 4 * hidden)
    dbias = flat.sum(dim=0)
    return (
        (flat @ weight_ih).reshape(steps, batch, features),
        dh,
        dc,
        flat.T @ x.reshape(steps * batch, features),
        flat.T @ hs[:-1].reshape(steps * batch, hidden),
        dbias,
        dbias.clone(),
    )


# ---------------------------------------------------------------- gradient clipping


@torch.no_grad()
def clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float) -> float:
    """Rescale the gradients in place so that their joint norm is at most ``max_norm``; returns the
    norm before clipping. Same rule as ``torch.nn.utils.clip_grad_norm_``, written from primitives."""
    check_positive(max_norm, "max_norm")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return float(total)


# ---------------------------------------------------------------- layers


class _Recurrent(torch.nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator) -> None:
        super().__init__()
        check_positive(input_size, "input_size")
        check_positive(hidden_size, "hidden_size")
        bound, rows = 1 / math.sqrt(hidden_size), self.gates * hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        draw = lambda *shape: torch.nn.Parameter(torch.from_numpy(_uniform(rng, bound, shape)))  # noqa: E731
        self.weight_ih = draw(rows, input_size)  # (G H, D)
        self.weight_hh = draw(rows, hidden_size)  # (G H, H)
        self.bias_ih = draw(rows)
        self.bias_hh = draw(rows)


class RNN(_Recurrent):
    """A one-layer tanh RNN built from :func:`rnn_forward`; the same parameters, drawn the same
    way from the same NumPy generator, as :class:`dlcourse.numpy.rnn.RNN`.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the NumPy generator the weights are drawn from.
    """

    gates = 1

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = rnn_forward(x, h0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out, out[-1]


class LSTM(_Recurrent):
    """A one-layer LSTM built from :func:`lstm_forward` (autograd does the backward pass), with
    :class:`dlcourse.numpy.rnn.LSTM`'s parameters and initialisation.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the NumPy generator the weights are drawn from.
    """

    gates = 4

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h0, c0 = state if state is not None else (None, None)
        out, c_last, _ = lstm_forward(x, h0, c0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out, (out[-1], c_last)

r"""The LSTM in PyTorch, mirroring :mod:`dlcourse.numpy.lstm`.

Built from tensor primitives (matrix products, ``sigmoid``, ``tanh``) one time step at a time,
so autograd can differentiate it; the backward functions are the NumPy tree's backpropagation
through time written with tensors, to be checked against autograd and against
``torch.nn.LSTM``. Layouts are PyTorch's: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), gate
blocks i, f, g, o, and time-major sequences (T, N, D).

:class:`LSTM` runs the from-primitives functions (autograd does its backward pass); the
character model of :mod:`dlcourse.torch.charlm` uses ``torch.nn.LSTM``, whose fused kernels
(cuDNN on a GPU) are faster, for training in earnest.
"""

from __future__ import annotations

import torch

from dlcourse.checks import check_cell, check_input, check_lstm_state
from dlcourse.torch.rnn import Recurrent, initial_state
from dlcourse.validation import as_float_tensor, check_grad

__all__ = [
    "LSTM",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
]


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
    x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=True, to_array=as_float_tensor
    )
    z = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (N, 4H)
    i, f, g, o, c, tanh_c, h = _lstm_cell(z, c_prev)
    return h, c, (x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c)


def lstm_step_backward(dh: torch.Tensor, dc: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`lstm_step_forward`: dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh."""
    x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c = cache
    dh = check_grad(dh, "dh", tuple(tanh_c.shape), as_float_tensor, like=tanh_c)
    dc = check_grad(dc, "dc", tuple(tanh_c.shape), as_float_tensor, like=tanh_c)
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
    x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=False, to_array=as_float_tensor
    )
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    h, c = initial_state(h0, "h0", x, batch, hidden), initial_state(c0, "c0", x, batch, hidden)
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
    dhs = check_grad(dhs, "dhs", (steps, batch, hidden), as_float_tensor, like=hs)
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


# ---------------------------------------------------------------- the layer


class LSTM(Recurrent):
    """A one-layer LSTM built from :func:`lstm_forward` (autograd does the backward pass), with
    :class:`dlcourse.numpy.lstm.LSTM`'s parameters and initialisation.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the NumPy generator the weights are drawn from.
    """

    gates = 4

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h0, c0 = check_lstm_state(state)
        x = check_input(x, (None, None, self.input_size), self.weight_ih.dtype, as_float_tensor)
        out, c_last, _ = lstm_forward(x, h0, c0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out, (out[-1], c_last)

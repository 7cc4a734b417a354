r"""The LSTM in NumPy: the cell, one step and a whole sequence, and the layer.

The LSTM keeps, beside the hidden state :math:`h_t` of :mod:`dlcourse.numpy.rnn`, a cell state
:math:`c_t`, with three gates (input :math:`i`, forget :math:`f`, output :math:`o`) and a cell
candidate :math:`g`, computed together as four blocks:

.. math::
    [z_i, z_f, z_g, z_o] &= x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}, \\
    i, f, o &= \sigma(z_i), \sigma(z_f), \sigma(z_o), \quad g = \tanh(z_g), \\
    c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

Layouts follow ``torch.nn.LSTM``, so weights copy across unchanged: ``weight_ih`` is (4H, D)
and ``weight_hh`` (4H, H), gate blocks stacked in the order i, f, g, o; sequences are
time-major, (T, N, D).

``lstm_step_*`` functions are one step, written to be read; ``lstm_forward``/``lstm_backward``
run a whole sequence and its backpropagation through time, written to be fast.

A character-level language model built on the LSTM is in :mod:`dlcourse.numpy.charlm`.

Mirrored by :mod:`dlcourse.torch.lstm`.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks import check_cache, check_cell, check_input, check_lstm_state
from dlcourse.numpy.activations import sigmoid
from dlcourse.numpy.rnn import Recurrent
from dlcourse.validation import as_float_array, check_grad

__all__ = [
    "LSTM",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
]


def _activate_gates_(a: np.ndarray, scale: np.ndarray) -> None:
    r"""The activations of all four blocks in place, with one exponential over the whole (N, 4H) array.

    The fast path of :func:`lstm_forward` only: it is :func:`dlcourse.numpy.activations.sigmoid`
    and ``tanh`` fused into one pass over memory, which the readable :func:`lstm_step_forward`
    calls one gate at a time.

    :math:`\sigma(z) = 1 / (1 + e^{-z})` for i, f, o, and :math:`\tanh(z) = 2\sigma(2z) - 1`
    for g, so ``scale`` holds -1 in the i, f, o blocks and -2 in the g block. ``exp`` costs
    far less than ``tanh`` here, and one call on a contiguous block beats four on slices.
    Where :math:`e^{-z}` overflows to inf the result is the exact limit 0, so the overflow
    warning is silenced.
    """
    hidden = a.shape[1] // 4
    a *= scale
    with np.errstate(over="ignore"):
        np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    g = a[:, 2 * hidden : 3 * hidden]
    g *= 2
    g -= 1


# ---------------------------------------------------------------- the LSTM


def lstm_step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple]:
    r"""One step of an LSTM cell.

    One product per weight matrix computes the pre-activations of all four blocks (N, 4H):
    in order, the input gate :math:`i`, the forget gate :math:`f`, the cell candidate
    :math:`g` and the output gate :math:`o`. Then :math:`c = f \odot c_{prev} + i \odot g`
    and :math:`h = o \odot \tanh(c)`.

    Args:
        x: (N, D) the inputs of this step.
        h_prev: (N, H) the previous hidden state.
        c_prev: (N, H) the previous cell state.
        weight_ih: (4H, D).
        weight_hh: (4H, H).
        bias_ih: (4H,).
        bias_hh: (4H,).

    Returns:
        h (N, H), c (N, H) and ``cache``.
    """
    x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=True, to_array=as_float_array
    )
    hidden = h_prev.shape[1]
    # the pre-activations of all four blocks, one product per weight matrix: (N, 4H)
    z = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = sigmoid(z[:, :hidden], check=False)  # input gate: how much of g to write
    f = sigmoid(z[:, hidden : 2 * hidden], check=False)  # forget gate: how much of c_prev to keep
    g = np.tanh(z[:, 2 * hidden : 3 * hidden])  # cell candidate: what to write
    o = sigmoid(z[:, 3 * hidden :], check=False)  # output gate: how much of the cell to show
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c)


def lstm_step_backward(dh: np.ndarray, dc: np.ndarray, cache: tuple) -> tuple:
    r"""Gradients of :func:`lstm_step_forward`.

    The cell state receives gradient from ``dc`` (the next step) and through
    :math:`h = o \odot \tanh(c)`; it passes :math:`dc \odot f` back to :math:`c_{prev}`,
    with no weight matrix and no squashing on the way: the path that lets an LSTM remember.

    Args:
        dh: (N, H) gradient with respect to ``h``.
        dc: (N, H) gradient with respect to ``c`` from later steps (zeros at the last step).
        cache: from :func:`lstm_step_forward`.

    Returns:
        dx (N, D), dh_prev (N, H), dc_prev (N, H), dweight_ih (4H, D), dweight_hh (4H, H),
        dbias_ih (4H,), dbias_hh (4H,).
    """
    x, h_prev, c_prev, weight_ih, weight_hh, i, f, g, o, tanh_c = cache
    dh = check_grad(dh, "dh", tuple(tanh_c.shape), as_float_array, like=tanh_c)
    dc = check_grad(dc, "dc", tuple(tanh_c.shape), as_float_array, like=tanh_c)
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c * tanh_c)  # (N, H): total gradient reaching c
    di, df, dg = dc * g, dc * c_prev, dc * i
    dz = np.concatenate(  # (N, 4H): back through each gate's squashing function
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
    )
    dbias = dz.sum(axis=0)
    dx, dh_prev, dc_prev = dz @ weight_ih, dz @ weight_hh, dc * f
    return dx, dh_prev, dc_prev, dz.T @ x, dz.T @ h_prev, dbias, dbias.copy()


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """An LSTM over a whole sequence: :func:`lstm_step_forward` unrolled in time, fast.

    The input products of all T steps are one (T*N, D) @ (D, 4H) product before the loop;
    inside it, one (N, H) @ (H, 4H) product per step, and the gate activations are computed
    in place in preallocated arrays that the backward pass reads.

    Args:
        x: (T, N, D) the sequence, time-major.
        h0: (N, H) the initial hidden state, or None for zeros.
        c0: (N, H) the initial cell state, or None for zeros.
        weight_ih: (4H, D), gate blocks i, f, g, o.
        weight_hh: (4H, H).
        bias_ih: (4H,).
        bias_hh: (4H,).

    Returns:
        hs (T, N, H) the hidden state after every step, c_last (N, H) the last cell state,
        and the cache for :func:`lstm_backward`.
    """
    x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=False, to_array=as_float_array
    )
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    dtype = np.result_type(x, weight_ih, weight_hh)
    hs = np.empty((steps + 1, batch, hidden), dtype=dtype)  # hs[t + 1] = h_t; hs[0] = h0
    cs = np.empty((steps + 1, batch, hidden), dtype=dtype)  # likewise for the cell state
    hs[0] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    tanh_cs = np.empty((steps, batch, hidden), dtype=dtype)
    gates = (x.reshape(steps * batch, features) @ weight_ih.T).astype(dtype, copy=False)  # all inputs at once
    gates = gates.reshape(steps, batch, 4 * hidden)
    gates += bias_ih + bias_hh
    w_hh = weight_hh.T  # (H, 4H) view: no copy
    scale = np.full(4 * hidden, -1.0, dtype=dtype)  # see _activate_gates_
    scale[2 * hidden : 3 * hidden] = -2.0
    feedback = np.empty((batch, 4 * hidden), dtype=dtype)  # buffers reused at every step
    written = np.empty((batch, hidden), dtype=dtype)
    for t in range(steps):
        a = gates[t]  # (N, 4H), pre-activations, turned into activations in place
        np.matmul(hs[t], w_hh, out=feedback)
        a += feedback
        _activate_gates_(a, scale)
        i, f, g, o = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden : 3 * hidden], a[:, 3 * hidden :]
        c = cs[t + 1]
        np.multiply(f, cs[t], out=c)  # keep ...
        np.multiply(i, g, out=written)  # ... and write
        c += written
        np.tanh(c, out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    return hs[1:], cs[-1], (x, hs, cs, tanh_cs, gates, weight_ih, weight_hh)


def lstm_backward(dhs: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`lstm_forward`.

    Two gradients flow backwards from step to step: :math:`dh` through the weights
    :math:`W_{hh}`, and :math:`dc` through the forget gate alone. Only they are computed step
    by step; the weight gradients are single products over all stacked steps after the loop.

    Args:
        dhs: (T, N, H) the gradient of the loss with respect to every hidden state.
        cache: from :func:`lstm_forward`.

    Returns:
        dx (T, N, D), dh0 (N, H), dc0 (N, H), dweight_ih (4H, D), dweight_hh (4H, H),
        dbias_ih (4H,), dbias_hh (4H,).
    """
    x, hs, cs, tanh_cs, gates, weight_ih, weight_hh = cache
    steps, batch, features = x.shape
    hidden = hs.shape[2]
    dhs = check_grad(dhs, "dhs", (steps, batch, hidden), as_float_array, like=hs)
    dtype = np.result_type(gates, dhs)
    # What does not depend on the flowing gradients is computed for all steps at once:
    # each gate's local derivative, s (1 - s) for the sigmoids and 1 - g^2 for the tanh ...
    dgates = np.subtract(1, gates, dtype=dtype)  # (T, N, 4H), becomes the gradients in the loop
    dgates *= gates
    dg_all, g_all = dgates[..., 2 * hidden : 3 * hidden], gates[..., 2 * hidden : 3 * hidden]
    np.multiply(g_all, g_all, out=dg_all)
    np.subtract(1, dg_all, out=dg_all)
    # ... and o (1 - tanh(c)^2), the derivative of h_t with respect to c_t.
    h_by_c = np.multiply(tanh_cs, tanh_cs, dtype=dtype)
    np.subtract(1, h_by_c, out=h_by_c)
    h_by_c *= gates[..., 3 * hidden :]
    dh = np.zeros((batch, hidden), dtype=dtype)  # flows back from step t + 1 through W_hh
    dc = np.zeros((batch, hidden), dtype=dtype)  # flows back from step t + 1 through f
    outer = np.empty((batch, 4 * hidden), dtype=dtype)  # dL/d(gate) of one step, reused
    outer_i, outer_f, outer_g, outer_o = (outer[:, k * hidden : (k + 1) * hidden] for k in range(4))
    scratch = np.empty((batch, hidden), dtype=dtype)
    for t in reversed(range(steps)):
        a = gates[t]
        i, f, g = a[:, :hidden], a[:, hidden : 2 * hidden], a[:, 2 * hidden : 3 * hidden]
        dh += dhs[t]
        np.multiply(dh, tanh_cs[t], out=outer_o)  # do
        np.multiply(dh, h_by_c[t], out=scratch)
        dc += scratch  # all the gradient that reaches c_t
        np.multiply(dc, g, out=outer_i)  # di
        np.multiply(dc, cs[t], out=outer_f)  # df = dc * c_{t-1}
        np.multiply(dc, i, out=outer_g)  # dg
        dgates[t] *= outer  # back through each gate's squashing function
        dc *= f  # to c_{t-1}
        np.matmul(dgates[t], weight_hh, out=dh)  # (N, 4H) @ (4H, H) to h_{t-1}
    flat = dgates.reshape(steps * batch, 4 * hidden)  # (T*N, 4H): every step stacked
    dx = (flat @ weight_ih).reshape(steps, batch, features)
    dweight_ih = flat.T @ x.reshape(steps * batch, features)
    dweight_hh = flat.T @ hs[:-1].reshape(steps * batch, hidden)  # h_{t-1} of every step
    dbias = flat.sum(axis=0)
    return dx, dh, dc, dweight_ih, dweight_hh, dbias, dbias.copy()


# ---------------------------------------------------------------- the layer


class LSTM(Recurrent):
    """A one-layer LSTM over a time-major sequence, with ``torch.nn.LSTM``'s parameters.

    ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih`` and ``bias_hh`` (4H,), gate
    blocks in the order i, f, g, o: copy ``torch.nn.LSTM``'s ``weight_ih_l0`` and friends
    into them unchanged.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the generator the weights are drawn from.
    """

    gates = 4

    def forward(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """x (T, N, D), optional (h0, c0) each (N, H) -> (output (T, N, H), (h_n, c_n))."""
        h0, c0 = check_lstm_state(state)
        x = check_input(x, (None, None, self.input_size), self.weight_ih.data.dtype, as_float_array)
        out, c_last, self.cache = lstm_forward(x, h0, c0, *self._weights())
        return out, (out[-1], c_last)

    def __call__(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        return self.forward(x, state)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (T, N, H) -> dx (T, N, D); accumulates the parameter gradients."""
        dx, _, _, *grads = lstm_backward(dout, check_cache(self.cache, self))
        self._accumulate(tuple(grads))
        return dx

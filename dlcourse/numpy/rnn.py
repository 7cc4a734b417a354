r"""Recurrent networks in NumPy: the RNN and the LSTM cell, one step and a whole sequence.

A recurrent layer reads a sequence :math:`x_1, \dots, x_T` one step at a time and carries a
hidden state :math:`h_t` from each step to the next, so that its output at step :math:`t`
depends on everything it has seen so far. The vanilla RNN computes

.. math:: h_t = \tanh(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}),

and the LSTM adds a cell state :math:`c_t`, three gates (input :math:`i`, forget :math:`f`,
output :math:`o`) and a cell candidate :math:`g`, computed together as four blocks:

.. math::
    [z_i, z_f, z_g, z_o] &= x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}, \\
    i, f, o &= \sigma(z_i), \sigma(z_f), \sigma(z_o), \quad g = \tanh(z_g), \\
    c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

Layouts follow ``torch.nn.RNN`` and ``torch.nn.LSTM``, so weights copy across unchanged:
``weight_ih`` is (G H, D) and ``weight_hh`` (G H, H), with G = 1 for the RNN and G = 4 for
the LSTM, whose gate blocks are stacked in the order i, f, g, o. Sequences are time-major,
(T, N, D), as in PyTorch's default ``batch_first=False``: step ``t`` of the whole batch,
``x[t]``, is one contiguous (N, D) block.

``*_step_*`` functions are one step, written to be read; ``rnn_*``/``lstm_*`` run a whole
sequence and its backpropagation through time (BPTT), written to be fast: the input
products of all steps are one matrix product, and so are the weight gradients.

A character-level language model built on the LSTM is in :mod:`dlcourse.numpy.charlm`.

Mirrored by :mod:`dlcourse.torch.rnn`.
"""

from __future__ import annotations

import math

import numpy as np

from dlcourse.numpy.layers import Module, Parameter
from dlcourse.validation import as_float_array, check_positive, check_shape

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


# ---------------------------------------------------------------- checks shared by both trees


def _check_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates: int, step: bool) -> None:
    """Shape checks for a cell with ``gates`` blocks (1: RNN, 4: LSTM); x is (N, D) for one
    step, (T, N, D) for a sequence. Messages name the argument, as everywhere in the package."""
    check_shape(weight_ih, "weight_ih", (None, None))
    rows = weight_ih.shape[0]
    if rows % gates or rows == 0:
        raise ValueError(
            f"weight_ih must have {gates} H rows for a hidden size H (the gate blocks i, f, g, o), got shape "
            f"{tuple(weight_ih.shape)}."
        )
    hidden = rows // gates
    check_shape(weight_hh, "weight_hh", (rows, hidden))
    check_shape(bias_ih, "bias_ih", (gates * hidden,))
    check_shape(bias_hh, "bias_hh", (gates * hidden,))
    features = weight_ih.shape[1]
    check_shape(x, "x", (None, features) if step else (None, None, features))
    batch = x.shape[0] if step else x.shape[1]
    names = ("h_prev", "c_prev") if step else ("h0", "c0")
    for value, name in ((h_prev, names[0]), (c_prev, names[1])):
        if value is not None:
            check_shape(value, name, (batch, hidden))


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    r"""The sigmoid in place, as :math:`\sigma(z) = \tfrac12(1 + \tanh(z/2))`: no overflow, no copy."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _activate_gates_(a: np.ndarray, scale: np.ndarray) -> None:
    r"""The activations of all four blocks in place, with one exponential over the whole (N, 4H) array.

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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The sigmoid of a copy of ``z``."""
    return _sigmoid_(np.array(z, dtype=np.result_type(z, np.float32)))


# ---------------------------------------------------------------- the vanilla RNN


def rnn_step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> tuple[np.ndarray, tuple]:
    r"""One step of a tanh RNN.

    .. math:: h = \tanh(x W_{ih}^\top + b_{ih} + h_{prev} W_{hh}^\top + b_{hh})

    Args:
        x: (N, D) the inputs of this step.
        h_prev: (N, H) the hidden state of the previous step.
        weight_ih: (H, D) input-to-hidden weights (``torch.nn.RNN``'s ``weight_ih_l0``).
        weight_hh: (H, H) hidden-to-hidden weights: the feedback loop.
        bias_ih: (H,).
        bias_hh: (H,).

    Returns:
        h (N, H) and ``cache = (x, h_prev, weight_ih, weight_hh, h)``.
    """
    x, h_prev = as_float_array(x, "x"), as_float_array(h_prev, "h_prev")
    _check_cell(x, h_prev, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=True)
    z = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (N, H)
    h = np.tanh(z)
    return h, (x, h_prev, weight_ih, weight_hh, h)


def rnn_step_backward(dh: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    r"""Gradients of :func:`rnn_step_forward`.

    Through the tanh, :math:`dz = dh \odot (1 - h^2)`; then, as for a linear layer,
    :math:`dx = dz\,W_{ih}`, :math:`dh_{prev} = dz\,W_{hh}`, :math:`dW_{ih} = dz^\top x`,
    :math:`dW_{hh} = dz^\top h_{prev}` and both biases get :math:`\sum_n dz_n`.

    Args:
        dh: (N, H) the gradient of the loss with respect to ``h``.
        cache: from :func:`rnn_step_forward`.

    Returns:
        dx (N, D), dh_prev (N, H), dweight_ih (H, D), dweight_hh (H, H), dbias_ih (H,), dbias_hh (H,).
    """
    x, h_prev, weight_ih, weight_hh, h = cache
    dh = as_float_array(dh, "dh")
    check_shape(dh, "dh", h.shape)
    dz = dh * (1 - h * h)  # (N, H): back through the tanh
    dbias = dz.sum(axis=0)
    return dz @ weight_ih, dz @ weight_hh, dz.T @ x, dz.T @ h_prev, dbias, dbias.copy()


def rnn_forward(
    x: np.ndarray,
    h0: np.ndarray | None,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> tuple[np.ndarray, tuple]:
    """A tanh RNN over a whole sequence: :func:`rnn_step_forward` unrolled in time.

    Args:
        x: (T, N, D) the sequence, time-major.
        h0: (N, H) the initial hidden state, or None for zeros.
        weight_ih: (H, D).
        weight_hh: (H, H).
        bias_ih: (H,).
        bias_hh: (H,).

    Returns:
        hs (T, N, H), the hidden state after every step (``hs[-1]`` is the last), and the
        cache for :func:`rnn_backward`.
    """
    x = as_float_array(x, "x")
    h0 = None if h0 is None else as_float_array(h0, "h0")
    _check_cell(x, h0, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=False)
    steps, batch, features = x.shape
    hidden = weight_hh.shape[1]
    dtype = np.result_type(x, weight_ih, weight_hh)
    hs = np.empty((steps + 1, batch, hidden), dtype=dtype)  # hs[0] = h0, hs[t + 1] = h_t
    hs[0] = 0 if h0 is None else h0
    # The input products of all steps at once: (T*N, D) @ (D, H)
    z = (x.reshape(steps * batch, features) @ weight_ih.T).astype(dtype, copy=False)
    z = z.reshape(steps, batch, hidden)
    z += bias_ih + bias_hh
    for t in range(steps):
        z[t] += hs[t] @ weight_hh.T  # (N, H): the feedback from the previous step
        np.tanh(z[t], out=hs[t + 1])
    return hs[1:], (x, hs, weight_ih, weight_hh)


def rnn_backward(dhs: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`rnn_forward`.

    Walking backwards from the last step, the gradient reaching :math:`h_t` is the sum of
    what the loss sends to it directly (``dhs[t]``) and what step :math:`t + 1` sends back,
    :math:`dz_{t+1} W_{hh}`. The weights are shared by all steps, so their gradients add up
    over time; they are computed after the loop as single matrix products over the
    stacked steps.

    Args:
        dhs: (T, N, H) the gradient of the loss with respect to every hidden state.
        cache: from :func:`rnn_forward`.

    Returns:
        dx (T, N, D), dh0 (N, H), dweight_ih (H, D), dweight_hh (H, H),
        dbias_ih (H,), dbias_hh (H,).
    """
    x, hs, weight_ih, weight_hh = cache
    steps, batch, features = x.shape
    hidden = hs.shape[2]
    dhs = as_float_array(dhs, "dhs")
    check_shape(dhs, "dhs", (steps, batch, hidden))
    # the gradients of the pre-activations, step by step
    dz = np.empty((steps, batch, hidden), dtype=np.result_type(hs, dhs))
    dh = np.zeros((batch, hidden), dtype=dz.dtype)  # what flows back from step t + 1
    for t in reversed(range(steps)):
        dh += dhs[t]
        h = hs[t + 1]
        np.multiply(dh, 1 - h * h, out=dz[t])  # back through the tanh
        dh = dz[t] @ weight_hh  # (N, H) to the previous step
    flat = dz.reshape(steps * batch, hidden)  # (T*N, H): every step stacked
    dx = (flat @ weight_ih).reshape(steps, batch, features)
    dweight_ih = flat.T @ x.reshape(steps * batch, features)
    dweight_hh = flat.T @ hs[:-1].reshape(steps * batch, hidden)  # h_{t-1} of every step
    dbias = flat.sum(axis=0)
    return dx, dh, dweight_ih, dweight_hh, dbias, dbias.copy()


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
    x, h_prev = as_float_array(x, "x"), as_float_array(h_prev, "h_prev")
    c_prev = as_float_array(c_prev, "c_prev")
    _check_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, 4, True)
    hidden = h_prev.shape[1]
    # the pre-activations of all four blocks, one product per weight matrix: (N, 4H)
    z = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i = _sigmoid(z[:, :hidden])  # input gate: how much of g to write
    f = _sigmoid(z[:, hidden : 2 * hidden])  # forget gate: how much of c_prev to keep
    g = np.tanh(z[:, 2 * hidden : 3 * hidden])  # cell candidate: what to write
    o = _sigmoid(z[:, 3 * hidden :])  # output gate: how much of the cell to show
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
    dh, dc = as_float_array(dh, "dh"), as_float_array(dc, "dc")
    check_shape(dh, "dh", tanh_c.shape)
    check_shape(dc, "dc", tanh_c.shape)
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
    x = as_float_array(x, "x")
    h0 = None if h0 is None else as_float_array(h0, "h0")
    c0 = None if c0 is None else as_float_array(c0, "c0")
    _check_cell(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, gates=4, step=False)
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
    dhs = as_float_array(dhs, "dhs")
    check_shape(dhs, "dhs", (steps, batch, hidden))
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


# ---------------------------------------------------------------- gradient clipping


def clip_grad_norm(params: list[Parameter], max_norm: float) -> float:
    r"""Rescale the gradients in place so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, :math:`\|g\| = \sqrt{\sum_p \|g_p\|^2}`.
    If it exceeds ``max_norm``, every gradient is multiplied by
    :math:`\text{max\_norm} / (\|g\| + 10^{-6})`: the direction of the step is kept and only
    its length is capped. Same as ``torch.nn.utils.clip_grad_norm_``.

    Args:
        params: parameters whose ``grad`` to clip (those without one are skipped).
        max_norm: the largest norm allowed, > 0.

    Returns:
        The total norm before clipping.
    """
    check_positive(max_norm, "max_norm")
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g *= scale
    return total


# ---------------------------------------------------------------- layers


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


class _Recurrent(Module):
    """What the RNN and LSTM layers share: parameters drawn as ``torch.nn`` draws them."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator) -> None:
        check_positive(input_size, "input_size")
        check_positive(hidden_size, "hidden_size")
        bound, rows = 1 / math.sqrt(hidden_size), self.gates * hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = Parameter(_uniform(rng, bound, (rows, input_size)))  # (G H, D)
        self.weight_hh = Parameter(_uniform(rng, bound, (rows, hidden_size)))  # (G H, H)
        self.bias_ih = Parameter(_uniform(rng, bound, (rows,)))  # (G H,)
        self.bias_hh = Parameter(_uniform(rng, bound, (rows,)))  # (G H,)
        self.cache: tuple | None = None

    def _weights(self) -> tuple[np.ndarray, ...]:
        return self.weight_ih.data, self.weight_hh.data, self.bias_ih.data, self.bias_hh.data

    def _accumulate(self, grads: tuple[np.ndarray, ...]) -> None:
        for p, grad in zip(self.parameters(), grads, strict=True):
            p.accumulate(grad)


class RNN(_Recurrent):
    """A one-layer tanh RNN over a time-major sequence, with ``torch.nn.RNN``'s parameters.

    ``state_dict()`` keys are ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; those of
    ``torch.nn.RNN`` carry a layer suffix (``weight_ih_l0``) but have the same shapes. The
    weights are drawn from :math:`U(-1/\\sqrt H, 1/\\sqrt H)`, as in PyTorch.

    Args:
        input_size: D.
        hidden_size: H.
        rng: the generator the weights are drawn from.
    """

    gates = 1

    def forward(self, x: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x (T, N, D) -> (output (T, N, H), h_n (N, H)), like ``torch.nn.RNN`` with (N, H) states."""
        out, self.cache = rnn_forward(x, h0, *self._weights())
        return out, out[-1]

    def __call__(self, x: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.forward(x, h0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (T, N, H) -> dx (T, N, D); accumulates the parameter gradients."""
        dx, _, *grads = rnn_backward(dout, self.cache)
        self._accumulate(tuple(grads))
        return dx


class LSTM(_Recurrent):
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
        h0, c0 = state if state is not None else (None, None)
        out, c_last, self.cache = lstm_forward(x, h0, c0, *self._weights())
        return out, (out[-1], c_last)

    def __call__(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        return self.forward(x, state)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (T, N, H) -> dx (T, N, D); accumulates the parameter gradients."""
        dx, _, _, *grads = lstm_backward(dout, self.cache)
        self._accumulate(tuple(grads))
        return dx

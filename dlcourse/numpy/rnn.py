r"""Recurrent networks in NumPy: the vanilla RNN cell, one step and a whole sequence.

A recurrent layer reads a sequence :math:`x_1, \dots, x_T` one step at a time and carries a
hidden state :math:`h_t` from each step to the next, so that its output at step :math:`t`
depends on everything it has seen so far. The vanilla RNN computes

.. math:: h_t = \tanh(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}).

The LSTM, which adds a cell state and gates, is in :mod:`dlcourse.numpy.lstm`; both layers
share :class:`Recurrent`'s parameters.

Layouts follow ``torch.nn.RNN``, so weights copy across unchanged: ``weight_ih`` is (H, D) and
``weight_hh`` (H, H). Sequences are time-major, (T, N, D), as in PyTorch's default
``batch_first=False``: step ``t`` of the whole batch, ``x[t]``, is one contiguous (N, D) block.

``rnn_step_*`` functions are one step, written to be read; ``rnn_forward``/``rnn_backward`` run
a whole sequence and its backpropagation through time (BPTT), written to be fast: the input
products of all steps are one matrix product, and so are the weight gradients.

Mirrored by :mod:`dlcourse.torch.rnn`.
"""

from __future__ import annotations

import math

import numpy as np

from dlcourse.checks import check_cache, check_cell, check_input
from dlcourse.numpy import init as initialisers
from dlcourse.numpy.layers import Module, Parameter
from dlcourse.validation import as_count, as_float_array, check_grad, check_rng

__all__ = [
    "RNN",
    "Recurrent",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
]


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
    x, h_prev, _, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h_prev, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=True, to_array=as_float_array
    )
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
    dh = check_grad(dh, "dh", tuple(h.shape), as_float_array, like=h)
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
    x, h0, _, weight_ih, weight_hh, bias_ih, bias_hh = check_cell(
        x, h0, None, weight_ih, weight_hh, bias_ih, bias_hh, gates=1, step=False, to_array=as_float_array
    )
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
    dhs = check_grad(dhs, "dhs", (steps, batch, hidden), as_float_array, like=hs)
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


# ---------------------------------------------------------------- layers


class Recurrent(Module):
    """What the RNN and LSTM layers share: ``weight_ih`` (G H, D), ``weight_hh`` (G H, H), ``bias_ih`` and
    ``bias_hh`` (G H,) for ``gates`` = G blocks, drawn from :math:`U(-1/\\sqrt H, 1/\\sqrt H)` as ``torch.nn`` draws them."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator) -> None:
        input_size, hidden_size = as_count(input_size, "input_size"), as_count(hidden_size, "hidden_size")
        check_rng(rng)
        bound, rows = 1 / math.sqrt(hidden_size), self.gates * hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = Parameter(initialisers.uniform(rng, bound, (rows, input_size)))  # (G H, D)
        self.weight_hh = Parameter(initialisers.uniform(rng, bound, (rows, hidden_size)))  # (G H, H)
        self.bias_ih = Parameter(initialisers.uniform(rng, bound, (rows,)))  # (G H,)
        self.bias_hh = Parameter(initialisers.uniform(rng, bound, (rows,)))  # (G H,)
        self.cache: tuple | None = None

    def _weights(self) -> tuple[np.ndarray, ...]:
        return self.weight_ih.data, self.weight_hh.data, self.bias_ih.data, self.bias_hh.data

    def _accumulate(self, grads: tuple[np.ndarray, ...]) -> None:
        for p, grad in zip(self.parameters(), grads, strict=True):
            p.accumulate(grad)


class RNN(Recurrent):
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
        x = check_input(x, (None, None, self.input_size), self.weight_ih.data.dtype, as_float_array)
        out, self.cache = rnn_forward(x, h0, *self._weights())
        return out, out[-1]

    def __call__(self, x: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.forward(x, h0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (T, N, H) -> dx (T, N, D); accumulates the parameter gradients."""
        dx, _, *grads = rnn_backward(dout, check_cache(self.cache, self))
        self._accumulate(tuple(grads))
        return dx

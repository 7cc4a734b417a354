r"""Recurrent networks in PyTorch, mirroring :mod:`dlcourse.numpy.rnn`.

The forward functions are built from tensor primitives (matrix products, ``sigmoid``,
``tanh``) one time step at a time, so autograd can differentiate them; the backward
functions are the NumPy tree's backpropagation through time written with tensors, to be
checked against autograd and against ``torch.nn.RNN`` / ``torch.nn.LSTM``. Layouts are
PyTorch's: ``weight_ih`` (G H, D), ``weight_hh`` (G H, H), gate blocks i, f, g, o for the
LSTM, and time-major sequences (T, N, D).

:class:`RNN` and :class:`LSTM` run the from-primitives functions (autograd does their
backward pass); :class:`CharLM` uses ``torch.nn.LSTM``, whose fused kernels (cuDNN on a GPU)
are much faster, for training a character model in earnest.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dlcourse import text as textlib
from dlcourse.numpy.rnn import LMHistory, _check_cell, _check_training, _schedule, _uniform, cosine_lr
from dlcourse.torch.layers import Dropout
from dlcourse.validation import as_float_tensor, check_positive, check_shape

__all__ = [
    "LSTM",
    "RNN",
    "CharLM",
    "LMHistory",
    "clip_grad_norm",
    "cosine_lr",
    "evaluate_char_lm",
    "generate",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "train_char_lm",
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


class CharLM(torch.nn.Module):
    """A character-level language model: ``torch.nn.Embedding``, ``torch.nn.LSTM``, ``torch.nn.Linear``.

    Same arguments, parameter names and initial weights (drawn from the same NumPy generator in
    the same order) as :class:`dlcourse.numpy.rnn.CharLM`.

    Args:
        vocab_size: V.
        hidden_size: H.
        rng: the NumPy generator the weights are drawn from.
        embedding_dim: E.
        num_layers: stacked LSTM layers.
        dropout: the drop probability on the last LSTM layer's output in training; its masks
            are drawn as in the NumPy tree (:class:`dlcourse.torch.layers.Dropout`).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        embedding_dim: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for value, name in ((vocab_size, "vocab_size"), (embedding_dim, "embedding_dim"), (num_layers, "num_layers")):
            check_positive(value, name)
        check_positive(hidden_size, "hidden_size")
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim)
        self.lstm = torch.nn.LSTM(embedding_dim, hidden_size, num_layers)
        self.head = torch.nn.Linear(hidden_size, vocab_size)
        bound = 1 / math.sqrt(hidden_size)
        draws = [("embedding.weight", rng.standard_normal((vocab_size, embedding_dim)).astype(np.float32))]
        for k in range(num_layers):
            fan_in = embedding_dim if k == 0 else hidden_size
            for name, shape in (
                ("weight_ih", (4 * hidden_size, fan_in)),
                ("weight_hh", (4 * hidden_size, hidden_size)),
                ("bias_ih", (4 * hidden_size,)),
                ("bias_hh", (4 * hidden_size,)),
            ):
                draws.append((f"lstm.{name}_l{k}", _uniform(rng, bound, shape)))
        draws += [
            ("head.weight", _uniform(rng, bound, (vocab_size, hidden_size))),
            ("head.bias", _uniform(rng, bound, (vocab_size,))),
        ]
        self.load_state_dict({name: torch.from_numpy(value) for name, value in draws})
        self.drop = Dropout(dropout, np.random.default_rng(int(rng.integers(2**63))))

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        check_shape(ids, "ids", (None, None))
        out, state = self.lstm(self.embedding(ids), state)  # (T, N, H)
        return self.head(self.drop(out)), state


# ---------------------------------------------------------------- training a character model


def train_char_lm(
    model: CharLM,
    train_ids: np.ndarray,
    *,
    steps: int | None = None,
    budget_s: float | None = None,
    batch_size: int = 64,
    seq_len: int = 100,
    lr: float = 3e-3,
    clip: float = 1.0,
    val_ids: np.ndarray | None = None,
    eval_every: int | None = None,
    log_every: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> LMHistory:
    """Train a :class:`CharLM` by stateful truncated BPTT; arguments and schedule as the NumPy version.

    Runs on the model's device; ``torch.optim.Adam`` updates, :func:`clip_grad_norm` clips.
    The carried state is detached between chunks, so gradients stop at the chunk boundary.
    """
    train_ids = np.asarray(train_ids)
    _check_training(steps, budget_s, train_ids, batch_size, seq_len)
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start, evaluation_s = LMHistory(), time.perf_counter(), 0.0
    stream_len = len(train_ids) // batch_size
    chunks, state, window, step_s = iter(()), None, [], 0.0
    bar = tqdm(total=steps or math.ceil(budget_s), desc="training", disable=not progress, unit="it" if steps else "s")
    model.train()
    while True:
        fraction = _schedule(history.steps, steps, start + evaluation_s, budget_s, step_s)
        if fraction >= 1:
            break
        try:
            x, y = next(chunks)
        except StopIteration:  # a new pass over the text: a new offset, a fresh state
            offset = int(rng.integers(seq_len))
            streams = torch.from_numpy(textlib.stream_batches(train_ids[offset:], batch_size)).to(device)
            chunks, state = textlib.chunks(streams, seq_len), None
            continue
        step_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(lr, fraction)
        if state is not None:
            state = tuple(s.detach() for s in state)  # keep the state, drop its history
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(list(model.parameters()), clip)
        optimizer.step()
        step_s = time.perf_counter() - step_start  # the next step is assumed to take as long
        history.steps += 1
        history.characters += x.numel()
        window.append(loss.detach())
        if len(window) == log_every:
            history.train_loss.append(float(torch.stack(window).mean()))
            history.logged_at.append(history.steps)
            history.lr.append(optimizer.param_groups[0]["lr"])
            window = []
        if val_ids is not None and eval_every and history.steps % eval_every == 0:
            tick = time.perf_counter()
            history.val_loss.append(evaluate_char_lm(model, val_ids))
            history.val_at.append(history.steps)
            model.train()
            evaluation_s += time.perf_counter() - tick
        bar.update(1 if steps else max(0, int(time.perf_counter() - start - evaluation_s) - bar.n))
    bar.close()
    history.seconds = time.perf_counter() - start - evaluation_s
    history.epochs = history.characters / (stream_len * batch_size)
    if val_ids is not None and (not history.val_at or history.val_at[-1] != history.steps):
        history.val_loss.append(evaluate_char_lm(model, val_ids))
        history.val_at.append(history.steps)
    return history


@torch.no_grad()
def evaluate_char_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, seq_len: int = 200) -> float:
    """Mean loss in nats per character over every character of ``ids`` from the second on,
    as the NumPy version; the model is left in evaluation mode."""
    model.eval()
    device = next(model.parameters()).device
    inputs, targets, mask = (
        torch.from_numpy(a).to(device) for a in textlib.evaluation_streams(np.asarray(ids), batch_size)
    )
    total, state = torch.zeros((), dtype=torch.float64, device=device), None
    for start in range(0, len(inputs), seq_len):
        logits, state = model(inputs[start : start + seq_len], state)
        logp = torch.log_softmax(logits.double(), dim=-1)  # (t, B, V)
        picked = logp.gather(-1, targets[start : start + seq_len, :, None])[..., 0]
        total -= picked[mask[start : start + seq_len]].sum()
    return float(total) / int(mask.sum())


@torch.no_grad()
def generate(
    model: CharLM,
    prompt_ids: np.ndarray,
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Sample ``length`` ids after reading ``prompt_ids``, drawing each from the temperature
    softmax of the model's logits (:func:`dlcourse.text.sample_from_logits`); (length,) int64."""
    rng = rng if rng is not None else np.random.default_rng(0)
    model.eval()
    device = next(model.parameters()).device
    prompt_ids = np.asarray(prompt_ids, dtype=np.int64)
    check_shape(prompt_ids, "prompt_ids", (None,))
    logits, state = model(torch.from_numpy(prompt_ids)[:, None].to(device))  # (P, 1, V)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        out[k] = textlib.sample_from_logits(logits[-1, 0].double().cpu().numpy(), temperature, rng)
        logits, state = model(torch.tensor([[out[k]]], device=device), state)
    return out

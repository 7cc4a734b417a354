r"""A character-level language model in NumPy, and how to train, score and sample it.

:class:`CharLM` reads character ids and predicts, at every step, the next character: an
embedding, stacked LSTM layers (:class:`dlcourse.numpy.lstm.LSTM`) and a linear read-out.
:func:`train_char_lm` trains it by stateful truncated backpropagation through time on parallel
streams of one text, for a number of steps or a wall-clock budget; :func:`evaluate_char_lm`
scores held-out text in nats per character; :func:`generate` samples from it at a temperature.

Mirrored by :mod:`dlcourse.torch.charlm`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlcourse import text as textlib
from dlcourse.checks import check_char_ids, check_char_lm, check_generate, check_lm_input, check_lm_sizes
from dlcourse.numpy import init as initialisers
from dlcourse.numpy.layers import Dropout, Module, Parameter
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward, log_softmax
from dlcourse.numpy.lstm import LSTM
from dlcourse.numpy.optim import Adam, clip_grad_norm
from dlcourse.results import LMHistory
from dlcourse.text import cosine_lr
from dlcourse.validation import (
    as_count,
    as_flag,
    as_float_array,
    check_grad,
    check_positive,
)

__all__ = [
    "CharLM",
    "LMHistory",
    "cosine_lr",
    "evaluate_char_lm",
    "generate",
    "train_char_lm",
]


class CharLM(Module):
    """A character-level language model: embedding, LSTM layers, a linear read-out.

    Reads character ids (T, N) and gives, at every step, logits (T, N, V) for the next
    character. Parameter names are those of the PyTorch twin, which is built from
    ``torch.nn.Embedding``, ``torch.nn.LSTM`` and ``torch.nn.Linear`` (``embedding.weight``,
    ``lstm.weight_ih_l0``, ..., ``head.weight`` (V, H), ``head.bias``), so ``state_dict()``
    copies across trees; both draw their weights from the same generator in the same order.

    Args:
        vocab_size: V, the number of distinct characters.
        hidden_size: H, units per LSTM layer.
        rng: the generator the weights are drawn from.
        embedding_dim: E, the length of each character's learned vector.
        num_layers: stacked LSTM layers.
        dropout: the probability of zeroing each unit of the last LSTM layer's output in
            training (inverted dropout, see :class:`dlcourse.numpy.layers.Dropout`); its masks
            come from a generator seeded from ``rng`` after the weights are drawn.
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
        vocab_size, hidden_size, embedding_dim, num_layers = check_lm_sizes(
            vocab_size, hidden_size, rng, embedding_dim, num_layers, dropout
        )
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.embedding = Parameter(rng.standard_normal((vocab_size, embedding_dim)).astype(np.float32))  # (V, E)
        self.layers = [LSTM(embedding_dim if k == 0 else hidden_size, hidden_size, rng) for k in range(num_layers)]
        bound = 1 / math.sqrt(hidden_size)
        self.head_weight = Parameter(
            initialisers.uniform(rng, bound, (vocab_size, hidden_size))
        )  # (V, H), torch layout
        self.head_bias = Parameter(initialisers.uniform(rng, bound, (vocab_size,)))
        self.drop = Dropout(dropout, np.random.default_rng(int(rng.integers(2**63))))
        self.cache: tuple | None = None

    def train(self, mode: bool = True) -> CharLM:
        self.training = as_flag(mode, "mode")
        self.drop.train(self.training)
        return self

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield "embedding.weight", self.embedding
        for k, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"lstm.{name}_l{k}", p
        yield "head.weight", self.head_weight
        yield "head.bias", self.head_bias

    def forward(
        self, ids: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """ids (T, N) integers in [0, V) -> logits (T, N, V) and the state (h, c), each (num_layers, N, H).

        The state is cast to the parameters' dtype: the model computes in it."""
        like = self.layers[0].weight_ih.data
        ids, state = check_lm_input(ids, state, self.vocab_size, self.num_layers, self.hidden_size, like)
        return self._logits(ids, state)

    def _logits(
        self, ids: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """:meth:`forward` without its checks, for the loops of training, evaluation and sampling."""
        steps, batch = ids.shape
        x = self.embedding.data[ids]  # (T, N, E)
        hs, cs = [], []
        for k, layer in enumerate(self.layers):
            x, (h_n, c_n) = layer(x, None if state is None else (state[0][k], state[1][k]))  # (T, N, H)
            hs.append(h_n)
            cs.append(c_n)
        x = self.drop(x)  # (T, N, H), unchanged in evaluation mode
        logits = x.reshape(steps * batch, self.hidden_size) @ self.head_weight.data.T  # (T*N, V)
        logits += self.head_bias.data
        self.cache = (ids, x)
        return logits.reshape(steps, batch, self.vocab_size), (np.stack(hs), np.stack(cs))

    def __call__(
        self, ids: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        return self.forward(ids, state)

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits (T, N, V) -> accumulates every parameter's gradient (the input ids have none)."""
        if self.cache is None:
            raise ValueError("backward needs the cache of a forward pass: call the model on ids first.")
        ids, top = self.cache
        steps, batch = ids.shape
        dlogits = check_grad(dlogits, "dlogits", (steps, batch, self.vocab_size), as_float_array)
        flat = dlogits.reshape(steps * batch, self.vocab_size)  # (T*N, V)
        self.head_weight.accumulate(flat.T @ top.reshape(steps * batch, self.hidden_size))
        self.head_bias.accumulate(flat.sum(axis=0))
        dx = self.drop.backward((flat @ self.head_weight.data).reshape(steps, batch, self.hidden_size))
        for layer in reversed(self.layers):
            dx = layer.backward(dx)
        dembedding = np.zeros_like(self.embedding.data)
        np.add.at(dembedding, ids.reshape(-1), dx.reshape(steps * batch, -1))  # rows used twice add up
        self.embedding.accumulate(dembedding)


# ---------------------------------------------------------------- training a character model


class _Trainer:
    """One update of a NumPy :class:`CharLM`: forward, the loss's backward pass by hand, clipping and
    an Adam step (the :class:`dlcourse.text.LMTrainer` that :func:`train_char_lm` hands the shared loop)."""

    def __init__(self, model: CharLM, lr: float, clip: float) -> None:
        self.model, self.clip, self.optimizer = model, clip, Adam(model.parameters(), lr=lr)
        self.vocab_size = model.vocab_size

    def streams(self, ids: np.ndarray, batch_size: int) -> np.ndarray:
        return textlib.stream_batches(ids, batch_size)

    def step(self, x: np.ndarray, y: np.ndarray, state: Any, lr: float) -> tuple[float, Any]:
        self.optimizer.lr = lr
        logits, state = self.model._logits(x, state)  # the state is carried, the gradient stops at the chunk
        loss, cache = cross_entropy_forward(logits.reshape(-1, self.model.vocab_size), y.reshape(-1))
        self.optimizer.zero_grad()
        self.model.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
        clip_grad_norm(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss, state

    def mean_loss(self, losses: list[float]) -> float:
        return float(np.mean(losses))

    def evaluate(self, ids: np.ndarray) -> float:
        return evaluate_char_lm(self.model, ids)

    def train(self) -> None:
        self.model.train()


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
    """Train a :class:`CharLM` by stateful truncated BPTT, with Adam, clipping and a cosine schedule.

    The loop is :func:`dlcourse.text.train_language_model`, shared with the PyTorch tree: the
    text is read as ``batch_size`` parallel streams in chunks of ``seq_len`` characters, the
    hidden state is carried from chunk to chunk (its gradient is not), and the learning rate
    follows :func:`cosine_lr` over the steps or the time budget. This tree's part is one update:
    forward, backward by hand, :func:`dlcourse.numpy.optim.clip_grad_norm`, an Adam step.

    Args:
        model: the model; trained in place.
        train_ids: (L,) integer character ids.
        steps: the number of updates, or None to stop on the time budget.
        budget_s: the wall-clock budget in seconds, or None.
        batch_size: parallel streams.
        seq_len: characters per chunk: how far back gradients reach.
        lr: Adam's peak learning rate.
        clip: the largest gradient norm.
        val_ids: optional ids of validation text, evaluated with :func:`evaluate_char_lm`.
        eval_every: evaluate every that many steps (and always at the end).
        log_every: average the training loss over that many steps per entry.
        seed: seeds the random offsets.
        progress: show a tqdm bar.

    Returns:
        The :class:`LMHistory`.
    """
    check_char_lm(model, CharLM)
    lr, clip = check_positive(lr, "lr"), check_positive(clip, "clip")
    return textlib.train_language_model(
        _Trainer(model, lr, clip),
        train_ids,
        steps=steps,
        budget_s=budget_s,
        batch_size=batch_size,
        seq_len=seq_len,
        lr=lr,
        val_ids=val_ids,
        eval_every=eval_every,
        log_every=log_every,
        seed=seed,
        progress=progress,
    )


def evaluate_char_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, seq_len: int = 200) -> float:
    """The mean loss in nats per character of predicting every ``ids[k + 1]`` from ``ids[: k + 1]``.

    The model is left in evaluation mode (no dropout).

    The text is cut into ``batch_size`` streams that are read in chunks with the state
    carried over, so every character but each stream's first has context; the last stream
    is padded, and padding is not scored. Every character from the second on is scored once.

    Args:
        model: the model to evaluate.
        ids: (L,) integer ids, L >= 2.
        batch_size: parallel streams.
        seq_len: characters per chunk.

    Returns:
        The mean cross-entropy, a float.
    """
    ids = check_char_ids(ids, "ids", check_char_lm(model, CharLM).vocab_size)
    batch_size, seq_len = as_count(batch_size, "batch_size"), as_count(seq_len, "seq_len")
    model.eval()
    inputs, targets, mask = textlib.evaluation_streams(ids, batch_size)  # (L', B) each
    total, state = 0.0, None
    for start in range(0, len(inputs), seq_len):
        logits, state = model._logits(inputs[start : start + seq_len], state)
        logp = log_softmax(logits)  # (t, B, V)
        picked = np.take_along_axis(logp, targets[start : start + seq_len, :, None], axis=-1)[..., 0]
        total -= float(np.sum(picked, where=mask[start : start + seq_len]))
    return total / int(mask.sum())


def generate(
    model: CharLM,
    prompt_ids: np.ndarray,
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Sample ``length`` character ids from the model, one at a time, after reading a prompt.

    Each new character is drawn from the softmax of the model's logits at the temperature
    (:func:`dlcourse.text.sample_from_logits`) and fed back in as the next input.

    Args:
        model: a trained :class:`CharLM`.
        prompt_ids: (P,) ids to read first, P >= 1.
        length: the number of ids to draw.
        temperature: below 1 sharpens the distribution, above 1 flattens it.
        rng: the generator to draw with (default: seeded with 0).

    Returns:
        (length,) the drawn ids, int64.
    """
    prompt_ids, length, temperature, rng = check_generate(model, CharLM, prompt_ids, length, temperature, rng)
    model.eval()
    logits, state = model._logits(prompt_ids[:, None], None)  # (P, 1, V)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        out[k] = textlib.sample_from_logits(logits[-1, 0], temperature, rng)
        logits, state = model._logits(out[k : k + 1, None], state)
    return out

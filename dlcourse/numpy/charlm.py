r"""A character-level language model in NumPy, and how to train, score and sample it.

:class:`CharLM` reads character ids and predicts, at every step, the next character: an
embedding, stacked LSTM layers (:class:`dlcourse.numpy.rnn.LSTM`) and a linear read-out.
:func:`train_char_lm` trains it by stateful truncated backpropagation through time on parallel
streams of one text, for a number of steps or a wall-clock budget; :func:`evaluate_char_lm`
scores held-out text in nats per character; :func:`generate` samples from it at a temperature.

Mirrored by :mod:`dlcourse.torch.charlm`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from dlcourse import text as textlib
from dlcourse.numpy.layers import Dropout, Module, Parameter
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward, log_softmax
from dlcourse.numpy.optim import Adam
from dlcourse.numpy.rnn import LSTM, _uniform, clip_grad_norm
from dlcourse.validation import check_positive, check_shape

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
        for value, name in ((vocab_size, "vocab_size"), (embedding_dim, "embedding_dim"), (num_layers, "num_layers")):
            check_positive(value, name)
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.embedding = Parameter(rng.standard_normal((vocab_size, embedding_dim)).astype(np.float32))  # (V, E)
        self.layers = [LSTM(embedding_dim if k == 0 else hidden_size, hidden_size, rng) for k in range(num_layers)]
        bound = 1 / math.sqrt(hidden_size)
        self.head_weight = Parameter(_uniform(rng, bound, (vocab_size, hidden_size)))  # (V, H), torch layout
        self.head_bias = Parameter(_uniform(rng, bound, (vocab_size,)))
        self.drop = Dropout(dropout, np.random.default_rng(int(rng.integers(2**63))))
        self.cache: tuple | None = None

    def train(self, mode: bool = True) -> CharLM:
        self.training = mode
        self.drop.train(mode)
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
        """ids (T, N) integers -> logits (T, N, V) and the state (h, c), each (num_layers, N, H)."""
        ids = np.asarray(ids)
        check_shape(ids, "ids", (None, None))
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
        ids, top = self.cache
        steps, batch = ids.shape
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


@dataclass
class LMHistory:
    """What :func:`train_char_lm` did.

    Attributes:
        steps: updates made.
        train_loss: mean training loss (nats per character) of each logged stretch of steps.
        logged_at: the step after which each entry of ``train_loss`` was taken.
        lr: the learning rate at each logged step.
        val_loss: validation loss at each entry of ``val_at`` (empty without validation ids).
        val_at: the steps after which the model was evaluated.
        seconds: wall-clock training time, without evaluation.
        characters: training characters read (steps x batch x sequence length).
        epochs: passes over the training text.
    """

    steps: int = 0
    train_loss: list[float] = field(default_factory=list)
    logged_at: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_at: list[int] = field(default_factory=list)
    seconds: float = 0.0
    characters: int = 0
    epochs: float = 0.0


def cosine_lr(lr: float, fraction: float) -> float:
    r"""Cosine decay from ``lr`` at ``fraction = 0`` to 0 at ``fraction = 1``:
    :math:`\eta = \tfrac12 \eta_0 (1 + \cos \pi f)`, clipped to f in [0, 1].

    With a time budget, ``fraction`` is the share of the budget used, so the rate reaches 0
    when time runs out whatever the speed of the machine.
    """
    fraction = min(max(fraction, 0.0), 1.0)
    return 0.5 * lr * (1 + math.cos(math.pi * fraction))


def _check_training(steps: int | None, budget_s: float | None, ids: np.ndarray, batch_size: int, seq_len: int) -> None:
    if steps is None and budget_s is None:
        raise ValueError("give steps or budget_s (or both): training needs an end.")
    for value, name in ((steps, "steps"), (budget_s, "budget_s")):
        if value is not None:
            check_positive(value, name)
    check_positive(batch_size, "batch_size")
    check_positive(seq_len, "seq_len")
    if len(ids) < batch_size * (seq_len + 1):
        raise ValueError(
            f"train_ids is too short: {len(ids)} characters, expected at least batch_size * (seq_len + 1) = "
            f"{batch_size * (seq_len + 1)}."
        )


def _schedule(step: int, steps: int | None, start: float, budget_s: float | None, step_s: float = 0.0) -> float:
    """The share of training done: of the steps, or of the time budget, whichever is further.

    ``step_s``, the last step's duration, counts as already spent, so that training stops
    *before* a step that would end past the budget rather than just after it. (So with a
    budget the learning rate of a step is the schedule's value at its expected end; with a
    number of steps, at its start.)
    """
    done = step / steps if steps else 0.0
    if budget_s:
        done = max(done, (time.perf_counter() - start + step_s) / budget_s)
    return done


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

    The training text is cut into ``batch_size`` parallel streams, read in consecutive chunks
    of ``seq_len`` characters; the hidden state is carried from one chunk to the next (its
    gradient is not), so the model sees context beyond one chunk. Each pass over the text
    starts at a random offset and from a zero state. The learning rate follows
    :func:`cosine_lr` over the steps or the time budget, whichever runs out first.

    Args:
        model: the model; trained in place.
        train_ids: (L,) integer character ids.
        steps: the number of updates, or None to stop on the time budget.
        budget_s: the wall-clock budget in seconds, or None.
        batch_size: parallel streams.
        seq_len: characters per chunk: how far back gradients reach.
        lr: Adam's peak learning rate.
        clip: the largest gradient norm (see :func:`clip_grad_norm`).
        val_ids: optional ids of validation text, evaluated with :func:`evaluate_char_lm`.
        eval_every: evaluate every that many steps (and always at the end).
        log_every: average the training loss over that many steps per entry.
        seed: seeds the random offsets.
        progress: show a tqdm bar.

    Returns:
        The :class:`LMHistory`.
    """
    train_ids = np.asarray(train_ids)
    _check_training(steps, budget_s, train_ids, batch_size, seq_len)
    rng = np.random.default_rng(seed)
    optimizer = Adam(model.parameters(), lr=lr)
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
            streams = textlib.stream_batches(train_ids[offset:], batch_size)
            chunks, state = textlib.chunks(streams, seq_len), None
            continue
        step_start = time.perf_counter()
        optimizer.lr = cosine_lr(lr, fraction)
        logits, state = model(x, state)  # the state is carried, the gradient stops at the chunk
        loss, cache = cross_entropy_forward(logits.reshape(-1, model.vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        model.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
        clip_grad_norm(model.parameters(), clip)
        optimizer.step()
        step_s = time.perf_counter() - step_start  # the next step is assumed to take as long
        history.steps += 1
        history.characters += x.size
        window.append(loss)
        if len(window) == log_every:
            history.train_loss.append(float(np.mean(window)))
            history.logged_at.append(history.steps)
            history.lr.append(optimizer.lr)
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
    model.eval()
    inputs, targets, mask = textlib.evaluation_streams(np.asarray(ids), batch_size)  # (L', B) each
    total, state = 0.0, None
    for start in range(0, len(inputs), seq_len):
        logits, state = model(inputs[start : start + seq_len], state)
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
    rng = rng if rng is not None else np.random.default_rng(0)
    model.eval()
    prompt_ids = np.asarray(prompt_ids, dtype=np.int64)
    check_shape(prompt_ids, "prompt_ids", (None,))
    logits, state = model(prompt_ids[:, None])  # (P, 1, V)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        out[k] = textlib.sample_from_logits(logits[-1, 0], temperature, rng)
        logits, state = model(out[k : k + 1, None], state)
    return out

r"""Text as data for character-level language models, with no deep-learning backend.

A character model predicts the next character of a text from the ones before it. This module turns a text into
integer ids and back (:class:`Vocabulary`), holds out the end of the text for validation (:func:`split`), lays
the ids out as parallel streams for training with a carried hidden state (:func:`stream_batches`,
:func:`chunks`) and for evaluation (:func:`evaluation_streams`), draws characters from a model's scores with a
temperature (:func:`softmax_with_temperature`, :func:`sample_from_logits`), and trains a language model
whatever its backend (:func:`train_language_model`): each tree's ``train_char_lm`` hands it a
:class:`LMTrainer` that makes one update, as :func:`dlcourse.rl.train_dqn` takes an
:class:`dlcourse.rl.Agent`. It also holds the checks that both trees' ``CharLM`` share.

Arrays of ids are time-major, (T, B): row ``t`` holds step ``t`` of every stream, the layout of
:mod:`dlcourse.numpy.lstm` and ``torch.nn.LSTM``. Both trees use this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from dlcourse import validation
from dlcourse.checks import check_char_ids, check_logits, check_training
from dlcourse.numpy.losses import softmax
from dlcourse.results import LMHistory
from dlcourse.validation import as_count, as_float_array, as_real, check_positive, check_rng, check_shape, describe

__all__ = [
    "LMTrainer",
    "Vocabulary",
    "chunks",
    "cosine_lr",
    "evaluation_streams",
    "sample_from_logits",
    "softmax_with_temperature",
    "split",
    "split_three",
    "stream_batches",
    "train_language_model",
]


def _codes(text: str) -> np.ndarray:
    """The Unicode code point of every character, (len(text),) uint32, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


@dataclass(frozen=True)
class Vocabulary:
    """The distinct characters of a text, sorted; character ``chars[k]`` has id ``k``.

    Attributes:
        chars: the characters, each once, in code-point order.
    """

    chars: str

    def __post_init__(self) -> None:
        if not isinstance(self.chars, str) or not self.chars:
            error = ValueError if isinstance(self.chars, str) else TypeError
            raise error(
                f"chars must be a non-empty string, got {type(self.chars).__name__} {validation.describe(self.chars)}."
            )
        if any(a >= b for a, b in zip(self.chars, self.chars[1:], strict=False)):  # encode uses binary search
            raise ValueError(f"chars must be distinct characters in code-point order, got {self.chars!r:.40}.")
        object.__setattr__(self, "chars", str(self.chars))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The vocabulary of every character that occurs in ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string, got {type(text).__name__} {validation.describe(text)}.")
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Characters -> ids, (len(text),) int64.

        Raises:
            ValueError: ``text`` holds a character that is not in the vocabulary.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__} {validation.describe(text)}.")
        table = _codes(self.chars)  # sorted, so ids can be found by binary search
        codes = _codes(text)
        ids = np.searchsorted(table, codes)
        bad = (ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] != codes)
        if bad.any():
            char = text[int(np.argmax(bad))]
            raise ValueError(f"text holds {char!r}, which is not in the vocabulary of {len(self)} characters.")
        return ids.astype(np.int64)

    def decode(self, ids: np.ndarray) -> str:
        """Ids -> the string they stand for.

        Raises:
            ValueError: an id is not in [0, len(vocabulary)).
        """
        ids = check_char_ids(ids, "ids", ndim=None)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must be integers in [0, {len(self)}), got {ids!r:.60}.")
        return "".join(self.chars[k] for k in ids.reshape(-1).tolist())


def split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the *end* of a text for validation: the training part precedes it.

    A text is not a bag of independent examples: neighbouring characters share words and sentences, so a random
    split would leak the validation text into training. A clean cut keeps them apart.

    Args:
        ids: (L,) the encoded text.
        val_fraction: the share held out, in (0, 1).

    Returns:
        train (L - V,) and val (V,) views, V = round(val_fraction * L).
    """
    ids = check_char_ids(ids, "ids")
    val_fraction = as_real(val_fraction, "val_fraction")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {describe(val_fraction)}.")
    cut = len(ids) - round(val_fraction * len(ids))
    return ids[:cut], ids[cut:]


def _least_length(fraction: float) -> int:
    """The shortest text of which ``fraction`` rounds to at least one id (Python rounds 0.5 to 0)."""
    n = max(1, math.ceil(0.5 / fraction))
    while round(fraction * n) < 1:
        n += 1
    return n


def split_three(
    ids: np.ndarray, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a text into training, validation and final (test) parts, in that order along the text.

    Settings are chosen on the validation part; the final part, at the very end, is scored once,
    for the figure that is reported. Clean cuts, as in :func:`split`.

    Args:
        ids: (L,) the encoded text.
        val_fraction: the share of the text for validation, in (0, 1).
        test_fraction: the share at the end for the final score, in (0, 1); the two leave some
            text for training.

    Returns:
        train, val (round(val_fraction * L),) and test (round(test_fraction * L),) views.
    """
    ids = check_char_ids(ids, "ids")
    val_fraction, test_fraction = as_real(val_fraction, "val_fraction"), as_real(test_fraction, "test_fraction")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {describe(value)}.")
    n_val, n_test = round(val_fraction * len(ids)), round(test_fraction * len(ids))
    if not (n_val and n_test):  # a fraction of a short text rounds to no ids at all
        least = max(_least_length(val_fraction), _least_length(test_fraction))
        raise ValueError(
            f"ids must hold at least {least} ids for val_fraction={val_fraction} and test_fraction={test_fraction} "
            f"to give each part one id or more, got {len(ids)}."
        )
    if n_val + n_test >= len(ids):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no text for training "
            f"out of {len(ids)} ids; together they must stay below 1."
        )
    return (
        ids[: len(ids) - n_val - n_test],
        ids[len(ids) - n_val - n_test : len(ids) - n_test],
        ids[len(ids) - n_test :],
    )


def stream_batches(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut a text into ``batch_size`` equal, consecutive streams, side by side.

    Stream ``b`` is the ``b``-th stretch of the text; the last few ids that do not fill a stream are dropped.
    Reading the streams row by row moves every stream on by one character, so a hidden state carried from one
    chunk of rows to the next keeps reading the same stretch of text.

    Args:
        ids: (L,) the encoded text.
        batch_size: B, the number of streams, at most L.

    Returns:
        (L // B, B) contiguous, time-major: column ``b`` is stream ``b``.
    """
    ids = check_char_ids(ids, "ids")
    batch_size = as_count(batch_size, "batch_size")
    length = len(ids) // batch_size
    if length == 0:
        raise ValueError(f"ids is too short: {len(ids)} ids cannot fill {batch_size} streams.")
    streams = ids[: length * batch_size].reshape(batch_size, length)  # (B, L // B): row b is stream b
    return np.ascontiguousarray(streams.T)  # (L // B, B): one row per time step


def chunks(streams: np.ndarray, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive chunks of ``seq_len`` rows of the streams, with next-character targets.

    Args:
        streams: (L, B) from :func:`stream_batches`.
        seq_len: T, rows per chunk.

    Yields:
        x (T, B) inputs and y (T, B) targets, ``y[t] = x[t + 1]`` within each stream; a
        last chunk shorter than ``seq_len`` is dropped.
    """
    streams = check_char_ids(streams, "streams", ndim=2, tensors=True)
    seq_len = as_count(seq_len, "seq_len")
    starts = range(0, len(streams) - seq_len, seq_len)
    return ((streams[start : start + seq_len], streams[start + 1 : start + seq_len + 1]) for start in starts)


def evaluation_streams(ids: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (character, next character) pair of a text, laid out as ``batch_size`` streams.

    Unlike :func:`stream_batches` nothing is dropped: the L - 1 pairs are cut into streams of ceil((L - 1) / B)
    pairs, and the end of the last stream is padded with id 0 and masked out, so that a loss averaged over
    ``mask`` scores every character from the second on exactly once.

    Args:
        ids: (L,) the encoded text, L >= 2.
        batch_size: B, the number of streams.

    Returns:
        inputs (S, B), targets (S, B), int64, and mask (S, B) bool, True where a pair is real.
    """
    ids = check_char_ids(ids, "ids").astype(np.int64, copy=False)
    batch_size = as_count(batch_size, "batch_size")
    if len(ids) < 2:
        raise ValueError(f"ids must hold at least 2 characters to score one prediction, got {len(ids)}.")
    pairs = len(ids) - 1
    batch_size = min(batch_size, pairs)
    length = -(-pairs // batch_size)  # ceil
    padded = length * batch_size
    inputs, targets, mask = (np.zeros(padded, dtype=dt) for dt in (np.int64, np.int64, bool))
    inputs[:pairs], targets[:pairs], mask[:pairs] = ids[:-1], ids[1:], True

    def lay_out(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.reshape(batch_size, length).T)  # (S, B)

    return lay_out(inputs), lay_out(targets), lay_out(mask)


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    r"""Probabilities :math:`p_k = e^{z_k / \tau} / \sum_j e^{z_j / \tau}`, over the last axis.

    The temperature :math:`\tau` rescales the scores before the softmax: :math:`\tau < 1` sharpens the
    distribution towards the most likely character (:math:`\tau \to 0` always picks it), :math:`\tau > 1`
    flattens it towards uniform. :math:`\tau = 1` is the model's own distribution. It is
    :func:`dlcourse.numpy.losses.softmax` of the rescaled scores, which subtracts the maximum first, so large
    scores do not overflow; where a tiny temperature makes the rescaled scores themselves overflow, the maximum
    is subtracted before rescaling instead.

    Args:
        logits: (..., V) scores.
        temperature: :math:`\tau > 0`.

    Returns:
        (..., V) float64, rows summing to 1.
    """
    check_positive(temperature, "temperature")
    logits = check_logits(logits, as_float_array).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # where z / tau overflows, (z - max z) / tau does not
        scaled = logits / temperature
        ok = np.isfinite(scaled.max(axis=-1, keepdims=True))
        scaled = scaled if ok.all() else np.where(ok, scaled, (logits - logits.max(-1, keepdims=True)) / temperature)
        return softmax(scaled)


def sample_from_logits(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw one id from ``softmax_with_temperature(logits, temperature)``.

    Args:
        logits: (V,) finite scores (-inf: impossible), a NumPy array (``.cpu().numpy()`` of a tensor).
        temperature: > 0.
        rng: the generator to draw with.

    Returns:
        The drawn id.
    """
    check_rng(rng)
    probs = softmax_with_temperature(logits, temperature)
    check_shape(probs, "logits", (None,))
    if not np.isfinite(probs).all():
        raise ValueError("logits must be finite scores (-inf for an impossible character), got NaN, +inf or all -inf.")
    return int(rng.choice(len(probs), p=probs))


# ---------------------------------------------------------------- training, whatever the backend


def cosine_lr(lr: float, fraction: float) -> float:
    r"""Cosine decay from ``lr`` at ``fraction = 0`` to 0 at ``fraction = 1``:
    :math:`\eta = \tfrac12 \eta_0 (1 + \cos \pi f)`, clipped to f in [0, 1].

    With a time budget, ``fraction`` is the share of the budget used, so the rate reaches 0 when time runs out
    whatever the speed of the machine.
    """
    lr, fraction = check_positive(lr, "lr"), as_real(fraction, "fraction")
    if math.isnan(fraction):
        raise ValueError("fraction must be a number, got nan.")
    return _cosine_lr(lr, fraction)


def _cosine_lr(lr: float, fraction: float) -> float:
    """:func:`cosine_lr` without its checks, for the training loop."""
    fraction = min(max(fraction, 0.0), 1.0)
    return 0.5 * lr * (1 + math.cos(math.pi * fraction))


def _schedule(step: int, steps: int | None, start: float, budget_s: float | None, step_s: float = 0.0) -> float:
    """The share of training done: of the steps, or of the time budget, whichever is further. ``step_s``, the
    last step's duration, counts as already spent, so that training stops *before* a step that would end past
    the budget (whose learning rate is thus the schedule's value at its expected end; with a number of steps, at
    its start)."""
    done = step / steps if steps else 0.0
    if budget_s:
        done = max(done, (time.perf_counter() - start + step_s) / budget_s)
    return done


class LMTrainer(Protocol):
    """What :func:`train_language_model` needs from a backend: one update, and an evaluation.
    ``dlcourse.numpy.charlm`` and ``dlcourse.torch.charlm`` each implement it around their model and optimiser;
    the loop, the schedule, the logging and the time budget are shared."""

    vocab_size: int
    """The number of distinct character ids the model reads: every id must be below it."""

    def streams(self, ids: np.ndarray, batch_size: int) -> Any:
        """``stream_batches(ids, batch_size)`` as the backend's array, on its device."""

    def step(self, x: Any, y: Any, state: Any, lr: float) -> tuple[Any, Any]:
        """One update at learning rate ``lr`` on inputs x and targets y, both (T, B), from the carried ``state``
        (None at the start of a pass); returns the loss and the new state, cut from its gradient history (the
        next chunk's gradient stops at the chunk boundary)."""

    def mean_loss(self, losses: list) -> float:
        """The mean of some losses returned by :meth:`step`, as a float."""

    def evaluate(self, ids: np.ndarray) -> float:
        """The validation loss in nats per character (the model may be left in evaluation mode)."""

    def train(self) -> None:
        """Put the model in training mode."""


def train_language_model(
    trainer: LMTrainer,
    train_ids: np.ndarray,
    *,
    steps: int | None = None,
    budget_s: float | None = None,
    batch_size: int = 64,
    seq_len: int = 100,
    lr: float = 3e-3,
    val_ids: np.ndarray | None = None,
    eval_every: int | None = None,
    log_every: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> LMHistory:
    """Train a language model by stateful truncated BPTT, with a cosine schedule, for a number of steps or a
    time budget: the loop that ``train_char_lm`` of both trees share.

    The training text is cut into ``batch_size`` parallel streams, read in consecutive chunks of ``seq_len``
    characters; the hidden state is carried from one chunk to the next (its gradient is not), so the model sees
    context beyond one chunk. Each pass over the text starts at a random offset and from a zero state. The
    learning rate follows :func:`cosine_lr` over the steps or the time budget, whichever runs out first; a step
    that would end past the budget is not started. Evaluation time does not count against it.

    Args:
        trainer: the backend's update and evaluation (:class:`LMTrainer`); the other arguments are
            those of :func:`dlcourse.numpy.charlm.train_char_lm`, and ``val_ids`` are scored with
            ``trainer.evaluate``.

    Returns:
        The :class:`dlcourse.results.LMHistory`.
    """
    validation.check_methods(trainer, "trainer", ("streams", "step", "mean_loss", "evaluate", "train"), "an LMTrainer")
    vocab_size = as_count(getattr(trainer, "vocab_size", None), "trainer.vocab_size")
    train_ids = check_char_ids(train_ids, "train_ids", vocab_size)
    val_ids = None if val_ids is None else check_char_ids(val_ids, "val_ids", vocab_size)
    if val_ids is not None and len(val_ids) < 2:
        raise ValueError(f"val_ids must hold at least 2 characters to score one prediction, got {len(val_ids)}.")
    batch_size, seq_len = as_count(batch_size, "batch_size"), as_count(seq_len, "seq_len")
    check_training(steps, budget_s, train_ids, batch_size, seq_len, log_every, eval_every)
    budget_s = None if budget_s is None else check_positive(budget_s, "budget_s")
    lr, seed = check_positive(lr, "lr"), as_count(seed, "seed", minimum=0)
    progress = validation.as_flag(progress, "progress")
    rng = np.random.default_rng(seed)
    history, start, evaluation_s = LMHistory(), time.perf_counter(), 0.0
    stream_len = len(train_ids) // batch_size
    pieces, state, window, step_s = iter(()), None, [], 0.0
    bar = tqdm(total=steps or math.ceil(budget_s), desc="training", disable=not progress, unit="it" if steps else "s")
    trainer.train()
    while True:
        fraction = _schedule(history.steps, steps, start + evaluation_s, budget_s, step_s)
        if fraction >= 1:
            break
        try:
            x, y = next(pieces)
        except StopIteration:  # a new pass over the text: a new offset, a fresh state
            offset = int(rng.integers(seq_len))
            pieces, state = chunks(trainer.streams(train_ids[offset:], batch_size), seq_len), None
            continue
        step_start = time.perf_counter()
        step_lr = _cosine_lr(lr, fraction)
        loss, state = trainer.step(x, y, state, step_lr)
        step_s = time.perf_counter() - step_start  # the next step is assumed to take as long
        history.steps += 1
        history.characters += math.prod(x.shape)
        window.append(loss)
        if len(window) == log_every:
            history.train_loss.append(trainer.mean_loss(window))
            history.logged_at.append(history.steps)
            history.lr.append(step_lr)
            window = []
        if val_ids is not None and eval_every and history.steps % eval_every == 0:
            tick = time.perf_counter()
            history.val_loss.append(trainer.evaluate(val_ids))
            history.val_at.append(history.steps)
            trainer.train()
            evaluation_s += time.perf_counter() - tick
        bar.update(1 if steps else max(0, int(time.perf_counter() - start - evaluation_s) - bar.n))
    bar.close()
    history.seconds = time.perf_counter() - start - evaluation_s
    history.epochs = history.characters / (stream_len * batch_size)
    if val_ids is not None and (not history.val_at or history.val_at[-1] != history.steps):
        history.val_loss.append(trainer.evaluate(val_ids))
        history.val_at.append(history.steps)
    return history

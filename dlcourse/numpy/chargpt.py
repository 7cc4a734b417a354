r"""Training, scoring and sampling a character transformer in NumPy.

:func:`train_char_transformer` trains a :class:`dlcourse.numpy.transformer.CharTransformer` with the
loop that the LSTM of :mod:`dlcourse.numpy.charlm` uses (:func:`dlcourse.text.train_language_model`:
parallel streams of the text read in chunks, a cosine schedule, a step count or a time budget), with
one difference: a transformer carries no state, so each chunk of ``seq_len`` characters of each
stream is an independent window. :func:`evaluate_char_transformer` scores held-out text in nats per
character on overlapping windows (:func:`dlcourse.windows.evaluation_windows`), and :func:`generate`
samples, with or without a key-value cache (:func:`dlcourse.windows.sample_text`).

Mirrored by :mod:`dlcourse.torch.chargpt`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse import text as textlib
from dlcourse import windows
from dlcourse.attention_checks import check_char_transformer, check_sampling, check_transformer_training
from dlcourse.checks import check_char_ids
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward, log_softmax
from dlcourse.numpy.optim import Adam, clip_grad_norm
from dlcourse.numpy.transformer import CharTransformer
from dlcourse.results import LMHistory
from dlcourse.validation import as_count, check_positive

__all__ = ["evaluate_char_transformer", "generate", "train_char_transformer"]


class _Trainer:
    """One update of a NumPy :class:`CharTransformer` (the :class:`dlcourse.text.LMTrainer` that
    :func:`train_char_transformer` hands the shared loop): the chunk's streams become a batch of
    windows, then forward, the loss's backward pass by hand, clipping and an Adam step."""

    def __init__(self, model: CharTransformer, lr: float, clip: float, warmup: int) -> None:
        self.model, self.clip, self.warmup, self.updates = model, clip, warmup, 0
        self.optimizer = Adam(model.parameters(), lr=lr)
        self.vocab_size = model.vocab_size

    def streams(self, ids: np.ndarray, batch_size: int) -> np.ndarray:
        return textlib.stream_batches(ids, batch_size)

    def step(self, x: np.ndarray, y: np.ndarray, state: Any, lr: float) -> tuple[float, None]:
        self.updates += 1  # a linear warm-up: Adam's first, noisy steps stay small
        self.optimizer.lr = lr * min(1.0, self.updates / self.warmup) if self.warmup else lr
        ids, targets = np.ascontiguousarray(x.T), y.T  # (B, T): one window per stream; no state is carried
        logits, _ = self.model._logits(ids, None)
        loss, cache = cross_entropy_forward(logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        self.optimizer.zero_grad()
        self.model.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
        clip_grad_norm(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss, None

    def mean_loss(self, losses: list[float]) -> float:
        return float(np.mean(losses))

    def evaluate(self, ids: np.ndarray) -> float:
        return evaluate_char_transformer(self.model, ids)

    def train(self) -> None:
        self.model.train()


def train_char_transformer(
    model: CharTransformer,
    train_ids: np.ndarray,
    *,
    steps: int | None = None,
    budget_s: float | None = None,
    batch_size: int = 32,
    seq_len: int | None = None,
    lr: float = 1e-3,
    clip: float = 1.0,
    warmup: int = 0,
    val_ids: np.ndarray | None = None,
    eval_every: int | None = None,
    log_every: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> LMHistory:
    """Train a :class:`CharTransformer` on windows of a text, with Adam, clipping, a linear warm-up and
    a cosine schedule, for a number of steps or a time budget.

    The loop is :func:`dlcourse.text.train_language_model`, shared with both trees' LSTM: the text
    is read as ``batch_size`` parallel streams in chunks of ``seq_len`` characters, each pass from a
    random offset. A transformer starts every chunk afresh (no state is carried), so each update sees
    ``batch_size`` independent windows, and every window predicts its characters from the ones
    before them inside it.

    Args:
        model: the model; trained in place.
        train_ids: (L,) integer character ids.
        steps: the number of updates, or None to stop on the time budget.
        budget_s: the wall-clock budget in seconds, or None.
        batch_size: windows per update.
        seq_len: characters per window, at most the model's context (None: the whole context).
        lr: Adam's peak learning rate.
        clip: the largest gradient norm.
        warmup: updates over which the learning rate rises linearly to the schedule's value.
        val_ids: optional ids of validation text, scored with :func:`evaluate_char_transformer`.
        eval_every: evaluate every that many steps (and always at the end).
        log_every: average the training loss over that many steps per entry.
        seed: seeds the random offsets.
        progress: show a tqdm bar.

    Returns:
        The :class:`dlcourse.results.LMHistory`.
    """
    seq_len, warmup = check_transformer_training(model, CharTransformer, seq_len, warmup)
    lr, clip = check_positive(lr, "lr"), check_positive(clip, "clip")
    return textlib.train_language_model(
        _Trainer(model, lr, clip, warmup),
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


def evaluate_char_transformer(
    model: CharTransformer, ids: np.ndarray, batch_size: int = 32, stride: int | None = None
) -> float:
    """The mean loss in nats per character of predicting every ``ids[k + 1]`` from the characters before it.

    The text is read in overlapping windows of the model's context (:func:`dlcourse.windows.evaluation_windows`):
    every prediction is scored once, and all but those of the first window with at least
    ``context_size - stride`` characters of context. The model is left in evaluation mode.

    Args:
        model: the model to score.
        ids: (L,) integer ids, L >= 2.
        batch_size: windows per forward pass.
        stride: the shift between windows (default half the context).

    Returns:
        The mean cross-entropy, a float.
    """
    ids = check_char_ids(ids, "ids", check_char_transformer(model, CharTransformer).vocab_size)
    batch_size = as_count(batch_size, "batch_size")
    inputs, targets, mask = windows.evaluation_windows(ids, model.context_size, stride)  # (W, C) each
    model.eval()
    total = 0.0
    for start in range(0, len(inputs), batch_size):
        logits, _ = model._logits(inputs[start : start + batch_size], None)  # (b, C, V)
        picked = np.take_along_axis(log_softmax(logits), targets[start : start + batch_size, :, None], axis=-1)
        total -= float(np.sum(picked[..., 0], where=mask[start : start + batch_size]))
    return total / int(mask.sum())


def generate(
    model: CharTransformer,
    prompt_ids: np.ndarray,
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Sample ``length`` character ids from the model after reading a prompt.

    Each id is drawn from the softmax of the last logits at the temperature and fed back in. With
    ``use_cache`` the model reads only the new id at each step, attending to the keys and values it
    cached for the earlier ones; without, it reads its whole window again. Both give the same ids for
    the same generator (:func:`dlcourse.windows.sample_text`); the cache saves the recomputation.

    Args:
        model: a trained :class:`CharTransformer`.
        prompt_ids: (P,) ids to read first, P >= 1.
        length: the number of ids to draw.
        temperature: below 1 sharpens the distribution, above 1 flattens it.
        rng: the generator to draw with (default: seeded with 0).
        use_cache: keep a key-value cache between steps.

    Returns:
        (length,) the drawn ids, int64.
    """
    prompt_ids, length, temperature, rng, use_cache = check_sampling(
        model, CharTransformer, prompt_ids, length, temperature, rng, use_cache
    )
    model.eval()

    def next_logits(ids: np.ndarray, past: Any) -> tuple[np.ndarray, Any]:
        logits, present = model._logits(ids[None, :], past)  # (1, T, V)
        return logits[0, -1], present

    return windows.sample_text(next_logits, prompt_ids, length, model.context_size, temperature, rng, use_cache)

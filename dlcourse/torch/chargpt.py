r"""Training, scoring and sampling a character transformer in PyTorch, mirroring :mod:`dlcourse.numpy.chargpt`.

The same loop (:func:`dlcourse.text.train_language_model`), windows and sampler
(:mod:`dlcourse.windows`) as the NumPy tree, on the model's device: ``torch.optim.Adam`` updates,
:func:`dlcourse.torch.optim.clip_grad_norm` clips, autograd differentiates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlcourse import text as textlib
from dlcourse import windows
from dlcourse.attention_checks import check_char_transformer, check_sampling, check_transformer_training
from dlcourse.checks import check_char_ids
from dlcourse.device import synchronize
from dlcourse.results import LMHistory
from dlcourse.torch.optim import clip_grad_norm
from dlcourse.torch.transformer import CharTransformer
from dlcourse.validation import as_count, check_positive

__all__ = ["evaluate_char_transformer", "generate", "train_char_transformer"]


class _Trainer:
    """One update of a PyTorch :class:`CharTransformer` on the model's device (the
    :class:`dlcourse.text.LMTrainer` of :func:`train_char_transformer`)."""

    def __init__(self, model: CharTransformer, lr: float, clip: float, warmup: int, timed: bool) -> None:
        self.model, self.clip, self.warmup, self.timed, self.updates = model, clip, warmup, timed, 0
        self.vocab_size = model.vocab_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.device = next(model.parameters()).device

    def streams(self, ids: np.ndarray, batch_size: int) -> torch.Tensor:
        return torch.from_numpy(textlib.stream_batches(ids, batch_size)).to(self.device)

    def step(self, x: torch.Tensor, y: torch.Tensor, state: Any, lr: float) -> tuple[torch.Tensor, None]:
        self.updates += 1  # the linear warm-up of the NumPy tree
        for group in self.optimizer.param_groups:
            group["lr"] = lr * min(1.0, self.updates / self.warmup) if self.warmup else lr
        logits, _ = self.model._logits(x.T, None)  # (B, T, V): one window per stream, no carried state
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), y.T.reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(list(self.model.parameters()), self.clip)
        self.optimizer.step()
        if self.timed:  # under a time budget a step must have ended when it is timed (a GPU runs ahead)
            synchronize(self.device)
        return loss.detach(), None

    def mean_loss(self, losses: list[torch.Tensor]) -> float:
        return float(torch.stack(losses).mean())

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
    """Train a :class:`CharTransformer` on windows of a text; arguments, loop and schedule as
    :func:`dlcourse.numpy.chargpt.train_char_transformer`, on the model's device."""
    seq_len, warmup = check_transformer_training(model, CharTransformer, seq_len, warmup)
    lr, clip = check_positive(lr, "lr"), check_positive(clip, "clip")
    return textlib.train_language_model(
        _Trainer(model, lr, clip, warmup, timed=budget_s is not None),
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


@torch.no_grad()
def evaluate_char_transformer(
    model: CharTransformer, ids: np.ndarray, batch_size: int = 32, stride: int | None = None
) -> float:
    """Mean loss in nats per character over every character of ``ids`` from the second on, on
    overlapping windows, as the NumPy version; the model is left in evaluation mode."""
    ids = check_char_ids(ids, "ids", check_char_transformer(model, CharTransformer).vocab_size)
    batch_size = as_count(batch_size, "batch_size")
    model.eval()
    device = next(model.parameters()).device
    inputs, targets, mask = (
        torch.from_numpy(a).to(device) for a in windows.evaluation_windows(ids, model.context_size, stride)
    )
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(inputs), batch_size):
        logits, _ = model._logits(inputs[start : start + batch_size], None)  # (b, C, V)
        logp = torch.log_softmax(logits.double(), dim=-1)
        picked = logp.gather(-1, targets[start : start + batch_size, :, None])[..., 0]
        total -= picked[mask[start : start + batch_size]].sum()
    return float(total) / int(mask.sum())


@torch.no_grad()
def generate(
    model: CharTransformer,
    prompt_ids: np.ndarray,
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Sample ``length`` ids after reading ``prompt_ids``, with or without a key-value cache, as the
    NumPy version (:func:`dlcourse.windows.sample_text`); (length,) int64."""
    prompt_ids, length, temperature, rng, use_cache = check_sampling(
        model, CharTransformer, prompt_ids, length, temperature, rng, use_cache
    )
    model.eval()
    device = next(model.parameters()).device

    def next_logits(ids: np.ndarray, past: Any) -> tuple[np.ndarray, Any]:
        logits, present = model._logits(torch.from_numpy(ids)[None, :].to(device), past)  # (1, T, V)
        return logits[0, -1].double().cpu().numpy(), present

    return windows.sample_text(next_logits, prompt_ids, length, model.context_size, temperature, rng, use_cache)

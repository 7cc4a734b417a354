r"""A character-level language model in PyTorch, mirroring :mod:`dlcourse.numpy.charlm`.

:class:`CharLM` is ``torch.nn.Embedding``, ``torch.nn.LSTM`` (fused kernels; cuDNN on a GPU)
and ``torch.nn.Linear``, with the NumPy twin's parameter names and initial weights;
:func:`train_char_lm`, :func:`evaluate_char_lm` and :func:`generate` follow the NumPy
functions step for step and run on the model's device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlcourse import text as textlib
from dlcourse.checks import check_char_ids, check_char_lm, check_generate, check_lm_input, check_lm_sizes
from dlcourse.device import synchronize
from dlcourse.results import LMHistory
from dlcourse.text import cosine_lr
from dlcourse.torch import init as initialisers
from dlcourse.torch.layers import Dropout
from dlcourse.torch.optim import clip_grad_norm
from dlcourse.validation import as_count, as_flag, check_positive

__all__ = [
    "CharLM",
    "LMHistory",
    "cosine_lr",
    "evaluate_char_lm",
    "generate",
    "train_char_lm",
]


class CharLM(torch.nn.Module):
    """A character-level language model: ``torch.nn.Embedding``, ``torch.nn.LSTM``, ``torch.nn.Linear``.

    Same arguments, parameter names and initial weights (drawn from the same NumPy generator in
    the same order) as :class:`dlcourse.numpy.charlm.CharLM`.

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
        vocab_size, hidden_size, embedding_dim, num_layers = check_lm_sizes(
            vocab_size, hidden_size, rng, embedding_dim, num_layers, dropout
        )
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim)
        self.lstm = torch.nn.LSTM(embedding_dim, hidden_size, num_layers)
        self.head = torch.nn.Linear(hidden_size, vocab_size)
        bound = 1 / math.sqrt(hidden_size)
        draws = [
            ("embedding.weight", torch.from_numpy(rng.standard_normal((vocab_size, embedding_dim)).astype(np.float32)))
        ]
        for k in range(num_layers):
            fan_in = embedding_dim if k == 0 else hidden_size
            for name, shape in (
                ("weight_ih", (4 * hidden_size, fan_in)),
                ("weight_hh", (4 * hidden_size, hidden_size)),
                ("bias_ih", (4 * hidden_size,)),
                ("bias_hh", (4 * hidden_size,)),
            ):
                draws.append((f"lstm.{name}_l{k}", initialisers.uniform(rng, bound, shape)))
        draws += [
            ("head.weight", initialisers.uniform(rng, bound, (vocab_size, hidden_size))),
            ("head.bias", initialisers.uniform(rng, bound, (vocab_size,))),
        ]
        self.load_state_dict(dict(draws))
        self.drop = Dropout(dropout, np.random.default_rng(int(rng.integers(2**63))))

    def train(self, mode: bool = True) -> CharLM:
        """Training mode (dropout active), or evaluation mode with ``mode=False``, as in the NumPy tree."""
        return super().train(as_flag(mode, "mode"))

    def forward(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        like = self.lstm.weight_ih_l0  # ids and state go to its device; the state to its dtype
        ids, state = check_lm_input(ids, state, self.vocab_size, self.num_layers, self.hidden_size, like)
        ids = ids if isinstance(ids, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        return self._logits(ids.to(like.device, torch.int64), state)

    def _logits(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`forward` without its checks, for the loops of training, evaluation and sampling."""
        out, state = self.lstm(self.embedding(ids), state)  # (T, N, H)
        return self.head(self.drop(out)), state


# ---------------------------------------------------------------- training a character model


class _Trainer:
    """One update of a PyTorch :class:`CharLM`: forward, autograd, clipping and a ``torch.optim.Adam``
    step, on the model's device (the :class:`dlcourse.text.LMTrainer` of :func:`train_char_lm`)."""

    def __init__(self, model: CharLM, lr: float, clip: float, timed: bool) -> None:
        self.model, self.clip, self.timed = model, clip, timed
        self.vocab_size = model.vocab_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.device = next(model.parameters()).device

    def streams(self, ids: np.ndarray, batch_size: int) -> torch.Tensor:
        return torch.from_numpy(textlib.stream_batches(ids, batch_size)).to(self.device)

    def step(self, x: torch.Tensor, y: torch.Tensor, state: Any, lr: float) -> tuple[torch.Tensor, Any]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits, state = self.model._logits(x, state)
        loss = F.cross_entropy(logits.reshape(-1, self.model.vocab_size), y.reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(list(self.model.parameters()), self.clip)
        self.optimizer.step()
        if self.timed:  # under a time budget a step must have ended when it is timed (a GPU runs ahead)
            synchronize(self.device)
        # the loss stays a tensor (reading it would make a GPU wait); the state keeps its values, not its history
        return loss.detach(), tuple(s.detach() for s in state)

    def mean_loss(self, losses: list[torch.Tensor]) -> float:
        return float(torch.stack(losses).mean())

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
    """Train a :class:`CharLM` by stateful truncated BPTT; arguments and schedule as the NumPy version.

    The loop is :func:`dlcourse.text.train_language_model`, shared with the NumPy tree. This tree's
    part is one update on the model's device: ``torch.optim.Adam`` updates,
    :func:`dlcourse.torch.optim.clip_grad_norm` clips, and the carried state is detached between
    chunks, so gradients stop at the chunk boundary.
    """
    check_char_lm(model, CharLM)
    lr, clip = check_positive(lr, "lr"), check_positive(clip, "clip")
    return textlib.train_language_model(
        _Trainer(model, lr, clip, timed=budget_s is not None),
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
def evaluate_char_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, seq_len: int = 200) -> float:
    """Mean loss in nats per character over every character of ``ids`` from the second on,
    as the NumPy version; the model is left in evaluation mode."""
    ids = check_char_ids(ids, "ids", check_char_lm(model, CharLM).vocab_size)
    batch_size, seq_len = as_count(batch_size, "batch_size"), as_count(seq_len, "seq_len")
    model.eval()
    device = next(model.parameters()).device
    inputs, targets, mask = (torch.from_numpy(a).to(device) for a in textlib.evaluation_streams(ids, batch_size))
    total, state = torch.zeros((), dtype=torch.float64, device=device), None
    for start in range(0, len(inputs), seq_len):
        logits, state = model._logits(inputs[start : start + seq_len], state)
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
    prompt_ids, length, temperature, rng = check_generate(model, CharLM, prompt_ids, length, temperature, rng)
    model.eval()
    device = next(model.parameters()).device
    logits, state = model._logits(torch.from_numpy(prompt_ids)[:, None].to(device), None)  # (P, 1, V)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        out[k] = textlib.sample_from_logits(logits[-1, 0].double().cpu().numpy(), temperature, rng)
        logits, state = model._logits(torch.tensor([[out[k]]], device=device), state)
    return out

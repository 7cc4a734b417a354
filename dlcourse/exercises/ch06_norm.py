"""Chapter 6 exercise on batch normalisation: ``batchnorm_step``, debug a BatchNorm2d forward pass on
a batch of images that runs, and even trains, but does not compute what ``torch.nn.BatchNorm2d``
computes. Re-exported by ``ch06``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.routes import forbid_names
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "batchnorm_step": [
        "transpose(0, 2, 3, 1)",
        "moveaxis(x, 1, -1)",
        "axis=(0, 2, 3)",
        "n * h * w",
        "m / (m - 1)",
    ],
}


def solution_batchnorm_step(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One call of a BatchNorm2d layer on a batch of images, as ``torch.nn.BatchNorm2d`` computes it.

    Args:
        x: (N, C, H, W) the batch; in training mode it needs N * H * W >= 2 values per channel.
        weight, bias: (C,) the learned scale and shift.
        running_mean, running_var: (C,) the running statistics before the call.
        training: normalise with the batch's statistics and update the running ones, or
            normalise with the running ones and leave them.
        momentum: the weight of the new batch statistic in the running averages.
        eps: added to the variance before the square root.

    Returns:
        ``(out, running_mean, running_var)``: the output (N, C, H, W) and the running statistics
        (C,) after the call.

    Raises:
        ValueError: in training mode, for a batch with fewer than two values per channel.
    """
    n, c, h, w = x.shape
    if training:
        m = n * h * w  # the values of one channel: every position of every image
        if m < 2:
            raise ValueError(f"x must hold at least 2 values per channel in training mode, got shape {x.shape}.")
        values = x.transpose(0, 2, 3, 1).reshape(m, c)  # (N*H*W, C): one column per channel
        mean, var = values.mean(axis=0), values.var(axis=0)  # (C,): the batch's own statistics, var biased
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)  # tracked unbiased
    else:  # evaluation: the running statistics, which stay as they are
        mean, var = running_mean, running_var
    x_hat = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps)  # (N, C, H, W)
    return weight[:, None, None] * x_hat + bias[:, None, None], running_mean, running_var


def _variant(
    mixed_channels: bool = False,
    count: str = "m",
    running_in_training: bool = False,
    keras_momentum: bool = False,
    unbiased_normalisation: bool = False,
    batch_in_eval: bool = False,
    no_eps: bool = False,
    fixed_eps: bool = False,
) -> Callable[..., tuple]:
    """``batchnorm_step`` with typical mistakes (the exercise's stub: ``mixed_channels`` and ``count="n"``).

        ``count`` is the number of values in the unbiased correction m / (m - 1): ``"m"`` (N H W, right),
        ``"n"`` (the batch size), ``"size"`` (every value of x) or ``"none"`` (no correction); ``fixed_eps``
    uses the default 1e-5 whatever eps it is given."""

    def step(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        eps = 0.0 if no_eps else 1e-5 if fixed_eps else eps
        n, c, h, w = x.shape
        if training or batch_in_eval:
            flat = x.reshape(-1, c) if mixed_channels else x.transpose(0, 2, 3, 1).reshape(-1, c)  # (N*H*W, C)
            mean, var = flat.mean(axis=0), flat.var(axis=0, ddof=1 if unbiased_normalisation else 0)
        if training:
            k = {"m": n * h * w, "n": n, "size": x.size}.get(count)
            tracked = var if k is None or unbiased_normalisation else var * k / (k - 1)
            keep = momentum if keras_momentum else 1 - momentum
            running_mean = keep * running_mean + (1 - keep) * mean
            running_var = keep * running_var + (1 - keep) * tracked
            if running_in_training:
                mean, var = running_mean, running_var
        elif not batch_in_eval:
            mean, var = running_mean, running_var
        x_hat = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps)  # (N, C, H, W)
        return weight[:, None, None] * x_hat + bias[:, None, None], running_mean, running_var

    return step


broken_batchnorm_step = _variant(mixed_channels=True, count="n")
"""The exercise's stub: reshapes (N, C, H, W) to (N*H*W, C) without moving the channel axis, which
mixes the channels, and corrects the variance with the batch size N instead of N*H*W."""


def _cases() -> list[Case]:
    rng = np.random.default_rng(60)
    cases = []
    shapes = ((2, 2, 1, 2, 0.1, True), (4, 3, 2, 2, 0.1, True), (2, 2, 3, 1, 0.3, True), (2, 3, 2, 1, 0.1, False))
    shapes += ((1, 2, 2, 3, 0.1, True), (2, 2, 1, 1, 1.0, True))  # one image; a single value per image
    shapes += ((3, 3, 2, 2, 0.1, True, 1e-2), (2, 3, 1, 2, 0.1, False, 0.1))  # an eps of its own, both modes
    for n, c, h, w, momentum, training, *other_eps in shapes:
        eps = other_eps[0] if other_eps else 1e-5
        spread = np.array([2.0, 0.01, 0.5])[:c]  # the second channel barely varies: eps matters there
        x = rng.normal(size=(n, c, h, w)) * spread[:, None, None] + rng.normal(size=(c, 1, 1))  # (N, C, H, W)
        weight, bias = rng.uniform(0.5, 1.5, size=c), rng.normal(size=c)
        running_mean, running_var = rng.normal(size=c), rng.uniform(0.5, 2.0, size=c)
        mode = "a training batch" if training else "an evaluation batch"
        label = f"{mode} x of shape {(n, c, h, w)}, momentum {momentum}" + (f", eps {eps:g}" if other_eps else "")
        cases.append(Case((x, weight, bias, running_mean, running_var, training, momentum, eps), label))
    return cases


_FINISHED_LAYERS = (
    ("torch", "dlcourse", "batchnorm_forward", "_channels_last_flat")  # any torch route, the course's own layer
    + ("batch_norm", "native_batch_norm", "_native_batch_norm_legit", "cudnn_batch_norm", "miopen_batch_norm")
    + ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d")
    + ("SyncBatchNorm", "_BatchNorm", "_NormBase", "batch_norm_stats", "batch_norm_elemt", "aten")
)
"""What the answer may not use: every PyTorch batch-norm route (``torch.nn.functional.batch_norm``,
``torch.batch_norm``, ``torch.native_batch_norm``, ``torch.ops.aten...``, the ``BatchNorm`` modules), and
torch itself, which the NumPy exercise never needs."""


@checker
def check_batchnorm_step(answer: Any) -> Feedback:
    """Exercise 6.9: fix ``batchnorm_step(x, weight, bias, running_mean, running_var, training, momentum,
    eps) -> (out, running_mean, running_var)`` so that it computes what ``torch.nn.BatchNorm2d`` does."""
    return check_function(
        "batchnorm_step",
        answer,
        solution_batchnorm_step,
        _cases(),
        hint=(
            "Compare each of the three parts of the step with the definition in the text: what is normalised "
            "with what, and what is remembered for later.",
            "Follow the chapter's batch-normalisation section line by line: which values make up one channel of "
            "a batch of images, what the batch is normalised with in training, how the running averages move "
            "(momentum is the weight of the new value), and which variance each of the two uses.",
        ),
        parts=("out", "running_mean", "running_var"),
        forbid=forbid_names(
            _FINISHED_LAYERS, "this exercise asks you to fix the stub's own arithmetic, not to call a finished layer"
        ),
        mistakes=[
            Mistake(
                broken_batchnorm_step,
                (
                    "Compare each of the three parts of the step with the definition in the text: what is "
                    "normalised with what, and what is remembered for later.",
                    "Two lines differ from torch.nn.BatchNorm2d. Start with the statistics: one channel's mean "
                    "and variance are taken over the N*H*W values of that channel. Try a small x, say "
                    "np.arange(16.0).reshape(2, 2, 2, 2), and check which of its numbers land in column 0 of the "
                    "reshaped array. Fix that, run the checker again, and it will point at the second.",
                ),
            ),
            Mistake(
                _variant(mixed_channels=True),
                (
                    "The variance correction is right now, but all three parts are wrong for a batch with H*W > 1: "
                    "check which of x's numbers end up in each column of the reshaped array.",
                    "x.reshape(-1, C) keeps NumPy's memory order, in which the H*W values of one channel of one "
                    "image come one after another, so a column mixes channels. Move the channel axis to the end "
                    "before reshaping, or take the statistics over the right axes of x directly.",
                ),
            ),
            Mistake(
                _variant(count="n"),
                (
                    "out and running_mean are right now; running_var is too large: the correction that makes it "
                    "unbiased depends on how many values each channel's variance is taken over.",
                    "In a batch of images one channel's variance averages N*H*W values, not N: the unbiased "
                    "correction divides by that count minus one.",
                ),
            ),
            Mistake(
                _variant(count="size"),
                (
                    "out and running_mean are right now; running_var is a little too small: the correction "
                    "counts the values of one channel only.",
                    "x.size counts the values of every channel; one channel's variance is taken over N*H*W of them.",
                ),
            ),
            Mistake(
                _variant(count="none"),
                (
                    "out and running_mean are right now; running_var is a little too small, by a factor that "
                    "depends on the number of values per channel.",
                    "PyTorch normalises the batch with its biased variance (divided by the count) but tracks the "
                    "unbiased one (divided by the count minus one) in running_var.",
                ),
            ),
            Mistake(
                _variant(running_in_training=True),
                (
                    "The running statistics are right now, but out is not: in training mode, what should the "
                    "batch be normalised with?",
                    "In training mode the layer normalises the batch with that batch's own mean and (biased) "
                    "variance, not with the running averages, which only evaluation mode uses.",
                ),
            ),
            Mistake(
                _variant(keras_momentum=True),
                (
                    "out is right, but the running averages move by the wrong amount: with momentum 0.1 they "
                    "should change only a little per batch.",
                    "In PyTorch, momentum is the weight of the NEW batch statistic: running = (1 - momentum) "
                    "running + momentum batch. Keras uses the opposite convention.",
                ),
            ),
            Mistake(
                _variant(unbiased_normalisation=True),
                (
                    "The running statistics are right now, but out is a little too small in size: check which "
                    "variance normalises the batch.",
                    "The batch is normalised with its biased variance, as x.var does by default; only "
                    "running_var tracks the unbiased one.",
                ),
            ),
            Mistake(
                _variant(batch_in_eval=True),
                (
                    "Training batches are right, but an evaluation batch is not: in evaluation mode an "
                    "example's output must not depend on the other examples of its batch.",
                    "In evaluation mode normalise with running_mean and running_var, and return them unchanged.",
                ),
            ),
            Mistake(
                _variant(fixed_eps=True),
                (
                    "Right for the default eps, but not for a call that passes another one: look at where your "
                    "eps comes from.",
                    "eps is an argument of batchnorm_step: use the value the caller passes, not a number of your own.",
                ),
            ),
            Mistake(
                _variant(no_eps=True),
                (
                    "Almost right, but not for a channel that barely varies within the batch: look at the "
                    "denominator of the normalisation.",
                    "eps is added to the variance before the square root, in both modes.",
                ),
            ),
        ],
    )

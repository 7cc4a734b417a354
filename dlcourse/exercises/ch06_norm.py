"""Chapter 6 exercise on batch normalisation: ``batchnorm_step``, debug a BatchNorm forward pass
that runs, and even trains, but does not compute what ``torch.nn.BatchNorm1d`` computes.
Re-exported by ``ch06``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.routes import forbid_names
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "batchnorm_step": ["n / (n - 1)", "ddof=1", "(x - mean) / np.sqrt(var + eps)", "x_hat = (x - mean)"],
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
    """One call of a BatchNorm1d layer on a batch of features, as ``torch.nn.BatchNorm1d`` computes it.

    Args:
        x: (N, C) the batch.
        weight, bias: (C,) the learned scale and shift.
        running_mean, running_var: (C,) the running statistics before the call.
        training: normalise with the batch's statistics and update the running ones, or
            normalise with the running ones and leave them.
        momentum: the weight of the new batch statistic in the running averages.
        eps: added to the variance before the square root.

    Returns:
        ``(out, running_mean, running_var)``: the output (N, C) and the running statistics
        (C,) after the call.
    """
    if not training:  # evaluation: the running statistics, which stay as they are
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        return weight * x_hat + bias, running_mean, running_var
    n = len(x)
    mean, var = x.mean(axis=0), x.var(axis=0)  # (C,): the batch's own statistics, var biased
    x_hat = (x - mean) / np.sqrt(var + eps)  # the batch is normalised with them
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)  # tracked unbiased
    return weight * x_hat + bias, new_mean, new_var


def _variant(
    running_in_training: bool = False,
    biased_running_var: bool = False,
    keras_momentum: bool = False,
    unbiased_normalisation: bool = False,
    batch_in_eval: bool = False,
    no_eps: bool = False,
) -> Callable[..., tuple]:
    """``batchnorm_step`` with typical mistakes (the exercise's stub: the first two)."""

    def step(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        eps = 0.0 if no_eps else eps
        n = len(x)
        if not training and not batch_in_eval:
            return weight * (x - running_mean) / np.sqrt(running_var + eps) + bias, running_mean, running_var
        mean, var = x.mean(axis=0), x.var(axis=0, ddof=1 if unbiased_normalisation else 0)
        if not training:  # batch statistics in evaluation mode, running ones untouched
            return weight * (x - mean) / np.sqrt(var + eps) + bias, running_mean, running_var
        tracked = var if biased_running_var or unbiased_normalisation else var * n / (n - 1)
        keep = momentum if keras_momentum else 1 - momentum
        running_mean = keep * running_mean + (1 - keep) * mean
        running_var = keep * running_var + (1 - keep) * tracked
        centre, spread = (running_mean, running_var) if running_in_training else (mean, var)
        return weight * (x - centre) / np.sqrt(spread + eps) + bias, running_mean, running_var

    return step


broken_batchnorm_step = _variant(running_in_training=True, biased_running_var=True)
"""The exercise's stub: normalises a training batch with the running statistics and tracks the
biased variance."""


def _cases() -> list[Case]:
    rng = np.random.default_rng(60)
    cases = []
    for n, c, momentum, training in ((4, 3, 0.1, True), (6, 2, 0.3, True), (5, 3, 0.1, False), (2, 2, 1.0, True)):
        spread = np.array([2.0, 0.01, 0.5])[:c]  # the second feature barely varies: eps matters there
        x = rng.normal(size=(n, c)) * spread + rng.normal(size=c)  # (N, C)
        weight, bias = rng.uniform(0.5, 1.5, size=c), rng.normal(size=c)
        running_mean, running_var = rng.normal(size=c), rng.uniform(0.5, 2.0, size=c)
        mode = "a training batch" if training else "an evaluation batch"
        label = f"{mode} of {n} examples with {c} features, momentum {momentum}"
        cases.append(Case((x, weight, bias, running_mean, running_var, training, momentum, 1e-5), label))
    return cases


@checker
def check_batchnorm_step(answer: Any) -> Feedback:
    """Exercise 6.9: fix ``batchnorm_step(x, weight, bias, running_mean, running_var, training, momentum,
    eps) -> (out, running_mean, running_var)`` so that it computes what ``torch.nn.BatchNorm1d`` does."""
    return check_function(
        "batchnorm_step",
        answer,
        solution_batchnorm_step,
        _cases(),
        hint=(
            "Compare each of the three parts with the expected ones, one at a time. Which statistics "
            "should normalise a batch in training mode, and which ones in evaluation mode?",
            "Follow the chapter's batch-normalisation section line by line: what the batch is normalised "
            "with in training, how the running averages move (momentum is the weight of the new value), "
            "and which variance each of the two uses.",
        ),
        parts=("out", "running_mean", "running_var"),
        forbid=forbid_names(
            ("batchnorm_forward", "BatchNorm1d", "BatchNorm2d", "batch_norm"),
            "this exercise asks you to fix the stub's own arithmetic, not to call a finished layer",
        ),
        mistakes=[
            Mistake(
                broken_batchnorm_step,
                (
                    "Your out is not standardised the way the layer's output should be in training: look at "
                    "what it is normalised with, and at the order of the lines.",
                    "Two lines differ from torch.nn.BatchNorm1d. First, in training mode the batch in hand is "
                    "normalised with its own mean and variance; the running averages are kept for evaluation "
                    "only. Fix that, run the checker again, and it will point at the second.",
                ),
            ),
            Mistake(
                _variant(biased_running_var=True),
                (
                    "out and running_mean are right now; running_var is a little too small, by a factor that "
                    "depends on the batch size.",
                    "PyTorch normalises the batch with its biased variance (divided by n) but tracks the "
                    "unbiased one (divided by n - 1) in running_var: scale the batch variance up before it "
                    "enters the running average.",
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
                    "The batch is normalised with its biased variance (divided by n), as x.var does by default; "
                    "only running_var tracks the unbiased one.",
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
                _variant(no_eps=True),
                (
                    "Almost right, but not for a feature that barely varies within the batch: look at the "
                    "denominator of the normalisation.",
                    "eps is added to the variance before the square root, in both modes.",
                ),
            ),
        ],
    )

"""A minibatch training loop for a NumPy classifier, with a progress bar.

Mirrored by :mod:`dlcourse.torch.train`: same arguments, same shuffling (from the same
NumPy generator), same history, so two runs from the same weights can be compared.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from dlcourse.checks import check_fit
from dlcourse.numpy.layers import Module
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward
from dlcourse.numpy.optim import Optimizer
from dlcourse.results import History
from dlcourse.validation import as_count, as_flag, as_float_array, check_batch, check_labels, check_methods

__all__ = ["History", "accuracy", "fit", "predict"]


def predict(model: Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Logits (N, C) in evaluation mode, batch by batch; the model is left in evaluation mode.
    An empty batch gives an empty (0, C) result."""
    check_methods(model, "model", ("eval", "__call__"), "a network")
    x, batch_size = as_float_array(x, "x"), as_count(batch_size, "batch_size")
    check_batch(x, "x")
    model.eval()
    return np.concatenate([model(x[i : i + batch_size]) for i in range(0, max(len(x), 1), batch_size)])


def accuracy(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of ``x`` whose highest logit is the label in ``y``."""
    logits = predict(model, x)
    y = np.asarray(check_labels(y, "y", logits.shape[1], (len(logits),)))
    return float(np.mean(logits.argmax(axis=1) == y))


def fit(
    model: Module,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    progress: bool = True,
) -> History:
    """Train a classifier with softmax cross-entropy on shuffled minibatches.

    Args:
        model: maps (B, D) inputs to (B, C) logits, with ``backward``.
        optimizer: updates ``model.parameters()``.
        x: (N, D) training inputs.
        y: (N,) integer labels.
        epochs: passes over the training set.
        batch_size: examples per update.
        rng: shuffles the training set each epoch.
        x_val: optional (M, D) validation inputs.
        y_val: optional (M,) validation labels.
        progress: show a tqdm bar over epochs.

    Returns:
        The :class:`History` of losses and accuracies.
    """
    check_methods(model, "model", ("train", "eval", "__call__"), "a network")
    check_methods(optimizer, "optimizer", ("zero_grad", "step"), "an optimiser")
    progress = as_flag(progress, "progress")
    x, y, x_val, y_val = check_fit(x, y, epochs, batch_size, rng, x_val, y_val, as_float_array)
    y, y_val = np.asarray(y), None if y_val is None else np.asarray(y_val)
    history = History()
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            logits = model(x[idx])  # (B, C)
            if epoch == start == 0:
                check_labels(y, "y", logits.shape[1])  # once the number of classes is known
            loss, cache = cross_entropy_forward(logits, y[idx])
            optimizer.zero_grad()
            model.backward(cross_entropy_backward(1.0, cache))
            optimizer.step()
            losses.append(loss)
        history.train_loss.append(float(np.mean(losses)))
        if x_val is not None and y_val is not None:
            logits = predict(model, x_val)
            if epoch == 0:
                check_labels(y_val, "y_val", logits.shape[1])
            history.val_loss.append(cross_entropy_forward(logits, y_val)[0])
            history.val_acc.append(float(np.mean(logits.argmax(axis=1) == y_val)))
    return history

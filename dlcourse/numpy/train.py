"""A minibatch training loop for a NumPy classifier, with a progress bar.

Mirrored by :mod:`dlcourse.torch.train`: same arguments, same shuffling (from the same
NumPy generator), same history, so two runs from the same weights can be compared.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from dlcourse.numpy.layers import Module
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward
from dlcourse.numpy.optim import Optimizer
from dlcourse.results import History
from dlcourse.validation import as_float_array, check_shape

__all__ = ["History", "accuracy", "fit", "predict"]


def predict(model: Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Logits (N, C) in evaluation mode, batch by batch; the model is left in evaluation mode."""
    model.eval()
    return np.concatenate([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of ``x`` whose highest logit is the label in ``y``."""
    return float(np.mean(predict(model, x).argmax(axis=1) == y))


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
    x = as_float_array(x, "x", allow_nan=False)
    check_shape(y, "y", (len(x),))
    history = History()
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            logits = model(x[idx])  # (B, C)
            loss, cache = cross_entropy_forward(logits, y[idx])
            optimizer.zero_grad()
            model.backward(cross_entropy_backward(1.0, cache))
            optimizer.step()
            losses.append(loss)
        history.train_loss.append(float(np.mean(losses)))
        if x_val is not None and y_val is not None:
            logits = predict(model, x_val)
            history.val_loss.append(cross_entropy_forward(logits, y_val)[0])
            history.val_acc.append(float(np.mean(logits.argmax(axis=1) == y_val)))
    return history

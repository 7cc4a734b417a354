"""A minibatch training loop for a PyTorch classifier, mirroring :mod:`dlcourse.numpy.train`.

Same arguments and the same shuffling from a NumPy generator; gradients come from autograd.
The model and data may live on any device (see :func:`dlcourse.get_device`).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from dlcourse.checks import check_fit
from dlcourse.results import History
from dlcourse.validation import as_count, as_flag, as_float_tensor, check_batch, check_labels, check_methods

__all__ = ["History", "accuracy", "fit", "predict"]


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits (N, C) in evaluation mode, batch by batch; the model is left in evaluation mode.
    An empty batch gives an empty (0, C) result."""
    check_methods(model, "model", ("eval", "__call__"), "a network")
    x, batch_size = as_float_tensor(x, "x"), as_count(batch_size, "batch_size")
    check_batch(x, "x")
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, max(len(x), 1), batch_size)])


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows of ``x`` whose highest logit is the label in ``y``."""
    logits = predict(model, x)
    y = torch.as_tensor(check_labels(y, "y", logits.shape[1], (len(logits),))).to(logits.device)
    return float((logits.argmax(dim=1) == y).float().mean())


def fit(
    model: torch.nn.Module,
    optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    progress: bool = True,
) -> History:
    """Train a classifier with softmax cross-entropy; arguments as the NumPy version.

    ``optimizer`` is any object with ``zero_grad()`` and ``step()``: one of
    :mod:`dlcourse.torch.optim` or a ``torch.optim`` optimiser.
    """
    check_methods(model, "model", ("train", "eval", "__call__"), "a network")
    check_methods(optimizer, "optimizer", ("zero_grad", "step"), "an optimiser")
    progress = as_flag(progress, "progress")
    x, y, x_val, y_val = check_fit(x, y, epochs, batch_size, rng, x_val, y_val, as_float_tensor)
    y = torch.as_tensor(y).long().to(x.device)
    y_val = None if y_val is None else torch.as_tensor(y_val).long().to(x_val.device)
    history = History()
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x))).to(x.device)
        total, batches = torch.zeros((), device=x.device), 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            logits = model(x[idx])  # (B, C)
            if epoch == start == 0:
                check_labels(y, "y", logits.shape[1])  # once the number of classes is known
            loss = torch.nn.functional.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
            batches += 1
        history.train_loss.append(float(total) / batches)  # one device sync per epoch
        if x_val is not None and y_val is not None:
            logits = predict(model, x_val)
            if epoch == 0:
                check_labels(y_val, "y_val", logits.shape[1])
            history.val_loss.append(float(torch.nn.functional.cross_entropy(logits, y_val)))
            history.val_acc.append(float((logits.argmax(dim=1) == y_val).float().mean()))
    return history

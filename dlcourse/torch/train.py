"""A minibatch training loop for a PyTorch classifier, mirroring :mod:`dlcourse.numpy.train`.

Same arguments and the same shuffling from a NumPy generator; gradients come from autograd.
The model and data may live on any device (see :func:`dlcourse.get_device`).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from dlcourse.results import History
from dlcourse.validation import as_float_tensor, check_shape

__all__ = ["History", "accuracy", "fit", "predict"]


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits (N, C) in evaluation mode, batch by batch; the model is left in evaluation mode."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows of ``x`` whose highest logit is the label in ``y``."""
    return float((predict(model, x).argmax(dim=1) == y).float().mean())


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
    x = as_float_tensor(x, "x", allow_nan=False)
    check_shape(y, "y", (len(x),))
    history = History()
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x))).to(x.device)
        total, batches = torch.zeros((), device=x.device), 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
            batches += 1
        history.train_loss.append(float(total) / batches)  # one device sync per epoch
        if x_val is not None and y_val is not None:
            logits = predict(model, x_val)
            history.val_loss.append(float(torch.nn.functional.cross_entropy(logits, y_val)))
            history.val_acc.append(float((logits.argmax(dim=1) == y_val).float().mean()))
    return history

r"""Loss functions in PyTorch, mirroring :mod:`dlcourse.numpy.losses`.

Same names, signatures and caches; the backward functions are the same formulas written
with tensor operations, checked against ``torch.autograd`` and ``torch.nn.functional``.
"""

from __future__ import annotations

import torch

from dlcourse.checks import check_logits
from dlcourse.validation import (
    as_count,
    as_float_tensor,
    as_real,
    check_allocation,
    check_labels,
    check_not_empty,
    check_shape,
)

__all__ = [
    "categorical_cross_entropy",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "log_softmax",
    "mse",
    "mse_backward",
    "mse_forward",
    "one_hot",
    "softmax",
    "softmax_backward",
    "softmax_forward",
]


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices (N,) -> one-hot rows (N, num_classes), float64; labels refused as in the NumPy tree."""
    num_classes = as_count(num_classes, "num_classes")
    labels = torch.as_tensor(check_labels(labels, "labels", num_classes))
    check_allocation((*labels.shape, num_classes), "the one-hot array")
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float64)


def mse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error over every element."""
    return mse_forward(pred, target)[0]


def mse_forward(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, tuple[torch.Tensor, int]]:
    """MSE, keeping ``cache = (pred - target, n)``."""
    pred, target = as_float_tensor(pred, "pred"), as_float_tensor(target, "target")
    check_shape(target, "target", tuple(pred.shape))
    check_not_empty(pred, "pred")
    diff = pred - target
    return float(torch.mean(diff * diff)), (diff, diff.numel())


def mse_backward(dout: float, cache: tuple[torch.Tensor, int]) -> torch.Tensor:
    """Gradient of the MSE with respect to ``pred``."""
    diff, n = cache
    return (2.0 * as_real(dout, "dout") / n) * diff


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax along the last axis (``torch.softmax`` subtracts the maximum internally)."""
    return torch.softmax(check_logits(logits, as_float_tensor), dim=-1)


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax along the last axis, by log-sum-exp."""
    return torch.log_softmax(check_logits(logits, as_float_tensor), dim=-1)


def softmax_forward(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax, keeping ``cache = probs``."""
    probs = softmax(logits)
    return probs, probs


def softmax_backward(dout: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    """Vector-Jacobian product of softmax."""
    dout = as_float_tensor(dout, "dout")
    check_shape(dout, "dout", tuple(cache.shape))
    return cache * (dout - torch.sum(dout * cache, dim=-1, keepdim=True))


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Softmax cross-entropy from raw scores, averaged over the batch."""
    return cross_entropy_forward(logits, target)[0]


def cross_entropy_forward(
    logits: torch.Tensor, target: torch.Tensor
) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    """Cross-entropy, keeping ``cache = (probs, target)``."""
    logits = check_logits(logits, as_float_tensor)
    check_shape(logits, "logits", (None, None))
    check_not_empty(logits, "logits")
    n, c = logits.shape
    target = torch.as_tensor(check_labels(target, "target", c, (n,))).long().to(logits.device)
    logp = torch.log_softmax(logits, dim=-1)  # (N, C)
    loss = -float(logp[torch.arange(n, device=logits.device), target].mean())
    return loss, (logp.exp(), target)


def cross_entropy_backward(dout: float, cache: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Gradient with respect to the logits: (probs - one_hot) / N * dout."""
    probs, target = cache
    n = probs.shape[0]
    dlogits = probs.clone()
    dlogits[torch.arange(n, device=probs.device), target] -= 1.0
    return dlogits * (as_real(dout, "dout") / n)


def categorical_cross_entropy(probs: torch.Tensor, target: torch.Tensor) -> float:
    """Cross-entropy between probabilities and one-hot labels, averaged over rows; ``inf`` where
    a class the target holds gets probability 0, as in the NumPy tree."""
    probs, target = check_logits(probs, as_float_tensor, "probs"), as_float_tensor(target, "target")
    check_shape(target, "target", tuple(probs.shape))
    check_not_empty(probs, "probs")
    safe = torch.where(target > 0, probs, torch.ones_like(probs))
    terms = torch.where(target > 0, target * torch.log(safe), torch.zeros_like(probs))
    return float(-terms.sum(dim=-1).mean())

r"""Optimisers in NumPy: turn gradients into parameter updates, in place.

- SGD: :math:`\theta \leftarrow \theta - \eta\, g`.
- Momentum: :math:`v \leftarrow \mu v + g`, :math:`\theta \leftarrow \theta - \eta v`
  (PyTorch's form): a ball rolling downhill that keeps some speed.
- Adam: running averages of the gradient and its square, bias-corrected,
  :math:`\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)`.

Weight decay adds :math:`\lambda\theta` to every gradient (L2 regularisation). Each
matches its ``torch.optim`` counterpart update for update; ``tests/test_optim.py`` checks it.
Hyperparameters are constructor arguments; optimiser state (velocities, moments) lives in
separate arrays, one per parameter.

Gradient clipping (:func:`clip_grad_norm`) lives here too: it changes the gradients just before
a step, the same way in every model that uses it (the recurrent networks of chapter 8 and DQN in
chapter 10).

Mirrored by :mod:`dlcourse.torch.optim`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dlcourse.numpy.layers import Parameter
from dlcourse.validation import as_fraction, as_real, check_parameter_list, check_positive, describe

__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "clip_grad_norm"]


class Optimizer:
    """Holds the parameters; ``zero_grad()`` clears their gradients, ``step()`` updates them."""

    def __init__(self, params: Sequence[Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = check_parameter_list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p.data, np.ndarray):
                raise TypeError(
                    f"params[{i}] must be a NumPy-tree Parameter, got a {type(p).__name__} of the other tree."
                )
        self.lr, self.weight_decay = check_positive(lr, "lr"), as_real(weight_decay, "weight_decay")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {describe(weight_decay)}.")

    def zero_grad(self) -> None:
        """Forget every gradient (set it to None), as ``torch.optim`` does."""
        for p in self.params:
            p.grad = None

    def _grad(self, p: Parameter) -> np.ndarray:
        return p.grad + self.weight_decay * p.data if self.weight_decay else p.grad

    def step(self) -> None:
        """Apply one update to every parameter."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: p -= lr * grad.

    Args:
        params: the parameters to update.
        lr: the learning rate.
        weight_decay: L2 penalty coefficient.
    """

    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:  # a parameter no gradient reached stays put, as in torch
                p.data -= self.lr * self._grad(p)


class Momentum(Optimizer):
    """Gradient descent with momentum: v = momentum * v + grad; p -= lr * v.

    Args:
        params: the parameters to update.
        lr: the learning rate.
        momentum: how much of the previous velocity is kept, in [0, 1).
        weight_decay: L2 penalty coefficient.
    """

    def __init__(
        self, params: Sequence[Parameter], lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = as_fraction(momentum, "momentum")
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        for p, v in zip(self.params, self.velocity, strict=True):
            if p.grad is None:
                continue
            v *= self.momentum
            v += self._grad(p)
            p.data -= self.lr * v


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), as ``torch.optim.Adam``.

    Args:
        params: the parameters to update.
        lr: the learning rate.
        betas: decay rates of the first and second moment averages.
        eps: added to the denominator for stability.
        weight_decay: L2 penalty coefficient (added to the gradient, as in torch).
    """

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair of numbers in [0, 1), got {describe(betas)}.")
        self.betas = (as_fraction(betas[0], "betas[0]"), as_fraction(betas[1], "betas[1]"))
        self.eps, self.t = check_positive(eps, "eps"), 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        correction1, correction2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = self._grad(p)
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v) / np.sqrt(correction2) + self.eps
            p.data -= (self.lr / correction1) * m / denom


def clip_grad_norm(params: Sequence[Parameter], max_norm: float) -> float:
    r"""Rescale the gradients in place so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, :math:`\|g\| = \sqrt{\sum_p \|g_p\|^2}`.
    If it exceeds ``max_norm``, every gradient is multiplied by
    :math:`\text{max\_norm} / (\|g\| + 10^{-6})`: the direction of the step is kept and only
    its length is capped, so one unlucky minibatch cannot throw the weights far off. The same
    contract as ``torch.nn.utils.clip_grad_norm_`` (and :func:`dlcourse.torch.optim.clip_grad_norm`).

    Args:
        params: parameters whose ``grad`` to clip (those without one are skipped).
        max_norm: the largest norm allowed, > 0.

    If a gradient holds inf or NaN, the norm is not finite and no scale can fix it: the
    gradients are left as they are and the returned norm (inf or NaN) says so.

    Returns:
        The total norm before clipping (0.0 when no parameter has a gradient).
    """
    max_norm = check_positive(max_norm, "max_norm")
    grads = [p.grad for p in check_parameter_list(params) if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    scale = max_norm / (total + 1e-6)
    if math.isfinite(total) and scale < 1:
        for g in grads:
            g *= scale
    return total

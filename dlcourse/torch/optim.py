r"""Optimisers in PyTorch, mirroring :mod:`dlcourse.numpy.optim`.

Written by hand with tensor operations on ``param.grad`` (inside ``torch.no_grad()``), so
the update rules can be read and checked against ``torch.optim`` step for step;
:func:`clip_grad_norm` against ``torch.nn.utils.clip_grad_norm_``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dlcourse.validation import as_fraction, as_real, check_parameter_list, check_positive, describe

__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "clip_grad_norm"]


class Optimizer:
    """Holds the parameters; ``zero_grad()`` clears their gradients, ``step()`` updates them."""

    def __init__(self, params: Sequence[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = check_parameter_list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"params[{i}] must be a torch tensor (a torch.nn.Parameter), got a {type(p).__name__}.")
        self.lr, self.weight_decay = check_positive(lr, "lr"), as_real(weight_decay, "weight_decay")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {describe(weight_decay)}.")

    def zero_grad(self) -> None:
        """Forget every gradient (set it to None), as ``torch.optim`` does."""
        for p in self.params:
            p.grad = None

    def _grad(self, p: torch.nn.Parameter) -> torch.Tensor:
        return p.grad + self.weight_decay * p if self.weight_decay else p.grad

    def step(self) -> None:
        """Apply one update to every parameter."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: p -= lr * grad."""

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p -= self.lr * self._grad(p)


class Momentum(Optimizer):
    """Gradient descent with momentum: v = momentum * v + grad; p -= lr * v."""

    def __init__(
        self, params: Sequence[torch.nn.Parameter], lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = as_fraction(momentum, "momentum")
        self.velocity = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        for p, v in zip(self.params, self.velocity, strict=True):
            if p.grad is None:
                continue
            v.mul_(self.momentum).add_(self._grad(p))
            p -= self.lr * v


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``."""

    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
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
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        correction1, correction2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = self._grad(p)
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            denom = v.sqrt() / correction2**0.5 + self.eps
            p -= (self.lr / correction1) * m / denom


@torch.no_grad()
def clip_grad_norm(params: Sequence[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Rescale the gradients in place so that their joint norm is at most ``max_norm``.

    The rule of :func:`dlcourse.numpy.optim.clip_grad_norm`, written from tensor primitives, with the
    contract of ``torch.nn.utils.clip_grad_norm_``: ``max_norm`` must be > 0, and the total norm
    before clipping is returned as a 0-dim tensor on the gradients' device (0 when no parameter has
    a gradient), so that a GPU need not stop and report it after every step; ``float()`` reads it.
    A norm of inf or NaN leaves the gradients as they are, as in the NumPy tree.
    """
    max_norm = check_positive(max_norm, "max_norm")
    grads = [p.grad for p in check_parameter_list(params) if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # stays on the device: no wait for the GPU
    scale = torch.where(torch.isfinite(total), scale, torch.ones_like(scale))  # inf/NaN: nothing to rescale
    for g in grads:
        g.mul_(scale)
    return total

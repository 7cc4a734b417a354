r"""Normalisation layers in PyTorch, mirroring :mod:`dlcourse.numpy.norm`.

``batchnorm_forward`` and ``layernorm_forward`` are written out with tensor operations (not
``torch.nn.functional.batch_norm`` or ``layer_norm``), so autograd differentiates the very
formulas of the NumPy tree; ``batchnorm_backward`` and ``layernorm_backward`` are written by hand
too, to check against autograd. The layer classes are ``torch.nn.Module`` subclasses whose forward
pass calls these functions and whose backward pass is autograd's. Their parameters and buffers
have ``torch.nn.BatchNorm1d``'s names (``weight``, ``bias``, ``running_mean``, ``running_var``,
``num_batches_tracked``), so a ``state_dict`` copies between them and ``torch.nn``'s layers.
"""

from __future__ import annotations

import math

import torch

from dlcourse.norm_checks import (
    as_normalized_shape,
    as_num_features,
    check_batch_values,
    check_batchnorm,
    check_batchnorm_input,
    check_eps,
    check_layernorm,
    check_layernorm_input,
    check_norm_settings,
)
from dlcourse.validation import as_float_tensor, check_grad

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "batchnorm_backward",
    "batchnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
]


def _channels_last_flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (N, C, R), R the product of the axes after C (1 for (N, C))."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # (N, C, R)


def batchnorm_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    check: bool = True,
) -> tuple[torch.Tensor, tuple]:
    """Batch normalisation over every axis but the channel axis 1, as
    :func:`dlcourse.numpy.norm.batchnorm_forward`; the running statistics are updated in place
    (outside autograd) in training mode.

    Args:
        x: (N, C) or (N, C, ...).
        weight, bias: (C,).
        running_mean, running_var: (C,) float tensors.
        training: use (and track) the batch statistics, or use the running ones.
        momentum: weight of the new batch statistic, in [0, 1].
        eps: added to the variance, > 0.
        check: convert and check the arguments (the default).

    Returns:
        out (shape of x) and ``cache = (x_hat (N, C, R), inv_std (C,), weight (C,), training, x.shape)``.
    """
    if check:
        x, weight, bias, running_mean, running_var, training, momentum, eps = check_batchnorm(
            x, weight, bias, running_mean, running_var, training, momentum, eps, as_float_tensor
        )
    check_batch_values(x, training)
    x3 = _channels_last_flat(x)  # (N, C, R)
    count = x3.shape[0] * x3.shape[2]  # values per channel, m
    if training and count > 0:
        mean = x3.mean(dim=(0, 2))  # (C,)
        var = x3.var(dim=(0, 2), correction=0)  # (C,) biased
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_((momentum * mean).to(running_mean.dtype))
            unbiased = var * (count / (count - 1))  # as torch keeps it
            running_var.mul_(1 - momentum).add_((momentum * unbiased).to(running_var.dtype))
    elif training:  # an empty batch: nothing to learn from
        mean, var = x.new_zeros(x3.shape[1]), x.new_ones(x3.shape[1])
    else:
        mean, var = running_mean.to(x.dtype), running_var.to(x.dtype)
    inv_std = torch.rsqrt(var + eps)  # (C,)
    x_hat = (x3 - mean[:, None]) * inv_std[:, None]  # (N, C, R)
    out = x_hat * weight[:, None] + bias[:, None]  # (N, C, R)
    return out.reshape(x.shape), (x_hat, inv_std, weight, training, tuple(x.shape))


def batchnorm_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`batchnorm_forward` in the compact form, derived in
    :func:`dlcourse.numpy.norm.batchnorm_backward`: dx = (gamma / s) (dy - mean(dy) - x_hat
    mean(dy x_hat)) in training mode, (gamma / s) dy in evaluation mode.

    Args:
        dout: upstream gradient, the shape of x.
        cache: from :func:`batchnorm_forward`.

    Returns:
        dx (shape of x), dweight (C,), dbias (C,).
    """
    x_hat, inv_std, weight, training, shape = cache
    dout = check_grad(dout, "dout", shape, as_float_tensor, like=x_hat)
    dy = _channels_last_flat(dout)  # (N, C, R)
    dbias = dy.sum(dim=(0, 2))  # (C,)
    dweight = (dy * x_hat).sum(dim=(0, 2))  # (C,)
    scale = (weight * inv_std)[:, None]  # (C, 1)
    if training:
        count = max(dy.shape[0] * dy.shape[2], 1)
        dx = scale * (dy - (dbias / count)[:, None] - x_hat * (dweight / count)[:, None])  # (N, C, R)
    else:
        dx = scale * dy
    return dx.reshape(shape), dweight, dbias


def layernorm_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5, *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """Layer normalisation over the last axes (the shape of ``weight``), as
    :func:`dlcourse.numpy.norm.layernorm_forward`.

    Args:
        x: (..., *normalized_shape).
        weight, bias: normalized_shape.
        eps: added to the variance, > 0.
        check: convert and check the arguments (the default).

    Returns:
        out (shape of x) and ``cache = (x_hat, inv_std (..., 1, ..., 1), weight)``.
    """
    if check:
        x, weight, bias, eps = check_layernorm(x, weight, bias, eps, as_float_tensor)
    dims = tuple(range(x.ndim - weight.ndim, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)  # (..., 1, ..., 1)
    centred = x - mean
    var = (centred * centred).mean(dim=dims, keepdim=True)  # biased, per example
    inv_std = torch.rsqrt(var + eps)
    x_hat = centred * inv_std
    return x_hat * weight + bias, (x_hat, inv_std, weight)


def layernorm_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`layernorm_forward`, as :func:`dlcourse.numpy.norm.layernorm_backward`.

    Args:
        dout: upstream gradient, the shape of x.
        cache: from :func:`layernorm_forward`.

    Returns:
        dx (shape of x), dweight and dbias (normalized_shape).
    """
    x_hat, inv_std, weight = cache
    dout = check_grad(dout, "dout", tuple(x_hat.shape), as_float_tensor, like=x_hat)
    lead = tuple(range(x_hat.ndim - weight.ndim))
    dims = tuple(range(x_hat.ndim - weight.ndim, x_hat.ndim))
    dbias = dout.sum(dim=lead) if lead else dout.clone()
    dweight = (dout * x_hat).sum(dim=lead) if lead else dout * x_hat
    dx_hat = dout * weight
    mean_dx_hat = dx_hat.mean(dim=dims, keepdim=True)
    mean_along = (dx_hat * x_hat).mean(dim=dims, keepdim=True)
    return inv_std * (dx_hat - mean_dx_hat - x_hat * mean_along), dweight, dbias


class _BatchNorm(torch.nn.Module):
    """The state and forward pass shared by BatchNorm1d and BatchNorm2d (``ndims``: the input
    axes each accepts)."""

    ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = as_num_features(num_features)
        self.eps, self.momentum = check_norm_settings(eps, momentum)
        self.weight = torch.nn.Parameter(torch.ones(self.num_features))  # (C,) gamma
        self.bias = torch.nn.Parameter(torch.zeros(self.num_features))  # (C,) beta
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_batchnorm_input(x, self.num_features, self.ndims, self.weight.dtype, as_float_tensor)
        out, _ = batchnorm_forward(
            x,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            self.training,
            self.momentum,
            self.eps,
            check=False,
        )
        if self.training:
            self.num_batches_tracked.add_(1)
        return out

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features (or (N, C, L) sequences), as ``torch.nn.BatchNorm1d``.

    Args:
        num_features: C.
        eps: added to the variance, > 0.
        momentum: weight of each new batch statistic in the running averages, in [0, 1].
    """

    ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps, as ``torch.nn.BatchNorm2d``.

    Args:
        num_features: C.
        eps: added to the variance, > 0.
        momentum: weight of each new batch statistic in the running averages, in [0, 1].
    """

    ndims = (4,)


class LayerNorm(torch.nn.Module):
    """Layer normalisation over the last axes, ``normalized_shape``, as ``torch.nn.LayerNorm``.

    Args:
        normalized_shape: the sizes of the last axes of the input, an int or a tuple.
        eps: added to the variance, > 0.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5) -> None:
        super().__init__()
        self.normalized_shape = as_normalized_shape(normalized_shape)
        self.eps = check_eps(eps)
        self.weight = torch.nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = torch.nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_layernorm_input(x, self.normalized_shape, self.weight.dtype, as_float_tensor)
        return layernorm_forward(x, self.weight, self.bias, self.eps, check=False)[0]

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"

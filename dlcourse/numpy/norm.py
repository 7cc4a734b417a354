r"""Normalisation layers in NumPy: batch normalisation and layer normalisation.

**Batch normalisation** (Ioffe and Szegedy, 2015) standardises every channel over the batch: for
a batch x of shape (N, C) or (N, C, H, W) it takes, for each channel c, the mean
:math:`\mu_c` and the (biased) variance :math:`\sigma_c^2` of the :math:`m` values of that
channel (N of them, or N H W), and computes

.. math:: \hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad y = \gamma_c\, \hat x + \beta_c

with a learned scale :math:`\gamma` (``weight``) and shift :math:`\beta` (``bias``) per channel.
In training mode it also keeps running averages of the statistics, PyTorch's convention exactly:
:math:`r \leftarrow (1 - \text{momentum})\, r + \text{momentum}\, b`, where :math:`b` is the batch
mean, or for ``running_var`` the *unbiased* batch variance :math:`\sigma_c^2\, m / (m - 1)`
(while the batch itself is normalised with the biased one). In evaluation mode it normalises with
those running averages instead, so an example's output no longer depends on its batch.

**Layer normalisation** (Ba, Kiros and Hinton, 2016) standardises every example on its own, over
its last axes (``normalized_shape``), with a learned scale and shift per position of those
axes. It has no running statistics and behaves the same in training and evaluation.

The classes ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm`` follow ``torch.nn``'s names
(``weight``, ``bias``, and the buffers ``running_mean``, ``running_var``,
``num_batches_tracked``), so their state copies from a ``torch.nn`` layer unchanged.

Mirrored by :mod:`dlcourse.torch.norm`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dlcourse.checks import check_cache
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
from dlcourse.numpy.layers import Module, Parameter
from dlcourse.validation import as_float_array, check_grad

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "batchnorm_backward",
    "batchnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
]


def _channels_last_flat(x: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> (N, C, R), R the product of the axes after C (1 for (N, C)): a view."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # (N, C, R)


def batchnorm_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    check: bool = True,
) -> tuple[np.ndarray, tuple]:
    r"""Batch normalisation over every axis but the channel axis 1.

    In training mode the batch is normalised with its own mean and biased variance per channel,
    and ``running_mean`` / ``running_var`` are updated **in place**, as
    ``torch.nn.functional.batch_norm`` does: :math:`r \leftarrow (1 - \text{momentum})\,r +
    \text{momentum}\,b` (:math:`b` the batch statistic), with the unbiased variance :math:`\sigma^2 m / (m - 1)` for
    ``running_var``. In evaluation mode the running statistics normalise and nothing changes.

    Args:
        x: (N, C) or (N, C, ...), e.g. (N, C, H, W).
        weight: (C,) the scale :math:`\gamma`.
        bias: (C,) the shift :math:`\beta`.
        running_mean: (C,) float array, updated in place in training mode.
        running_var: (C,) float array, updated in place in training mode.
        training: use (and track) the batch statistics, or use the running ones.
        momentum: weight of the new batch statistic in the running average, in [0, 1].
        eps: added to the variance before the square root, > 0.
        check: convert and check the arguments (the default); the layer classes, which check
            their input once, skip it.

    Returns:
        out (same shape as x) and ``cache = (x_hat (N, C, R), inv_std (C,), weight (C,), training,
        x.shape)``, where R is the product of the axes after C (1 for (N, C)).
    """
    if check:
        x, weight, bias, running_mean, running_var, training, momentum, eps = check_batchnorm(
            x, weight, bias, running_mean, running_var, training, momentum, eps, as_float_array
        )
    check_batch_values(x, training)
    x3 = _channels_last_flat(x)  # (N, C, R)
    count = x3.shape[0] * x3.shape[2]  # values per channel, m
    if training and count > 0:
        mean = x3.mean(axis=(0, 2))  # (C,)
        centred = x3 - mean[:, None]  # (N, C, R)
        var = np.einsum("ncr,ncr->c", centred, centred) / count  # (C,) biased: the batch's own spread
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (count / (count - 1))  # unbiased, as torch keeps it
    else:  # evaluation, or an empty batch in training (nothing to learn from)
        mean = running_mean.astype(x.dtype) if not training else np.zeros(x3.shape[1], x.dtype)
        var = running_var.astype(x.dtype) if not training else np.ones(x3.shape[1], x.dtype)
        centred = x3 - mean[:, None]  # (N, C, R)
    inv_std = 1 / np.sqrt(var + eps)  # (C,)
    x_hat = centred
    x_hat *= inv_std[:, None]  # in place: (N, C, R), zero mean and unit variance per channel
    out = x_hat * weight[:, None] + bias[:, None]  # (N, C, R)
    return out.reshape(x.shape), (x_hat, inv_std, weight, training, x.shape)


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`batchnorm_forward`, in the compact form.

    Derivation, for one channel with :math:`m` values, :math:`s = \sqrt{\sigma^2 + \epsilon}` and
    :math:`\hat x_i = (x_i - \mu) / s`. The parameters are easy: :math:`\partial L/\partial\beta =
    \sum_i dy_i` and :math:`\partial L/\partial\gamma = \sum_i dy_i\, \hat x_i`. For the input, every
    :math:`\hat x_j` depends on every :math:`x_i` through :math:`\mu` and :math:`s`:
    :math:`\partial\mu/\partial x_i = 1/m` and :math:`\partial s/\partial x_i = (x_i - \mu)/(m s) =
    \hat x_i / m`, so

    .. math:: \frac{\partial \hat x_j}{\partial x_i} = \frac{1}{s}\Big(\delta_{ij} - \frac1m -
              \frac{\hat x_i \hat x_j}{m}\Big).

    With :math:`d\hat x_j = \gamma\, dy_j`, summing over :math:`j` gives

    .. math:: dx_i = \frac{\gamma}{s}\Big(dy_i - \frac1m \sum_j dy_j
              - \hat x_i\, \frac1m \sum_j dy_j\, \hat x_j\Big)
              = \frac{\gamma}{s}\Big(dy_i - \frac{\partial L/\partial\beta}{m}
              - \hat x_i\, \frac{\partial L/\partial\gamma}{m}\Big):

    the upstream gradient with its mean removed, and its component along :math:`\hat x` removed,
    both of which the normalisation makes irrelevant to the loss. In evaluation mode
    :math:`\mu` and :math:`s` are constants and :math:`dx = (\gamma / s)\, dy`.

    Args:
        dout: upstream gradient, the shape of the forward pass's x.
        cache: from :func:`batchnorm_forward`.

    Returns:
        dx (shape of x), dweight (C,), dbias (C,).
    """
    x_hat, inv_std, weight, training, shape = cache
    dout = check_grad(dout, "dout", shape, as_float_array, like=x_hat)
    dy = _channels_last_flat(dout)  # (N, C, R)
    dbias = dy.sum(axis=(0, 2))  # (C,)
    dweight = np.einsum("ncr,ncr->c", dy, x_hat)  # (C,)
    scale = (weight * inv_std)[:, None]  # (C, 1): gamma / s
    if training:
        count = max(dy.shape[0] * dy.shape[2], 1)  # m
        dx = scale * (dy - (dbias / count)[:, None] - x_hat * (dweight / count)[:, None])  # (N, C, R)
    else:
        dx = scale * dy  # (N, C, R)
    return dx.reshape(shape), dweight, dbias


def layernorm_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5, *, check: bool = True
) -> tuple[np.ndarray, tuple]:
    r"""Layer normalisation: each example standardised over its last axes, the shape of ``weight``.

    Args:
        x: (..., *normalized_shape), e.g. (N, D) or (B, T, D).
        weight: normalized_shape, the scale :math:`\gamma` of each position.
        bias: normalized_shape, the shift :math:`\beta`.
        eps: added to the variance before the square root, > 0.
        check: convert and check the arguments (the default); :class:`LayerNorm` skips it.

    Returns:
        out (shape of x) and ``cache = (x_hat (shape of x), inv_std (..., 1, ..., 1), weight)``.
    """
    if check:
        x, weight, bias, eps = check_layernorm(x, weight, bias, eps, as_float_array)
    axes = tuple(range(x.ndim - weight.ndim, x.ndim))  # the normalised axes, the last ones
    mean = x.mean(axis=axes, keepdims=True)  # (..., 1, ..., 1)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)  # biased, per example
    inv_std = 1 / np.sqrt(var + eps)  # (..., 1, ..., 1)
    x_hat = centred * inv_std
    return x_hat * weight + bias, (x_hat, inv_std, weight)


def layernorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`layernorm_forward`.

    The derivation of :func:`batchnorm_backward`, with the mean taken over an example's own
    normalised axes instead of over the batch, and :math:`\gamma` inside it (it varies along
    those axes): with :math:`d\hat x = \gamma\, dy`,
    :math:`dx = \frac{1}{s}\big(d\hat x - \overline{d\hat x} - \hat x\, \overline{d\hat x\, \hat x}\big)`.

    Args:
        dout: upstream gradient, the shape of x.
        cache: from :func:`layernorm_forward`.

    Returns:
        dx (shape of x), dweight and dbias (normalized_shape), summed over the leading axes.
    """
    x_hat, inv_std, weight = cache
    dout = check_grad(dout, "dout", x_hat.shape, as_float_array, like=x_hat)
    lead = tuple(range(x_hat.ndim - weight.ndim))  # the example axes
    axes = tuple(range(x_hat.ndim - weight.ndim, x_hat.ndim))  # the normalised axes
    dbias = dout.sum(axis=lead)
    dweight = (dout * x_hat).sum(axis=lead)
    dx_hat = dout * weight
    mean_dx_hat = dx_hat.mean(axis=axes, keepdims=True)  # (..., 1, ..., 1)
    mean_along = (dx_hat * x_hat).mean(axis=axes, keepdims=True)  # (..., 1, ..., 1)
    return inv_std * (dx_hat - mean_dx_hat - x_hat * mean_along), dweight, dbias


class _BatchNorm(Module):
    """The state and calls shared by BatchNorm1d and BatchNorm2d, which differ in the number of
    input axes they accept (``ndims``)."""

    ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.num_features = as_num_features(num_features)
        self.eps, self.momentum = check_norm_settings(eps, momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))  # (C,) gamma
        self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))  # (C,) beta
        self.running_mean = np.zeros(self.num_features, dtype=np.float32)  # (C,)
        self.running_var = np.ones(self.num_features, dtype=np.float32)  # (C,)
        self.num_batches_tracked = np.zeros((), dtype=np.int64)  # 0-d, as torch's buffer
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_batchnorm_input(x, self.num_features, self.ndims, self.weight.data.dtype, as_float_array)
        out, self.cache = batchnorm_forward(
            x,
            self.weight.data,
            self.bias.data,
            self.running_mean,
            self.running_var,
            self.training,
            self.momentum,
            self.eps,
            check=False,
        )
        if self.training:
            self.num_batches_tracked += 1
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, dweight, dbias = batchnorm_backward(dout, check_cache(self.cache, self))
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        return dx if self.input_grad else None

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) of the state that is not trained by gradients, as ``torch.nn`` names it."""
        yield from (("running_mean", self.running_mean), ("running_var", self.running_var))
        yield "num_batches_tracked", self.num_batches_tracked

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum})"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features (or (N, C, L) sequences), per feature over the batch.

    Args:
        num_features: C.
        eps: added to the variance before the square root, > 0.
        momentum: weight of each new batch statistic in the running averages, in [0, 1].
    """

    ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps, per channel over the batch and the positions.

    Args:
        num_features: C.
        eps: added to the variance before the square root, > 0.
        momentum: weight of each new batch statistic in the running averages, in [0, 1].
    """

    ndims = (4,)


class LayerNorm(Module):
    """Layer normalisation: every example standardised over its last axes, ``normalized_shape``.

    Args:
        normalized_shape: the sizes of the last axes of the input, an int (D) or a tuple.
        eps: added to the variance before the square root, > 0.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5) -> None:
        self.normalized_shape = as_normalized_shape(normalized_shape)
        self.eps = check_eps(eps)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))  # normalized_shape
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32))
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_layernorm_input(x, self.normalized_shape, self.weight.data.dtype, as_float_array)
        out, self.cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps, check=False)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, dweight, dbias = layernorm_backward(dout, check_cache(self.cache, self))
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        return dx if self.input_grad else None

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps})"

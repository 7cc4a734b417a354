r"""Convolution and pooling in PyTorch, mirroring :mod:`dlcourse.numpy.conv`.

``conv2d_forward`` is built from primitives: ``unfold`` gathers the receptive fields (im2col)
and one batched matrix product applies every kernel; ``conv2d_backward`` undoes it with
``fold`` (col2im). Both are checked against ``torch.nn.functional.conv2d`` and autograd.
The loop versions are the same reference as in the NumPy tree.

The layer classes are ``torch.nn.Module`` subclasses whose forward pass calls PyTorch's own
kernels (``F.conv2d``, ``F.max_pool2d``) and whose backward pass is autograd's. ``Conv2d``
draws its weights from a NumPy generator exactly as the NumPy tree does, in the layout of
``torch.nn.Conv2d`` (F, C, KH, KW), so both trees can start from identical weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from dlcourse.checks import (
    as_pair,
    check_conv,
    check_flatten,
    check_input,
    check_lenet,
    check_pool_input,
    check_pool_stride,
)
from dlcourse.numpy.conv import conv2d_output_size
from dlcourse.torch import init as initialisers
from dlcourse.torch.layers import Dropout, Linear, ReLU, Sequential
from dlcourse.validation import as_count, as_flag, as_float_tensor, check_allocation, check_grad

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Flatten",
    "MaxPool2d",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive_backward",
    "conv2d_naive_forward",
    "conv2d_output_size",
    "lenet",
    "maxpool2d_backward",
    "maxpool2d_forward",
]


def _pad(x: torch.Tensor, padding: int) -> torch.Tensor:
    return F.pad(x, (padding, padding, padding, padding)) if padding else x


def conv2d_naive_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1, padding: int = 0
) -> tuple[torch.Tensor, tuple]:
    """Convolution by four nested loops over tensors, as :func:`dlcourse.numpy.conv.conv2d_naive_forward`.

    Args:
        x: (N, C, H, W) inputs.
        weight: (F, C, KH, KW) kernels.
        bias: (F,) one per kernel.
        stride: step between receptive fields.
        padding: zeros added on every side.

    Returns:
        out (N, F, OH, OW) and ``cache = (x, weight, stride, padding)``.
    """
    x, weight, bias = check_conv(x, weight, bias, as_float_tensor)
    stride, padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
    check_allocation((*x.shape[:2], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding), "the padded input")
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    xp = _pad(x, padding)
    out = torch.zeros(n_batch, n_filters, oh, ow, dtype=torch.promote_types(x.dtype, weight.dtype), device=x.device)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    field = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[n, f, i, j] = torch.sum(field * weight[f]) + bias[f]
    return out, (x, weight, stride, padding)


def conv2d_naive_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv2d_naive_forward` by the same loops.

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        cache: from :func:`conv2d_naive_forward`.

    Returns:
        dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,).
    """
    x, weight, stride, padding = cache
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    dout = check_grad(dout, "dout", (n_batch, n_filters, oh, ow), as_float_tensor, like=weight)
    xp = _pad(x, padding)
    dxp, dweight = torch.zeros_like(xp), torch.zeros_like(weight)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
                    dweight[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += weight[f] * dout[n, f, i, j]
    return dxp[:, :, padding : padding + h, padding : padding + w], dweight, dout.sum(dim=(0, 2, 3))


def conv2d_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1, padding: int = 0, *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """Convolution as ``unfold`` (im2col) plus one batched matrix product; arguments as the loop version.

    ``unfold`` returns the receptive fields as columns, (N, C*KH*KW, OH*OW); the weight reshaped
    to (F, C*KH*KW) multiplies them for every image at once. ``check=False`` skips converting
    and checking x, weight and bias, as in the NumPy tree.

    Returns:
        out (N, F, OH, OW) and the cache for :func:`conv2d_backward`.
    """
    if check:
        x, weight, bias = check_conv(x, weight, bias, as_float_tensor)
        stride, padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    check_allocation(
        (n_batch, oh * ow, x.shape[1] * kh * kw), "the im2col matrix"
    )  # even with check=False: a cheap product
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C*KH*KW, OH*OW)
    out = weight.reshape(n_filters, -1) @ cols + bias[:, None]  # (N, F, OH*OW)
    return out.reshape(n_batch, n_filters, oh, ow), (x.shape, cols, weight, stride, padding)


def conv2d_backward(
    dout: torch.Tensor, cache: tuple, input_grad: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv2d_forward`: two matrix products and ``fold`` (col2im).

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        cache: from :func:`conv2d_forward`.
        input_grad: compute ``dx``; the first layer of a network does not need it.

    Returns:
        dx (N, C, H, W) or None, dweight (F, C, KH, KW), dbias (F,).
    """
    (n_batch, _, h, w), cols, weight, stride, padding = cache
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    dout = check_grad(dout, "dout", (n_batch, n_filters, oh, ow), as_float_tensor, like=weight)
    input_grad = as_flag(input_grad, "input_grad")
    dout_rows = dout.reshape(n_batch, n_filters, -1)  # (N, F, OH*OW)
    dweight = (dout_rows @ cols.transpose(1, 2)).sum(dim=0).reshape(weight.shape)  # (F, C*KH*KW) -> (F, C, KH, KW)
    if not input_grad:
        return None, dweight, dout.sum(dim=(0, 2, 3))
    dcols = weight.reshape(n_filters, -1).T @ dout_rows  # (N, C*KH*KW, OH*OW)
    dx = F.fold(dcols, (h, w), (kh, kw), padding=padding, stride=stride)  # sums overlapping fields
    return dx, dweight, dout.sum(dim=(0, 2, 3))


def _pool_fields(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    return x.unfold(2, kernel, stride).unfold(3, kernel, stride)  # (N, C, OH, OW, K, K) view


def maxpool2d_forward(x: torch.Tensor, kernel: int = 2, stride: int | None = None) -> tuple[torch.Tensor, tuple]:
    """Max pooling (stride defaults to kernel): out (N, C, OH, OW) and the position of each maximum."""
    kernel, stride = check_pool_stride(kernel, stride)
    x = check_pool_input(x, kernel, stride, as_float_tensor)
    fields = _pool_fields(x, kernel, stride)
    out, where = fields.reshape(*fields.shape[:4], kernel * kernel).max(dim=-1)  # first maximum
    return out, (tuple(x.shape), where, kernel, stride)


def maxpool2d_backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
    """Each window's gradient goes to its maximum: dx (N, C, H, W)."""
    shape, where, kernel, stride = cache
    n, c, oh, ow = where.shape
    dout = check_grad(dout, "dout", tuple(where.shape), as_float_tensor)
    device = where.device
    rows = torch.arange(oh, device=device)[:, None] * stride + torch.div(where, kernel, rounding_mode="floor")
    cols = torch.arange(ow, device=device)[None, :] * stride + where % kernel
    nn = torch.arange(n, device=device)[:, None, None, None].expand_as(where)
    cc = torch.arange(c, device=device)[None, :, None, None].expand_as(where)
    dx = torch.zeros(shape, dtype=dout.dtype, device=device)
    return dx.index_put_((nn, cc, rows, cols), dout, accumulate=True)


def avgpool2d_forward(x: torch.Tensor, kernel: int = 2, stride: int | None = None) -> tuple[torch.Tensor, tuple]:
    """Average pooling: the mean of each window; out (N, C, OH, OW)."""
    kernel, stride = check_pool_stride(kernel, stride)
    x = check_pool_input(x, kernel, stride, as_float_tensor)
    return _pool_fields(x, kernel, stride).mean(dim=(-2, -1)), (tuple(x.shape), kernel, stride)


def avgpool2d_backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
    """Each window shares its gradient equally among its values: dx (N, C, H, W)."""
    shape, kernel, stride = cache
    n, c, h, w = shape
    oh, ow = conv2d_output_size(h, kernel, stride), conv2d_output_size(w, kernel, stride)
    dout = check_grad(dout, "dout", (n, c, oh, ow), as_float_tensor)
    dx = torch.zeros(shape, dtype=dout.dtype, device=dout.device)
    share = dout / (kernel * kernel)
    for u in range(kernel):
        for v in range(kernel):
            dx[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += share
    return dx


class Conv2d(torch.nn.Module):
    """A convolution layer with weight (F, C, KH, KW), He-initialised from a NumPy generator.

    Args:
        in_channels: C.
        out_channels: F, the number of kernels.
        kernel_size: KH = KW, or a pair (KH, KW).
        rng: the NumPy generator the weights are drawn from (as in the NumPy tree).
        stride: step between receptive fields.
        padding: zeros added on every side.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        rng: np.random.Generator,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        kh, kw = as_pair(kernel_size, "kernel_size")
        self.weight = torch.nn.Parameter(
            initialisers.he_kernels(in_channels, out_channels, kh, kw, rng)
        )  # (F, C, KH, KW)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))  # (F,)
        self.stride, self.padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, (None, self.weight.shape[1], None, None), self.weight.dtype, as_float_tensor)
        pad = 2 * self.padding
        check_allocation((len(x), self.weight.shape[0], x.shape[2] + pad, x.shape[3] + pad), "the output")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)  # (N, F, OH, OW)


class _Pool2d(torch.nn.Module):
    """A pooling layer over kernel_size x kernel_size windows (stride defaults to kernel_size), with
    the subclass's ``torch.nn.functional`` op ``pool``."""

    pool: Callable[..., torch.Tensor]

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = check_pool_stride(kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_pool_input(x, self.kernel_size, self.stride, as_float_tensor)
        return self.pool(x, self.kernel_size, self.stride)


class MaxPool2d(_Pool2d):
    """Max pooling over kernel_size x kernel_size windows (stride defaults to kernel_size)."""

    pool = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """Average pooling over kernel_size x kernel_size windows (stride defaults to kernel_size)."""

    pool = staticmethod(F.avg_pool2d)


class Flatten(torch.nn.Module):
    """(N, C, H, W) feature maps -> (N, C*H*W) rows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return check_flatten(x, as_float_tensor).flatten(1)


def lenet(
    rng: np.random.Generator,
    channels: tuple[int, ...] = (6, 16),
    kernel_size: int = 5,
    hidden: int = 120,
    dropout: float = 0.0,
    in_channels: int = 1,
    image_size: int = 28,
    n_classes: int = 10,
) -> Sequential:
    """The LeNet-style classifier of :func:`dlcourse.numpy.conv.lenet`, with the same layers,
    parameter names and (from the same generator) the same initial weights."""
    check_lenet(rng, channels, kernel_size, hidden, dropout, in_channels, image_size, n_classes)
    layers: list[torch.nn.Module] = []
    size, previous = image_size, in_channels
    for c in channels:
        layers += [Conv2d(previous, c, kernel_size, rng, padding=kernel_size // 2), ReLU(), MaxPool2d(2)]
        size = conv2d_output_size(conv2d_output_size(size, kernel_size, 1, kernel_size // 2), 2, 2)
        previous = c
    layers += [Flatten(), Linear(previous * size * size, hidden, rng), ReLU()]
    layers += [Dropout(dropout, rng)] if dropout else []
    layers += [Linear(hidden, n_classes, rng)]
    return Sequential(*layers)

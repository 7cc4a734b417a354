r"""Convolution and pooling in PyTorch, mirroring :mod:`dlcourse.numpy.conv`.

``conv2d_forward`` is built from primitives: ``unfold`` gathers the receptive fields (im2col)
and one batched matrix product applies every kernel; ``conv2d_backward`` undoes it with
``fold`` (col2im). Both are checked against ``torch.nn.functional.conv2d`` and autograd.
The loop versions are the same reference as in the NumPy tree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlcourse.numpy.conv import _check_conv, conv2d_output_size
from dlcourse.validation import as_float_tensor, check_shape

__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive_backward",
    "conv2d_naive_forward",
    "conv2d_output_size",
    "maxpool2d_backward",
    "maxpool2d_forward",
]


def _pad(x: torch.Tensor, padding: int) -> torch.Tensor:
    return F.pad(x, (padding, padding, padding, padding)) if padding else x


def conv2d_naive_forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1, padding: int = 0
) -> tuple[torch.Tensor, tuple]:
    """Convolution by four nested loops over tensors: out (N, F, OH, OW), cache (x, weight, stride, padding)."""
    x, weight, bias = _check_conv(x, weight, bias, as_float_tensor)
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
    """Gradients of :func:`conv2d_naive_forward` by the same loops: dx, dweight, dbias."""
    x, weight, stride, padding = cache
    _, _, h, w = x.shape
    _, _, kh, kw = weight.shape
    n_batch, n_filters, oh, ow = dout.shape
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
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int = 1, padding: int = 0
) -> tuple[torch.Tensor, tuple]:
    """Convolution as ``unfold`` plus one batched matrix product; out (N, F, OH, OW)."""
    x, weight, bias = _check_conv(x, weight, bias, as_float_tensor)
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C*KH*KW, OH*OW)
    out = weight.reshape(n_filters, -1) @ cols + bias[:, None]  # (N, F, OH*OW)
    return out.reshape(n_batch, n_filters, oh, ow), (x.shape, cols, weight, stride, padding)


def conv2d_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv2d_forward`: two matrix products and ``fold`` (col2im)."""
    (n_batch, _, h, w), cols, weight, stride, padding = cache
    n_filters, _, kh, kw = weight.shape
    dout_rows = dout.reshape(n_batch, n_filters, -1)  # (N, F, OH*OW)
    dweight = (dout_rows @ cols.transpose(1, 2)).sum(dim=0).reshape(weight.shape)
    dcols = weight.reshape(n_filters, -1).T @ dout_rows  # (N, C*KH*KW, OH*OW)
    dx = F.fold(dcols, (h, w), (kh, kw), padding=padding, stride=stride)  # sums overlapping fields
    return dx, dweight, dout.sum(dim=(0, 2, 3))


def _pool_fields(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    x = as_float_tensor(x, "x")
    check_shape(x, "x", (None, None, None, None))
    conv2d_output_size(x.shape[2], kernel, stride)
    return x.unfold(2, kernel, stride).unfold(3, kernel, stride)  # (N, C, OH, OW, K, K) view


def maxpool2d_forward(x: torch.Tensor, kernel: int = 2, stride: int | None = None) -> tuple[torch.Tensor, tuple]:
    """Max pooling (stride defaults to kernel): out (N, C, OH, OW) and the position of each maximum."""
    stride = stride or kernel
    fields = _pool_fields(x, kernel, stride)
    out, where = fields.reshape(*fields.shape[:4], kernel * kernel).max(dim=-1)  # first maximum
    return out, (tuple(x.shape), where, kernel, stride)


def maxpool2d_backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
    """Each window's gradient goes to its maximum: dx (N, C, H, W)."""
    shape, where, kernel, stride = cache
    n, c, oh, ow = where.shape
    device = where.device
    rows = torch.arange(oh, device=device)[:, None] * stride + torch.div(where, kernel, rounding_mode="floor")
    cols = torch.arange(ow, device=device)[None, :] * stride + where % kernel
    nn = torch.arange(n, device=device)[:, None, None, None].expand_as(where)
    cc = torch.arange(c, device=device)[None, :, None, None].expand_as(where)
    dx = torch.zeros(shape, dtype=dout.dtype, device=device)
    return dx.index_put_((nn, cc, rows, cols), dout, accumulate=True)


def avgpool2d_forward(x: torch.Tensor, kernel: int = 2, stride: int | None = None) -> tuple[torch.Tensor, tuple]:
    """Average pooling: the mean of each window; out (N, C, OH, OW)."""
    stride = stride or kernel
    return _pool_fields(x, kernel, stride).mean(dim=(-2, -1)), (tuple(x.shape), kernel, stride)


def avgpool2d_backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
    """Each window shares its gradient equally among its values: dx (N, C, H, W)."""
    shape, kernel, stride = cache
    _, _, oh, ow = dout.shape
    dx = torch.zeros(shape, dtype=dout.dtype, device=dout.device)
    share = dout / (kernel * kernel)
    for u in range(kernel):
        for v in range(kernel):
            dx[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += share
    return dx

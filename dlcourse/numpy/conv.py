r"""Convolution and pooling in NumPy: a loop version to read, a vectorised version to use.

Deep-learning libraries compute cross-correlation and call it convolution: the kernel slides
over the input without being flipped. For an input :math:`x` of shape (N, C, H, W) and
kernels :math:`w` of shape (F, C, KH, KW),

.. math:: \mathrm{out}[n, f, i, j] = b_f + \sum_{c, u, v} w[f, c, u, v]\; x_p[n, c, i s + u, j s + v]

where :math:`x_p` is the input padded with :math:`p` zeros on each side and :math:`s` the stride.
The output has :math:`\lfloor (H + 2p - KH) / s \rfloor + 1` rows (likewise columns).

``conv2d_naive_*`` are the reference: four loops, one output value at a time. ``conv2d_*``
gather every receptive field into the rows of one matrix (im2col) and do a single matrix
product; their results are tested against the naive ones and against PyTorch.

Mirrored by :mod:`dlcourse.torch.conv`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlcourse.validation import as_float_array, check_shape

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


def conv2d_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: floor((size + 2 padding - kernel) / stride) + 1.

    Raises:
        ValueError: the kernel does not fit in the padded input, or stride < 1.
    """
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}.")
    if kernel > size + 2 * padding:
        raise ValueError(f"the kernel ({kernel}) is larger than the padded input ({size + 2 * padding}).")
    return (size + 2 * padding - kernel) // stride + 1


def _check_conv(x, weight, bias, to_array) -> tuple:
    x, weight, bias = to_array(x, "x"), to_array(weight, "weight"), to_array(bias, "bias")
    check_shape(x, "x", (None, None, None, None))
    check_shape(weight, "weight", (None, x.shape[1], None, None))
    check_shape(bias, "bias", (weight.shape[0],))
    return x, weight, bias


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, H+2p, W+2p)


def conv2d_naive_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, tuple]:
    """Convolution by four nested loops: the definition, one output value at a time.

    Args:
        x: (N, C, H, W) inputs.
        weight: (F, C, KH, KW) kernels.
        bias: (F,) one per kernel.
        stride: step between receptive fields.
        padding: zeros added on every side.

    Returns:
        out (N, F, OH, OW) and ``cache = (x, weight, stride, padding)``.
    """
    x, weight, bias = _check_conv(x, weight, bias, as_float_array)
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    xp = _pad(x, padding)
    out = np.zeros((n_batch, n_filters, oh, ow), dtype=np.result_type(x, weight))
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    field = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]  # (C, KH, KW)
                    out[n, f, i, j] = np.sum(field * weight[f]) + bias[f]
    return out, (x, weight, stride, padding)


def conv2d_naive_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_naive_forward`, by the same four loops.

    Each output value was a dot product of one receptive field with one kernel, so its
    gradient flows back to exactly those: ``dw[f] += field * dout[n, f, i, j]`` and
    ``dx_field += w[f] * dout[n, f, i, j]``.

    Returns:
        dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,).
    """
    x, weight, stride, padding = cache
    _, _, h, w = x.shape
    _, _, kh, kw = weight.shape
    n_batch, n_filters, oh, ow = dout.shape
    xp = _pad(x, padding)
    dxp, dweight = np.zeros_like(xp), np.zeros_like(weight)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
                    dweight[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += weight[f] * dout[n, f, i, j]
    dx = dxp[:, :, padding : padding + h, padding : padding + w]
    return dx, dweight, dout.sum(axis=(0, 2, 3))


def conv2d_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, tuple]:
    """Convolution as one matrix product (im2col); same arguments and result as the loop version.

    Every receptive field becomes one row of ``cols`` (N*OH*OW, C*KH*KW); every kernel one
    column of ``weight`` reshaped to (C*KH*KW, F); their product holds every output value.

    Returns:
        out (N, F, OH, OW) and the cache for :func:`conv2d_backward`.
    """
    x, weight, bias = _check_conv(x, weight, bias, as_float_array)
    n_batch, channels, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    fields = sliding_window_view(_pad(x, padding), (kh, kw), axis=(2, 3))[
        :, :, ::stride, ::stride
    ]  # (N, C, OH, OW, KH, KW) view
    cols = fields.transpose(0, 2, 3, 1, 4, 5).reshape(n_batch * oh * ow, channels * kh * kw)  # the one copy
    out = cols @ weight.reshape(n_filters, -1).T  # (N*OH*OW, F)
    out += bias
    out = out.reshape(n_batch, oh, ow, n_filters).transpose(0, 3, 1, 2)  # (N, F, OH, OW) view
    return out, (x.shape, cols, weight, stride, padding)


def conv2d_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward`: two matrix products and a scatter back (col2im).

    Returns:
        dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,).
    """
    (n_batch, channels, h, w), cols, weight, stride, padding = cache
    n_filters, _, kh, kw = weight.shape
    _, _, oh, ow = dout.shape
    dout_cols = dout.transpose(1, 0, 2, 3).reshape(n_filters, n_batch * oh * ow)  # (F, N*OH*OW)
    dweight = (dout_cols @ cols).reshape(weight.shape)  # (F, C*KH*KW) -> (F, C, KH, KW)
    # (C*KH*KW, N*OH*OW), laid out so that each kernel offset (u, v) is one contiguous block
    dcols = (weight.reshape(n_filters, -1).T @ dout_cols).reshape(channels, kh, kw, n_batch, oh, ow)
    dxp = np.zeros((channels, n_batch, h + 2 * padding, w + 2 * padding), dtype=dcols.dtype)  # (C, N, Hp, Wp)
    for u in range(kh):  # col2im: each kernel offset adds one strided slice back
        for v in range(kw):
            dxp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += dcols[:, u, v]
    dx = dxp.transpose(1, 0, 2, 3)[:, :, padding : padding + h, padding : padding + w]  # (N, C, H, W) view
    return dx, dweight, dout_cols.sum(axis=1)


def _pool_fields(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    x = as_float_array(x, "x")
    check_shape(x, "x", (None, None, None, None))
    conv2d_output_size(x.shape[2], kernel, stride)  # validates the sizes
    return sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, OH, OW, K, K)


def maxpool2d_forward(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, tuple]:
    """Max pooling: the largest value of each kernel x kernel window (stride defaults to kernel).

    Args:
        x: (N, C, H, W).
        kernel: window size.
        stride: step between windows.

    Returns:
        out (N, C, OH, OW) and ``cache`` with the position of each maximum.
    """
    stride = stride or kernel
    fields = _pool_fields(x, kernel, stride)
    flat = fields.reshape(*fields.shape[:4], kernel * kernel)  # (N, C, OH, OW, K*K)
    where = flat.argmax(axis=-1)  # (N, C, OH, OW): first maximum, as PyTorch
    out = np.take_along_axis(flat, where[..., None], axis=-1)[..., 0]
    return out, (np.shape(x), where, kernel, stride)


def maxpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of max pooling: each window's gradient goes to its maximum, the rest get 0.

    Returns:
        dx (N, C, H, W).
    """
    shape, where, kernel, stride = cache
    n, c, oh, ow = where.shape
    rows = np.arange(oh)[:, None] * stride + where // kernel  # (N, C, OH, OW) row of each maximum
    cols = np.arange(ow)[None, :] * stride + where % kernel
    dx = np.zeros(shape, dtype=dout.dtype)
    nn, cc = np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None]
    np.add.at(dx, (nn, cc, rows, cols), dout)  # add: overlapping windows may share a maximum
    return dx


def avgpool2d_forward(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, tuple]:
    """Average pooling: the mean of each kernel x kernel window; shapes as :func:`maxpool2d_forward`."""
    stride = stride or kernel
    out = _pool_fields(x, kernel, stride).mean(axis=(-2, -1))
    return out, (np.shape(x), kernel, stride)


def avgpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of average pooling: each window shares its gradient equally among its values."""
    shape, kernel, stride = cache
    _, _, oh, ow = dout.shape
    dx = np.zeros(shape, dtype=dout.dtype)
    share = dout / (kernel * kernel)
    for u in range(kernel):
        for v in range(kernel):
            dx[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += share
    return dx

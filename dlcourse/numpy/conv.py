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

The layer classes ``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` and ``Flatten`` wrap these pairs
for :class:`dlcourse.numpy.layers.Sequential`; ``Conv2d.weight`` has the layout of
``torch.nn.Conv2d.weight``, (F, C, KH, KW), so weights copy across unchanged. :func:`lenet`
builds a small convolutional network from them.

Mirrored by :mod:`dlcourse.torch.conv`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlcourse.checks import (
    as_pair,
    check_cache,
    check_conv,
    check_flatten,
    check_input,
    check_lenet,
    check_pool_input,
    check_pool_stride,
)
from dlcourse.numpy import init as initialisers
from dlcourse.numpy.layers import Dropout, Linear, Module, Parameter, ReLU, Sequential
from dlcourse.validation import as_count, as_flag, as_float_array, check_allocation, check_grad

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


def conv2d_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: floor((size + 2 padding - kernel) / stride) + 1.

    Raises:
        TypeError: an argument is not an integer.
        ValueError: the kernel does not fit in the padded input, a size or the stride is < 1, or the
            padding is negative.
    """
    size, kernel = as_count(size, "size"), as_count(kernel, "kernel")
    stride, padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
    if kernel > size + 2 * padding:
        raise ValueError(f"the kernel ({kernel}) is larger than the padded input ({size + 2 * padding}).")
    return (size + 2 * padding - kernel) // stride + 1


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
    x, weight, bias = check_conv(x, weight, bias, as_float_array)
    stride, padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
    check_allocation((*x.shape[:2], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding), "the padded input")
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
    n_batch, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    dout = check_grad(dout, "dout", (n_batch, n_filters, oh, ow), as_float_array, like=weight)
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
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0, *, check: bool = True
) -> tuple[np.ndarray, tuple]:
    """Convolution as one matrix product (im2col); same arguments and result as the loop version.

    Every receptive field becomes one row of ``cols`` (N*OH*OW, C*KH*KW); every kernel one
    column of ``weight`` reshaped to (C*KH*KW, F); their product holds every output value.
    ``check=False`` skips converting and checking x, weight and bias, for :class:`Conv2d`, which
    owns its weights and checks its input.

    Returns:
        out (N, F, OH, OW) and the cache for :func:`conv2d_backward`.
    """
    if check:
        x, weight, bias = check_conv(x, weight, bias, as_float_array)
        stride, padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
    n_batch, channels, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    check_allocation(
        (n_batch, oh * ow, x.shape[1] * kh * kw), "the im2col matrix"
    )  # even with check=False: a cheap product
    fields = sliding_window_view(_pad(x, padding), (kh, kw), axis=(2, 3))[
        :, :, ::stride, ::stride
    ]  # (N, C, OH, OW, KH, KW) view
    cols = fields.transpose(0, 2, 3, 1, 4, 5).reshape(n_batch * oh * ow, channels * kh * kw)  # the one copy
    out = cols @ weight.reshape(n_filters, -1).T  # (N*OH*OW, F)
    out += bias
    out = out.reshape(n_batch, oh, ow, n_filters).transpose(0, 3, 1, 2)  # (N, F, OH, OW) view
    return out, (x.shape, cols, weight, stride, padding)


def conv2d_backward(
    dout: np.ndarray, cache: tuple, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward`: two matrix products and a scatter back (col2im).

    Args:
        dout: (N, F, OH, OW) upstream gradient.
        cache: from :func:`conv2d_forward`.
        input_grad: compute ``dx``; the first layer of a network does not need it.

    Returns:
        dx (N, C, H, W) or None, dweight (F, C, KH, KW), dbias (F,).
    """
    (n_batch, channels, h, w), cols, weight, stride, padding = cache
    n_filters, _, kh, kw = weight.shape
    oh, ow = conv2d_output_size(h, kh, stride, padding), conv2d_output_size(w, kw, stride, padding)
    dout = check_grad(dout, "dout", (n_batch, n_filters, oh, ow), as_float_array, like=weight)
    input_grad = as_flag(input_grad, "input_grad")
    dout_cols = dout.transpose(1, 0, 2, 3).reshape(n_filters, n_batch * oh * ow)  # (F, N*OH*OW)
    dweight = (dout_cols @ cols).reshape(weight.shape)  # (F, C*KH*KW) -> (F, C, KH, KW)
    if not input_grad:
        return None, dweight, dout_cols.sum(axis=1)
    # (C*KH*KW, N*OH*OW), laid out so that each kernel offset (u, v) is one contiguous block
    dcols = (weight.reshape(n_filters, -1).T @ dout_cols).reshape(channels, kh, kw, n_batch, oh, ow)
    dxp = np.zeros((channels, n_batch, h + 2 * padding, w + 2 * padding), dtype=dcols.dtype)  # (C, N, Hp, Wp)
    for u in range(kh):  # col2im: each kernel offset adds one strided slice back
        for v in range(kw):
            dxp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += dcols[:, u, v]
    dx = dxp.transpose(1, 0, 2, 3)[:, :, padding : padding + h, padding : padding + w]  # (N, C, H, W) view
    return dx, dweight, dout_cols.sum(axis=1)


def _pool_fields(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
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
    kernel, stride = check_pool_stride(kernel, stride)
    x = check_pool_input(x, kernel, stride, as_float_array)
    fields = _pool_fields(x, kernel, stride)
    flat = fields.reshape(*fields.shape[:4], kernel * kernel)  # (N, C, OH, OW, K*K)
    where = flat.argmax(axis=-1)  # (N, C, OH, OW): first maximum, as PyTorch
    out = np.take_along_axis(flat, where[..., None], axis=-1)[..., 0]
    return out, (x.shape, where, kernel, stride)


def maxpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of max pooling: each window's gradient goes to its maximum, the rest get 0.

    Returns:
        dx (N, C, H, W).
    """
    shape, where, kernel, stride = cache
    n, c, oh, ow = where.shape
    dout = check_grad(dout, "dout", where.shape, as_float_array)
    rows = np.arange(oh)[:, None] * stride + where // kernel  # (N, C, OH, OW) row of each maximum
    cols = np.arange(ow)[None, :] * stride + where % kernel
    dx = np.zeros(shape, dtype=dout.dtype)
    nn, cc = np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None]
    np.add.at(dx, (nn, cc, rows, cols), dout)  # add: overlapping windows may share a maximum
    return dx


def avgpool2d_forward(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, tuple]:
    """Average pooling: the mean of each kernel x kernel window; shapes as :func:`maxpool2d_forward`."""
    kernel, stride = check_pool_stride(kernel, stride)
    x = check_pool_input(x, kernel, stride, as_float_array)
    out = _pool_fields(x, kernel, stride).mean(axis=(-2, -1))
    return out, (x.shape, kernel, stride)


def avgpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of average pooling: each window shares its gradient equally among its values."""
    shape, kernel, stride = cache
    n, c, h, w = shape
    oh, ow = conv2d_output_size(h, kernel, stride), conv2d_output_size(w, kernel, stride)
    dout = check_grad(dout, "dout", (n, c, oh, ow), as_float_array)
    dx = np.zeros(shape, dtype=dout.dtype)
    share = dout / (kernel * kernel)
    for u in range(kernel):
        for v in range(kernel):
            dx[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += share
    return dx


class Conv2d(Module):
    r"""A convolution layer: F kernels of shape (C, KH, KW) slid over a (N, C, H, W) batch.

    The weight is He-initialised, :math:`N(0, 2 / (C \cdot KH \cdot KW))`: a kernel sees
    :math:`C \cdot KH \cdot KW` inputs, its fan-in. It has ``torch.nn.Conv2d``'s layout.

    Args:
        in_channels: C.
        out_channels: F, the number of kernels (and of output channels).
        kernel_size: KH = KW, or a pair (KH, KW).
        rng: the generator the weights are drawn from.
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
        kh, kw = as_pair(kernel_size, "kernel_size")
        self.weight = Parameter(initialisers.he_kernels(in_channels, out_channels, kh, kw, rng))  # (F, C, KH, KW)
        self.bias = Parameter(np.zeros(out_channels, dtype=np.float32))  # (F,)
        self.stride, self.padding = as_count(stride, "stride"), as_count(padding, "padding", minimum=0)
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, (None, self.weight.shape[1], None, None), self.weight.data.dtype, as_float_array)
        out, self.cache = conv2d_forward(x, self.weight.data, self.bias.data, self.stride, self.padding, check=False)
        return out  # (N, F, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, dweight, dbias = conv2d_backward(dout, check_cache(self.cache, self), self.input_grad)
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        return dx


class _Pool2d(Module):
    """A pooling layer over kernel_size x kernel_size windows (stride defaults to kernel_size): the
    functional pair it wraps is the subclass's ``pool_forward`` / ``pool_backward``.

    Args:
        kernel_size: the window size.
        stride: step between windows.
    """

    pool_forward: Callable[..., tuple[np.ndarray, tuple]]
    pool_backward: Callable[[np.ndarray, tuple], np.ndarray]

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        self.kernel_size, self.stride = check_pool_stride(kernel_size, stride)
        self.cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = self.pool_forward(x, self.kernel_size, self.stride)
        return out  # (N, C, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.pool_backward(dout, check_cache(self.cache, self))


class MaxPool2d(_Pool2d):
    """Max pooling over kernel_size x kernel_size windows (stride defaults to kernel_size).

    Args:
        kernel_size: the window size.
        stride: step between windows.
    """

    pool_forward = staticmethod(maxpool2d_forward)
    pool_backward = staticmethod(maxpool2d_backward)


class AvgPool2d(_Pool2d):
    """Average pooling over kernel_size x kernel_size windows (stride defaults to kernel_size).

    Args:
        kernel_size: the window size.
        stride: step between windows.
    """

    pool_forward = staticmethod(avgpool2d_forward)
    pool_backward = staticmethod(avgpool2d_backward)


class Flatten(Module):
    """(N, C, H, W) feature maps -> (N, C*H*W) rows, for the fully connected layers that follow."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_flatten(x, as_float_array)
        self.shape = x.shape
        return x.reshape(len(x), int(np.prod(x.shape[1:])))  # (N, C*H*W), also for an empty batch

    def backward(self, dout: np.ndarray) -> np.ndarray:
        shape = check_cache(self.shape, self)
        dout = check_grad(dout, "dout", (shape[0], int(np.prod(shape[1:]))), as_float_array)
        return dout.reshape(self.shape)  # (N, C, H, W)


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
    """A LeNet-style classifier: (convolution, ReLU, 2x2 max pooling) per entry of ``channels``,
    then Flatten, Linear(hidden), ReLU, [Dropout], Linear(n_classes).

    Convolutions are padded by kernel_size // 2 ("same" size for odd kernels), so each stage
    only halves the image: 28 -> 14 -> 7 for two stages.

    Args:
        rng: the generator every weight (and the dropout masks) is drawn from.
        channels: output channels of each convolution stage.
        kernel_size: the (odd) size of every kernel.
        hidden: units of the fully connected hidden layer.
        dropout: drop probability before the output layer (0 for none).
        in_channels: channels of the input images.
        image_size: height = width of the input images.
        n_classes: outputs, one per class.

    Returns:
        A :class:`~dlcourse.numpy.layers.Sequential` mapping (N, in_channels, image_size,
        image_size) images to (N, n_classes) logits.
    """
    check_lenet(rng, channels, kernel_size, hidden, dropout, in_channels, image_size, n_classes)
    layers: list[Module] = []
    size, previous = image_size, in_channels
    for c in channels:
        layers += [Conv2d(previous, c, kernel_size, rng, padding=kernel_size // 2), ReLU(), MaxPool2d(2)]
        size = conv2d_output_size(conv2d_output_size(size, kernel_size, 1, kernel_size // 2), 2, 2)
        previous = c
    layers += [Flatten(), Linear(previous * size * size, hidden, rng), ReLU()]
    layers += [Dropout(dropout, rng)] if dropout else []
    layers += [Linear(hidden, n_classes, rng)]
    return Sequential(*layers)  # which turns off the first layer's gradient for the images

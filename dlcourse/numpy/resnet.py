r"""Residual networks in NumPy: the basic block of He et al. (2016), its plain twin, and a small ResNet.

A residual block computes a correction :math:`F(x)` and adds it to its input:

.. math:: y = \mathrm{ReLU}\big(F(x) + s(x)\big), \qquad
          F(x) = \mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x)))

with two 3x3 convolutions :math:`W_1, W_2` and the skip :math:`s`: the identity when the block
keeps the shape of its input, or a 1x1 convolution with the block's stride followed by batch
normalisation (a *projection*) when it changes the number of channels or the resolution. The
backward pass follows from the sum: with :math:`g = \partial L / \partial (F(x) + s(x))`,

.. math:: \frac{\partial L}{\partial x} = g \Big(\frac{\partial F}{\partial x} + 1\Big)

for the identity skip, so the gradient reaches the input even where :math:`\partial F/\partial x`
is small. :class:`PlainBlock` is the same block without the skip, to compare against.

The convolutions have no bias (the batch normalisation after each would subtract it again), and
the names follow ``torchvision.models.resnet.BasicBlock`` (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``downsample.0``, ``downsample.1``), so weights and running statistics copy between the trees.
:func:`resnet` stacks the blocks into a classifier. The blocks' ``backward`` composes the
backward passes of the layers of :mod:`dlcourse.numpy.conv` and :mod:`dlcourse.numpy.norm`,
accumulating every ``param.grad``.

Mirrored by :mod:`dlcourse.torch.resnet`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dlcourse.checks import check_cache, check_input
from dlcourse.numpy.conv import Conv2d, conv2d_backward, conv2d_forward
from dlcourse.numpy.layers import Linear, Module, Parameter, ReLU, Sequential
from dlcourse.numpy.norm import BatchNorm2d
from dlcourse.resnet_checks import check_block, check_global_pool_input, check_resnet
from dlcourse.validation import as_flag, as_float_array, check_grad

__all__ = ["BasicBlock", "GlobalAvgPool2d", "PlainBlock", "resnet"]


class _BiasFreeConv2d(Conv2d):
    """A :class:`~dlcourse.numpy.conv.Conv2d` without a bias (``bias`` is None, as in
    ``torch.nn.Conv2d(..., bias=False)``): the batch normalisation after it removes any constant."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, rng: np.random.Generator, stride: int, padding: int
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, rng, stride, padding)
        self.bias = None  # type: ignore[assignment]

    def forward(self, x: np.ndarray) -> np.ndarray:
        weight = self.weight.data  # (F, C, KH, KW)
        x = check_input(x, (None, weight.shape[1], None, None), weight.dtype, as_float_array)
        zeros = np.zeros(weight.shape[0], dtype=weight.dtype)  # (F,)
        out, self.cache = conv2d_forward(x, weight, zeros, self.stride, self.padding, check=False)
        return out  # (N, F, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, dweight, _ = conv2d_backward(dout, check_cache(self.cache, self), self.input_grad)
        self.weight.accumulate(dweight)
        return dx


class _Block(Module):
    """The layers of a basic block, with the skip (``residual``) or without it; see the subclasses."""

    residual = True

    def __init__(self, in_channels: int, out_channels: int, rng: np.random.Generator, stride: int = 1) -> None:
        in_channels, out_channels, stride = check_block(in_channels, out_channels, rng, stride)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv1 = _BiasFreeConv2d(in_channels, out_channels, 3, rng, stride, 1)  # may halve H and W
        self.bn1 = BatchNorm2d(out_channels)
        self.relu1 = ReLU()
        self.conv2 = _BiasFreeConv2d(out_channels, out_channels, 3, rng, 1, 1)
        self.bn2 = BatchNorm2d(out_channels)
        self.relu2 = ReLU()
        self.downsample: Sequential | None = None
        if self.residual and (stride != 1 or in_channels != out_channels):  # the projection shortcut
            conv = _BiasFreeConv2d(in_channels, out_channels, 1, rng, stride, 0)
            self.downsample = Sequential(conv, BatchNorm2d(out_channels))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = floor((H - 1) / stride) + 1."""
        x = check_input(x, (None, self.in_channels, None, None), self.conv1.weight.data.dtype, as_float_array)
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))  # F(x): (N, F, OH, OW)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))  # F(x) + s(x)
        return self.relu2(out)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout (N, F, OH, OW) -> dx (N, C, H, W), or None when ``input_grad`` is off; every
        parameter's gradient is added to its ``grad``."""
        check_cache(self.relu2.cache, self)  # a sentence naming the block, not its last layer
        d = self.relu2.backward(dout)  # (N, F, OH, OW): the gradient of F(x) + s(x)
        self.conv1.input_grad = self.input_grad
        dx = self.conv1.backward(self.bn1.backward(self.relu1.backward(self.conv2.backward(self.bn2.backward(d)))))
        if not self.residual:
            return dx
        if self.downsample is None:
            skip = d  # the identity passes the gradient through unchanged: the "+ 1"
        else:
            self.downsample[0].input_grad = self.input_grad
            skip = self.downsample.backward(d)  # (N, C, H, W), or None
        return None if dx is None else dx + skip

    def _children(self) -> list[tuple[str, Module]]:
        children: list[tuple[str, Module]] = [("conv1", self.conv1), ("bn1", self.bn1)]
        children += [("conv2", self.conv2), ("bn2", self.bn2)]
        return children + ([("downsample", self.downsample)] if self.downsample is not None else [])

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for prefix, child in self._children():
            for name, p in child.named_parameters():
                yield f"{prefix}.{name}", p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for prefix, child in self._children():
            for name, b in child.named_buffers():
                yield f"{prefix}.{name}", b

    def train(self, mode: bool = True) -> _Block:
        self.training = as_flag(mode, "mode")
        for _, child in self._children():
            child.train(mode)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, stride={self.stride})"


class BasicBlock(_Block):
    """A residual block: conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN, plus the skip, then ReLU.

    The skip is the identity when the block keeps the shape of its input; when ``stride`` > 1 or
    the channels change it is ``downsample``, a 1x1 convolution with the block's stride and a
    BatchNorm2d, so that the two branches have the same shape and can be added.

    Args:
        in_channels: C, the channels of the input.
        out_channels: F, the channels of the output.
        rng: the generator the convolution weights are drawn from (He-normal).
        stride: 1 keeps H and W; 2 halves them (rounding up).
    """

    residual = True


class PlainBlock(_Block):
    """The layers of :class:`BasicBlock` without the skip: conv3x3 (stride) -> BN -> ReLU -> conv3x3
    -> BN -> ReLU. It has no ``downsample``; the strided first convolution changes the shape. Its
    arguments are those of :class:`BasicBlock`, and so are the initial weights from the same generator.
    """

    residual = False


class GlobalAvgPool2d(Module):
    """Global average pooling: (N, C, H, W) feature maps -> (N, C), the mean of each channel over its
    H W positions (``torch.nn.AdaptiveAvgPool2d(1)`` followed by a flatten)."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_global_pool_input(x, as_float_array)
        self.shape = x.shape
        return x.mean(axis=(2, 3))  # (N, C)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, C) -> dx (N, C, H, W): each position gets 1 / (H W) of its channel's gradient."""
        n, c, h, w = check_cache(self.shape, self)
        dout = check_grad(dout, "dout", (n, c), as_float_array)
        return np.broadcast_to(dout[:, :, None, None] / (h * w), (n, c, h, w)).copy()  # (N, C, H, W)


def resnet(
    rng: np.random.Generator,
    channels: tuple[int, ...] = (16, 32, 64),
    blocks_per_stage: int | tuple[int, ...] = 3,
    residual: bool = True,
    in_channels: int = 1,
    n_classes: int = 10,
) -> Sequential:
    """A small ResNet (the CIFAR-style networks of He et al.), or its plain twin of the same depth.

    A stem (conv3x3 without bias -> BN -> ReLU) maps the images to ``channels[0]`` channels; then one
    stage per entry of ``channels``, each of ``blocks_per_stage`` blocks, the first block of every
    stage after the first with stride 2 (so H and W halve while the channels grow); then global
    average pooling and a Linear layer. The defaults give ResNet-20: 1 + 2 (3 + 3 + 3) + 1 = 20
    layers with weights. With ``residual=False`` the blocks are :class:`PlainBlock`: the same layers
    and initial weights except the projections, which a plain network does not have.

    Args:
        rng: the generator every weight is drawn from.
        channels: the channels of each stage.
        blocks_per_stage: the blocks of every stage, or one count per stage.
        residual: :class:`BasicBlock` (True) or :class:`PlainBlock` (False).
        in_channels: channels of the input images.
        n_classes: outputs, one per class.

    Returns:
        A :class:`~dlcourse.numpy.layers.Sequential` mapping (N, in_channels, H, W) images to
        (N, n_classes) logits: layers 0-2 the stem, then the blocks, then the pooling and the Linear layer.
    """
    channels, plan, residual = check_resnet(rng, channels, blocks_per_stage, residual, in_channels, n_classes)
    block = BasicBlock if residual else PlainBlock
    layers: list[Module] = [_BiasFreeConv2d(in_channels, channels[0], 3, rng, 1, 1), BatchNorm2d(channels[0]), ReLU()]
    layers += [block(c_in, c_out, rng, stride) for c_in, c_out, stride in plan]
    layers += [GlobalAvgPool2d(), Linear(channels[-1], n_classes, rng)]
    return Sequential(*layers)

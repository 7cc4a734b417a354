"""Residual networks in PyTorch, mirroring :mod:`dlcourse.numpy.resnet`.

The blocks are ``torch.nn.Module`` subclasses built from this tree's layers (:class:`~dlcourse.torch.conv.Conv2d`
without a bias, :class:`~dlcourse.torch.norm.BatchNorm2d`, ReLU); autograd differentiates them. They
draw their weights from a NumPy generator exactly as the NumPy tree does, and their parameters and
buffers have ``torchvision.models.resnet.BasicBlock``'s names (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``downsample.0``, ``downsample.1``), so a ``state_dict`` copies between the trees and into a
torchvision-style block.
"""

from __future__ import annotations

import numpy as np
import torch

from dlcourse.checks import check_input
from dlcourse.resnet_checks import check_block, check_global_pool_input, check_resnet
from dlcourse.torch.conv import Conv2d
from dlcourse.torch.layers import Linear, ReLU, Sequential
from dlcourse.torch.norm import BatchNorm2d
from dlcourse.validation import as_float_tensor

__all__ = ["BasicBlock", "GlobalAvgPool2d", "PlainBlock", "resnet"]


def _bias_free_conv(
    in_channels: int, out_channels: int, kernel_size: int, rng: np.random.Generator, stride: int, padding: int
) -> Conv2d:
    """A Conv2d whose bias is None (``torch.nn.Conv2d(..., bias=False)``): the BatchNorm after it
    removes any constant."""
    conv = Conv2d(in_channels, out_channels, kernel_size, rng, stride, padding)
    conv.bias = None  # unregisters it: F.conv2d takes None, the state_dict has no entry
    return conv


class _Block(torch.nn.Module):
    """The layers of a basic block, with the skip (``residual``) or without it; see the subclasses."""

    residual = True

    def __init__(self, in_channels: int, out_channels: int, rng: np.random.Generator, stride: int = 1) -> None:
        super().__init__()
        in_channels, out_channels, stride = check_block(in_channels, out_channels, rng, stride)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv1 = _bias_free_conv(in_channels, out_channels, 3, rng, stride, 1)
        self.bn1 = BatchNorm2d(out_channels)
        self.relu1 = ReLU()
        self.conv2 = _bias_free_conv(out_channels, out_channels, 3, rng, 1, 1)
        self.bn2 = BatchNorm2d(out_channels)
        self.relu2 = ReLU()
        self.downsample: Sequential | None = None
        if self.residual and (stride != 1 or in_channels != out_channels):  # the projection shortcut
            conv = _bias_free_conv(in_channels, out_channels, 1, rng, stride, 0)
            self.downsample = Sequential(conv, BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, OH, OW)."""
        x = check_input(x, (None, self.in_channels, None, None), self.conv1.weight.dtype, as_float_tensor)
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))  # F(x): (N, F, OH, OW)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))  # F(x) + s(x)
        return self.relu2(out)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(_Block):
    """A residual block: conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN, plus the skip, then ReLU;
    the skip is the identity, or ``downsample`` (1x1 convolution with the stride, then BatchNorm2d)
    when ``stride`` > 1 or the channels change. As :class:`dlcourse.numpy.resnet.BasicBlock`.

    Args:
        in_channels: C, the channels of the input.
        out_channels: F, the channels of the output.
        rng: the NumPy generator the convolution weights are drawn from (as in the NumPy tree).
        stride: 1 keeps H and W; 2 halves them (rounding up).
    """

    residual = True


class PlainBlock(_Block):
    """The layers of :class:`BasicBlock` without the skip, as :class:`dlcourse.numpy.resnet.PlainBlock`;
    its arguments are those of :class:`BasicBlock`."""

    residual = False


class GlobalAvgPool2d(torch.nn.Module):
    """Global average pooling: (N, C, H, W) -> (N, C), the mean of each channel over its positions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return check_global_pool_input(x, as_float_tensor).mean(dim=(2, 3))  # (N, C)


def resnet(
    rng: np.random.Generator,
    channels: tuple[int, ...] = (16, 32, 64),
    blocks_per_stage: int | tuple[int, ...] = 3,
    residual: bool = True,
    in_channels: int = 1,
    n_classes: int = 10,
) -> Sequential:
    """The small ResNet (or, with ``residual=False``, its plain twin) of
    :func:`dlcourse.numpy.resnet.resnet`, with the same layers, parameter names and (from the same
    generator) the same initial weights: (N, in_channels, H, W) images -> (N, n_classes) logits."""
    channels, plan, residual = check_resnet(rng, channels, blocks_per_stage, residual, in_channels, n_classes)
    block = BasicBlock if residual else PlainBlock
    layers: list[torch.nn.Module] = [
        _bias_free_conv(in_channels, channels[0], 3, rng, 1, 1),
        BatchNorm2d(channels[0]),
        ReLU(),
    ]
    layers += [block(c_in, c_out, rng, stride) for c_in, c_out, stride in plan]
    layers += [GlobalAvgPool2d(), Linear(channels[-1], n_classes, rng)]
    return Sequential(*layers)

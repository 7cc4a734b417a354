"""The argument checks of the residual networks, shared by :mod:`dlcourse.numpy.resnet` and
:mod:`dlcourse.torch.resnet`, so that the two trees accept the same input and refuse bad input with
the same sentence. The one-sentence primitives they are built from live in :mod:`dlcourse.validation`.

A check that converts an array takes ``to_array`` (:func:`dlcourse.validation.as_float_array` or
:func:`dlcourse.validation.as_float_tensor`) for the tree's conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlcourse.validation import as_count, as_flag, check_rng, check_shape, describe

__all__ = ["check_block", "check_global_pool_input", "check_resnet"]


def check_block(in_channels: Any, out_channels: Any, rng: Any, stride: Any) -> tuple[int, int, int]:
    """The sizes of a residual or plain block: positive integer channel counts and stride, and a
    NumPy generator for the weights.

    Returns:
        ``(in_channels, out_channels, stride)`` as Python ints.
    """
    sizes = as_count(in_channels, "in_channels"), as_count(out_channels, "out_channels"), as_count(stride, "stride")
    check_rng(rng)
    return sizes


def check_resnet(
    rng: Any, channels: Any, blocks_per_stage: Any, residual: Any, in_channels: Any, n_classes: Any
) -> tuple[tuple[int, ...], list[tuple[int, int, int]], bool]:
    """The arguments of ``resnet`` in either tree.

    ``channels`` is a non-empty tuple (or list) of positive integers, one per stage;
    ``blocks_per_stage`` one positive integer for every stage, or a sequence of them as long as
    ``channels``.

    Returns:
        ``(channels, plan, residual)``: the channels of each stage as a tuple of ints; the plan of
        the blocks, one ``(in_channels, out_channels, stride)`` per block, in order (the first block
        of every stage after the first has stride 2, and the first block takes the stem's
        ``channels[0]``); and the flag as a bool.
    """
    check_rng(rng)
    if not isinstance(channels, (tuple, list)) or not channels:
        raise TypeError(f"channels must be a non-empty tuple of positive integers, got {describe(channels)}.")
    channels = tuple(as_count(c, "channels") for c in channels)
    if isinstance(blocks_per_stage, (tuple, list)):
        if len(blocks_per_stage) != len(channels):
            raise ValueError(
                f"blocks_per_stage must give one count per stage ({len(channels)}, as channels), "
                f"got {describe(blocks_per_stage)}."
            )
        blocks = tuple(as_count(b, "blocks_per_stage") for b in blocks_per_stage)
    else:
        blocks = (as_count(blocks_per_stage, "blocks_per_stage"),) * len(channels)
    residual = as_flag(residual, "residual")
    as_count(in_channels, "in_channels")
    as_count(n_classes, "n_classes")
    plan, previous = [], channels[0]
    for stage, (width, count) in enumerate(zip(channels, blocks, strict=True)):
        for i in range(count):
            plan.append((previous, width, 2 if stage > 0 and i == 0 else 1))
            previous = width
    return channels, plan, residual


def check_global_pool_input(x: Any, to_array: Callable) -> Any:
    """The input of global average pooling: a float (N, C, H, W) array or tensor with at least one
    position (H W > 0) to average over."""
    x = to_array(x, "x")
    check_shape(x, "x", (None, None, None, None))
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"x must have at least one position to average over, got shape {tuple(x.shape)}.")
    return x

"""Checkers and solutions for chapter 7, Convolutional networks."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker


def solution_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@checker
def check_output_size(answer: Any) -> Feedback:
    """Exercise 7.1: ``output_size(size, kernel, stride, padding)``."""
    cases = [
        Case((28, 5, 1, 0), "size 28, kernel 5, stride 1, padding 0"),
        Case((32, 5, 1, 2), "size 32, kernel 5, stride 1, padding 2"),
        Case((28, 3, 1, 1), "size 28, kernel 3, stride 1, padding 1"),
        Case((7, 3, 2, 0), "size 7, kernel 3, stride 2, padding 0"),
        Case((224, 7, 2, 3), "size 224, kernel 7, stride 2, padding 3"),
        Case((10, 4, 3, 1), "size 10, kernel 4, stride 3, padding 1"),
    ]
    return check_function(
        "output_size",
        answer,
        solution_output_size,
        cases,
        hint="Count the positions where the kernel fits inside the padded input: the first one, plus one more "
        "for every full step of `stride` that still fits.",
        mistakes=[
            Mistake(
                lambda n, k, s, p: (n + 2 * p - k) // s,
                "One short: you counted the steps between positions, but the first position comes before any step.",
            ),
            Mistake(
                lambda n, k, s, p: (n - k) // s + 1,
                "You left out the padding: the kernel slides over the padded input, which is longer than the image.",
            ),
            Mistake(
                lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1,
                "You rounded up: a last step that would take the kernel past the edge of the padded input is not "
                "taken, so round down.",
            ),
            Mistake(
                lambda n, k, s, p: (n + p - k) // s + 1,
                "Padding is added on both sides of the input, so it lengthens it twice.",
            ),
            Mistake(
                lambda n, k, s, p: (n + 2 * p - k) / s + 1,
                "A kernel either fits or it does not: round the number of steps down to a whole number.",
            ),
            Mistake(
                lambda n, k, s, p: n + 2 * p - k + 1,
                "You ignored the stride: the kernel moves `stride` pixels at a time.",
            ),
        ],
    )


def solution_conv2d_single(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One-channel convolution (cross-correlation, stride 1, no padding), as deep-learning libraries compute it."""
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw] * kernel)  # one receptive field
    return out


def _flipped(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return solution_conv2d_single(image, kernel[::-1, ::-1])


def _same_size(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    return solution_conv2d_single(padded, kernel)


@checker
def check_conv2d_single(answer: Any) -> Feedback:
    """Exercise 7.2: ``conv2d_single(image, kernel)`` for a 2-D image and a 2-D kernel."""
    rng = np.random.default_rng(7)
    cases = [
        Case(
            (np.arange(16.0).reshape(4, 4), np.array([[1.0, 0.0], [0.0, -1.0]])),
            "a 4x4 image, kernel [[1, 0], [0, -1]]",
        ),
        Case((rng.normal(size=(5, 6)), rng.normal(size=(3, 3))), "a 5x6 image, a 3x3 kernel"),
        Case((rng.normal(size=(6, 5)), rng.normal(size=(2, 3))), "a 6x5 image, a 2x3 kernel"),
    ]
    return check_function(
        "conv2d_single",
        answer,
        solution_conv2d_single,
        cases,
        hint="Slide the kernel over every position where it fits entirely inside the image; at each one, multiply "
        "the window by the kernel entry by entry and add everything up.",
        mistakes=[
            Mistake(
                _flipped,
                "Your kernel is flipped: that is convolution as mathematicians define it. Deep-learning libraries "
                "compute cross-correlation and use the kernel as it is.",
            ),
            Mistake(
                lambda image, kernel: solution_conv2d_single(image, kernel)[:-1, :-1],
                "Your output is one row and one column short: the last position of the kernel is the one flush with "
                "the bottom (or right) edge of the image, and your loops stop before it.",
            ),
            Mistake(
                _same_size,
                "You padded the image to keep its size. This exercise asks for no padding: only positions where the "
                "kernel fits inside the image.",
            ),
        ],
    )


def solution_maxpool_backward(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """Gradient of 2x2 max pooling with stride 2 on a 2-D input: each window's gradient goes to its maximum."""
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            window = x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            u, v = np.unravel_index(np.argmax(window), window.shape)  # where the maximum sits
            dx[2 * i + u, 2 * j + v] = dout[i, j]
    return dx


def _spread(x: np.ndarray, dout: np.ndarray, share: float) -> np.ndarray:
    return np.kron(dout, np.ones((2, 2))) * share  # every position of a window gets the same


def _to_minimum(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    return solution_maxpool_backward(-x, dout)


def _transposed_position(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """Each window's gradient at the maximum's position mirrored across the diagonal (row and column swapped)."""
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            flat = np.argmax(x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2])
            dx[2 * i + flat % 2, 2 * j + flat // 2] = dout[i, j]
    return dx


@checker
def check_maxpool_backward(answer: Any) -> Feedback:
    """Exercise 7.3: ``maxpool_backward(x, dout)`` for 2x2 max pooling with stride 2."""
    rng = np.random.default_rng(3)
    cases = [
        Case(
            (np.array([[1.0, 3.0], [2.0, 0.0]]), np.array([[5.0]])),
            "x = [[1, 3], [2, 0]], dout = [[5]]",
        ),
        Case((rng.normal(size=(4, 4)), rng.normal(size=(2, 2))), "a 4x4 x, a 2x2 dout"),
        Case((rng.normal(size=(6, 4)), rng.normal(size=(3, 2))), "a 6x4 x, a 3x2 dout"),
    ]
    return check_function(
        "maxpool_backward",
        answer,
        solution_maxpool_backward,
        cases,
        hint="dx has the shape of x. Ask, for each window, which of its four inputs changed the output when nudged.",
        mistakes=[
            Mistake(
                lambda x, d: _spread(x, d, 0.25),
                "That is the backward pass of average pooling. The maximum depends on one input of the window only.",
            ),
            Mistake(
                lambda x, d: _spread(x, d, 1.0),
                "Only one input of each window is the maximum: nudging the other three leaves the output unchanged, "
                "so their gradient is 0.",
            ),
            Mistake(
                _to_minimum,
                "The gradient went to the smallest value of each window: look for the largest.",
            ),
            Mistake(
                _transposed_position,
                "The gradients land in the right windows but at mirrored places: in a flattened 2x2 window, the "
                "index of an entry counts along its row first.",
            ),
            Mistake(
                lambda x, d: d,
                "You returned dout itself: the gradient with respect to x has the shape of x, one entry per input.",
            ),
        ],
    )


def solution_conv_params(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Parameters of a convolution layer: out_channels kernels of in_channels x k x k weights, plus one bias each."""
    return out_channels * (in_channels * kernel_size * kernel_size + 1)


@checker
def check_conv_params(answer: Any) -> Feedback:
    """Exercise 7.4: ``conv_params(in_channels, out_channels, kernel_size)``."""
    cases = [
        Case((1, 6, 5), "in_channels 1, out_channels 6, kernel_size 5"),
        Case((6, 16, 5), "in_channels 6, out_channels 16, kernel_size 5"),
        Case((32, 64, 3), "in_channels 32, out_channels 64, kernel_size 3"),
        Case((64, 32, 1), "in_channels 64, out_channels 32, kernel_size 1"),
    ]
    return check_function(
        "conv_params",
        answer,
        solution_conv_params,
        cases,
        hint="Count what one kernel holds (it spans every input channel), then how many kernels there are, and "
        "do not forget what each kernel adds after its weighted sum.",
        mistakes=[
            Mistake(
                lambda c, f, k: f * c * k * k,
                "You counted the weights only: each kernel also has one bias.",
            ),
            Mistake(
                lambda c, f, k: f * (k * k + 1),
                "A kernel spans every input channel: it holds in_channels x k x k weights, not k x k.",
            ),
            Mistake(
                lambda c, f, k: f * c * (k * k + 1),
                "One bias per kernel (per output channel), not one per input channel.",
            ),
        ],
    )


def solution_receptive_field(kernels: list[int], strides: list[int]) -> int:
    """Receptive field (in input pixels, along one axis) of one unit after a stack of layers."""
    field, jump = 1, 1  # one pixel sees itself; neighbouring units are `jump` input pixels apart
    for k, s in zip(kernels, strides, strict=True):
        field += (k - 1) * jump
        jump *= s
    return field


def _stride_too_early(kernels: list[int], strides: list[int]) -> int:
    """The spacing updated before the field: each layer's stride wrongly scales its own kernel."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        jump *= s
        field += (k - 1) * jump
    return field


@checker
def check_receptive_field(answer: Any) -> Feedback:
    """Exercise 7.5: ``receptive_field(kernels, strides)`` of a stack of convolution and pooling layers."""
    cases = [
        Case(([3], [1]), "one 3x3 convolution"),
        Case(([3, 3], [1, 1]), "two 3x3 convolutions"),
        Case(([3, 2, 3, 2], [1, 2, 1, 2]), "conv 3, pool 2, conv 3, pool 2"),
        Case(([5, 2, 5, 2], [1, 2, 1, 2]), "conv 5, pool 2, conv 5, pool 2"),
        Case(([7, 3, 3, 3], [2, 2, 1, 1]), "conv 7 stride 2, pool 3 stride 2, conv 3, conv 3"),
    ]
    return check_function(
        "receptive_field",
        answer,
        solution_receptive_field,
        cases,
        hint="Go through the layers in order. A kernel of size k widens the field by k - 1 units of the layer below; "
        "how many input pixels apart are two neighbouring units of that layer?",
        mistakes=[
            Mistake(
                lambda ks, ss: 1 + sum(k - 1 for k in ks),
                "You ignored the strides: after a stride-2 layer, neighbouring units are 2 input pixels apart, "
                "so every later kernel widens the field twice as much.",
            ),
            Mistake(
                lambda ks, ss: sum(ks),
                "Adding the kernel sizes counts some pixels twice: the windows of neighbouring units overlap, so each "
                "new kernel adds only k - 1 units of the layer below.",
            ),
            Mistake(
                lambda ks, ss: int(np.prod(ks)),
                "Kernel sizes do not multiply: each layer widens the field by k - 1 steps of the layer below.",
            ),
            Mistake(
                _stride_too_early,
                "A layer's stride applied too early: it spaces out the units of that layer's output, so it only "
                "affects the layers after it, not the layer's own kernel.",
            ),
            Mistake(
                lambda ks, ss: solution_receptive_field(ks, ss) - 1,
                "Off by one: before any layer, one unit is one pixel, which sees exactly itself.",
            ),
        ],
    )

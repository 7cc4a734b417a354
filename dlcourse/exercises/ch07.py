"""Checkers and solutions for chapter 7, Convolutional networks.

The exercises that build and debug (a 1-D convolution with a stride and a dilation, its backward pass,
a strided backward with a bug) live in :mod:`dlcourse.exercises.ch07_more` and are re-exported at the end of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "output_size": ["(size + 2 * padding - kernel) // stride + 1", "// stride + 1", "+ 2 * padding - kernel"],
    "conv2d_single": ["np.sum(image[i : i + kh, j : j + kw] * kernel)", "image[i:i+kh, j:j+kw] * kernel"],
    "maxpool_backward": ["np.argmax(window)", "np.unravel_index(", "argmax", "dx[2 * i + u, 2 * j + v] = dout[i, j]"],
    "conv_params": [
        "out_channels * (in_channels * kernel_size * kernel_size + 1)",
        "in_channels * kernel_size * kernel_size + 1",
        "in_channels * kernel_size ** 2 + 1",
    ],
    "receptive_field": ["field += (k - 1) * jump", "(k - 1) * jump", "jump *= s"],
}

PACKAGE = ("dlcourse", "conv", "tconv")  # the course's package and the chapter's names for its modules
OWN_COUNT = "this exercise asks for your own count, without the course's package"


def solution_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@checker
def check_output_size(answer: Any) -> Feedback:
    """Exercise 7.1: ``output_size(size, kernel, stride, padding)``, a whole number."""
    cases = [
        Case((28, 5, 1, 0), "size 28, kernel 5, stride 1, padding 0"),
        Case((32, 5, 1, 2), "size 32, kernel 5, stride 1, padding 2"),
        Case((28, 3, 1, 1), "size 28, kernel 3, stride 1, padding 1"),
        Case((7, 3, 2, 0), "size 7, kernel 3, stride 2, padding 0"),
        Case((224, 7, 2, 3), "size 224, kernel 7, stride 2, padding 3"),
        Case((10, 4, 3, 1), "size 10, kernel 4, stride 3, padding 1"),
    ]
    return count_feedback(
        "output_size",
        answer,
        solution_output_size,
        cases,
        hint=(
            "Take a small case and draw it on paper (an input of 7, a kernel of 3, stride 2, padding 1, say): "
            "count the places where the kernel can sit.",
            "Count the positions where the kernel fits inside the padded input: the first one, plus one more "
            "for every full step of `stride` that still fits.",
        ),
        forbid=routes.forbid_names((*PACKAGE, "conv2d_output_size"), OWN_COUNT),
        float_hint=(
            "A number of positions is a whole number, an int; a float (even 2.0) or a truth value is not one.",
            "A kernel either fits or it does not: round the number of steps down, and keep to integer "
            "arithmetic (or turn the result into an int).",
        ),
        mistakes=[
            Mistake(
                lambda n, k, s, p: (n + 2 * p - k) // s,
                (
                    "One short: your count misses one position.",
                    "You counted the steps between positions, but the first position comes before any step.",
                ),
            ),
            Mistake(
                lambda n, k, s, p: (n - k) // s + 1,
                (
                    "Your count does not change when padding is added.",
                    "You left out the padding: the kernel slides over the padded input, which is longer than the "
                    "image.",
                ),
            ),
            Mistake(
                lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1,
                (
                    "One too many, on a case where the stride does not divide the distance evenly.",
                    "You rounded up: a last step that would take the kernel past the edge of the padded input is "
                    "not taken, so round down.",
                ),
            ),
            Mistake(
                lambda n, k, s, p: (n + p - k) // s + 1,
                (
                    "Your count grows with the padding, but not enough.",
                    "Padding is added on both sides of the input, so it lengthens it twice.",
                ),
            ),
            Mistake(
                lambda n, k, s, p: n + 2 * p - k + 1,
                (
                    "Your count does not change with the stride.",
                    "You ignored the stride: the kernel moves `stride` pixels at a time.",
                ),
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


def _same_size(image: np.ndarray, kernel: np.ndarray, before: Any) -> np.ndarray:
    """A "same" convolution, with ``before(k)`` zeros before each axis and the rest of k - 1 after it
    (k // 2 before is SciPy's choice, (k - 1) // 2 PyTorch's); for an even k, both keep the image's size."""
    return solution_conv2d_single(np.pad(image, [(before(k), k - 1 - before(k)) for k in kernel.shape]), kernel)


SAME_SIZE = (
    "Your output has the size of the image: you padded it.",
    "This exercise asks for no padding: only positions where the kernel fits inside the image.",
)


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
        forbid=no_library("conv2d_forward", "conv2d_naive_forward", "conv2d", "correlate2d", "convolve2d"),
        hint=(
            "Check the shape of your output first, then one entry by hand: which pixels of the image does "
            "out[0, 0] combine, and with which entries of the kernel?",
            "Slide the kernel over every position where it fits entirely inside the image; at each one, multiply "
            "the window by the kernel entry by entry and add everything up.",
        ),
        mistakes=[
            Mistake(
                lambda image, kernel: solution_conv2d_single(image, kernel[::-1, ::-1]),
                (
                    "Your values are those of the kernel turned by 180 degrees: your kernel is flipped.",
                    "That is convolution as mathematicians define it. Deep-learning libraries compute "
                    "cross-correlation and use the kernel as it is.",
                ),
            ),
            Mistake(
                lambda image, kernel: solution_conv2d_single(image, kernel)[:-1, :-1],
                (
                    "Your output is one row and one column short.",
                    "The last position of the kernel is the one flush with the bottom (or right) edge of the "
                    "image, and your loops stop before it.",
                ),
            ),
            Mistake(lambda image, kernel: _same_size(image, kernel, lambda k: k // 2), SAME_SIZE),
            Mistake(lambda image, kernel: _same_size(image, kernel, lambda k: (k - 1) // 2), SAME_SIZE),
            Mistake(
                lambda image, kernel: solution_conv2d_single(
                    np.pad(image, [(k // 2,) * 2 for k in kernel.shape]), kernel
                ),
                (
                    "Your output is larger than the image: you padded it, and by one too many for an even kernel.",
                    "This exercise asks for no padding: only positions where the kernel fits inside the image.",
                ),
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
        forbid=no_library("maxpool2d_backward", "maxpool2d_forward", "MaxPool2d", "max_pool2d"),
        hint=(
            "dx has the shape of x. Take one window and nudge each of its four inputs a little: which of them "
            "changes the pooled output?",
            "Only the input that is its window's maximum changes the output when nudged, so it alone receives "
            "the window's gradient; the other three get 0.",
        ),
        mistakes=[
            Mistake(
                lambda x, d: _spread(x, d, 0.25),
                (
                    "Every input of a window got a quarter of its gradient: that is the backward pass of average "
                    "pooling.",
                    "The maximum depends on one input of the window only.",
                ),
            ),
            Mistake(
                lambda x, d: _spread(x, d, 1.0),
                (
                    "Every input of a window got the window's whole gradient.",
                    "Only one input of each window is the maximum: nudging the other three leaves the output "
                    "unchanged, so their gradient is 0.",
                ),
            ),
            Mistake(
                lambda x, d: solution_maxpool_backward(-x, d),
                (
                    "The gradient went to the wrong input of each window.",
                    "It went to the smallest value of each window: look for the largest.",
                ),
            ),
            Mistake(
                _transposed_position,
                (
                    "The gradients land in the right windows but at the wrong places inside them.",
                    "They sit at mirrored places: in a flattened 2x2 window, the index of an entry counts along its "
                    "row first.",
                ),
            ),
            Mistake(
                lambda x, d: d,
                (
                    "Your output has the shape of dout, not of x.",
                    "You returned dout itself: the gradient with respect to x has the shape of x, one entry per input.",
                ),
            ),
        ],
    )


def solution_conv_params(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Parameters of a convolution layer: out_channels kernels of in_channels x k x k weights, plus one bias each."""
    return out_channels * (in_channels * kernel_size * kernel_size + 1)


@checker
def check_conv_params(answer: Any) -> Feedback:
    """Exercise 7.4: ``conv_params(in_channels, out_channels, kernel_size)``, a whole number."""
    cases = [
        Case((1, 6, 5), "in_channels 1, out_channels 6, kernel_size 5"),
        Case((6, 16, 5), "in_channels 6, out_channels 16, kernel_size 5"),
        Case((32, 64, 3), "in_channels 32, out_channels 64, kernel_size 3"),
        Case((64, 32, 1), "in_channels 64, out_channels 32, kernel_size 1"),
    ]
    return count_feedback(
        "conv_params",
        answer,
        solution_conv_params,
        cases,
        forbid=routes.forbid_names((*PACKAGE, "Conv2d", "parameters", "numel"), OWN_COUNT),
        hint=(
            "Write down the shapes of the layer's weight and bias for the failing case, then count.",
            "Count what one kernel holds (it spans every input channel), then how many kernels there are, and "
            "do not forget what each kernel adds after its weighted sum.",
        ),
        float_hint=(
            "A number of parameters is a whole number, an int; a float (even 2.0) is not one.",
            "Division with `/`, a float constant such as 1.0, or NumPy floats give a float even when the value "
            "is whole: keep to integers.",
        ),
        mistakes=[
            Mistake(
                lambda c, f, k: f * c * k * k,
                (
                    "Your count is short by exactly out_channels.",
                    "You counted the weights only: each kernel also has one bias.",
                ),
            ),
            Mistake(
                lambda c, f, k: f * (k * k + 1),
                (
                    "Your count is right for one input channel only.",
                    "A kernel spans every input channel: it holds in_channels x k x k weights, not k x k.",
                ),
            ),
            Mistake(
                lambda c, f, k: f * c * (k * k + 1),
                (
                    "You count too many biases when there are several input channels.",
                    "One bias per kernel (per output channel), not one per input channel.",
                ),
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
    return count_feedback(
        "receptive_field",
        answer,
        solution_receptive_field,
        cases,
        hint=(
            "Work through the failing stack by hand, one layer at a time, drawing which units of the layer below "
            "one unit reads.",
            "A kernel of size k widens the field by k - 1 units of the layer below; how many input pixels apart "
            "are two neighbouring units of that layer?",
        ),
        float_hint=(
            "A receptive field is a whole number of pixels, an int; a float (even 2.0) is not one.",
            "Division with `/` or NumPy floats give a float even when the value is whole: keep to integers.",
        ),
        mistakes=[
            Mistake(
                lambda ks, ss: 1 + sum(k - 1 for k in ks),
                (
                    "Your answer is right while every stride is 1, and too small after a layer with a larger one.",
                    "You ignored the strides: after a stride-2 layer, neighbouring units are 2 input pixels apart, "
                    "so every later kernel widens the field twice as much.",
                ),
            ),
            Mistake(
                lambda ks, ss: sum(ks),
                (
                    "Two stacked 3x3 convolutions see fewer pixels than your answer: some pixels are counted twice.",
                    "Adding the kernel sizes counts some pixels twice: the windows of neighbouring units overlap, "
                    "so each new kernel adds only k - 1 units of the layer below.",
                ),
            ),
            Mistake(
                lambda ks, ss: int(np.prod(ks)),
                (
                    "Your answer grows far too fast with depth.",
                    "Kernel sizes do not multiply: each layer widens the field by k - 1 steps of the layer below.",
                ),
            ),
            Mistake(
                _stride_too_early,
                (
                    "Your answer is too large right after a layer whose stride is above 1.",
                    "A layer's stride applied too early: it spaces out the units of that layer's output, so it only "
                    "affects the layers after it, not the layer's own kernel.",
                ),
            ),
            Mistake(
                lambda ks, ss: solution_receptive_field(ks, ss) - 1,
                (
                    "Off by one: your answer is one pixel short on every stack.",
                    "Before any layer, one unit is one pixel, which sees exactly itself.",
                ),
            ),
        ],
    )


# Imported last, so that progress() lists this module's exercises first; count_feedback and no_library
# are called by the checkers above when they run.
from dlcourse.exercises.ch07_more import (  # noqa: E402, F401 (re-exported: notebooks call ch07.check_...)
    broken_conv_backward_strided,
    check_conv1d_backward,
    check_conv1d_forward,
    check_conv_backward_strided,
    count_feedback,
    no_library,
    solution_conv1d_backward,
    solution_conv1d_forward,
    solution_conv_backward_strided,
)
from dlcourse.exercises.ch07_resnet import (  # noqa: E402, F401 (re-exported: notebooks call ch07.check_...)
    check_residual_backward,
    solution_residual_backward,
)

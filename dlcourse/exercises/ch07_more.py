"""Checkers and solutions for chapter 7's exercises that build and debug: a 1-D convolution with a
stride and a dilation, its backward pass, and a strided convolution backward with a bug to find. Re-exported by
:mod:`dlcourse.exercises.ch07`, so that the chapter calls ``ch07.check_conv1d_forward``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Hint, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "conv1d_forward": [
        "x[:, :, start : start + span : dilation]",
        "dilation * (k - 1) + 1",
        "(length - span) // stride + 1",
    ],
    "conv1d_backward": [
        "dx[:, :, start : start + span : dilation] +=",
        "np.tensordot(g, window, axes=(0, 0))",
        "np.tensordot(g, w, axes=(1, 0))",
        "dout.sum(axis=(0, 2))",
    ],
    "conv_backward_strided": ["dx[r : r + kh, c : c + kw] +=", "dx[r:r+kh, c:c+kw]"],
}

LIBRARIES = ("dlcourse", "conv", "tconv", "torch", "F", "scipy", "tensorflow", "jax", "autograd")


def no_library(*names: str) -> Callable[[Any], str]:
    """A ``forbid`` refusing the libraries, the course's package and ``names``; the learner's own names are fine."""
    why = "this exercise asks for the computation written by you, without the course's package or a library"
    return routes.forbid_names(LIBRARIES + names, why)


NO_LIBRARY = no_library(
    "conv1d", "conv2d_forward", "conv2d_backward", "conv2d_naive_forward", "conv2d_naive_backward", "numerical_gradient"
)


# --- Answers that are counts (exercises 7.1, 7.4 and 7.5) -----------------------------------

WHOLE = "expected a whole number"


def whole_number(value: Any) -> Any:
    """The output unchanged when it can be a count (an int, or a NumPy or torch integer scalar); a float,
    even 24.0, or a truth value raises, with a sentence: the comparison alone would pass 24.0 as 24."""
    if hasattr(value, "detach") and callable(value.detach):  # a torch tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        return value  # None, lists, ...: the comparison explains what is wrong with them
    array = np.asarray(value)
    if array.ndim == 0 and array.dtype.kind == "b":
        raise ValueError(f"{WHOLE}, got the truth value {bool(array)}")
    if array.ndim == 0 and array.dtype.kind == "f":
        raise ValueError(f"{WHOLE} (an int), got the float {float(array)!r}")
    return value


def count_feedback(
    exercise: str,
    answer: Any,
    reference: Callable[..., int],
    cases: Sequence[Case],
    *,
    hint: Hint,
    mistakes: Sequence[Mistake],
    float_hint: Hint,
    forbid: Callable[[Any], str] | None = None,
) -> Feedback:
    """check_function for a count: a float or a truth value is wrong, with ``float_hint``; integer scalars pass."""
    feedback = check_function(
        exercise, answer, reference, cases, hint=hint, mistakes=mistakes, adapt=whole_number, forbid=forbid
    )
    if not feedback.passed and WHOLE in feedback.message:
        return Feedback(exercise, False, feedback.message, float_hint)
    return feedback


# --- Exercise 7.6: a 1-D convolution with a stride and a dilation, forward -------------------


def solution_conv1d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """1-D convolution (cross-correlation) with a stride and a dilation, no padding.

    Args:
        x: (N, C_in, L) inputs; w: (C_out, C_in, K) kernels; b: (C_out,) one bias per kernel.
        stride: the step between the windows of neighbouring outputs.
        dilation: the step between the input positions one window reads.

    Returns:
        (N, C_out, L_out): ``out[n, f, i] = b[f] + sum_{c, u} w[f, c, u] x[n, c, i*stride + u*dilation]``,
        one position for every window that fits inside x.
    """
    n_batch, _, length = x.shape
    c_out, _, k = w.shape
    span = dilation * (k - 1) + 1  # input positions one window covers, gaps included
    out = np.zeros((n_batch, c_out, (length - span) // stride + 1))  # (N, C_out, L_out)
    for i in range(out.shape[2]):
        start = i * stride
        window = x[:, :, start : start + span : dilation]  # (N, C_in, K): every dilation-th position
        out[:, :, i] = window.reshape(n_batch, -1) @ w.reshape(c_out, -1).T + b  # (N, C_out)
    return out


def _conv1d_cases() -> list[Case]:
    rng = np.random.default_rng(71)
    x, w, b = np.array([[[1.0, 2.0, 0.0, -1.0, 3.0, 2.0, -2.0]]]), np.array([[[1.0, 0.0, -2.0]]]), np.array([0.5])
    return [
        Case((x, w, b, 1, 1), "x = [[[1, 2, 0, -1, 3, 2, -2]]], w = [[[1, 0, -2]]], b = [0.5], stride 1, dilation 1"),
        Case((x, w, b, 1, 2), "the same x, w and b, stride 1, dilation 2"),
        Case((x, w, b, 2, 1), "the same x, w and b, stride 2, dilation 1"),
        Case(
            (rng.normal(size=(2, 3, 11)), rng.normal(size=(2, 3, 3)), rng.normal(size=2), 2, 3),
            "x of shape (2, 3, 11), w of shape (2, 3, 3), b of shape (2,), stride 2, dilation 3",
        ),
        Case(
            (rng.normal(size=(3, 2, 12)), rng.normal(size=(4, 2, 2)), rng.normal(size=4), 3, 2),
            "x of shape (3, 2, 12), w of shape (4, 2, 2), b of shape (4,), stride 3, dilation 2",
        ),
    ]


@checker
def check_conv1d_forward(answer: Any) -> Feedback:
    """Exercise 7.6: ``conv1d_forward(x, w, b, stride, dilation)`` over a batch with channels."""
    return check_function(
        "conv1d_forward",
        answer,
        solution_conv1d_forward,
        _conv1d_cases(),
        hint=(
            "Find the first failing case and check the length of your output, then one value by hand: which "
            "positions of x does out[0, 0, 1] read?",
            "Count the input positions one window covers, gaps included, then how many windows fit when each "
            "starts `stride` positions after the one before; inside a window the taps are `dilation` apart.",
        ),
        forbid=NO_LIBRARY,
        mistakes=[
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w[:, :, ::-1], b, s, d),
                (
                    "Your values are those of every kernel reversed.",
                    "np.convolve, and convolution as mathematicians define it, reverse the kernel; the "
                    "chapter's convolution (cross-correlation) uses it as it is.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w, 0 * b, s, d),
                (
                    "Your values are off by the same amount all along each output channel.",
                    "Each output channel adds its own bias after its weighted sum.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w, b, s, 1),
                (
                    "The cases with dilation 1 pass; the others fail: your answer ignores the dilation.",
                    "With a dilation, the taps of one window are spread out, so a window covers more of x and "
                    "fewer windows fit.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w, b, s, 1)[
                    :, :, : (x.shape[2] - d * w.shape[2] + d - 1) // s + 1
                ],
                (
                    "Your output has the right length, but with a dilation above 1 its values are wrong.",
                    "Your windows read neighbouring positions of x: the taps of one window should be `dilation` "
                    "positions apart.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w, b, 1, d),
                (
                    "The cases with stride 1 pass; the others fail: your answer ignores the stride.",
                    "Neighbouring outputs read windows that start `stride` positions apart.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x, w, b, d, s),
                (
                    "Your answer swaps the stride and the dilation.",
                    "The stride separates the windows of neighbouring outputs; the dilation separates the taps "
                    "inside one window.",
                ),
            ),
            Mistake(
                lambda x, w, b, s, d: solution_conv1d_forward(x.sum(axis=1, keepdims=True), w[:, :1], b, s, d),
                (
                    "Your values are right for one input channel only.",
                    "Each input channel has its own slice of the kernel, w[f, c]; the channels are added up after "
                    "each has been weighted by its own slice.",
                ),
            ),
        ],
    )


# --- Exercise 7.7: its backward pass -----------------------------------------------------------


def solution_conv1d_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, dilation: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`solution_conv1d_forward`.

    Args:
        dout: (N, C_out, L_out) gradient of the loss with respect to the output.
        x: (N, C_in, L) the forward pass's input; w: (C_out, C_in, K) its kernels.
        stride, dilation: as in the forward pass.

    Returns:
        dx (N, C_in, L), dw (C_out, C_in, K), db (C_out,).
    """
    span = dilation * (w.shape[2] - 1) + 1  # input positions one window covers, gaps included
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[2]):  # every output position
        start = i * stride
        window = x[:, :, start : start + span : dilation]  # (N, C_in, K): what position i read
        g = dout[:, :, i]  # (N, C_out): the gradient arriving there
        dw += np.tensordot(g, window, axes=(0, 0))  # (C_out, C_in, K), summed over the batch
        dx[:, :, start : start + span : dilation] += np.tensordot(g, w, axes=(1, 0))  # windows overlap: add
    db = dout.sum(axis=(0, 2))  # (C_out,)
    return dx, dw, db


def _dx_variant(args: tuple, step: int = 0, gap: int = 0, add: bool = True, flip: bool = False) -> tuple:
    """(dx, dw, db) with dw and db right and dx sent back by a variant of the solution's rule:
    windows `step` apart, taps `gap` apart, written with = when not ``add``, the kernel reversed when ``flip``."""
    dout, x, w, s, d = args
    _, dw, db = solution_conv1d_backward(dout, x, w, s, d)
    step, gap, k = step or s, gap or d, w.shape[2]
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        where = slice(i * step, i * step + gap * (k - 1) + 1, gap)
        share = np.tensordot(dout[:, :, i], w[:, :, ::-1] if flip else w, axes=(1, 0))
        dx[:, :, where] = dx[:, :, where] + share if add else share
    return dx, dw, db


def _conv1d_backward_cases() -> list[Case]:
    rng = np.random.default_rng(72)
    x, w = np.array([[[1.0, 2.0, 0.0, -1.0, 3.0, 2.0]]]), np.array([[[2.0, -1.0]]])
    return [
        Case(
            (np.array([[[1.0, -1.0, 2.0, 0.5, 1.0]]]), x, w, 1, 1),
            "dout = [[[1, -1, 2, 0.5, 1]]], x = [[[1, 2, 0, -1, 3, 2]]], w = [[[2, -1]]], stride 1, dilation 1",
        ),
        Case(
            (np.array([[[1.0, -1.0, 2.0, 0.5]]]), x, w, 1, 2),
            "dout = [[[1, -1, 2, 0.5]]], the same x and w, stride 1, dilation 2",
        ),
        Case(
            (rng.normal(size=(2, 2, 4)), rng.normal(size=(2, 3, 12)), rng.normal(size=(2, 3, 3)), 2, 2),
            "dout of shape (2, 2, 4), x of shape (2, 3, 12), w of shape (2, 3, 3), stride 2, dilation 2",
        ),
        Case(
            (rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 2, 11)), rng.normal(size=(4, 2, 3)), 2, 3),
            "dout of shape (3, 4, 3), x of shape (3, 2, 11), w of shape (4, 2, 3), stride 2, dilation 3",
        ),
    ]


@checker
def check_conv1d_backward(answer: Any) -> Feedback:
    """Exercise 7.7: ``conv1d_backward(dout, x, w, stride, dilation)`` returns ``(dx, dw, db)``."""
    return check_function(
        "conv1d_backward",
        answer,
        solution_conv1d_backward,
        _conv1d_backward_cases(),
        hint=(
            "Follow one output value out[n, f, i]: which entries of x, of w and of b did it use? Its gradient "
            "dout[n, f, i] flows back to exactly those.",
            "For each output value, the entries of x it read collect the kernel w[f] times dout[n, f, i], the "
            "kernel w[f] collects those entries times dout[n, f, i], and b[f] collects dout[n, f, i]. Check each "
            "part against a finite difference on the failing case.",
        ),
        forbid=NO_LIBRARY,
        parts=("dx", "dw", "db"),
        mistakes=[
            Mistake(
                lambda *a: _dx_variant(a, add=False),
                (
                    "Some entries of dx miss part of their gradient: the ones that several windows read.",
                    "An input value that took part in several output positions collects gradient from each of "
                    "them: add into dx, do not overwrite.",
                ),
            ),
            Mistake(
                lambda *a: _dx_variant(a, gap=1),
                (
                    "dx is right where the dilation is 1 only.",
                    "The gradient goes back to the entries the window read, which were `dilation` apart, not to "
                    "neighbouring ones.",
                ),
            ),
            Mistake(
                lambda *a: _dx_variant(a, step=1),
                (
                    "dx is right where the stride is 1 only.",
                    "Output i read a window that starts i * stride positions into x: its gradient goes back there.",
                ),
            ),
            Mistake(
                lambda *a: _dx_variant(a, flip=True),
                (
                    "dx comes out as if every kernel were reversed.",
                    "In the loop form nothing is reversed: each window took part with the kernel as it is, so it "
                    "gets the kernel back as it is, times its output's gradient.",
                ),
            ),
            Mistake(
                lambda *a: (_dx_variant(a)[0], *(g / a[1].shape[0] for g in _dx_variant(a)[1:])),
                (
                    "dw and db are too small by a factor of the batch size.",
                    "The loss here adds up over the images of the batch, so the parameter gradients sum over the "
                    "images; they are not averaged.",
                ),
            ),
        ],
    )


# --- Exercise 7.8: find the bug in a strided convolution backward ------------------------------


def solution_conv_backward_strided(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a one-channel 2-D convolution with a stride and no padding, repaired.

    Args:
        dout: (OH, OW) upstream gradient; x: (H, W) the input; w: (KH, KW) the kernel.
        stride: the step between windows.

    Returns:
        dx (H, W) and dw (KH, KW).
    """
    kh, kw = w.shape
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            r, c = i * stride, j * stride  # top-left corner of the window out[i, j] read
            dw += dout[i, j] * x[r : r + kh, c : c + kw]
            dx[r : r + kh, c : c + kw] += dout[i, j] * w  # back onto the same window
    return dx, dw


def broken_conv_backward_strided(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """The exercise's stub as the chapter gives it: one line is wrong."""
    kh, kw = w.shape
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            r, c = i * stride, j * stride  # top-left corner of the window
            dw += dout[i, j] * x[r : r + kh, c : c + kw]
            dx[i : i + kh, j : j + kw] += dout[i, j] * w
    return dx, dw


def _strided(dout: np.ndarray, x: np.ndarray, w: np.ndarray, rows: int, cols: int, dw_stride: int) -> tuple:
    """A variant that moves dx's window by (rows, cols) per step and dw's by dw_stride."""
    kh, kw = w.shape
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dw += dout[i, j] * x[i * dw_stride : i * dw_stride + kh, j * dw_stride : j * dw_stride + kw]
            dx[i * rows : i * rows + kh, j * cols : j * cols + kw] += dout[i, j] * w
    return dx, dw


def _strided_cases() -> list[Case]:
    rng = np.random.default_rng(73)
    sizes = [((3, 3), (4, 4), (2, 2), 1), ((2, 2), (4, 4), (2, 2), 2), ((2, 2), (5, 5), (3, 3), 2)]
    sizes += [((3, 3), (6, 7), (2, 3), 2), ((3, 2), (8, 7), (2, 2), 3)]
    return [
        Case(
            (rng.normal(size=d), rng.normal(size=x), rng.normal(size=w), s),
            f"a{'n' if x[0] == 8 else ''} {x[0]}x{x[1]} x, a {w[0]}x{w[1]} w, stride {s}",
        )
        for d, x, w, s in sizes
    ]


@checker
def check_conv_backward_strided(answer: Any) -> Feedback:
    """Exercise 7.8: the repaired ``conv_backward_strided(dout, x, w, stride)`` returns ``(dx, dw)``."""
    return check_function(
        "conv_backward_strided",
        answer,
        solution_conv_backward_strided,
        _strided_cases(),
        hint=(
            "Find the first case that fails and compare it with the ones that pass: what is different about it?",
            "Follow one output value out[i, j]: which window of x did the forward pass read for it, and where "
            "does the code send its gradient?",
        ),
        forbid=NO_LIBRARY,
        parts=("dx", "dw"),
        mistakes=[
            Mistake(
                broken_conv_backward_strided,
                (
                    "The stride-1 case passes and dw is right here; only dx is wrong. Compare how the two lines in "
                    "the loop choose their window.",
                    "Output (i, j) was computed from the window that dw's line reads. Its gradient for x must go "
                    "back onto that same window, and with a stride above 1 that is not the window at (i, j).",
                ),
            ),
            Mistake(
                lambda d, x, w, s: _strided(d, x, w, 1, 1, 1),
                (
                    "Now dw is wrong too: its windows no longer match the ones the forward pass read.",
                    "With a stride, output (i, j) reads a window that moves `stride` pixels for each step of i or "
                    "j. Both gradients go back to that window; only dx's line was wrong.",
                ),
            ),
            Mistake(
                lambda d, x, w, s: _strided(d, x, w, s, 1, s),
                (
                    "dx is right along the rows now but not along the columns.",
                    "The window moves by the stride along the columns too.",
                ),
            ),
            Mistake(
                lambda d, x, w, s: _strided(d, x, w, 1, s, s),
                (
                    "dx is right along the columns now but not along the rows.",
                    "The window moves by the stride along the rows too.",
                ),
            ),
            Mistake(
                lambda d, x, w, s: (_strided(d, x, w[::-1, ::-1], s, s, s)[0], _strided(d, x, w, s, s, s)[1]),
                (
                    "dx comes out as if the kernel were turned by 180 degrees.",
                    "In the loop form nothing is flipped: each window took part in the forward pass with the "
                    "kernel as it is, so it gets the kernel back as it is.",
                ),
            ),
        ],
    )

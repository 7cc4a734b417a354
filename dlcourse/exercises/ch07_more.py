"""Checkers and solutions for chapter 7's exercises that build and debug: a 1-D convolution, its
backward pass, and a strided convolution backward with a bug to find. Re-exported by
:mod:`dlcourse.exercises.ch07`, so that the chapter calls ``ch07.check_conv1d_forward``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Hint, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "conv1d_forward": ["x[:, :, i : i + k]", "window.reshape(n_batch, -1) @ w.reshape(c_out, -1).T + b"],
    "conv1d_backward": [
        "dx[:, :, i : i + k] +=",
        "np.tensordot(g, window, axes=(0, 0))",
        "np.tensordot(g, w, axes=(1, 0))",
        "dout.sum(axis=(0, 2))",
    ],
    "conv_backward_strided": ["dx[r : r + kh, c : c + kw] +=", "dx[r:r+kh, c:c+kw]"],
}

NO_AUTOGRAD = routes.forbid_names(
    ("torch", "tensorflow", "jax", "autograd", "scipy"),
    "this exercise asks for the computation by hand, in NumPy",
)


# --- Answers that are counts (exercises 7.1, 7.4 and 7.5) -----------------------------------

WHOLE = "expected a whole number"


def whole_number(value: Any) -> Any:
    """The output unchanged when it can be a count; a float or a truth value raises, with a sentence.

    Python ints, NumPy and torch integer scalars and 0-d integer arrays are whole numbers. A float
    is not, even 24.0: the comparison alone would pass it as equal to 24.
    """
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
) -> Feedback:
    """check_function for an answer that must be a whole number (chapter 7's counts): a float or a truth
    value is a wrong answer, with ``float_hint``; NumPy and torch integer scalars are whole numbers."""
    feedback = check_function(exercise, answer, reference, cases, hint=hint, mistakes=mistakes, adapt=whole_number)
    if not feedback.passed and WHOLE in feedback.message:
        return Feedback(exercise, False, feedback.message, float_hint)
    return feedback


# --- Exercise 7.6: a 1-D convolution, forward ---------------------------------------------------


def solution_conv1d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1-D convolution (cross-correlation), stride 1, no padding.

    Args:
        x: (N, C_in, L) inputs.
        w: (C_out, C_in, K) kernels.
        b: (C_out,) one bias per kernel.

    Returns:
        (N, C_out, L - K + 1): ``out[n, f, i] = b[f] + sum_{c, u} w[f, c, u] x[n, c, i + u]``.
    """
    n_batch, _, length = x.shape
    c_out, _, k = w.shape
    out = np.zeros((n_batch, c_out, length - k + 1))  # (N, C_out, L_out)
    for i in range(length - k + 1):
        window = x[:, :, i : i + k]  # (N, C_in, K): what position i reads, in every image
        out[:, :, i] = window.reshape(n_batch, -1) @ w.reshape(c_out, -1).T + b  # (N, C_out)
    return out


def _conv1d_flipped(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return solution_conv1d_forward(x, w[:, :, ::-1], b)


def _conv1d_same(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = w.shape[2]
    return solution_conv1d_forward(np.pad(x, ((0, 0), (0, 0), (k // 2, k - 1 - k // 2))), w, b)


def _conv1d_channel_sum_first(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The input channels added up before the kernel is applied: every channel uses kernel slice 0."""
    return solution_conv1d_forward(x.sum(axis=1, keepdims=True), w[:, :1], b)


def _conv1d_cases() -> list[Case]:
    rng = np.random.default_rng(71)
    return [
        Case(
            (np.array([[[1.0, 2.0, 0.0, -1.0, 3.0]]]), np.array([[[1.0, 0.0, -2.0]]]), np.array([0.5])),
            "x = [[[1, 2, 0, -1, 3]]], w = [[[1, 0, -2]]], b = [0.5]",
        ),
        Case(
            (rng.normal(size=(2, 3, 7)), rng.normal(size=(2, 3, 3)), rng.normal(size=2)),
            "x of shape (2, 3, 7), w of shape (2, 3, 3), b of shape (2,)",
        ),
        Case(
            (rng.normal(size=(3, 2, 6)), rng.normal(size=(4, 2, 2)), rng.normal(size=4)),
            "x of shape (3, 2, 6), w of shape (4, 2, 2), b of shape (4,)",
        ),
    ]


@checker
def check_conv1d_forward(answer: Any) -> Feedback:
    """Exercise 7.6: ``conv1d_forward(x, w, b)``, a 1-D convolution over a batch with channels."""
    return check_function(
        "conv1d_forward",
        answer,
        solution_conv1d_forward,
        _conv1d_cases(),
        hint=(
            "Check the shape of your output first, then one value by hand: which entries of x and w "
            "does out[0, 0, 0] combine?",
            "Each output value out[n, f, i] is one bias plus a weighted sum over every input channel and every "
            "kernel tap, read from the stretch of x that starts at position i.",
        ),
        forbid=NO_AUTOGRAD,
        mistakes=[
            Mistake(
                _conv1d_flipped,
                (
                    "Your values are those of every kernel reversed.",
                    "np.convolve, and convolution as mathematicians define it, reverse the kernel; the "
                    "chapter's convolution (cross-correlation) uses it as it is.",
                ),
            ),
            Mistake(
                lambda x, w, b: solution_conv1d_forward(x, w, np.zeros_like(b)),
                (
                    "Your values are off by the same amount all along each output channel.",
                    "Each output channel adds its own bias after its weighted sum.",
                ),
            ),
            Mistake(
                lambda x, w, b: solution_conv1d_forward(x, w, b)[:, :, :-1],
                (
                    "Your output is one position short.",
                    "The last position of the kernel is the one flush with the end of x; your loop stops before it.",
                ),
            ),
            Mistake(
                _conv1d_same,
                (
                    "Your output is as long as x: you padded it.",
                    "This exercise asks for no padding: only positions where the kernel fits inside x count.",
                ),
            ),
            Mistake(
                _conv1d_channel_sum_first,
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
    dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`solution_conv1d_forward`.

    Args:
        dout: (N, C_out, L_out) gradient of the loss with respect to the output.
        x: (N, C_in, L) the forward pass's input.
        w: (C_out, C_in, K) its kernels.

    Returns:
        dx (N, C_in, L), dw (C_out, C_in, K), db (C_out,).
    """
    k = w.shape[2]
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(dout.shape[2]):  # every output position
        window = x[:, :, i : i + k]  # (N, C_in, K): what position i read
        g = dout[:, :, i]  # (N, C_out): the gradient arriving there
        dw += np.tensordot(g, window, axes=(0, 0))  # (C_out, C_in, K), summed over the batch
        dx[:, :, i : i + k] += np.tensordot(g, w, axes=(1, 0))  # (N, C_in, K); windows overlap, so add
    db = dout.sum(axis=(0, 2))  # (C_out,)
    return dx, dw, db


def _backward_overwrites_dx(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple:
    """dx written with = instead of +=: where windows overlap, the last one wins."""
    k = w.shape[2]
    _, dw, db = solution_conv1d_backward(dout, x, w)
    dx = np.zeros(x.shape)
    for i in range(dout.shape[2]):
        dx[:, :, i : i + k] = np.tensordot(dout[:, :, i], w, axes=(1, 0))
    return dx, dw, db


def _backward_last_dw(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple:
    """dw written with = instead of +=: only the last position's share."""
    k = w.shape[2]
    dx, _, db = solution_conv1d_backward(dout, x, w)
    last = dout.shape[2] - 1
    return dx, np.tensordot(dout[:, :, last], x[:, :, last : last + k], axes=(0, 0)), db


def _backward_flipped_dx(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple:
    _, dw, db = solution_conv1d_backward(dout, x, w)
    return solution_conv1d_backward(dout, x, w[:, :, ::-1])[0], dw, db


def _backward_mean_over_batch(dout: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple:
    dx, dw, db = solution_conv1d_backward(dout, x, w)
    return dx, dw / x.shape[0], db / x.shape[0]


def _conv1d_backward_cases() -> list[Case]:
    rng = np.random.default_rng(72)
    return [
        Case(
            (np.array([[[1.0, -1.0, 2.0, 0.5]]]), np.array([[[1.0, 2.0, 0.0, -1.0, 3.0]]]), np.array([[[2.0, -1.0]]])),
            "dout = [[[1, -1, 2, 0.5]]], x = [[[1, 2, 0, -1, 3]]], w = [[[2, -1]]]",
        ),
        Case(
            (rng.normal(size=(2, 2, 4)), rng.normal(size=(2, 3, 6)), rng.normal(size=(2, 3, 3))),
            "dout of shape (2, 2, 4), x of shape (2, 3, 6), w of shape (2, 3, 3)",
        ),
        Case(
            (rng.normal(size=(3, 4, 4)), rng.normal(size=(3, 2, 7)), rng.normal(size=(4, 2, 4))),
            "dout of shape (3, 4, 4), x of shape (3, 2, 7), w of shape (4, 2, 4)",
        ),
    ]


@checker
def check_conv1d_backward(answer: Any) -> Feedback:
    """Exercise 7.7: ``conv1d_backward(dout, x, w)`` returns ``(dx, dw, db)``."""
    return check_function(
        "conv1d_backward",
        answer,
        solution_conv1d_backward,
        _conv1d_backward_cases(),
        hint=(
            "Follow one output value out[n, f, i]: which entries of x, of w and of b did it use? Its gradient "
            "dout[n, f, i] flows back to exactly those.",
            "For each output value, its window of x collects the kernel w[f] times dout[n, f, i], the kernel "
            "w[f] collects the window times dout[n, f, i], and b[f] collects dout[n, f, i]. Check each part "
            "against a finite difference on the first case.",
        ),
        forbid=NO_AUTOGRAD,
        parts=("dx", "dw", "db"),
        mistakes=[
            Mistake(
                _backward_overwrites_dx,
                (
                    "Some entries of dx miss part of their gradient: the ones that several windows cover.",
                    "An input value that took part in several output positions collects gradient from each of "
                    "them: add into dx, do not overwrite.",
                ),
            ),
            Mistake(
                _backward_last_dw,
                (
                    "dw holds the share of one output position only.",
                    "The kernel is shared by every position (and every image), so its gradient adds up their "
                    "shares: accumulate, do not overwrite.",
                ),
            ),
            Mistake(
                _backward_flipped_dx,
                (
                    "dx comes out as if every kernel were reversed.",
                    "In the loop form nothing is reversed: each window took part with the kernel as it is, so it "
                    "gets the kernel back as it is, times its output's gradient.",
                ),
            ),
            Mistake(
                _backward_mean_over_batch,
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
        dout: (OH, OW) upstream gradient.
        x: (H, W) the input.
        w: (KH, KW) the kernel.
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
    return [
        Case(
            (rng.normal(size=(3, 3)), rng.normal(size=(4, 4)), rng.normal(size=(2, 2)), 1), "a 4x4 x, a 2x2 w, stride 1"
        ),
        Case(
            (rng.normal(size=(2, 2)), rng.normal(size=(4, 4)), rng.normal(size=(2, 2)), 2), "a 4x4 x, a 2x2 w, stride 2"
        ),
        Case(
            (rng.normal(size=(2, 2)), rng.normal(size=(5, 5)), rng.normal(size=(3, 3)), 2), "a 5x5 x, a 3x3 w, stride 2"
        ),
        Case(
            (rng.normal(size=(3, 3)), rng.normal(size=(6, 7)), rng.normal(size=(2, 3)), 2), "a 6x7 x, a 2x3 w, stride 2"
        ),
        Case(
            (rng.normal(size=(3, 2)), rng.normal(size=(8, 7)), rng.normal(size=(2, 2)), 3),
            "an 8x7 x, a 2x2 w, stride 3",
        ),
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
        forbid=NO_AUTOGRAD,
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

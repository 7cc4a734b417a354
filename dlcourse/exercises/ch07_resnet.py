"""Chapter 7 exercise on residual connections: the backward pass of a residual block with an identity
skip, written by hand. Re-exported by :mod:`dlcourse.exercises.ch07`, so that the chapter calls
``ch07.check_residual_backward``.

The block keeps the chapter's structure, ``y = ReLU(x + F(x))``, with a branch of two fully connected
layers, ``F(x) = ReLU(x W1) W2``, in place of the convolutions and batch normalisations: the exercise
is about the skip, not about the layers on the branch."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.routes import forbid_names
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "residual_backward": ["dh @ w1.T + ds", "dout * (s > 0)", "ds = dout", "+ ds"],
}


def solution_residual_backward(
    dout: np.ndarray, x: np.ndarray, w1: np.ndarray, w2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a residual block with an identity skip, ``y = ReLU(x + F(x))`` with
    ``F(x) = ReLU(x @ w1) @ w2``.

    Args:
        dout: (N, D) the gradient of the loss with respect to the block's output y.
        x: (N, D) the block's input.
        w1: (D, H) the first layer of the branch; w2: (H, D) the second.

    Returns:
        dx (N, D), dw1 (D, H), dw2 (H, D).
    """
    h = x @ w1  # (N, H)
    a = np.maximum(h, 0)  # (N, H)
    s = x + a @ w2  # (N, D): F(x) + x, the input of the last ReLU
    ds = dout * (s > 0)  # (N, D): back through the last ReLU, the gradient of the sum
    dw2 = a.T @ ds  # (H, D)
    dh = (ds @ w2.T) * (h > 0)  # (N, H): back through the branch's own ReLU
    dw1 = x.T @ dh  # (D, H)
    dx = dh @ w1.T + ds  # the branch's gradient plus the skip's, which arrives unchanged
    return dx, dw1, dw2


def _variant(skip: str = "masked", last_mask: str = "sum", inner_mask: bool = True, mask_dx: bool = False) -> Any:
    """The solution with a typical mistake: the skip's gradient left out (``skip="none"``) or taken
    before the last ReLU (``"unmasked"``); the last ReLU's mask missing (``last_mask="none"``) or
    read from the branch alone (``"branch"``); the branch's ReLU forgotten; dx masked once more."""

    def backward(dout: np.ndarray, x: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> tuple:
        h = x @ w1
        a = np.maximum(h, 0)
        f = a @ w2
        mask = {"sum": x + f > 0, "branch": f > 0, "none": np.ones(f.shape, dtype=bool)}[last_mask]
        ds = dout * mask
        dh = (ds @ w2.T) * ((h > 0) if inner_mask else 1.0)
        dx = dh @ w1.T + {"masked": ds, "unmasked": dout, "none": 0.0}[skip]
        return dx * (x + f > 0) if mask_dx else dx, x.T @ dh, a.T @ ds

    return backward


def _cases() -> list[Case]:
    rng = np.random.default_rng(79)
    x, w1 = np.array([[1.0, -2.0], [2.0, 1.0]]), np.array([[1.0, -1.0], [0.25, 1.0]])
    w2, dout = np.array([[1.0, -3.0], [-1.0, 0.5]]), np.array([[1.0, -1.0], [0.5, 2.0]])
    label = "dout = [[1, -1], [0.5, 2]], x = [[1, -2], [2, 1]], w1 = [[1, -1], [0.25, 1]], w2 = [[1, -3], [-1, 0.5]]"
    cases = [Case((dout, x, w1, w2), label)]
    for n, d, hidden in ((4, 3, 5), (6, 4, 4), (5, 6, 2)):
        arrays = rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(d, hidden))
        w2 = rng.normal(size=(hidden, d))
        cases.append(
            Case((*arrays, w2), f"dout and x of shape ({n}, {d}), w1 of shape ({d}, {hidden}), w2 ({hidden}, {d})")
        )
    return cases


@checker
def check_residual_backward(answer: Any) -> Feedback:
    """Exercise 7.9: ``residual_backward(dout, x, w1, w2)`` returns ``(dx, dw1, dw2)`` for the block
    ``y = ReLU(x + ReLU(x @ w1) @ w2)``."""
    return check_function(
        "residual_backward",
        answer,
        solution_residual_backward,
        _cases(),
        hint=(
            "Go through the forward pass backwards, one line at a time, starting from the last ReLU; then "
            "follow every path by which x reached the sum that ReLU acted on.",
            "Name the sum that the last ReLU acts on and find its gradient first. From there the gradient "
            "goes back through the branch exactly as through a two-layer network, and also straight to x; "
            "check each of the three results against a finite difference on the failing case.",
        ),
        parts=("dx", "dw1", "dw2"),
        forbid=forbid_names(
            ("torch", "dlcourse", "autograd", "jax", "numerical_gradient", "backward"),
            "this exercise asks for the backward pass worked out and written by you",
        ),
        mistakes=[
            Mistake(
                _variant(skip="none"),
                (
                    "dw1 and dw2 are right, but dx is missing a part: x reaches the output by more than one path.",
                    "The block adds x to F(x) before the last ReLU, so x reaches the sum twice: through the "
                    "branch and directly. The gradient of a sum flows into each of its terms, and the direct "
                    "term passes it on unchanged.",
                ),
            ),
            Mistake(
                _variant(skip="unmasked"),
                (
                    "dw1 and dw2 are right, and dx is right wherever the block's output is positive; elsewhere "
                    "it is not.",
                    "The skip joins the branch before the last ReLU, so the gradient it carries back has gone "
                    "through that ReLU too: where the sum was not positive, nothing comes back along the skip.",
                ),
            ),
            Mistake(
                _variant(last_mask="none"),
                (
                    "All three results are off: your gradients ignore the last ReLU.",
                    "The block ends with a ReLU: where its input was not positive, the output did not depend "
                    "on anything before it, and the gradient stops there for both paths.",
                ),
            ),
            Mistake(
                _variant(last_mask="branch"),
                (
                    "Your last ReLU lets the gradient through in the wrong places: check what that ReLU acts on.",
                    "The last ReLU acts on the sum of the branch and the input, not on the branch's output "
                    "alone: its mask comes from the sum.",
                ),
            ),
            Mistake(
                _variant(inner_mask=False),
                (
                    "dw2 is right, but dw1 and dx are not: look inside the branch.",
                    "The branch has a ReLU of its own between its two layers; the gradient passes it only "
                    "where that ReLU's input was positive.",
                ),
            ),
            Mistake(
                _variant(mask_dx=True),
                (
                    "dw1 and dw2 are right, but dx is zero in places where it should not be.",
                    "The last ReLU's mask applies to the gradient of the sum, before it splits into the two "
                    "paths; dx is the gradient at the block's input, and the last ReLU does not gate it a "
                    "second time.",
                ),
            ),
        ],
    )

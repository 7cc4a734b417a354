"""Checkers and solutions for chapter 5, Backpropagation and multilayer networks.

The exercises that build, debug and train what the chapter did not show (a GELU backward pass, a
buggy two-layer backward pass, a learning rate and weight scale for SGD) live in
:mod:`dlcourse.exercises.ch05_more` and are re-exported at the end of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.numpy import activations

KEY_EXPRESSIONS = {
    "weight_shape": ["(n_in, n_out)"],
    "linear_forward": ["x @ weight + bias", "np.dot(x, weight) + bias"],
    "linear_backward_transposed": ["dout @ weight", "dout.T @ x"],
    "sigmoid_chain": ["s * (1 - s) * x", "sigmoid(w * x) * (1 - sigmoid(w * x)) * x"],
}


def solution_weight_shape(n_in: int, n_out: int) -> tuple[int, int]:
    """The shape of the weight matrix from a layer of n_in neurons to a layer of n_out neurons."""
    return (n_in, n_out)  # rows: where a connection starts; columns: where it ends


@checker
def check_weight_shape(answer: Any) -> Feedback:
    """Exercise 5.1: ``weight_shape(n_in, n_out)`` as in ``z = x W + b``."""
    cases = [
        Case((2, 3), "n_in = 2, n_out = 3"),
        Case((784, 256), "n_in = 784, n_out = 256"),
        Case((5, 1), "n_in = 5, n_out = 1"),
    ]
    return check_function(
        "weight_shape",
        answer,
        solution_weight_shape,
        cases,
        hint=(
            "Think of the product x W for a batch x of shape (N, n_in): which shapes can W have for the "
            "product to exist and to give one column per neuron of the next layer?",
            "In a matrix product (a, b) @ (c, d) the inner sizes b and c must agree, and the result is (a, d).",
        ),
        mistakes=[
            Mistake(
                lambda n_in, n_out: (n_out, n_in),
                (
                    "Rows and columns are swapped.",
                    "That is the layout torch.nn.Linear stores. In this book a row of W collects the connections "
                    "that start at one input neuron.",
                ),
            ),
            Mistake(
                lambda n_in, n_out: n_in * n_out,
                (
                    "That is the number of weights; the exercise asks for the shape, a tuple (rows, columns).",
                    "Which of n_in and n_out counts the rows?",
                ),
            ),
        ],
    )


def solution_linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A fully connected layer on a batch: z = x W + b, (N, D_in) -> (N, D_out)."""
    return x @ weight + bias


@checker
def check_linear_forward(answer: Any) -> Feedback:
    """Exercise 5.2: ``linear_forward(x, weight, bias)`` for a batch ``x`` of shape (N, D_in)."""
    rng = np.random.default_rng(5)
    square = (rng.normal(size=(3, 2)), rng.normal(size=(2, 2)), rng.normal(size=2))
    cases = [
        Case(square, "x of shape (3, 2), weight (2, 2), bias (2,)"),
        Case(
            (rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)),
            "x of shape (4, 3), weight (3, 5), bias (5,)",
        ),
        Case(
            (np.array([[1.0, 2.0]]), np.array([[0.5, -1.0, 0.0], [0.25, 0.5, 1.0]]), np.array([0.1, 0.2, 0.3])),
            "x = [[1, 2]], weight (2, 3), bias [0.1, 0.2, 0.3]",
        ),
    ]
    return check_function(
        "linear_forward",
        answer,
        solution_linear_forward,
        cases,
        rtol=1e-5,  # a float32 layer, as the chapter's Linear computes, is right too
        hint=(
            "z has one row per example and one column per output neuron: check the shape of your output, "
            "then one entry of it by the sum formula.",
            "Entry (n, j) of z is the sum over i of x[n, i] W[i, j], plus b[j]: a matrix product over the "
            "D_in axis, with the bias added to every row.",
        ),
        mistakes=[
            Mistake(
                lambda x, w, b: x @ w.T + b,
                (
                    "Your layer multiplies by the transposed weight.",
                    "weight is already (D_in, D_out), rows for inputs: use it as it is.",
                ),
            ),
            Mistake(
                lambda x, w, b: x @ w,
                ("The bias is missing.", "Every row of the product gets the same bias vector added."),
            ),
            Mistake(
                lambda x, w, b: x @ w.T,
                (
                    "Two things: the weight is used transposed, and the bias is missing.",
                    "weight is already (D_in, D_out); and every row of the product gets the bias added.",
                ),
            ),
        ],
    )


def solution_linear_backward_transposed(
    dout: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of z = x W^T + b with W stored as torch.nn.Linear does, (D_out, D_in): (dx, dW, db).

    dout (N, D_out) is dL/dz; x is (N, D_in).
    """
    dx = dout @ weight  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
    dweight = dout.T @ x  # (D_out, N) @ (N, D_in) -> (D_out, D_in), the shape of weight
    dbias = dout.sum(axis=0)  # every example adds its share: (D_out,)
    return dx, dweight, dbias


@checker
def check_linear_backward_transposed(answer: Any) -> Feedback:
    """Exercise 5.3: ``linear_backward_transposed(dout, x, weight)`` for a weight stored (D_out, D_in)."""
    rng = np.random.default_rng(6)
    cases = [  # the first is square (D_in = D_out), so a forgotten or extra transpose still runs
        Case(
            (rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))),
            "dout (3, 2), x (3, 2), weight (2, 2)",
        ),
        Case(
            (rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2))),
            "dout (4, 3), x (4, 2), weight (3, 2)",
        ),
        Case(
            (np.array([[1.0, -1.0]]), np.array([[2.0, 0.5, 1.0]]), np.arange(6.0).reshape(2, 3)),
            "dout = [[1, -1]], x = [[2, 0.5, 1]], weight (2, 3)",
        ),
    ]
    return check_function(
        "linear_backward_transposed",
        answer,
        solution_linear_backward_transposed,
        cases,
        hint=(
            "Each gradient has the shape of what it is the gradient of: dx like x, dW like weight (here "
            "(D_out, D_in)), db like the bias. Write the three shapes down first.",
            "Write one entry, z[n, j] = sum over i of x[n, i] W[j, i] + b[j], and differentiate it; then find the "
            "product of dout, x or weight (or their transposes) that has each gradient's shape.",
        ),
        parts=("dx", "dW", "db"),
        mistakes=[
            Mistake(
                lambda g, x, w: (g @ w.T, x.T @ g, g.sum(axis=0)),
                (
                    "These are the gradients for the book's layout, a weight stored (D_in, D_out). Here weight "
                    "is stored the other way round.",
                    "With W stored (D_out, D_in) the layer computes x W^T: redo dx and dW for that product, "
                    "and check that dW comes out with the shape of weight.",
                ),
            ),
            Mistake(
                lambda g, x, w: (g @ w, x.T @ g, g.sum(axis=0)),
                (
                    "dx is right, but your dW is transposed: it must have the shape of weight, (D_out, D_in).",
                    "Which product of dout, x and their transposes is (D_out, D_in)?",
                ),
            ),
            Mistake(
                lambda g, x, w: (g @ w.T, g.T @ x, g.sum(axis=0)),
                (
                    "dW and db are right, but dx is not.",
                    "z = x W^T: the gradient reaching x goes back through the matrix that multiplied x, transposed.",
                ),
            ),
            Mistake(
                lambda g, x, w: (g @ w, g.T @ x, g.mean(axis=0)),
                (
                    "db is off by a factor of the batch size.",
                    "Every example adds its share to the bias gradient; any averaging already happened in the loss.",
                ),
            ),
            Mistake(
                lambda g, x, w: (g @ w, g.T @ x, g),
                (
                    "db must hold one number per output neuron, not one row per example.",
                    "Every example in the batch uses the same bias, so their contributions add up.",
                ),
            ),
        ],
    )


def solution_sigmoid_chain(x: np.ndarray, w: float) -> np.ndarray:
    """d/dw of sigmoid(w x): the outer derivative sigmoid'(w x) times the inner one, x."""
    s = activations.sigmoid(np.asarray(w * np.asarray(x, dtype=float)))
    return s * (1 - s) * x


@checker
def check_sigmoid_chain(answer: Any) -> Feedback:
    """Exercise 5.4: the derivative of sigmoid(w x) with respect to w, elementwise in x."""
    cases = [
        Case((2.0, 0.5), "x = 2, w = 0.5"),
        Case((-1.5, 3.0), "x = -1.5, w = 3"),
        Case((np.array([-2.0, 0.5, 3.0]), -0.75), "x = [-2, 0.5, 3], w = -0.75"),
    ]
    sig = activations.sigmoid

    def outer_only(x, w):
        s = sig(np.asarray(w * np.asarray(x, dtype=float)))
        return s * (1 - s)

    return check_function(
        "sigmoid_chain",
        answer,
        solution_sigmoid_chain,
        cases,
        hint=(
            "Write u = w x: sigmoid(w x) reaches w only through u.",
            "The chain rule multiplies d sigmoid/du by du/dw, and sigmoid'(u) = sigmoid(u)(1 - sigmoid(u)).",
        ),
        mistakes=[
            Mistake(
                outer_only,
                (
                    "You have the outer derivative sigmoid'(w x) only.",
                    "Multiply it by the inner derivative, d(w x)/dw.",
                ),
            ),
            Mistake(
                lambda x, w: outer_only(x, w) * w,
                (
                    "Your inner derivative is the one with respect to x.",
                    "The question asks for the derivative with respect to w: differentiate w x in w.",
                ),
            ),
            Mistake(
                lambda x, w: sig(np.asarray(w * np.asarray(x, dtype=float))) * x,
                (
                    "The outer derivative is not right: sigmoid(u) is not its own derivative.",
                    "sigmoid'(u) = sigmoid(u)(1 - sigmoid(u)).",
                ),
            ),
        ],
    )


from dlcourse.exercises.ch05_more import (  # noqa: E402  (the exercises that did not fit here)
    C_GELU,
    TARGET_ACCURACY,
    TRAIN_BATCH,
    TRAIN_STEPS,
    check_gelu_backward,
    check_train_mlp,
    check_two_layer_backward,
    gelu,
    solution_gelu_backward,
    solution_train_mlp,
    solution_two_layer_backward,
    train_mlp,
    two_layer_loss,
)

# isort: split
from dlcourse.exercises.ch05_autograd import (  # noqa: E402  (the exercise on the autograd engine)
    check_value_sigmoid,
    solution_value_sigmoid,
)

__all__ = [
    "C_GELU",
    "KEY_EXPRESSIONS",
    "TARGET_ACCURACY",
    "TRAIN_BATCH",
    "TRAIN_STEPS",
    "check_gelu_backward",
    "check_linear_backward_transposed",
    "check_linear_forward",
    "check_sigmoid_chain",
    "check_train_mlp",
    "check_two_layer_backward",
    "check_value_sigmoid",
    "check_weight_shape",
    "gelu",
    "solution_gelu_backward",
    "solution_linear_backward_transposed",
    "solution_linear_forward",
    "solution_sigmoid_chain",
    "solution_train_mlp",
    "solution_two_layer_backward",
    "solution_value_sigmoid",
    "solution_weight_shape",
    "train_mlp",
    "two_layer_loss",
]

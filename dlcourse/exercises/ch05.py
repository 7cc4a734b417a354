"""Checkers and solutions for chapter 5, Backpropagation and multilayer networks."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.exercises.running import run_answer
from dlcourse.numpy import activations
from dlcourse.numpy import layers as L


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
        hint="x has shape (N, n_in) and z = x W has shape (N, n_out): which shape of W makes the product work?",
        mistakes=[
            Mistake(
                lambda n_in, n_out: (n_out, n_in),
                "That is the transpose (the layout torch.nn.Linear stores). In this book a row of W "
                "collects the connections that start at one input neuron.",
            ),
        ],
    )


def solution_count_parameters() -> int:
    """The number of parameters of a 784-256-10 network, counted from the layers themselves."""
    rng = np.random.default_rng(0)
    net = L.Sequential(L.Linear(784, 256, rng), L.ReLU(), L.Linear(256, 10, rng))
    return sum(p.data.size for p in net.parameters())


@checker
def check_count_parameters(answer: Any) -> Feedback:
    """Exercise 5.2: the number of parameters (weights and biases) of a 784-256-10 network.

    The feedback says whether a wrong count is too high or too low, never the count itself.
    """
    weights, biases = 784 * 256 + 256 * 10, 256 + 10
    hint = "Add up the sizes of every weight matrix and every bias vector; net.parameters() lists them all."
    known = {
        weights: "You counted the weights only: every neuron after the input layer also has a bias.",
        weights + biases + 784: "The input layer has no bias: it only holds the data.",
        weights + biases - 10: "Count the biases of the output layer too.",
    }
    try:
        if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, float, np.integer, np.floating)):
            return Feedback("count_parameters", False, f"expected a whole number, got {type(answer).__name__}.", hint)
        if not np.isfinite(answer) or answer != int(answer):
            return Feedback("count_parameters", False, f"expected a whole number, got {answer!r}.", hint)
        count = int(answer)
        if count == weights + biases:
            return Feedback("count_parameters", True, f"{count:,} parameters is right.")
        side = "too high" if count > weights + biases else "too low"
        return Feedback(
            "count_parameters", False, f"expected a different count: {count:,} is {side}.", known.get(count, hint)
        )
    except Exception as exc:  # a checker must never crash in front of a learner
        return Feedback("count_parameters", False, f"the checker could not evaluate your answer ({exc}).", hint)


def solution_linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A fully connected layer on a batch: z = x W + b, (N, D_in) -> (N, D_out)."""
    return x @ weight + bias


@checker
def check_linear_forward(answer: Any) -> Feedback:
    """Exercise 5.3: ``linear_forward(x, weight, bias)`` for a batch ``x`` of shape (N, D_in)."""
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
        hint="Each row of x is one example; multiply the batch by the weight matrix, then add the bias to every row.",
        mistakes=[
            Mistake(
                lambda x, w, b: x @ w.T + b,
                "weight is already (D_in, D_out), rows for inputs: multiply by it as it is, without transposing.",
            ),
            Mistake(lambda x, w, b: x @ w, "The bias is missing: add it to every row of the product."),
            Mistake(
                lambda x, w, b: x @ w.T,
                "Two things: the weight needs no transpose here, and the bias is missing.",
            ),
        ],
    )


def solution_linear_backward(
    dout: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of z = x W + b, given dout = dL/dz of shape (N, D_out): (dx, dW, db)."""
    dx = dout @ weight.T  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
    dweight = x.T @ dout  # (D_in, N) @ (N, D_out) -> (D_in, D_out)
    dbias = dout.sum(axis=0)  # every example adds its share: (D_out,)
    return dx, dweight, dbias


def _flatten_triple(value: Any) -> np.ndarray:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"expected a tuple (dx, dW, db), got {type(value).__name__}")
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in value])


_BACKWARD_HINT = (
    "Each gradient has the shape of what it is the gradient of: dx like x, dW like W, db like b. "
    "Let the shapes tell you which products to take."
)


def _backward_shape_problem(answer: Any, case: Case) -> Feedback | None:
    """A targeted message when one of the three gradients has the wrong shape (None when all fit)."""
    dout, x, weight = (np.array(a) for a in case.args)
    status, pieces, _ = run_answer(
        lambda: [np.asarray(v, dtype=float) for v in answer(dout.copy(), x.copy(), weight.copy())]
    )
    if status != "ok":
        return None  # check_function reports exceptions, time-outs and malformed output
    if len(pieces) != 3:
        return None
    names = ("dx", "dW", "db")
    wanted = (x.shape, weight.shape, (weight.shape[1],))
    tips = {
        ("dW", weight.shape[::-1]): "Your dW is transposed: it must have the shape of W, (D_in, D_out). "
        "Which product of x, dout and their transposes has that shape?",
        ("db", dout.shape): "db must have one number per output neuron: every example in the batch "
        "contributes to the same bias, so add up their contributions.",
    }
    for name, piece, shape in zip(names, pieces, wanted, strict=True):
        if piece.shape != shape:
            message = f"for {case.label} expected {name} of shape {shape}, got shape {piece.shape}."
            return Feedback("linear_backward", False, message, tips.get((name, piece.shape), _BACKWARD_HINT))
    return None


@checker
def check_linear_backward(answer: Any) -> Feedback:
    """Exercise 5.4: ``linear_backward(dout, x, weight)`` returning ``(dx, dW, db)``."""
    rng = np.random.default_rng(6)
    cases = [
        Case(
            (rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), rng.normal(size=(2, 3))),
            "dout (4, 3), x (4, 2), weight (2, 3)",
        ),
        Case(
            (rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))),
            "dout (3, 2), x (3, 2), weight (2, 2)",
        ),
        Case(
            (np.array([[1.0, -1.0]]), np.array([[2.0, 0.5, 1.0]]), np.arange(6.0).reshape(3, 2)),
            "dout = [[1, -1]], x = [[2, 0.5, 1]], weight (3, 2)",
        ),
    ]
    try:
        if callable(answer):
            for case in cases:
                problem = _backward_shape_problem(answer, case)
                if problem is not None:
                    return problem
    except Exception:  # never let the shape pre-check crash; check_function reports the rest
        pass
    return check_function(
        "linear_backward",
        answer,
        solution_linear_backward,
        cases,
        hint=_BACKWARD_HINT,
        adapt=_flatten_triple,
        mistakes=[
            Mistake(
                lambda g, x, w: (g @ w.T, g.T @ x, g.sum(axis=0)),
                "Your dW is transposed: it must have the shape of W, (D_in, D_out). "
                "Which product of x, dout and their transposes has that shape?",
            ),
            Mistake(
                lambda g, x, w: (g @ w.T, x.T @ g, g.mean(axis=0)),
                "db should add up the contributions of the examples, not average them "
                "(any averaging already happened in the loss).",
            ),
            Mistake(
                lambda g, x, w: (g @ w, x.T @ g, g.sum(axis=0)),
                "dx flows back through the transposed weights: z = x W, so dx = dout W^T.",
            ),
        ],
    )


def solution_sigmoid_chain(x: np.ndarray, w: float) -> np.ndarray:
    """d/dw of sigmoid(w x): the outer derivative sigmoid'(w x) times the inner one, x."""
    s = activations.sigmoid(np.asarray(w * np.asarray(x, dtype=float)))
    return s * (1 - s) * x


@checker
def check_sigmoid_chain(answer: Any) -> Feedback:
    """Exercise 5.5: the derivative of sigmoid(w x) with respect to w, elementwise in x."""
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
        hint="Write u = w x. The chain rule multiplies d sigmoid/du by du/dw; sigmoid'(u) = sigmoid(u)(1 - sigmoid(u)).",
        mistakes=[
            Mistake(
                outer_only,
                "You have the outer derivative sigmoid'(w x) only: multiply by the inner derivative, d(w x)/dw.",
            ),
            Mistake(
                lambda x, w: outer_only(x, w) * w,
                "You multiplied by d(w x)/dx. The question asks for the derivative with respect to w.",
            ),
            Mistake(
                lambda x, w: sig(np.asarray(w * np.asarray(x, dtype=float))) * x,
                "sigmoid(u) is not its own derivative: sigmoid'(u) = sigmoid(u)(1 - sigmoid(u)).",
            ),
        ],
    )

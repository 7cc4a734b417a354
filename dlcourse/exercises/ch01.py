"""Checkers and solutions for chapter 1, What is deep learning."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function, check_value
from dlcourse.exercises.tracking import checker
from dlcourse.numpy.linalg import matmul_flops

# Exercise 1.4 asks which of these are deep-learning models.
MODELS = [
    "decision tree",
    "convolutional network",
    "support vector machine",
    "LSTM",
    "logistic regression",
    "naive Bayes",
    "deep Q-network",
    "multilayer perceptron with 10 hidden layers",
]


def solution_count_parameters(sizes: list[int]) -> int:
    """Weights plus biases of a fully connected network with the given layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))


@checker
def check_count_parameters(answer: Any) -> Feedback:
    """Exercise 1.1: ``count_parameters([784, 128, 10])`` counts weights and biases."""
    cases = [
        Case(([2, 3],), "sizes = [2, 3]"),
        Case(([784, 128, 10],), "sizes = [784, 128, 10]"),
        Case(([4, 8, 8, 8, 1],), "sizes = [4, 8, 8, 8, 1]"),
    ]
    return check_function(
        "count_parameters",
        answer,
        solution_count_parameters,
        cases,
        hint="A layer of n_out neurons fed by n_in inputs has n_in * n_out weights and n_out biases.",
        mistakes=[
            Mistake(
                lambda s: sum(a * b for a, b in zip(s[:-1], s[1:], strict=False)),
                "You counted the weights only: every neuron after the input layer also has a bias.",
            ),
            Mistake(
                lambda s: solution_count_parameters(s) + s[0], "The input layer has no bias: it only holds the data."
            ),
        ],
    )


solution_matmul_flops = matmul_flops


@checker
def check_matmul_flops(answer: Any) -> Feedback:
    """Exercise 1.2: floating-point operations of an (n, k) @ (k, m) product."""
    cases = [
        Case((1, 1, 1), "n, k, m = 1, 1, 1"),
        Case((2, 3, 4), "n, k, m = 2, 3, 4"),
        Case((512, 512, 512), "n, k, m = 512, 512, 512"),
    ]
    return check_function(
        "matmul_flops",
        answer,
        matmul_flops,
        cases,
        hint="Each of the n * m outputs is a sum of k products.",
        mistakes=[
            Mistake(lambda n, k, m: n * k * m, "Each of the k terms costs a multiply and an add: two operations.")
        ],
    )


def solution_matmul_loops(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """The product of two matrices given as lists of rows, with plain Python loops."""
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            out[i][j] = sum(a[i][t] * b[t][j] for t in range(k))
    return out


@checker
def check_matmul_loops(answer: Any) -> Feedback:
    """Exercise 1.3: a matrix product on lists of lists, no NumPy."""
    rng = np.random.default_rng(1)
    square = rng.integers(-3, 4, size=(2, 2)).tolist(), rng.integers(-3, 4, size=(2, 2)).tolist()
    rect = rng.integers(-3, 4, size=(2, 3)).tolist(), rng.integers(-3, 4, size=(3, 4)).tolist()
    cases = [Case(square, f"a = {square[0]}, b = {square[1]}"), Case(rect, f"a = {rect[0]} (2x3), b = {rect[1]} (3x4)")]
    return check_function(
        "matmul_loops",
        answer,
        solution_matmul_loops,
        cases,
        hint="out[i][j] is the sum over t of a[i][t] * b[t][j]; the result has len(a) rows and len(b[0]) columns.",
        mistakes=[
            Mistake(
                lambda a, b: (np.array(a) @ np.array(b)).T.tolist(),
                "Rows and columns are swapped: out[i][j] combines row i of a with column j of b.",
            ),
            Mistake(
                lambda a, b: (np.array(a) * np.array(b)).tolist(),
                "That is the elementwise product; a matrix product sums over the shared dimension.",
            ),
        ],
    )


solution_deep_models = {
    "convolutional network",
    "LSTM",
    "deep Q-network",
    "multilayer perceptron with 10 hidden layers",
}


@checker
def check_deep_models(answer: Any) -> Feedback:
    """Exercise 1.4: which entries of :data:`MODELS` are deep-learning models."""
    return check_value(
        "deep_models",
        answer,
        solution_deep_models,
        hint="Deep learning means neural networks with many layers that learn their own features; "
        "the 'flat' algorithms need features made by hand. Copy names exactly from ch01.MODELS.",
    )

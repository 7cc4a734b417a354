"""Checkers and solutions for chapter 1, What is deep learning."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
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

# Fragments of each solution's key code, which no first-stage hint or message may contain
# (tests/test_exercise_hints.py).
KEY_EXPRESSIONS: dict[str, list[str]] = {
    "count_parameters": ["n_in * n_out + n_out", "zip(sizes[:-1], sizes[1:])"],
    "matmul_flops": ["2 * n * k * m", "2nkm"],
    "matmul_loops": ["a[i][t] * b[t][j]", "for t in range(k)"],
    "deep_models": ["deep Q-network", "multilayer perceptron with 10 hidden layers", "convolutional network"],
    "mlp_forward_flops": ["2 * batch * n_in * n_out", "batch * n_out"],
    "matmul_debug": ["for j in range(m):\n total = 0.0"],
}

LOOPS_ONLY = routes.forbid_names(
    ("np", "numpy", "torch", "dot", "matmul", "einsum", "matmul_naive", "linalg", "np_linalg", "dlcourse"),
    "this exercise asks for plain Python loops, with no NumPy, PyTorch or the course package's products",
    matmul=True,
)
OWN_COUNT = routes.forbid_names(
    ("matmul_flops", "np_linalg", "linalg", "torch_linalg", "dlcourse"),
    "this exercise asks you to count the operations yourself, not to call the course package's count",
)


def whole_number(value: Any) -> Any:
    """A count as it is, or an error with a sentence when it is not a whole number.

    A truth value, or a number with a fractional part (24.5), is not a count; the comparison that
    follows is exact (``rtol=0``, ``atol=0``), so a count that is off by anything fails.
    """
    if hasattr(value, "detach") and callable(value.detach):  # a torch tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        return value  # None, lists, ...: the comparison explains what is wrong with them
    array = np.asarray(value)
    if array.ndim == 0 and array.dtype.kind == "b":
        raise ValueError(f"expected a whole number, got the truth value {bool(array)}")
    if array.ndim == 0 and array.dtype.kind == "f" and not float(array).is_integer():
        raise ValueError(f"expected a whole number, got {float(array)!r}")
    return value


EXACT: dict[str, Any] = {"rtol": 0.0, "atol": 0.0, "adapt": whole_number}  # a count is right or it is not


def _pairs(sizes: list[int]) -> list[tuple[int, int]]:
    """(n_in, n_out) of every layer after the input layer."""
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def solution_count_parameters(sizes: list[int]) -> int:
    """Weights plus biases of a fully connected network with the given layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))


@checker
def check_count_parameters(answer: Any) -> Feedback:
    """Exercise 1.1: ``count_parameters([784, 128, 10])`` counts weights and biases."""
    cases = [  # a hidden layer in the first case: it separates "weights only" from "no output bias"
        Case(([3, 4, 2],), "sizes = [3, 4, 2]"),
        Case(([2, 3],), "sizes = [2, 3]"),
        Case(([784, 128, 10],), "sizes = [784, 128, 10]"),
        Case(([4, 8, 8, 8, 1],), "sizes = [4, 8, 8, 8, 1]"),
    ]
    return check_function(
        "count_parameters",
        answer,
        solution_count_parameters,
        cases,
        **EXACT,
        hint=(
            "Count one layer at a time, for every layer after the input layer, then add the layers up.",
            "A layer has one weight per connection (every input to every neuron) and one bias per neuron.",
        ),
        mistakes=[
            Mistake(
                lambda s: sum(a * b for a, b in _pairs(s)),
                (
                    "You counted the weights only.",
                    "Every neuron after the input layer also has a bias: one more parameter per neuron.",
                ),
            ),
            Mistake(
                lambda s: solution_count_parameters(s) - s[-1],
                (
                    "Your count is short by the output layer's biases.",
                    "The output layer's neurons are neurons too: each has a bias, like the hidden ones.",
                ),
            ),
            Mistake(
                lambda s: solution_count_parameters(s) + s[0],
                (
                    "Your count is a little too high: look at which layers you gave biases.",
                    "The input layer has no bias: it only holds the data.",
                ),
            ),
            Mistake(
                lambda s: sum(a * b + a for a, b in _pairs(s)),
                (
                    "You gave each layer as many biases as it has inputs.",
                    "A bias belongs to a neuron: a layer has as many biases as neurons, its n_out.",
                ),
            ),
        ],
    )


solution_matmul_flops = matmul_flops


@checker
def check_matmul_flops(answer: Any) -> Feedback:
    """Exercise 1.2: floating-point operations of an (n, k) @ (k, m) product."""
    cases = [
        Case((2, 3, 4), "n, k, m = 2, 3, 4"),
        Case((5, 1, 7), "n, k, m = 5, 1, 7"),
        Case((512, 512, 512), "n, k, m = 512, 512, 512"),
        Case((1, 1, 1), "n, k, m = 1, 1, 1"),
    ]
    return check_function(
        "matmul_flops",
        answer,
        matmul_flops,
        cases,
        forbid=OWN_COUNT,
        **EXACT,
        hint=(
            "Count the entries of the result first, then the operations one entry costs.",
            "Each of the n * m entries is a sum of k terms; count what one term costs under the exercise's convention.",
        ),
        mistakes=[
            Mistake(
                lambda n, k, m: (2 * k - 1) * n * m,
                (
                    "You counted exactly the additions a sum of k numbers needs (k - 1 of them); "
                    "the exercise uses a simpler convention.",
                    "The convention counts k additions per entry, as if each sum started from zero: "
                    "every term costs the same.",
                ),
            ),
            Mistake(
                lambda n, k, m: n * k * m,
                (
                    "Your count is half the expected one: look at what one term of the sum costs.",
                    "A term is a product, and adding it to the sum is a second operation.",
                ),
            ),
            Mistake(
                lambda n, k, m: 2 * n * m,
                (
                    "Your count does not grow with k: each entry is a sum over k terms.",
                    "Count the operations of every term of every entry, not one per entry.",
                ),
            ),
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


def _matrix_cases(seed: int) -> list[Case]:
    """Integer matrices of several shapes: square, (2, 3) @ (3, 4), a column times a row, a row times a column."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, k, m in [(2, 2, 2), (2, 3, 4), (3, 1, 2), (1, 3, 1)]:
        a = rng.integers(-3, 4, size=(n, k)).tolist()
        b = rng.integers(-3, 4, size=(k, m)).tolist()
        cases.append(Case((a, b), f"a = {a} ({n}x{k}), b = {b} ({k}x{m})"))
    return cases


@checker
def check_matmul_loops(answer: Any) -> Feedback:
    """Exercise 1.3: a matrix product on lists of lists, with plain loops and no NumPy."""
    return check_function(
        "matmul_loops",
        answer,
        solution_matmul_loops,
        _matrix_cases(1),
        forbid=LOOPS_ONLY,
        hint=(
            "Work out one entry by hand, say out[0][1]: which row of a and which column of b go into it?",
            "Entry (i, j) combines row i of a with column j of b, term by term over their shared length; "
            "the result has len(a) rows and len(b[0]) columns.",
        ),
        mistakes=[
            Mistake(
                lambda a, b: (np.array(a) @ np.array(b)).T.tolist(),
                (
                    "Your result is the transpose of the product: rows and columns are swapped.",
                    "out[i][j] combines row i of a with column j of b; check which index picks the row.",
                ),
            ),
            Mistake(
                lambda a, b: (np.array(a) * np.array(b)).tolist(),
                (
                    "That is the elementwise product, which only works for equal shapes.",
                    "A matrix product sums over the dimension a and b share: a's columns, b's rows.",
                ),
            ),
            Mistake(
                lambda a, b: [solution_matmul_loops(a, b)[-1] for _ in a],
                (
                    "Every row of your result equals the last row of the product: your rows are not separate lists.",
                    "Repeating a list of lists with * copies references, not rows: all the rows are one list, "
                    "so writing into one writes into all. Build each row as a new list.",
                ),
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
        hint=(
            "For each name, ask: is it a neural network with many layers? Copy the names exactly from ch01.MODELS.",
            "The 'flat' algorithms of the chapter work on features made by hand and have no hidden layers; "
            "the chapter's section on variations names the kinds of deep network.",
        ),
    )


def solution_mlp_forward_flops(sizes: list[int], batch: int) -> int:
    """Floating-point operations of one forward pass of a fully connected ReLU network on a batch.

    Args:
        sizes: neurons per layer, input layer first, e.g. ``[784, 128, 10]``.
        batch: how many examples go through at once.

    Returns:
        For every layer: the product of the (batch, n_in) input with the (n_in, n_out) weights
        (counted as :func:`matmul_flops` counts it), one addition per output number for the bias,
        and, in hidden layers only, one operation per output number for the ReLU.
    """
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    total = 0
    for index, (n_in, n_out) in enumerate(layers):
        total += matmul_flops(batch, n_in, n_out)  # (batch, n_in) @ (n_in, n_out)
        total += batch * n_out  # the bias, added to every output number
        if index < len(layers) - 1:
            total += batch * n_out  # the ReLU of a hidden layer
    return total


def _flops_without(relu_everywhere: bool = False, relu: bool = True, bias: bool = True) -> Any:
    """The count of a typical wrong convention, for the checker's mistakes."""

    def count(sizes: list[int], batch: int) -> int:
        layers = _pairs(sizes)
        total = 0
        for index, (n_in, n_out) in enumerate(layers):
            total += 2 * batch * n_in * n_out + bias * batch * n_out
            if relu and (relu_everywhere or index < len(layers) - 1):
                total += batch * n_out
        return total

    return count


@checker
def check_mlp_forward_flops(answer: Any) -> Feedback:
    """Exercise 1.5: the operations of one forward pass of a fully connected ReLU network."""
    cases = [
        Case(([3, 2], 1), "sizes = [3, 2], batch = 1"),
        Case(([4, 5, 3], 2), "sizes = [4, 5, 3], batch = 2"),
        Case(([784, 128, 10], 32), "sizes = [784, 128, 10], batch = 32"),
        Case(([10, 20, 20, 20, 1], 7), "sizes = [10, 20, 20, 20, 1], batch = 7"),
    ]
    return check_function(
        "mlp_forward_flops",
        answer,
        solution_mlp_forward_flops,
        cases,
        **EXACT,
        hint=(
            "Go layer by layer and list what each layer computes for the whole batch; then add the layers up.",
            "A layer multiplies a (batch, n_in) matrix by an (n_in, n_out) one, adds a bias to every output "
            "number and, if it is a hidden layer, applies the ReLU to every output number.",
        ),
        mistakes=[
            Mistake(
                lambda s, batch: solution_mlp_forward_flops(s, 1),
                (
                    "Your count is the one for a single example.",
                    "Every example of the batch goes through every operation: the product's first dimension is the batch.",
                ),
            ),
            Mistake(
                _flops_without(relu_everywhere=True),
                (
                    "Your count is too high by the output layer's activation.",
                    "The exercise's network applies the ReLU in its hidden layers only; the output layer has none.",
                ),
            ),
            Mistake(
                _flops_without(relu=False),
                (
                    "Your count misses the activations.",
                    "Each hidden layer applies the ReLU to every output number, one operation each.",
                ),
            ),
            Mistake(
                _flops_without(bias=False),
                (  # the same total as counting k - 1 additions per entry of the products
                    "Your count is short by one operation per output number of every layer: either the bias "
                    "additions are missing, or your products count one addition too few per entry.",
                    "Each layer adds its bias to every output number, for every example of the batch; and a "
                    "product counts k additions per entry, as in exercise 1.2, not k - 1.",
                ),
            ),
            Mistake(
                lambda s, batch: (
                    solution_mlp_forward_flops(s, batch) - sum(batch * n_in * n_out for n_in, n_out in _pairs(s))
                ),
                (
                    "Your matrix products cost half what they should.",
                    "Use the chapter's convention for a product, the one of exercise 1.2.",
                ),
            ),
        ],
    )


def solution_matmul_debug(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """The debugged product of two matrices given as lists of rows, with plain Python loops."""
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            total = 0.0  # a fresh sum for every entry
            for t in range(k):
                total += a[i][t] * b[t][j]
            out[i][j] = total
    return out


def buggy_matmul(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """The broken product that exercise 1.6 hands out (kept here so the checker recognises it)."""
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        total = 0.0
        for j in range(m):
            for t in range(k):
                total += a[i][t] * b[t][j]
            out[i][j] = total
    return out


def _reset_once(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """The reset moved to the very top: one sum for the whole matrix."""
    n, k, m = len(a), len(b), len(b[0])
    out, total = [[0.0] * m for _ in range(n)], 0.0
    for i in range(n):
        for j in range(m):
            for t in range(k):
                total += a[i][t] * b[t][j]
            out[i][j] = total
    return out


@checker
def check_matmul_debug(answer: Any) -> Feedback:
    """Exercise 1.6: fix a loops-only matrix product that gives wrong answers."""
    return check_function(
        "matmul_debug",
        answer,
        solution_matmul_debug,
        _matrix_cases(7),
        forbid=LOOPS_ONLY,
        hint=(
            "Compute the failing case by hand, entry by entry, and compare with your output: which entries are right?",
            "Follow one variable through the loops with a pencil: what does it hold when an entry is stored?",
        ),
        mistakes=[
            Mistake(
                buggy_matmul,
                (
                    "The first entry of each row is right, later ones can be off: compare each wrong entry "
                    "with the entries to its left.",
                    "Each stored entry holds its own sum plus the sums of the entries before it in its row: "
                    "look at when the running total starts again from zero.",
                ),
            ),
            Mistake(
                _reset_once,
                (
                    "Only the very first entry is right now: the later ones carry on from earlier sums.",
                    "Every entry needs a sum of its own; look at when the running total starts again from zero.",
                ),
            ),
        ],
    )

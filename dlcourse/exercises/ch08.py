"""Checkers and solutions for chapter 8, Recurrent networks and LSTM."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.exercises.running import run_answer

# ---------------------------------------------------------------- 8.1 one RNN step


def solution_rnn_step(
    x: np.ndarray,
    h_prev: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> np.ndarray:
    """One step of a tanh RNN in PyTorch's layout:
    tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh)."""
    return np.tanh(x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh)  # (N, H)


@checker
def check_rnn_step(answer: Any) -> Feedback:
    """Exercise 8.1: ``rnn_step(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)`` for a batch."""
    rng = np.random.default_rng(81)

    def case(n: int, d: int, h: int) -> tuple:
        return (
            rng.normal(size=(n, d)),
            rng.normal(size=(n, h)),
            rng.normal(size=(h, d)) * 0.5,
            rng.normal(size=(h, h)) * 0.5,
            rng.normal(size=h) * 0.1,
            rng.normal(size=h) * 0.1,
        )

    cases = [
        Case(case(2, 3, 3), "x (2, 3), h_prev (2, 3), weight_ih (3, 3), weight_hh (3, 3)"),
        Case(case(4, 5, 3), "x (4, 5), h_prev (4, 3), weight_ih (3, 5), weight_hh (3, 3)"),
        Case(case(1, 2, 4), "x (1, 2), h_prev (1, 4), weight_ih (4, 2), weight_hh (4, 4)"),
    ]
    return check_function(
        "rnn_step",
        answer,
        solution_rnn_step,
        cases,
        hint="Add what the input contributes and what the previous hidden state contributes (each through its own "
        "weights, in PyTorch's layout), add both biases, then squash.",
        mistakes=[
            Mistake(
                lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh,
                "Every entry is right before the squashing: the RNN applies tanh to the sum.",
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + bi + bh),
                "The previous hidden state is missing: without h_prev there is no feedback loop, and the "
                "network forgets everything at every step.",
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: 1 / (1 + np.exp(-(x @ wi.T + bi + h @ wh.T + bh))),
                "That is the sigmoid. The vanilla RNN squashes with tanh, centred on zero.",
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi + bi + h @ wh + bh),
                "The weights are stored as torch.nn does, (H, D) and (H, H): multiply by their transposes.",
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bi),
                "bias_hh is missing: PyTorch's layout has two bias vectors, bias_ih and bias_hh, and both are added.",
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bh),
                "bias_ih is missing: PyTorch's layout has two bias vectors, bias_ih and bias_hh, and both are added.",
            ),
        ],
    )


# ---------------------------------------------------------------- 8.2 counting LSTM parameters


def solution_lstm_parameters(input_size: int, hidden_size: int) -> int:
    """The parameters of one torch.nn.LSTM layer: four blocks (the input, forget and output
    gates and the candidate), each with weights from the input and from the hidden state and
    two bias vectors: 4 (H D + H H + 2 H)."""
    d, h = input_size, hidden_size
    return 4 * (h * d + h * h + 2 * h)


@checker
def check_lstm_parameters(answer: Any) -> Feedback:
    """Exercise 8.2: ``lstm_parameters(input_size, hidden_size)``, as ``torch.nn.LSTM`` counts them."""
    cases = [
        Case((2, 3), "input_size = 2, hidden_size = 3"),
        Case((10, 20), "input_size = 10, hidden_size = 20"),
        Case((83, 256), "input_size = 83, hidden_size = 256"),
    ]
    return check_function(
        "lstm_parameters",
        answer,
        solution_lstm_parameters,
        cases,
        hint="List the parameter tensors of one layer (weight_ih, weight_hh, bias_ih, bias_hh), work out the shape "
        "of each from the four blocks (three gates and the candidate), and add up their sizes.",
        mistakes=[
            Mistake(
                lambda d, h: h * d + h * h + 2 * h,
                "That is one block's worth, the size of a vanilla RNN layer. An LSTM stacks four blocks, the three "
                "gates (i, f, o) and the candidate g, each with its own weights and biases.",
            ),
            Mistake(
                lambda d, h: 3 * (h * d + h * h + 2 * h),
                "Three gates (i, f, o) is right, but the candidate g is computed the same way and has its own "
                "weights and biases too: the parameter tensors stack four blocks of hidden_size rows.",
            ),
            Mistake(
                lambda d, h: 4 * (h * d + h * h + h),
                "PyTorch keeps two bias vectors per layer, bias_ih and bias_hh; count both.",
            ),
            Mistake(
                lambda d, h: 4 * (h * d + 2 * h),
                "The recurrent weights are missing: every block also reads the previous hidden state through weight_hh.",
            ),
            Mistake(lambda d, h: 4 * (h * d + h * h), "Add the biases: two vectors of 4 H numbers."),
        ],
    )


# ---------------------------------------------------------------- 8.3 softmax with a temperature


def solution_softmax_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from scores at a temperature: softmax(logits / temperature),
    stable for large scores."""
    scaled = np.asarray(logits, dtype=float) / temperature
    scaled = scaled - scaled.max()  # nothing changes mathematically, but exp never overflows
    e = np.exp(scaled)
    return e / e.sum()


@checker
def check_softmax_temperature(answer: Any) -> Feedback:
    """Exercise 8.3: ``softmax_temperature(logits, temperature)`` for a vector of scores."""
    cases = [
        Case((np.array([2.0, 1.0, 0.0]), 1.0), "logits = [2, 1, 0], temperature = 1"),
        Case((np.array([2.0, 1.0, 0.0]), 0.5), "logits = [2, 1, 0], temperature = 0.5"),
        Case((np.array([1.0, -1.0, 0.5, 3.0]), 2.0), "logits = [1, -1, 0.5, 3], temperature = 2"),
        Case((np.array([800.0, 790.0, 0.0]), 0.5), "logits = [800, 790, 0], temperature = 0.5"),
    ]

    def times(z, t):
        e = np.exp(np.asarray(z) * t - np.max(np.asarray(z) * t))
        return e / e.sum()

    return check_function(
        "softmax_temperature",
        answer,
        solution_softmax_temperature,
        cases,
        hint="Rescale the scores by the temperature, then take an ordinary softmax; a low temperature must make the "
        "largest probability larger.",
        warnings_are_errors=True,
        mistakes=[
            Mistake(
                times,
                "You multiplied by the temperature. Divide by it: a temperature below 1 should sharpen the "
                "distribution, and dividing by a small number stretches the scores apart.",
            ),
            Mistake(
                lambda z, t: np.exp(np.asarray(z) / t),
                "These are not probabilities yet: divide by their sum so that they add up to 1.",
            ),
            Mistake(
                WARNS,
                "Large scores overflow exp. Subtract the largest scaled score before exponentiating: the "
                "probabilities do not change.",
            ),
        ],
    )


# ---------------------------------------------------------------- 8.4 the gradient k steps back


def solution_grad_norm_after(grad: np.ndarray, weight_hh: np.ndarray, k: int) -> float:
    """The norm of the gradient k steps back through the linear recurrence
    h_t = h_{t-1} W^T: each step multiplies the row vector by W once: || grad W^k ||."""
    g = np.asarray(grad, dtype=float)
    for _ in range(k):
        g = g @ weight_hh  # dL/dh_{t-1} = dL/dh_t W
    return float(np.linalg.norm(g))


@checker
def check_grad_norm_after(answer: Any) -> Feedback:
    """Exercise 8.4: ``grad_norm_after(grad, weight_hh, k)`` for the linear recurrence h_t = h_{t-1} W^T."""
    lopsided = np.array([[0.5, 1.5], [0.0, 0.9]])  # not symmetric: transposing it matters
    cases = [
        Case((np.array([1.0, 0.0]), np.array([[0.5, 0.0], [0.0, 0.5]]), 3), "grad = [1, 0], W = 0.5 I, k = 3"),
        Case(
            (np.array([1.0, -1.0]), np.array([[1.2, 0.0], [0.0, 0.8]]), 5), "grad = [1, -1], W = diag(1.2, 0.8), k = 5"
        ),
        Case((np.array([0.0, 1.0]), lopsided, 4), "grad = [0, 1], W = [[0.5, 1.5], [0, 0.9]], k = 4"),
        Case((np.array([2.0, 1.0]), lopsided, 0), "grad = [2, 1], W = [[0.5, 1.5], [0, 0.9]], k = 0"),
    ]

    def power(g, w, k):
        return np.asarray(g, dtype=float) @ np.linalg.matrix_power(np.asarray(w), max(k, 0))

    return check_function(
        "grad_norm_after",
        answer,
        solution_grad_norm_after,
        cases,
        hint="Going back one step, the chain rule multiplies the gradient row vector by the Jacobian of "
        "h_t = h_{t-1} W^T with respect to h_{t-1}. Repeat k times, then take the norm.",
        mistakes=[
            Mistake(
                lambda g, w, k: float(np.linalg.norm(g @ np.linalg.matrix_power(np.asarray(w).T, k))),
                "The matrix is transposed. With h_t = h_{t-1} W^T and row vectors, the gradient travels back "
                "through W itself: dL/dh_{t-1} = dL/dh_t W.",
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(power(g, w, k - 1))),
                "One step short: k steps back means k multiplications (and k = 0 leaves the gradient as it is).",
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(power(g, w, k + 1))),
                "One step too many: k steps back means k multiplications.",
            ),
            Mistake(
                lambda g, w, k: power(g, w, k),
                "That is the gradient itself; the question asks for its length, the Euclidean norm.",
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(k * (np.asarray(g) @ np.asarray(w)))),
                "The steps multiply, they do not add up: apply the matrix k times (a power), not once times k.",
            ),
        ],
    )


# ---------------------------------------------------------------- 8.5 clipping the gradient norm


def solution_clip_by_norm(grads: list[np.ndarray], max_norm: float) -> list[np.ndarray]:
    """Scale every gradient by the same factor so that their joint norm is at most max_norm;
    leave them alone when it already is."""
    total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return [g * scale for g in grads]


def _flatten(grads: Any) -> np.ndarray:
    if grads is None:
        raise ValueError("got None; did you forget the `return` statement?")
    if not isinstance(grads, (list, tuple)):
        raise ValueError(f"expected a list of arrays, got {type(grads).__name__}")
    return np.concatenate([np.ravel(np.asarray(g, dtype=float)) for g in grads])


_CLIP_SHAPE_HINT = (
    "Return one array per gradient, each of the shape of the gradient it comes from: multiply each array by "
    "the common factor rather than a flattened copy."
)


def _changed(grads: Any, originals: list[np.ndarray]) -> bool:
    """Whether the list of gradients differs from the originals after the learner's call."""
    try:
        return len(grads) != len(originals) or any(
            not np.array_equal(np.asarray(g, dtype=float), original, equal_nan=True)
            for g, original in zip(grads, originals, strict=True)
        )
    except Exception:  # an entry replaced by something that is not an array
        return True


def _clip_problem(answer: Any, case: Case) -> Feedback | None:
    """A targeted message when the answer changes its input arrays or returns arrays of the wrong
    shapes (None when neither happens; ``check_function`` then reports values and errors)."""
    grads = copy.deepcopy(case.args[0])
    status, got, _ = run_answer(lambda: answer(grads, case.args[1]))
    if status != "ok":
        return None  # check_function reports the exception or the time-out
    if _changed(grads, case.args[0]):
        return Feedback(
            "clip_by_norm",
            False,
            f"for {case.label} your function changed the gradients it was given; expected them unchanged.",
            "Return new arrays: g * scale makes a new array, while g *= scale (or g[...] = ...) overwrites the "
            "caller's gradient.",
        )
    if not isinstance(got, (list, tuple)):
        return None  # not a list: check_function says what it expected
    if len(got) != len(case.args[0]):
        return Feedback(
            "clip_by_norm",
            False,
            f"for {case.label} expected a list of {len(case.args[0])} arrays (one per gradient), got {len(got)}.",
            _CLIP_SHAPE_HINT,
        )
    wanted = [np.shape(g) for g in case.args[0]]
    try:
        shapes = [tuple(np.shape(g)) for g in got]
    except Exception:
        return None  # ragged or odd entries: check_function reports them
    if shapes != wanted:
        return Feedback(
            "clip_by_norm",
            False,
            f"for {case.label} expected arrays of shapes {wanted}, got shapes {shapes}.",
            _CLIP_SHAPE_HINT,
        )
    return None


@checker
def check_clip_by_norm(answer: Any) -> Feedback:
    """Exercise 8.5: ``clip_by_norm(grads, max_norm)`` for a list of gradient arrays: the values,
    the shape of every array, and that the input arrays are left unchanged."""
    cases = [
        Case(([np.array([3.0, 4.0])], 1.0), "grads = [[3, 4]], max_norm = 1"),
        Case(([np.array([1.0, 2.0]), np.array([[2.0]])], 1.5), "grads = [[1, 2], [[2]]], max_norm = 1.5"),
        Case(([np.array([0.3, 0.4]), np.array([0.0])], 1.0), "grads = [[0.3, 0.4], [0]], max_norm = 1 (short already)"),
        Case(([np.array([6.0, 8.0]), np.array([1.0, 0.0])], 5.0), "grads = [[6, 8], [1, 0]], max_norm = 5"),
    ]

    def scale_each(grads, m):
        return [g * min(1.0, m / np.linalg.norm(g)) if np.linalg.norm(g) > 0 else g for g in grads]

    def always(grads, m):
        total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return [g * m / total for g in grads]

    try:
        if callable(answer):
            for case in cases:
                problem = _clip_problem(answer, case)
                if problem is not None:
                    return problem
    except Exception:  # never let the pre-check crash; check_function reports the rest
        pass
    return check_function(
        "clip_by_norm",
        answer,
        solution_clip_by_norm,
        cases,
        hint="Compute one norm over all the gradients together; if it is too large, multiply every gradient by the "
        "same factor, chosen so that the new norm is exactly max_norm.",
        adapt=_flatten,
        mistakes=[
            Mistake(
                lambda grads, m: [np.clip(g, -m, m) for g in grads],
                "Clipping each entry changes the direction of the step. Rescale the whole gradient instead, so "
                "that it keeps its direction and only its length is capped.",
            ),
            Mistake(
                scale_each,
                "You capped each array on its own. The norm is taken over all gradients together, and all are "
                "scaled by the same factor.",
            ),
            Mistake(
                always,
                "A gradient that is already short enough must be left alone: scale only when the norm exceeds "
                "max_norm.",
            ),
        ],
    )

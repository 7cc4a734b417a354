"""Checkers and solutions for chapter 8, Recurrent networks and LSTM.

Gradient clipping and the exercises that build and debug something the chapter does not show (a GRU
step, a broken LSTM loop) are in :mod:`dlcourse.exercises.ch08_more` and re-exported at the end of
this module, so that a notebook calls every checker as ``ch08.check_X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "rnn_step": ["x @ weight_ih.T + bias_ih", "h_prev @ weight_hh.T + bias_hh", "np.tanh(x @ weight_ih.T"],
    "lstm_parameters": ["4 * (h * d + h * h + 2 * h)", "4 * hidden_size * (input_size + hidden_size + 2)"],
    "softmax_temperature": ["logits / temperature", "scaled - scaled.max()", "np.exp(scaled"],
    "grad_norm_after": ["g @ weight_hh", "matrix_power(weight_hh, k)", "grad @ np.linalg.matrix_power"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""

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
        hint=(
            "Go through the step's formula in the section on the recurrent cell term by term: is every term there, "
            "and is each weight used in the layout it is stored in?",
            "Two products (input and previous state, each with its own weight matrix, stored as (hidden, input) "
            "and (hidden, hidden)), two biases, one squashing function; print the shape of each term to find "
            "the one that does not fit.",
        ),
        forbid=routes.forbid_names(
            ("rnn_step_forward", "rnn_forward", "RNN", "RNNCell", "rnn", "trnn", "torch", "F", "dlcourse"),
            "this exercise asks you to write the step yourself, without the package or torch",
        ),
        mistakes=[
            Mistake(
                lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh,
                (
                    "Your numbers are the pre-activation: some of them lie outside [-1, 1], where no hidden "
                    "state of this cell can be.",
                    "The RNN applies tanh to the sum; without it the hidden state can grow without bound.",
                ),
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + bi + bh),
                (
                    "Your output does not change when h_prev changes: the step has no memory.",
                    "The previous hidden state is missing: without its term there is no feedback loop, and the "
                    "network forgets everything at every step.",
                ),
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: 1 / (1 + np.exp(-(x @ wi.T + bi + h @ wh.T + bh))),
                (
                    "All your outputs are positive, but a hidden state of this cell can be negative.",
                    "That is the sigmoid. The vanilla RNN squashes with tanh, centred on zero.",
                ),
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi + bi + h @ wh + bh),
                (
                    "The first case has square weights, where a layout mistake still runs: check how the weights "
                    "are stored.",
                    "The weights are stored as torch.nn does, (H, D) and (H, H): multiply by their transposes.",
                ),
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bi),
                (
                    "You are off by a constant shift per hidden unit: count the biases.",
                    "bias_hh is missing: PyTorch's layout has two bias vectors, bias_ih and bias_hh, and both are added.",
                ),
            ),
            Mistake(
                lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bh),
                (
                    "You are off by a constant shift per hidden unit: count the biases.",
                    "bias_ih is missing: PyTorch's layout has two bias vectors, bias_ih and bias_hh, and both are added.",
                ),
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


_WHOLE = "expected a whole number"


def _whole_number(value: Any) -> Any:
    """The output unchanged when it can be a count; a float or a truth value raises, with a sentence
    (a float such as 84.0 would otherwise compare equal to the count 84)."""
    if hasattr(value, "detach") and callable(value.detach):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        array = np.asarray(value)
        if array.ndim == 0 and array.dtype.kind in "bf":
            raise ValueError(
                f"{_WHOLE} (an int), got {'the truth value' if array.dtype.kind == 'b' else 'the float'} "
                f"{array.item()!r}"
            )
    return value


@checker
def check_lstm_parameters(answer: Any) -> Feedback:
    """Exercise 8.2: ``lstm_parameters(input_size, hidden_size)``, as ``torch.nn.LSTM`` counts them: an int,
    compared exactly (a float, even a whole one, is refused)."""
    cases = [
        Case((2, 3), "input_size = 2, hidden_size = 3"),
        Case((10, 20), "input_size = 10, hidden_size = 20"),
        Case((83, 256), "input_size = 83, hidden_size = 256"),
    ]
    feedback = check_function(
        "lstm_parameters",
        answer,
        solution_lstm_parameters,
        cases,
        hint=(
            "List the parameter tensors of one layer and the shape of each; the count is the sum of their sizes.",
            "There are four tensors (weight_ih, weight_hh, bias_ih, bias_hh); each stacks one block of rows per "
            "gate and one for the candidate.",
        ),
        rtol=0.0,
        atol=0.0,
        adapt=_whole_number,
        forbid=routes.forbid_names(
            ("torch", "nn", "LSTM", "numel", "parameters", "named_parameters", "state_dict", "lstm", "tlstm")
            + ("charlm", "tcharlm", "dlcourse")
            + ESCAPES,
            "this exercise asks for the count worked out from the shapes (use torch only to check one case by hand)",
        ),
        mistakes=[
            Mistake(
                lambda d, h: h * d + h * h + 2 * h,
                (
                    "Your count would fit a recurrent layer with a single block of weights: look at the first "
                    "dimension of the LSTM's weight_ih next to hidden_size.",
                    "That is a quarter of the right count, one block's worth, the size of a vanilla RNN layer. An "
                    "LSTM stacks four blocks, the three gates (i, f, o) and the candidate g, each with its own "
                    "weights and biases.",
                ),
            ),
            Mistake(
                lambda d, h: 3 * (h * d + h * h + 2 * h),
                (
                    "You counted three blocks: is there anything besides the three gates that is computed from "
                    "x and h with its own weights?",
                    "Three gates (i, f, o) is right, but the candidate g is computed the same way and has its own "
                    "weights and biases too: the parameter tensors stack four blocks of hidden_size rows.",
                ),
            ),
            Mistake(
                lambda d, h: 4 * (h * d + h * h + h),
                (
                    "You are short by one bias's worth: count the bias tensors of the layer.",
                    "PyTorch keeps two bias vectors per layer, bias_ih and bias_hh; count both.",
                ),
            ),
            Mistake(
                lambda d, h: 4 * (h * d + 2 * h),
                (
                    "Your count does not grow fast enough with hidden_size: which weights connect the hidden "
                    "state to itself?",
                    "The recurrent weights are missing: every block also reads the previous hidden state through "
                    "weight_hh.",
                ),
            ),
            Mistake(
                lambda d, h: 4 * (h * d + h * h),
                ("Only the weight matrices are counted.", "Add the biases: two vectors per layer, one row each."),
            ),
        ],
    )
    if not feedback.passed and _WHOLE in feedback.message:
        return Feedback(
            "lstm_parameters",
            False,
            feedback.message,
            (
                "A number of parameters is a whole number, an int; a float (even 2.0) is not one.",
                "Division with `/`, a float constant such as 1.0, or NumPy floats give a float even when the "
                "value is whole: keep to integers.",
            ),
        )
    return feedback


# ---------------------------------------------------------------- 8.3 softmax with a temperature


def solution_softmax_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from scores at a temperature: softmax(logits / temperature),
    stable for large scores."""
    scaled = np.asarray(logits, dtype=float) / temperature
    scaled = scaled - scaled.max()  # nothing changes mathematically, but exp never overflows
    e = np.exp(scaled)
    return e / e.sum()


def _times_temperature(z: np.ndarray, t: float) -> np.ndarray:
    """The scores multiplied by the temperature; at t = 1 that is the right answer, so no case
    may use t = 1 (and this mistake refuses it)."""
    if t == 1:
        raise ValueError("at temperature 1 this mistake cannot be told from a right answer")
    scaled = np.asarray(z, dtype=float) * t
    e = np.exp(scaled - scaled.max())
    return e / e.sum()


def _ignores_temperature(z: np.ndarray, t: float) -> np.ndarray:
    scaled = np.asarray(z, dtype=float)
    e = np.exp(scaled - scaled.max())
    return e / e.sum()


@checker
def check_softmax_temperature(answer: Any) -> Feedback:
    """Exercise 8.3: ``softmax_temperature(logits, temperature)`` for a vector of scores. No case has
    temperature 1, where multiplying by the temperature would be indistinguishable from dividing."""
    cases = [
        Case((np.array([2.0, 1.0, 0.0]), 0.5), "logits = [2, 1, 0], temperature = 0.5"),
        Case((np.array([1.0, -1.0, 0.5, 3.0]), 2.0), "logits = [1, -1, 0.5, 3], temperature = 2"),
        Case((np.array([800.0, 790.0, 0.0]), 0.5), "logits = [800, 790, 0], temperature = 0.5"),
        Case((np.array([3.0, 3.0, -2.0]), 4.0), "logits = [3, 3, -2], temperature = 4"),
    ]
    return check_function(
        "softmax_temperature",
        answer,
        solution_softmax_temperature,
        cases,
        hint=(
            "Check two things on the first case: your probabilities add up to 1, and a temperature below 1 makes "
            "the largest one larger than the plain softmax does.",
            "The temperature rescales the scores before an ordinary softmax, as in the formula of the section on "
            "sampling; then make the softmax safe for scores of several hundred.",
        ),
        warnings_are_errors=True,
        forbid=routes.forbid_names(
            ("softmax", "softmax_with_temperature", "log_softmax", "torch", "F", "scipy", "special", "dlcourse")
            + ("text", "losses")
            + routes.SILENCERS,
            "this exercise asks you to write the softmax yourself, without hiding a warning",
        ),
        mistakes=[
            Mistake(
                _times_temperature,
                (
                    "At temperature 0.5 your distribution is flatter than the plain softmax; it should be sharper.",
                    "You multiplied by the temperature. A temperature below 1 must stretch the scores apart, "
                    "and a temperature above 1 squeeze them together.",
                ),
            ),
            Mistake(
                _ignores_temperature,
                (
                    "Your output does not change with the temperature.",
                    "That is the plain softmax: rescale the scores by the temperature first.",
                ),
            ),
            Mistake(
                lambda z, t: np.exp(np.asarray(z) / t),
                (
                    "Your numbers do not add up to 1, so they are not probabilities yet.",
                    "Normalise: divide by their sum so that they add up to 1.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "Large scores overflow exp: NumPy warned about it.",
                    "The softmax does not change when the same number is subtracted from every score: choose that "
                    "number so that no exponent is positive.",
                ),
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
        hint=(
            "Go back one step first: what does the chain rule do to the gradient between h_t and h_{t-1}? "
            "Then repeat that k times and measure the length.",
            "Write one entry of the recurrence, h_t[j] = sum over m of h_{t-1}[m] W[j, m], and differentiate it "
            "with respect to h_{t-1}[m]: that gives the matrix one step multiplies the gradient by.",
        ),
        forbid=routes.forbid_names(
            ("torch", "F", "autograd", "backward", "jax", "tensorflow", "tf", "dlcourse", "rnn", "trnn")
            + ("numerical_gradient", "gradcheck", "relative_error")
            + ESCAPES,
            "this exercise asks you to work the gradient out yourself, in NumPy, without autograd or the package",
        ),
        mistakes=[
            Mistake(
                lambda g, w, k: float(np.linalg.norm(g @ np.linalg.matrix_power(np.asarray(w).T, k))),
                (
                    "The diagonal cases pass but the lopsided one does not: the matrix enters the wrong way round.",
                    "Write one entry, h_t[j] = sum over m of h_{t-1}[m] W[j, m]: the gradient with respect to "
                    "h_{t-1}[m] sums over j, the first index of W. Which side of the row vector is that?",
                ),
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(power(g, w, k - 1))),
                (
                    "Count the multiplications against k.",
                    "One step short: k steps back means k multiplications (and k = 0 leaves the gradient as it is).",
                ),
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(power(g, w, k + 1))),
                ("Count the multiplications against k.", "One step too many: k steps back means k multiplications."),
            ),
            Mistake(
                lambda g, w, k: power(g, w, k),
                (
                    "The exercise asks for one number.",
                    "That is the gradient itself; the question asks for its length, the Euclidean norm.",
                ),
            ),
            Mistake(
                lambda g, w, k: float(np.linalg.norm(k * (np.asarray(g) @ np.asarray(w)))),
                (
                    "Your norm grows in proportion to k, but each step back multiplies by a matrix again.",
                    "The steps multiply, they do not add up: apply the matrix k times (a power), not once times k.",
                ),
            ),
        ],
    )


# The exercises that follow live in ch08_more.py (this module would pass 450 lines); notebooks call them
# through this module. ESCAPES, which the forbid lists above share, is read only when a checker runs.
from dlcourse.exercises.ch08_more import (  # noqa: E402, F401
    ESCAPES,
    check_clip_by_norm,
    check_fix_lstm,
    check_gru_step,
    solution_clip_by_norm,
    solution_fix_lstm,
    solution_gru_step,
)

"""Checkers and solutions for chapter 8, continued: gradient clipping, a GRU step built from its
equations, and an LSTM loop with a bug to find.

Re-exported by :mod:`dlcourse.exercises.ch08`, so that notebooks call ``ch08.check_gru_step``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dlcourse.exercises import core, routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "clip_by_norm": ["min(1.0, max_norm / total)", "max_norm / total", "g * scale for g in grads"],
    "gru_step": ["(1 - z) * n + z * h", "gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :]", "r * (h @"],
    "fix_lstm": ["i, f, g, o = np.split(z, 4, axis=1)", "i, f, g, o ="],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""

ESCAPES = ("importlib", "import_module", "__import__", "sys", "eval", "exec", "globals", "vars")
"""Names that reach a library without naming it; refused where an exercise forbids a library."""


# ---------------------------------------------------------------- 8.5 clipping the gradient norm


def solution_clip_by_norm(grads: list[np.ndarray], max_norm: float) -> list[np.ndarray]:
    """Scale every gradient by the same factor so that their joint norm is at most max_norm;
    leave them alone when it already is."""
    total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return [g * scale for g in grads]


def _changed(grads: Any, originals: list[np.ndarray]) -> bool:
    """Whether the list of gradients differs from the originals after the learner's call."""
    try:
        return len(grads) != len(originals) or any(
            not np.array_equal(np.asarray(g, dtype=float), original, equal_nan=True)
            for g, original in zip(grads, originals, strict=True)
        )
    except Exception:  # an entry replaced by something that is not an array
        return True


@checker
def check_clip_by_norm(answer: Any) -> Feedback:
    """Exercise 8.5: ``clip_by_norm(grads, max_norm)`` for a list of two gradient arrays: the values,
    the shape of every array (compared part by part), and that the input arrays are left unchanged.
    The answer runs once per case: a wrapper notes whether it changed the arrays it was given, and
    whether it called the folded solution. The last case has all-zero gradients, whose norm is 0."""
    cases = [
        Case(([np.array([3.0, 4.0]), np.array([[0.0]])], 1.0), "grads = [[3, 4], [[0]]], max_norm = 1"),
        Case(([np.array([1.0, 2.0]), np.array([[2.0]])], 1.5), "grads = [[1, 2], [[2]]], max_norm = 1.5"),
        Case(([np.array([0.3, 0.4]), np.array([0.0])], 1.0), "grads = [[0.3, 0.4], [0]], max_norm = 1 (short already)"),
        Case(([np.array([6.0, 8.0]), np.array([1.0, 0.0])], 5.0), "grads = [[6, 8], [1, 0]], max_norm = 5"),
        Case(([np.array([0.0, 0.0]), np.array([[0.0]])], 1.0), "grads = [[0, 0], [[0]]], max_norm = 1 (all zero)"),
    ]

    def scale_each(grads, m):
        return [g * min(1.0, m / np.linalg.norm(g)) if np.linalg.norm(g) > 0 else g for g in grads]

    def always(grads, m):
        total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return [g * m / total for g in grads]

    def new_norm_over_old(grads, m):
        total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        with np.errstate(all="ignore"):
            return [g * (min(total, m) / np.float64(total)) for g in grads]  # 0 / 0 for zero gradients

    changed: list[str] = []
    wrapped: list[bool] = []

    def watched(grads: list, max_norm: float) -> Any:
        originals = copy.deepcopy(grads)
        stop = core.watch_solution_calls(answer, solution_clip_by_norm)
        try:
            return answer(grads, max_norm)
        finally:
            wrapped.append(stop())
            if _changed(grads, originals):
                changed.append(f"grads = {[np.shape(g) for g in originals]}, max_norm = {max_norm:g}")

    hint = (
        "Compare your output with the input on the failing case: which arrays changed, by what factor, and "
        "what should their norm be now?",
        "Compute one norm over all the gradients together; if it is too large, multiply every gradient by the "
        "same factor, chosen so that the new norm is exactly max_norm. Return one array per gradient, each of "
        "its own shape.",
    )
    forbid = routes.forbid_names(
        ("clip_grad_norm", "clip_grad_norm_", "Parameter", "torch", "optim", "toptim", "dlcourse"),
        "this exercise asks you to write the clipping yourself",
    )
    refused = forbid(answer) if callable(answer) else ""
    feedback = check_function(
        "clip_by_norm",
        watched if callable(answer) and not refused else answer,
        solution_clip_by_norm,
        cases,
        hint=hint,
        forbid=forbid if refused else None,
        parts=("grads[0]", "grads[1]"),
        mistakes=[
            Mistake(
                new_norm_over_old,
                (
                    "All-zero gradients came back as NaN: look at what your function divides by when the norm is 0.",
                    "A zero gradient has norm 0, and 0 / 0 is NaN. When the norm does not exceed max_norm there is "
                    "nothing to clip: divide by the norm only when it is larger than max_norm.",
                ),
            ),
            Mistake(
                lambda grads, m: [np.clip(g, -m, m) for g in grads],
                (
                    "Compare the direction of your output with the input's: has it changed?",
                    "Clipping each entry changes the direction of the step. Rescale the whole gradient instead, so "
                    "that it keeps its direction and only its length is capped.",
                ),
            ),
            Mistake(
                scale_each,
                (
                    "Your arrays are not all scaled by the same factor.",
                    "You capped each array on its own. The norm is taken over all gradients together, and all are "
                    "scaled by the same factor.",
                ),
            ),
            Mistake(
                always,
                (
                    "Look at the case whose gradients are short already.",
                    "A gradient that is already short enough must be left alone: scale only when the norm exceeds "
                    "max_norm.",
                ),
            ),
        ],
    )
    if changed:
        return Feedback(
            "clip_by_norm",
            False,
            f"for {changed[0]} your function changed the gradients it was given; expected them unchanged.",
            (
                "The caller's arrays must come out of your function as they went in.",
                "Return new arrays: g * scale makes a new array, while g *= scale (or g[...] = ..., or assigning "
                "to the list's entries) overwrites the caller's gradients.",
            ),
        )
    if feedback.passed and any(wrapped) and core.REFUSE_WRAPPED_SOLUTIONS:  # right only through the solution
        return Feedback(
            "clip_by_norm",
            False,
            "your function calls the exercise's folded solution; the checker wants your own code.",
            ("Rewrite your function without it: the exercise is about doing the clipping yourself.", *hint),
        )
    return feedback


# ---------------------------------------------------------------- 8.6 a GRU step


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), and never overflows


def solution_gru_step(x: np.ndarray, h: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    r"""One step of a GRU cell in ``torch.nn.GRUCell``'s layout and formulas.

    .. math::
        r &= \sigma(x W_{ir}^\top + b_{ir} + h W_{hr}^\top + b_{hr}), \quad
        z = \sigma(x W_{iz}^\top + b_{iz} + h W_{hz}^\top + b_{hz}), \\
        n &= \tanh(x W_{in}^\top + b_{in} + r \odot (h W_{hn}^\top + b_{hn})), \quad
        h' = (1 - z) \odot n + z \odot h.

    Args:
        x: (N, D) the inputs of this step.
        h: (N, H) the previous hidden state.
        params: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``bias_ih`` (3H,), ``bias_hh`` (3H,),
            row blocks in the order r, z, n.

    Returns:
        (N, H) the new hidden state.
    """
    hidden = h.shape[1]
    gi = x @ params["weight_ih"].T + params["bias_ih"]  # (N, 3H): the input's part of r, z, n
    gh = h @ params["weight_hh"].T + params["bias_hh"]  # (N, 3H): the hidden state's part
    r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])  # reset gate: how much of h the candidate sees
    z = _sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])  # update gate: how much of h to keep
    n = np.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])  # candidate
    return (1 - z) * n + z * h


def _gru_parts(x: np.ndarray, h: np.ndarray, p: dict, order: str = "rzn") -> tuple:
    """The pieces a wrong GRU is made of: the input's and the hidden state's parts of the three
    blocks, read in the given order (the right one is "rzn")."""
    hidden = h.shape[1]
    gi = x @ p["weight_ih"].T + p["bias_ih"]
    gh = h @ p["weight_hh"].T + p["bias_hh"]
    block = {name: slice(k * hidden, (k + 1) * hidden) for k, name in enumerate(order)}
    return gi, gh, block


def _gru_wrong(kind: str):
    """A typical wrong GRU step: ``kind`` names the mistake."""

    def wrong(x: np.ndarray, h: np.ndarray, p: dict) -> np.ndarray:
        gi, gh, b = _gru_parts(x, h, p, "zrn" if kind == "blocks" else "rzn")
        r = _sigmoid(gi[:, b["r"]] + gh[:, b["r"]])
        z = _sigmoid(gi[:, b["z"]] + gh[:, b["z"]])
        hidden_part = gh[:, b["n"]]
        if kind == "reset outside the bias":
            hidden_part = r * (h @ p["weight_hh"][b["n"]].T) + p["bias_hh"][b["n"]]
        elif kind == "reset before the product":
            hidden_part = (r * h) @ p["weight_hh"][b["n"]].T + p["bias_hh"][b["n"]]
        else:
            hidden_part = r * hidden_part
        squash = _sigmoid if kind == "sigmoid candidate" else np.tanh
        n = squash(gi[:, b["n"]] + hidden_part)
        if kind == "update swapped":
            return z * n + (1 - z) * h
        return (1 - z) * n + z * h

    return wrong


@checker
def check_gru_step(answer: Any) -> Feedback:
    """Exercise 8.6: ``gru_step(x, h, params)``, one step of a GRU cell for a batch, in
    ``torch.nn.GRUCell``'s layout. Every bias is non-zero, so that where the reset gate acts is
    visible, and no weight matrix is square in the last two cases."""
    rng = np.random.default_rng(86)

    def case(n: int, d: int, h: int) -> tuple:
        params = {
            "weight_ih": rng.normal(size=(3 * h, d)) * 0.6,
            "weight_hh": rng.normal(size=(3 * h, h)) * 0.6,
            "bias_ih": rng.normal(size=3 * h) * 0.5,
            "bias_hh": rng.normal(size=3 * h) * 0.5,
        }
        return rng.normal(size=(n, d)), rng.normal(size=(n, h)) * 0.8, params

    cases = [
        Case(case(2, 2, 2), "x (2, 2), h (2, 2), weight_ih (6, 2), weight_hh (6, 2)"),
        Case(case(3, 2, 4), "x (3, 2), h (3, 4), weight_ih (12, 2), weight_hh (12, 4)"),
        Case(case(1, 5, 3), "x (1, 5), h (1, 3), weight_ih (9, 5), weight_hh (9, 3)"),
    ]
    return check_function(
        "gru_step",
        answer,
        solution_gru_step,
        cases,
        hint=(
            "Compute the three quantities of the exercise one at a time and compare each with the formula: "
            "which rows of the weights does each one read, and what is squashed with what?",
            "Print r, z and n for the first case: both gates must lie in (0, 1), the candidate in (-1, 1), and "
            "the new state between the candidate and the old state, entry by entry.",
        ),
        forbid=routes.forbid_names(
            ("torch", "GRUCell", "GRU", "nn", "F", "functional", "gru_cell", "dlcourse") + ESCAPES,
            "this exercise asks you to write the GRU step in NumPy",
        ),
        mistakes=[
            Mistake(
                _gru_wrong("update swapped"),
                (
                    "Look at the last line: with the update gate near 1, which of the two should the cell keep?",
                    "z weighs the old state and 1 - z the candidate, not the other way round.",
                ),
            ),
            Mistake(
                _gru_wrong("reset outside the bias"),
                (
                    "Everything is right except where the reset gate acts in the candidate.",
                    "In PyTorch's GRU the reset gate multiplies the whole hidden-state term of the candidate, "
                    "its bias b_hn included.",
                ),
            ),
            Mistake(
                _gru_wrong("reset before the product"),
                (
                    "Everything is right except where the reset gate acts in the candidate.",
                    "You reset h before multiplying it by W_hn, as the original GRU paper does; the exercise (and "
                    "PyTorch) multiply first and reset the product plus its bias.",
                ),
            ),
            Mistake(
                _gru_wrong("blocks"),
                (
                    "Check which block of rows of the weights each gate reads.",
                    "The row blocks are stacked in the order r, z, n: your reset and update gates read each "
                    "other's rows.",
                ),
            ),
            Mistake(
                _gru_wrong("sigmoid candidate"),
                (
                    "Your candidate cannot be negative: look at how it is squashed.",
                    "The gates use the sigmoid, the candidate tanh.",
                ),
            ),
        ],
    )


# ---------------------------------------------------------------- 8.7 an LSTM loop with a bug


def _sig(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


def solution_fix_lstm(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The exercise's LSTM loop, fixed: the last hidden and cell states after a whole sequence.

    ``torch.nn.LSTM`` stacks the rows of its weights in the order input gate, forget gate,
    candidate, output gate; the broken code unpacked them as i, f, o, g.

    Args:
        x: (T, N, D) the inputs, time-major.
        h0, c0: (N, H) the initial states.
        weight_ih: (4H, D); weight_hh: (4H, H); bias_ih, bias_hh: (4H,).

    Returns:
        h_T (N, H) and c_T (N, H).
    """
    h, c = h0, c0
    for x_t in x:  # x: (T, N, D)
        z = x_t @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (N, 4H)
        i, f, g, o = np.split(z, 4, axis=1)  # four (N, H) blocks, in torch.nn.LSTM's order
        i, f, o = (1 / (1 + np.exp(-a)) for a in (i, f, o))
        g = np.tanh(g)
        c = f * c + i * g
        h = o * np.tanh(c)
    return h, c


def _lstm_wrong(order: str = "ifgo", *, h_reads_c: bool = False, swap_outputs: bool = False):
    """A wrong LSTM loop: the blocks read in another ``order``, h without tanh, or (c, h) returned."""

    def wrong(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
        h, c = h0, c0
        for x_t in x:
            z = x_t @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
            blocks = dict(zip(order, np.split(z, 4, axis=1), strict=True))
            i, f, g, o = _sig(blocks["i"]), _sig(blocks["f"]), np.tanh(blocks["g"]), _sig(blocks["o"])
            c = f * c + i * g
            h = o * (c if h_reads_c else np.tanh(c))
        return (c, h) if swap_outputs else (h, c)

    return wrong


@checker
def check_fix_lstm(answer: Any) -> Feedback:
    """Exercise 8.7: the fixed ``lstm_last_state(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh)``,
    which returns (h_T, c_T) after a whole sequence, in ``torch.nn.LSTM``'s layout."""
    rng = np.random.default_rng(87)

    def case(t: int, n: int, d: int, h: int, start: float) -> tuple:
        return (
            rng.normal(size=(t, n, d)),
            rng.normal(size=(n, h)) * start,
            rng.normal(size=(n, h)) * start,
            rng.normal(size=(4 * h, d)) * 0.6,
            rng.normal(size=(4 * h, h)) * 0.6,
            rng.normal(size=4 * h) * 0.3,
            rng.normal(size=4 * h) * 0.3,
        )

    cases = [
        Case(case(1, 2, 3, 2, 0.0), "T = 1, N = 2, D = 3, H = 2, h0 = c0 = 0"),
        Case(case(3, 2, 2, 3, 1.0), "T = 3, N = 2, D = 2, H = 3, random h0 and c0"),
        Case(case(6, 1, 4, 2, 1.0), "T = 6, N = 1, D = 4, H = 2, random h0 and c0"),
    ]
    return check_function(
        "fix_lstm",
        answer,
        solution_fix_lstm,
        cases,
        hint=(
            "Compare each line of the step with the LSTM's equations in the chapter, and with the layout the "
            "weights are stored in.",
            "Run the first case (one step, zero states) by hand, gate by gate, next to torch.nn.LSTM with the same "
            "weights: the first quantity that differs points at the bug.",
        ),
        parts=("h", "c"),
        forbid=routes.forbid_names(
            ("torch", "nn", "LSTM", "lstm_forward", "lstm_step_forward", "lstm", "tlstm", "F", "dlcourse"),
            "this exercise asks you to fix the given NumPy code, not to call an LSTM from a library",
        ),
        mistakes=[
            Mistake(
                _lstm_wrong("ifog"),
                (
                    "The shapes are right and the loop runs, but even one step from zero states comes out wrong: the "
                    "bug is inside the step, not in what the loop carries from one step to the next.",
                    "Every line is a correct LSTM equation for the quantities it names. Are the quantities the "
                    "ones PyTorch stores in those rows? Look up the order of the row blocks of torch.nn.LSTM's "
                    "weights.",
                    "Two of the four blocks are read in each other's place: the candidate and one gate.",
                ),
            ),
            Mistake(
                _lstm_wrong("figo"),
                (
                    "Check which block of rows each gate reads.",
                    "Your input and forget gates read each other's rows: the order of the row blocks is fixed by "
                    "torch.nn.LSTM.",
                ),
            ),
            Mistake(
                _lstm_wrong(h_reads_c=True),
                (
                    "c is right after the first step and h is not: look at how h reads the cell.",
                    "The output gate scales the cell state squashed by tanh, not the cell state itself.",
                ),
            ),
            Mistake(
                _lstm_wrong(swap_outputs=True),
                (
                    "Your numbers are right but in the wrong places.",
                    "Return the hidden state first and the cell state second, as the broken code did.",
                ),
            ),
        ],
    )

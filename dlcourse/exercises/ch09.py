"""Checkers and solutions for chapter 9, Attention and transformers.

The exercises that debug multi-head attention and build one step of sampling with a key-value cache
are in :mod:`dlcourse.exercises.ch09_heads` and re-exported at the end of this module, so that a
notebook calls every checker as ``ch09.check_X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "attention": ["/ np.sqrt(q.shape[-1])", "np.isfinite(top)", "where=total > 0"],
    "sinusoidal": ["np.arange(0, dim, 2) / dim", "10000.0 ** (-", "out[:, 0::2] = np.sin"],
    "block_parameters": ["4 * d * d + 4 * d", "2 * f * d + f + d", "norms = 4 * d"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""


def _softmax_rows(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """A stable softmax along ``axis`` (for the wrong answers below)."""
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- 9.1 scaled dot-product attention


def solution_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """softmax(q kᵀ / √d) v over the last two axes, each query over the keys ``mask`` lets it see.

    Args:
        q: (..., T_q, d); k: (..., T_k, d); v: (..., T_k, d_v).
        mask: None (every query sees every key), or booleans that broadcast to (..., T_q, T_k), True
            where query i may look at key j. A query that may look at no key gets a row of zeros.

    Returns:
        (..., T_q, d_v).
    """
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # a hidden key: minus infinity, weight exactly 0
    top = scores.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # a query that sees no key: every score is -inf
    weights = np.exp(scores - top)  # exp never overflows
    total = weights.sum(axis=-1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)  # rows sum to 1, or 0
    return weights @ v  # (..., T_q, d_v)


def _attention_wrong(q: Any, k: Any, v: Any, mask: Any, **how: Any) -> np.ndarray:
    """A typical wrong attention: ``scale`` ("d" or "none"), ``axis`` of the softmax, ``masking`` ("after":
    weights zeroed after the softmax; "inverted": True read as hidden), or the ``weights`` returned
    instead of the output. Rows that see no key are left at zero, so that only the named mistake shows."""
    if not how:
        raise TypeError("_attention_wrong needs the mistake to make")  # it is not an answer
    scale = {"sqrt": np.sqrt(q.shape[-1]), "d": q.shape[-1], "none": 1.0}[how.get("scale", "sqrt")]
    scores = q @ np.swapaxes(k, -1, -2) / scale
    allowed = np.ones(scores.shape, dtype=bool) if mask is None else np.broadcast_to(mask, scores.shape)
    if how.get("masking") == "inverted" and mask is not None:
        allowed = ~allowed
    if how.get("masking") != "after":
        scores = np.where(allowed, scores, -1e300)
    weights = _softmax_rows(scores, how.get("axis", -1))
    weights = weights * allowed  # "after": the mask's only effect; else rows that see no key become zeros
    return weights if how.get("weights") else weights @ v


@checker
def check_attention(answer: Any) -> Feedback:
    """Exercise 9.1: ``masked_attention(q, k, v, mask)``, scaled dot-product attention for any leading axes,
    each query over the keys a boolean ``mask`` lets it see (None: all), zeros for a query that sees none."""
    rng = np.random.default_rng(91)

    def qkv(lead: tuple, tq: int, tk: int, d: int, dv: int, scale: float = 1.0) -> tuple:
        return (
            scale * rng.normal(size=(*lead, tq, d)),
            scale * rng.normal(size=(*lead, tk, d)),
            rng.normal(size=(*lead, tk, dv)),
        )

    causal = np.tril(np.ones((4, 4), dtype=bool))
    padding = np.ones((2, 1, 1, 5), dtype=bool)  # two sequences; the second's last two keys are padding
    padding[1, ..., 3:] = False
    lonely = np.array([[True, True, False, False], [False] * 4, [True] * 4])  # query 1 may see no key
    hidden = np.array([True, True, False])  # for every query: the key with by far the largest score is hidden
    cases = [
        Case((*qkv((), 2, 3, 4, 2), None), "q (2, 4), k (3, 4), v (3, 2), mask = None"),
        Case((*qkv((2,), 4, 4, 3, 2), causal), "q, k (2, 4, 3), v (2, 4, 2), a causal mask (4, 4)"),
        Case(
            (*qkv((2, 3), 3, 5, 2, 4), padding),
            "q (2, 3, 3, 2), k (2, 3, 5, 2), v (2, 3, 5, 4), a padding mask (2, 1, 1, 5)",
        ),
        Case((*qkv((2,), 4, 4, 4, 3, scale=30.0), causal), "q, k (2, 4, 4) with entries of about 30, causal"),
        Case((*qkv((), 3, 4, 2, 2), lonely), "q (3, 2), k (4, 2), v (4, 2), a mask whose second row is all False"),
        Case(
            (np.full((2, 2), 30.0), np.array([[1.0, 0.0], [0.0, 1.0], [40.0, 40.0]]), rng.normal(size=(3, 2)), hidden),
            "q (2, 2), k (3, 2), v (3, 2), where the hidden key 2 would score far above the others",
        ),
    ]
    return check_function(
        "attention",
        answer,
        solution_attention,
        cases,
        hint=(
            "Print the attention weights of the first case before you multiply them with v: each row should be "
            "a probability distribution over the keys, and the queries should be compared with the keys the way "
            "the section on dot-product attention does.",
            "Scores from dot products of queries and keys, scaled as in the section on the scaling; a softmax over "
            "the keys (one row per query); masked scores become minus infinity before the softmax; then a "
            "weighted average of the values.",
        ),
        warnings_are_errors=True,
        forbid=routes.forbid_names(
            ("scaled_dot_product_attention", "scaled_dot_product_attention_forward", "multi_head_attention_forward")
            + ("softmax", "log_softmax", "softmax_with_temperature", "causal_mask")
            + LIBRARY
            + ESCAPES
            + routes.SILENCERS,
            "this exercise asks you to write attention yourself, in NumPy, without hiding a warning",
        ),
        mistakes=[
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, scale="none"),
                (
                    "Your weights are sharper than they should be: compare the size of your scores with the section "
                    "on the scaling.",
                    "The scores are not scaled: divide them by the square root of the queries' length d, which "
                    "keeps their spread near 1 whatever d is.",
                ),
            ),
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, scale="d"),
                (
                    "Your weights are flatter than they should be: check the factor you scale the scores by.",
                    "You divided by d. A dot product of d terms of unit variance has a standard deviation of "
                    "sqrt(d), and that is the factor.",
                ),
            ),
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, axis=-2),
                (
                    "Sum your weights over each row: they should add up to 1 for every query.",
                    "The softmax runs over the wrong axis: each query distributes its attention over the keys, the "
                    "last axis of the scores.",
                ),
            ),
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, masking="after"),
                (
                    "With a mask, the rows of your weights no longer add up to 1.",
                    "You zeroed the weights after the softmax. Mask the scores before it, with minus infinity, so "
                    "that the softmax itself gives the hidden keys zero weight and renormalises the rest.",
                ),
            ),
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, masking="inverted"),
                (
                    "With the causal mask, your first query looks at every key but its own.",
                    "True in the mask means that the query may look at the key; you hid those keys and kept the others.",
                ),
            ),
            Mistake(
                lambda q, k, v, c: _attention_wrong(q, k, v, c, weights=True),
                (
                    "Your output has one column per key, not one per feature of the values.",
                    "That is the attention map: the output is the weighted average of the values, the weights times v.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "NumPy warned: print which case. Large scores can overflow exp, and a query that may see no "
                    "key can divide 0 by 0.",
                    "The softmax does not change when the same number is subtracted from every score of a row: "
                    "subtract the row's largest allowed score first; a row with no allowed key has no largest score "
                    "and no weights to normalise, and its output is zeros.",
                ),
            ),
        ],
    )


# ---------------------------------------------------------------- 9.2 sinusoidal positions


def solution_sinusoidal(length: int, dim: int) -> np.ndarray:
    """The sinusoidal positional encoding, (length, dim) for an even dim: column 2i holds
    sin(t / 10000^(2i / dim)) and column 2i + 1 the cosine of the same angle."""
    positions = np.arange(length)[:, None]  # (T, 1)
    rates = 10000.0 ** (-np.arange(0, dim, 2) / dim)  # (dim / 2,) one frequency per pair of columns
    out = np.zeros((length, dim))
    out[:, 0::2] = np.sin(positions * rates)
    out[:, 1::2] = np.cos(positions * rates)
    return out


def _sinusoidal_wrong(length: int, dim: int, *, swap: bool = False, halves: bool = False, rate: str = "2i") -> Any:
    """A typical wrong encoding: sine and cosine swapped, in two halves instead of interleaved, or
    the exponent i / dim (``rate="i"``) or of the wrong sign (``rate="up"``)."""
    if not (swap or halves or rate != "2i"):
        raise TypeError("_sinusoidal_wrong needs the mistake to make")  # it is not an answer
    i = np.arange(dim // 2)
    exponent = {"2i": 2 * i / dim, "i": i / dim, "up": -2 * i / dim}[rate]
    angles = np.arange(length)[:, None] / 10000.0**exponent  # (T, dim / 2)
    first, second = (np.cos(angles), np.sin(angles)) if swap else (np.sin(angles), np.cos(angles))
    if halves:
        return np.concatenate([first, second], axis=1)
    out = np.zeros((length, dim))
    out[:, 0::2], out[:, 1::2] = first, second
    return out


@checker
def check_sinusoidal(answer: Any) -> Feedback:
    """Exercise 9.2: ``sinusoidal(length, dim)``, the fixed positional encoding, (length, dim), dim even."""
    cases = [
        Case((3, 2), "length = 3, dim = 2"),
        Case((5, 4), "length = 5, dim = 4"),
        Case((50, 16), "length = 50, dim = 16"),
    ]
    return check_function(
        "sinusoidal",
        answer,
        solution_sinusoidal,
        cases,
        hint=(
            "Print your first two rows: position 0 must give sin 0 and cos 0 in every pair of columns, and "
            "each pair of columns must turn more slowly than the pair before it.",
            "Column 2i holds the sine and column 2i + 1 the cosine of t times one frequency per pair; the "
            "frequencies fall geometrically from 1 at the first pair, with the exponent of 10000 running over "
            "the even column indices divided by dim.",
        ),
        forbid=routes.forbid_names(
            ("sinusoidal_positions", "PositionalEncoding") + LIBRARY + ESCAPES,
            "this exercise asks you to write the encoding yourself, in NumPy",
        ),
        mistakes=[
            Mistake(
                lambda n, d: _sinusoidal_wrong(n, d, swap=True),
                (
                    "Row 0 should start with 0 (the sine of 0), then 1.",
                    "Sine and cosine are swapped: the even columns hold the sines.",
                ),
            ),
            Mistake(
                lambda n, d: _sinusoidal_wrong(n, d, halves=True),
                (
                    "The first case is right and the larger ones are not: look at the order of your columns.",
                    "You put all the sines first and all the cosines after them. The encoding interleaves them: "
                    "each pair of neighbouring columns holds the sine and the cosine of one frequency.",
                ),
            ),
            Mistake(
                lambda n, d: _sinusoidal_wrong(n, d, rate="i"),
                (
                    "Your later columns turn too fast: check the exponent of 10000 for each pair.",
                    "The exponent for the pair of columns 2i and 2i + 1 is 2i / dim (the even column's index over "
                    "dim), so each pair turns more slowly than the one before, the last far more slowly than the first.",
                ),
            ),
            Mistake(
                lambda n, d: _sinusoidal_wrong(n, d, rate="up"),
                (
                    "Your frequencies grow from pair to pair; they should fall.",
                    "The angle divides the position by 10000 to a positive power, so that later pairs turn more "
                    "slowly.",
                ),
            ),
        ],
    )


# ---------------------------------------------------------------- 9.3 counting a block's parameters


def solution_block_parameters(embed_dim: int, num_heads: int, mlp_ratio: int) -> int:
    """The parameters of a pre-LayerNorm transformer block of width D with an MLP of width F = ratio D,
    as ``torch.nn.TransformerEncoderLayer`` counts them. The number of heads does not matter: the
    heads split the D features of the projections, they do not add weights."""
    d, f = embed_dim, mlp_ratio * embed_dim
    attention = 4 * d * d + 4 * d  # in_proj (3D, D) and its bias, out_proj (D, D) and its bias
    mlp = 2 * f * d + f + d  # linear1 (F, D) + bias (F,), linear2 (D, F) + bias (D,)
    norms = 4 * d  # two LayerNorms, a scale and a shift each
    return attention + mlp + norms


def _count(value: Any) -> Any:
    """The output unchanged when it can be a count; a float or a truth value raises, with a sentence."""
    if hasattr(value, "detach") and callable(value.detach):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        array = np.asarray(value)
        if array.ndim == 0 and array.dtype.kind in "bf":
            kind = "the truth value" if array.dtype.kind == "b" else "the float"
            raise ValueError(f"expected a whole number (an int), got {kind} {array.item()!r}")
    return value


@checker
def check_block_parameters(answer: Any) -> Feedback:
    """Exercise 9.3: ``block_parameters(embed_dim, num_heads, mlp_ratio)``, an int, compared exactly."""
    cases = [
        Case((4, 1, 2), "embed_dim = 4, num_heads = 1, mlp_ratio = 2"),
        Case((8, 2, 4), "embed_dim = 8, num_heads = 2, mlp_ratio = 4"),
        Case((128, 4, 4), "embed_dim = 128, num_heads = 4, mlp_ratio = 4"),
        Case((12, 3, 2), "embed_dim = 12, num_heads = 3, mlp_ratio = 2"),
    ]
    feedback = check_function(
        "block_parameters",
        answer,
        solution_block_parameters,
        cases,
        hint=(
            "List the block's parameter tensors, those of the attention, of the MLP and of the two LayerNorms, "
            "with the shape of each; the count is the sum of their sizes.",
            "Attention: the stacked query, key and value projection and the output projection, each with a bias. "
            "MLP: two linear layers through F = mlp_ratio * embed_dim units. Each LayerNorm: a scale and a shift "
            "of length embed_dim. How does num_heads enter the shapes?",
        ),
        rtol=0.0,
        atol=0.0,
        adapt=_count,
        forbid=routes.forbid_names(
            ("TransformerEncoderLayer", "TransformerBlock", "MultiheadAttention", "numel", "parameters")
            + ("named_parameters", "state_dict", "transformer", "ttransformer")
            + LIBRARY
            + ESCAPES,
            "this exercise asks for the count worked out from the shapes (use torch only to check one case by hand)",
        ),
        mistakes=[
            Mistake(
                lambda d, h, r: solution_block_parameters(d, h, r) - 4 * d,
                (
                    "You are a little short, by a few vectors of length embed_dim: which small tensors are there?",
                    "The two LayerNorms have parameters too: a scale and a shift each, embed_dim numbers apiece.",
                ),
            ),
            Mistake(
                lambda d, h, r: 4 * d * d + 2 * r * d * d + 4 * d,
                (
                    "You are short by a little more than the LayerNorms: count the bias vectors.",
                    "Every linear map has a bias: the attention's two projections and the MLP's two layers.",
                ),
            ),
            Mistake(
                lambda d, h, r: solution_block_parameters(d, h, r) - d * d - d,
                (
                    "Your attention is one D by D matrix short.",
                    "Besides the query, key and value projections there is the output projection, which mixes the "
                    "heads back together: (D, D) and a bias.",
                ),
            ),
            Mistake(
                lambda d, h, r: solution_block_parameters(d, h, r) + (h - 1) * (4 * d * d + 4 * d),
                (
                    "Your count grows with the number of heads; does the attention's weight matrix?",
                    "The heads split the D features of the projections among them: h heads of D / h features use "
                    "the same (3D, D) and (D, D) matrices as one head of D features.",
                ),
            ),
            Mistake(
                lambda d, h, r: solution_block_parameters(d, h, r) - r * d * d - d,
                (
                    "Your MLP is one layer short.",
                    "The MLP has two linear layers, out to F = mlp_ratio * embed_dim units and back to embed_dim.",
                ),
            ),
        ],
    )
    if not feedback.passed and "expected a whole number" in feedback.message:
        hints = (
            "A number of parameters is a whole number, an int; a float (even 2.0) is not one.",
            "Division with `/`, a float constant such as 1.0, or NumPy floats give a float even when the value "
            "is whole: keep to integers.",
        )
        return Feedback("block_parameters", False, feedback.message, hints)
    return feedback


# The exercises that follow live in ch09_heads.py (this module would pass 450 lines); notebooks call them
# through this module. ESCAPES and LIBRARY, which the forbid lists above share, are read only when a checker runs.
from dlcourse.exercises.ch09_heads import (  # noqa: E402, F401
    ESCAPES,
    LIBRARY,
    check_attend_next,
    check_fix_heads,
    solution_attend_next,
    solution_fix_heads,
)

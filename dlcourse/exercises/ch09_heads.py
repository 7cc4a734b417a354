"""Checkers and solutions for chapter 9, part two: debugging multi-head attention, and one step of
sampling with a key-value cache.

Re-exported by :mod:`dlcourse.exercises.ch09`, so the book calls ``ch09.check_fix_heads``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import WARNS, Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "fix_heads": ["reshape(batch, steps, num_heads, head_dim).transpose(0, 2, 1, 3)"],
    "attend_next": ["np.concatenate([k_cache, k_new[None]])", "k_cache @ q / np.sqrt(len(q))"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""

ESCAPES = ("importlib", "import_module", "__import__", "sys", "eval", "exec", "globals", "vars")
"""Names that reach a library without naming it; refused where an exercise forbids a library."""

LIBRARY = ("torch", "nn", "F", "functional", "scipy", "special", "dlcourse", "attention", "tattention")
"""The libraries and the course's own modules, which the exercises ask you not to call."""

ATTENTION_FUNCTIONS = (
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_forward",
    "multi_head_attention_forward",
    "MultiheadAttention",
)


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- 9.4 find the bug: the heads


def solution_fix_heads(
    x: np.ndarray,
    in_proj_weight: np.ndarray,
    in_proj_bias: np.ndarray,
    out_proj_weight: np.ndarray,
    out_proj_bias: np.ndarray,
    num_heads: int,
) -> np.ndarray:
    """The exercise's multi-head self-attention, fixed: each head takes its own D / h features at every
    position, which needs the axes (B, T, h, D / h) first and then the heads moved in front of the
    positions; the broken code reshaped (B, T, D) straight to (B, h, T, D / h), which mixes positions.

    Args:
        x: (B, T, D); in_proj_weight (3D, D), in_proj_bias (3D,), out_proj_weight (D, D),
            out_proj_bias (D,), in ``torch.nn.MultiheadAttention``'s layout; num_heads divides D.

    Returns:
        (B, T, D).
    """
    batch, steps, width = x.shape
    head_dim = width // num_heads
    qkv = x @ in_proj_weight.T + in_proj_bias  # (B, T, 3D)
    q, k, v = np.split(qkv, 3, axis=-1)  # (B, T, D) each

    def split(a: np.ndarray) -> np.ndarray:
        return a.reshape(batch, steps, num_heads, head_dim).transpose(0, 2, 1, 3)  # (B, h, T, D/h)

    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)  # (B, h, T, T)
    heads = _softmax_rows(scores) @ v  # (B, h, T, D/h)
    merged = heads.transpose(0, 2, 1, 3).reshape(batch, steps, width)  # (B, T, D)
    return merged @ out_proj_weight.T + out_proj_bias


def _heads_wrong(split: str = "right", merge: str = "right", scale: str = "head") -> Any:
    """A wrong multi-head attention: heads split by a plain ``reshape`` or with the features dealt
    round-robin (``"interleaved"``), merged by a plain ``reshape``, or scaled by sqrt(D)."""
    if (split, merge, scale) == ("right", "right", "head"):
        raise TypeError("_heads_wrong needs the mistake to make")  # it is not an answer

    def wrong(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
        batch, steps, width = x.shape
        head_dim = width // num_heads
        q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)

        def to_heads(a):
            if split == "reshape":
                return a.reshape(batch, num_heads, steps, head_dim)
            if split == "interleaved":
                return a.reshape(batch, steps, head_dim, num_heads).transpose(0, 3, 1, 2)
            return a.reshape(batch, steps, num_heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = to_heads(q), to_heads(k), to_heads(v)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim if scale == "head" else width)
        heads = _softmax_rows(scores) @ v
        if merge == "reshape":
            merged = heads.reshape(batch, steps, width)
        elif split == "interleaved":
            merged = heads.transpose(0, 2, 3, 1).reshape(batch, steps, width)  # undone the same way
        else:
            merged = heads.transpose(0, 2, 1, 3).reshape(batch, steps, width)
        return merged @ out_proj_weight.T + out_proj_bias

    return wrong


@checker
def check_fix_heads(answer: Any) -> Feedback:
    """Exercise 9.4: the fixed ``self_attention(x, in_proj_weight, in_proj_bias, out_proj_weight,
    out_proj_bias, num_heads)``, multi-head self-attention without a mask, in torch's layout."""
    rng = np.random.default_rng(94)

    def case(batch: int, steps: int, width: int, heads: int) -> tuple:
        return (
            rng.normal(size=(batch, steps, width)),
            rng.normal(size=(3 * width, width)) / np.sqrt(width),
            rng.normal(size=3 * width) * 0.1,
            rng.normal(size=(width, width)) / np.sqrt(width),
            rng.normal(size=width) * 0.1,
            heads,
        )

    cases = [
        Case(case(2, 3, 4, 1), "x (2, 3, 4), one head"),
        Case(case(2, 3, 4, 2), "x (2, 3, 4), two heads"),
        Case(case(1, 5, 8, 4), "x (1, 5, 8), four heads"),
        Case((20 * case(1, 4, 6, 3)[0], *case(1, 4, 6, 3)[1:]), "x (1, 4, 6) with entries of about 20, three heads"),
    ]
    return check_function(
        "fix_heads",
        answer,
        solution_fix_heads,
        cases,
        hint=(
            "With one head the function is right, with two it is not: the bug is in how the features are shared "
            "among the heads. Look at what each head receives.",
            "Take x of one sequence with three positions and print q[0] next to what the broken code hands head 0: "
            "a head must get its own block of D / h features at every position, and nothing else.",
            "A reshape keeps the order of the numbers in memory: (B, T, D) read as (B, h, T, D / h) cuts the "
            "positions, not the features, into heads. Look for the step that should reorder axes rather than "
            "only relabel them.",
        ),
        forbid=routes.forbid_names(
            ATTENTION_FUNCTIONS + LIBRARY + ESCAPES,
            "this exercise asks you to fix the given NumPy code, not to call attention from a library",
        ),
        mistakes=[
            Mistake(
                _heads_wrong(split="right", merge="reshape"),
                (
                    "The heads are split correctly now; look at how they are put back together.",
                    "Merging is the split undone: move the heads' axis back behind the positions, (B, T, h, D / h), "
                    "before the reshape to (B, T, D).",
                ),
            ),
            Mistake(
                _heads_wrong(split="interleaved"),
                (
                    "Each head now sees every position, but not the right features.",
                    "Your heads take every h-th feature. torch.nn.MultiheadAttention gives head 0 the first D / h "
                    "features of q, k and v, head 1 the next D / h, and so on: split the last axis as (h, D / h).",
                ),
            ),
            Mistake(
                _heads_wrong(scale="model"),
                (
                    "One head is right and more heads are not: check the scale of each head's scores.",
                    "Each head's queries and keys have D / h features, so their dot products are scaled by "
                    "sqrt(D / h), not sqrt(D).",
                ),
            ),
        ],
    )


# ---------------------------------------------------------------- 9.5 one step with a key-value cache


def solution_attend_next(
    q: np.ndarray, k_new: np.ndarray, v_new: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of causal attention for a new position, one head: append its key and value to the
    cache, then attend from its query over every cached position, itself included.

    Args:
        q, k_new: (d,) the new position's query and key; v_new: (d_v,) its value.
        k_cache: (t, d) and v_cache: (t, d_v), the keys and values of the t earlier positions (t may be 0).

    Returns:
        out (d_v,), and the caches with the new position at the end, (t + 1, d) and (t + 1, d_v).
    """
    k_cache = np.concatenate([k_cache, k_new[None]])  # (t + 1, d)
    v_cache = np.concatenate([v_cache, v_new[None]])  # (t + 1, d_v)
    scores = k_cache @ q / np.sqrt(len(q))  # (t + 1,)
    weights = np.exp(scores - scores.max())
    weights = weights / weights.sum()
    return weights @ v_cache, k_cache, v_cache


def _next_wrong(q, k_new, v_new, k_cache, v_cache, *, order: str = "append", scale: bool = True, keep: bool = False):
    """A wrong step: the new key attended after (``order="after"``: the old cache only) or put first
    (``"prepend"``), the scores not scaled, or the old caches returned (``keep``)."""
    if order == "append" and scale and not keep:
        raise TypeError("_next_wrong needs the mistake to make")  # it is not an answer
    old_k, old_v = k_cache, v_cache
    if order == "prepend":
        k_cache, v_cache = np.concatenate([k_new[None], k_cache]), np.concatenate([v_new[None], v_cache])
    else:
        k_cache, v_cache = np.concatenate([k_cache, k_new[None]]), np.concatenate([v_cache, v_new[None]])
    keys, values = (old_k, old_v) if order == "after" else (k_cache, v_cache)
    scores = keys @ q / (np.sqrt(len(q)) if scale else 1.0)
    weights = _softmax_rows(scores)
    return weights @ values, *((old_k, old_v) if keep else (k_cache, v_cache))


@checker
def check_attend_next(answer: Any) -> Feedback:
    """Exercise 9.5: ``attend_next(q, k_new, v_new, k_cache, v_cache)`` -> (out, k_cache, v_cache)."""
    rng = np.random.default_rng(95)

    def case(t: int, d: int, dv: int, scale: float = 1.0) -> tuple:
        return (
            scale * rng.normal(size=d),
            scale * rng.normal(size=d),
            rng.normal(size=dv),
            scale * rng.normal(size=(t, d)),
            rng.normal(size=(t, dv)),
        )

    cases = [
        Case(case(2, 4, 3), "q, k_new (4,), v_new (3,), two cached positions"),
        Case(case(0, 3, 2), "q, k_new (3,), v_new (2,), an empty cache: k_cache (0, 3), v_cache (0, 2)"),
        Case(case(5, 4, 2, scale=40.0), "q, k_new (4,), v_new (2,), five cached positions, entries of about 40"),
        Case(case(15, 3, 2), "q, k_new (3,), v_new (2,), fifteen cached positions"),
    ]
    return check_function(
        "attend_next",
        answer,
        solution_attend_next,
        cases,
        hint=(
            "Which positions may the new query attend to? Count them on the first case, then compare with the "
            "number of weights your function computes.",
            "The new position attends to every earlier position and to itself: add its key and value to the "
            "caches (at the end, where the latest position belongs) before computing the scores, and scale the "
            "scores as in full attention.",
        ),
        parts=("out", "k_cache", "v_cache"),
        warnings_are_errors=True,
        forbid=routes.forbid_names(
            ATTENTION_FUNCTIONS + ("softmax", "log_softmax") + LIBRARY + ESCAPES + routes.SILENCERS,
            "this exercise asks you to write the step yourself, in NumPy, without hiding a warning",
        ),
        mistakes=[
            Mistake(
                lambda *a: _next_wrong(*a, order="after"),
                (
                    "Your caches are right, but your output ignores the new position itself.",
                    "Attend after appending: the new query's own key and value are part of what it attends to, as "
                    "the diagonal of the causal mask allows.",
                ),
            ),
            Mistake(
                lambda *a: _next_wrong(*a, order="prepend"),
                (
                    "Your output is right, but the caches are in the wrong order.",
                    "The caches list the positions in order, so the newest key and value go at the end: code that "
                    "keeps only the last positions of the context window relies on that order.",
                ),
            ),
            Mistake(
                lambda *a: _next_wrong(*a, scale=False),
                (
                    "Your weights are sharper than full attention's would be.",
                    "Divide the scores by the square root of the key length d, as scaled dot-product attention does.",
                ),
            ),
            Mistake(
                lambda *a: _next_wrong(*a, keep=True),
                (
                    "Your output is right, but the caches you return are the old ones.",
                    "Return the caches with the new key and value added, so that the next step can attend to them.",
                ),
            ),
            Mistake(
                WARNS,
                (
                    "NumPy warned on the last case, whose scores are large: exp overflowed.",
                    "Subtract the largest score before exp: the softmax does not change, and exp never overflows.",
                ),
            ),
        ],
    )

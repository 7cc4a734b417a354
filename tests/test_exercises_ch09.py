"""Chapter 9 exercises: every solution passes and agrees with the package and with torch, typical wrong
answers get their hints, the notebook's stubs get a first-stage nudge, checkers never raise."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse.exercises import ch09, ch09_heads, running, tracking
from dlcourse.numpy import attention

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch09, ch09_heads)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]
MORE = [(c, s) for c, s in SOLUTIONS if c.__module__ == ch09_heads.__name__]


def test_solutions_agree_with_the_package_and_torch():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 5, 2))
    for causal in (False, True):
        want = F.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), is_causal=causal).numpy()
        mask = attention.causal_mask(5, 5) if causal else None
        np.testing.assert_allclose(ch09.solution_attention(q, k, v, mask), want, rtol=1e-12, atol=1e-13)
    padding = rng.random((2, 1, 5, 5)) < 0.7  # any boolean mask, as torch's attn_mask (True: may look)
    padding[..., 0] = True  # torch gives NaN where a query sees no key; the exercise asks for zeros there
    want = F.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=torch.tensor(padding)).numpy()
    np.testing.assert_allclose(ch09.solution_attention(q, k, v, padding), want, rtol=1e-12, atol=1e-13)
    padding[0, 0, 2] = False  # query 2 of the first sequence now sees no key
    out = ch09.solution_attention(q, k, v, padding)
    assert np.all(out[0, :, 2] == 0) and np.isfinite(out).all()
    np.testing.assert_allclose(
        ch09.solution_sinusoidal(40, 16), attention.sinusoidal_positions(40, 16), rtol=1e-6, atol=1e-6
    )
    for d, h, r in [(4, 1, 2), (8, 2, 4), (128, 4, 4), (6, 3, 3)]:
        layer = torch.nn.TransformerEncoderLayer(d, h, dim_feedforward=r * d)
        assert ch09.solution_block_parameters(d, h, r) == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_the_fixed_heads_agree_with_torch_multihead_attention(heads):
    torch.manual_seed(heads)
    layer = torch.nn.MultiheadAttention(8, heads, batch_first=True).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.5)
    w = [p.detach().numpy() for p in layer.parameters()]  # in_proj_weight, in_proj_bias, out_proj w and b
    x = np.random.default_rng(heads).normal(size=(2, 5, 8))
    xt = torch.tensor(x)
    want = layer(xt, xt, xt, need_weights=False)[0].detach().numpy()
    np.testing.assert_allclose(ch09.solution_fix_heads(x, *w, heads), want, rtol=1e-10, atol=1e-12)


def test_a_loop_of_cached_steps_is_full_causal_attention():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    k_cache, v_cache, rows = np.zeros((0, 4)), np.zeros((0, 3)), []
    for t in range(6):
        out, k_cache, v_cache = ch09.solution_attend_next(q[t], k[t], v[t], k_cache, v_cache)
        rows.append(out)
    full, _ = attention.scaled_dot_product_attention_forward(q, k, v, causal=True)
    np.testing.assert_allclose(np.stack(rows), full, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(k_cache, k)


def test_other_correct_answers_pass():
    def attention_with_weights_first(q, k, v, mask):
        d = q.shape[-1]
        s = np.einsum("...id,...jd->...ij", q, k) / d**0.5
        allowed = np.ones(s.shape, dtype=bool) if mask is None else np.broadcast_to(mask, s.shape)
        s = np.where(allowed, s, np.min(s) - 1e3)  # a large negative number instead of -inf
        w = np.exp(s - np.max(s, axis=-1, keepdims=True)) * allowed
        total = w.sum(-1, keepdims=True)
        return np.einsum("...ij,...jd->...id", w / np.where(total == 0, 1.0, total), v)

    def sinusoidal_loops(length, dim):
        out = np.zeros((length, dim))
        for t in range(length):
            for i in range(0, dim, 2):
                out[t, i], out[t, i + 1] = np.sin(t / 10000 ** (i / dim)), np.cos(t / 10000 ** (i / dim))
        return out

    assert ch09.check_attention(attention_with_weights_first).passed
    assert ch09.check_sinusoidal(sinusoidal_loops).passed
    assert ch09.check_block_parameters(lambda d, h, r: 4 * d * d + 2 * r * d * d + r * d + 9 * d).passed
    assert ch09.check_block_parameters(lambda d, h, r: np.int64(d) * (4 * d + 2 * r * d + r + 9)).passed


def _attention_with_torch(q, k, v, mask):
    mask = None if mask is None else torch.tensor(mask)
    out = F.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=mask).numpy()
    return np.nan_to_num(out)  # a query that sees no key: NaN in torch, zeros in the exercise


def _attention_with_the_package(q, k, v, mask):
    causal = mask is not None and mask.shape == (4, 4)
    return attention.scaled_dot_product_attention_forward(q, k, v, causal)[0]


def _attention_no_max(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0) @ v


def _attention_nan_rows(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))  # -inf - -inf: NaN where a query sees no key
    return e / e.sum(axis=-1, keepdims=True) @ v


def _count_with_torch(d, h, r):
    return sum(p.numel() for p in torch.nn.TransformerEncoderLayer(d, h, dim_feedforward=r * d).parameters())


def broken_heads(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """The chapter's stub, with its bug: (B, T, D) reshaped straight to (B, h, T, D / h)."""
    batch, steps, width = x.shape
    head_dim = width // num_heads
    qkv = x @ in_proj_weight.T + in_proj_bias
    q, k, v = np.split(qkv, 3, axis=-1)
    q = q.reshape(batch, num_heads, steps, head_dim)
    k = k.reshape(batch, num_heads, steps, head_dim)
    v = v.reshape(batch, num_heads, steps, head_dim)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    heads = weights @ v
    merged = heads.transpose(0, 2, 1, 3).reshape(batch, steps, width)
    return merged @ out_proj_weight.T + out_proj_bias


def _heads_with_torch(x, wi, bi, wo, bo, heads):
    t = {k: torch.tensor(v) for k, v in {"x": x, "wi": wi, "bi": bi, "wo": wo, "bo": bo}.items()}
    xt = t["x"].transpose(0, 1)  # (T, B, D)
    out, _ = F.multi_head_attention_forward(
        xt, xt, xt, x.shape[2], heads, t["wi"], t["bi"], None, None, False, 0.0, t["wo"], t["bo"], need_weights=False
    )
    return out.transpose(0, 1).numpy()


def _next_no_max(q, k_new, v_new, k_cache, v_cache):
    k_cache, v_cache = np.concatenate([k_cache, k_new[None]]), np.concatenate([v_cache, v_new[None]])
    e = np.exp(k_cache @ q / np.sqrt(len(q)))
    return e / e.sum() @ v_cache, k_cache, v_cache


def _next_out_only(q, k_new, v_new, k_cache, v_cache):
    return ch09.solution_attend_next(q, k_new, v_new, k_cache, v_cache)[0]


# (checker, typical wrong answer, words its hint contains at some stage)
WRONG = [
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, scale="none"), "not scaled"),
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, scale="d"), "You divided by d"),
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, axis=-2), "wrong axis"),
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, masking="after"), "Mask the scores"),
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, masking="inverted"), "you hid"),
    (ch09.check_attention, lambda q, k, v, c: ch09._attention_wrong(q, k, v, c, weights=True), "attention map"),
    (ch09.check_attention, _attention_no_max, "largest allowed score"),
    (ch09.check_attention, _attention_nan_rows, "no allowed key"),
    (ch09.check_attention, _attention_with_torch, "probability distribution"),
    (ch09.check_attention, _attention_with_the_package, "probability distribution"),
    (ch09.check_sinusoidal, lambda n, d: ch09._sinusoidal_wrong(n, d, swap=True), "even columns hold the sines"),
    (ch09.check_sinusoidal, lambda n, d: ch09._sinusoidal_wrong(n, d, halves=True), "interleaves"),
    (ch09.check_sinusoidal, lambda n, d: ch09._sinusoidal_wrong(n, d, rate="i"), "2i / dim"),
    (ch09.check_sinusoidal, lambda n, d: ch09._sinusoidal_wrong(n, d, rate="up"), "positive power"),
    (ch09.check_sinusoidal, lambda n, d: attention.sinusoidal_positions(n, d), "pair of columns"),
    (ch09.check_block_parameters, lambda d, h, r: ch09.solution_block_parameters(d, h, r) - 4 * d, "LayerNorms"),
    (ch09.check_block_parameters, lambda d, h, r: 4 * d * d + 2 * r * d * d + 4 * d, "has a bias"),
    (ch09.check_block_parameters, lambda d, h, r: ch09.solution_block_parameters(d, h, r) - d * d - d, "output"),
    (
        ch09.check_block_parameters,
        lambda d, h, r: ch09.solution_block_parameters(d, h, r) + (h - 1) * (4 * d * d + 4 * d),
        "split the D features",
    ),
    (ch09.check_block_parameters, lambda d, h, r: ch09.solution_block_parameters(d, h, r) - r * d * d - d, "two"),
    (ch09.check_block_parameters, _count_with_torch, "sum of their sizes"),
    (ch09.check_block_parameters, lambda d, h, r: float(ch09.solution_block_parameters(d, h, r)), "whole number"),
    (ch09.check_fix_heads, broken_heads, "cuts the positions"),
    (ch09.check_fix_heads, ch09_heads._heads_wrong(merge="reshape"), "the split undone"),
    (ch09.check_fix_heads, ch09_heads._heads_wrong(split="interleaved"), "every h-th feature"),
    (ch09.check_fix_heads, ch09_heads._heads_wrong(scale="model"), "sqrt(D / h)"),
    (ch09.check_fix_heads, _heads_with_torch, "what each head receives"),
    (ch09.check_attend_next, lambda *a: ch09_heads._next_wrong(*a, order="after"), "Attend after appending"),
    (ch09.check_attend_next, lambda *a: ch09_heads._next_wrong(*a, order="prepend"), "go at the end"),
    (ch09.check_attend_next, lambda *a: ch09_heads._next_wrong(*a, scale=False), "square root"),
    (ch09.check_attend_next, lambda *a: ch09_heads._next_wrong(*a, keep=True), "the old ones"),
    (ch09.check_attend_next, _next_no_max, "exp overflowed"),
    (ch09.check_attend_next, _next_out_only, "Which positions"),
]


def test_notebook_stubs_get_their_targeted_first_hints():
    """The chapter's stubs are wrong on purpose; their stored feedback is a first-stage nudge."""
    tracking.reset_attempts()
    feedback = ch09.check_fix_heads(broken_heads)
    assert not feedback.passed and feedback.stage == 0 and "one head" in feedback.hint, str(feedback)
    assert "two heads" in feedback.message and "cuts the positions" not in feedback.hint
    for stage in (1, 2):
        assert ch09.check_fix_heads(broken_heads).stage == stage
    for checker in (ch09.check_attention, ch09.check_sinusoidal, ch09.check_block_parameters, ch09.check_attend_next):
        feedback = checker(lambda *a: None)
        assert not feedback.passed and "return" in feedback.hint, str(feedback)


def test_feedback_never_gives_the_answer_away():
    for checker in CHECKERS:
        hints = " ".join(checker(lambda *a: None).hints)
        assert "np.sqrt(q.shape[-1])" not in hints and "k_new[None]" not in hints


def test_exception_inside_learner_code_is_reported():
    feedback = ch09.check_attention(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message and "q (2, 4)" in feedback.message


# tests/test_exercise_hostile.py discovers the checkers defined in the chapter modules; the same
# hostile answers for those defined in ch09_heads:


def _busy_loop(*args):
    while True:
        pass


@pytest.mark.parametrize(("checker", "solution"), MORE, ids=[c.__name__ for c, _ in MORE])
def test_more_checkers_survive_hostile_answers(checker, solution, monkeypatch):
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    start = time.perf_counter()
    feedback = checker(_busy_loop)
    assert not feedback.passed and time.perf_counter() - start < 3.5
    for answer in (
        lambda *a: (_ for _ in ()).throw(SystemExit(1)),
        lambda *a: [np.asarray(p) + 0.5j for p in solution(*a)] if isinstance(solution(*a), (tuple, list)) else 1j,
        lambda *a: np.asarray(solution(*a)[0] if isinstance(solution(*a), tuple) else solution(*a)) * 1.01 + 0.01,
        lambda *a: [np.asarray(solution(*a)[0] if isinstance(solution(*a), tuple) else solution(*a))],
    ):
        feedback = checker(answer)
        assert not feedback.passed and feedback.message[0].isupper() and feedback.hint, str(feedback)
    calls = []

    def counted(*args):
        calls.append(1)
        return solution(*args)

    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = checker(counted)
    finally:
        np.seterr(**old)
    assert feedback.passed, str(feedback)
    assert f"All {len(calls)} test cases pass" in feedback.message  # the answer runs once per case


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)

"""Attention: GELU, scaled dot-product attention (with and without the causal mask, with a cache of
earlier keys) and multi-head attention pass finite differences in float64; the NumPy functions equal
their torch twins and autograd; the twins match torch.nn.functional.gelu,
torch.nn.functional.scaled_dot_product_attention and torch.nn.MultiheadAttention from copied weights
(outputs and every gradient); self-attention without positions is permutation-equivariant; the causal
mask hides the future; both trees refuse bad input with the same sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import attention as A
from dlcourse.torch import attention as TA

from .helpers import assert_backward, assert_twins

MHA_NAMES = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]


def _mha_weights(rng: np.random.Generator, width: int, scale: float = 0.5) -> list[np.ndarray]:
    """Random float64 weights for a multi-head attention of width D, biases not zero."""
    shapes = [(3 * width, width), (3 * width,), (width, width), (width,)]
    return [scale * rng.normal(size=s) for s in shapes]


# ---------------------------------------------------------------- GELU


@given(st.lists(st.floats(-30, 30), min_size=1, max_size=20))
def test_gelu_backward_matches_finite_differences_and_torch(values):
    x = np.array(values)
    out, cache = A.gelu_forward(x)
    assert_backward(lambda v: A.gelu_forward(v), lambda g: A.gelu_backward(g, cache), x, rtol=1e-6, atol=1e-8)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.gelu(xt, approximate="tanh")
    g = np.random.default_rng(0).normal(size=x.shape)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(A.gelu_backward(g, cache), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_gelu_twins_agree_and_the_torch_backward_equals_autograd():
    x = 3 * np.random.default_rng(1).normal(size=(4, 5))
    _, cache = A.gelu_forward(x)
    assert_twins(A.gelu_forward, TA.gelu_forward, x, numpy_backward=lambda g: A.gelu_backward(g, cache))
    g = np.random.default_rng(2).normal(size=x.shape)
    _, tcache = TA.gelu_forward(torch.tensor(x))
    np.testing.assert_allclose(TA.gelu_backward(torch.tensor(g), tcache).numpy(), A.gelu_backward(g, cache), rtol=1e-12)
    assert A.gelu_forward(np.float32([1.0]))[0].dtype == np.float32


# ---------------------------------------------------------------- the causal mask


def test_causal_mask_is_the_lower_triangle_aligned_on_the_last_query():
    np.testing.assert_array_equal(A.causal_mask(4, 4), np.tril(np.ones((4, 4), dtype=bool)))
    # two new queries after three cached keys: positions 3 and 4 of five
    np.testing.assert_array_equal(A.causal_mask(2, 5), [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    for shape in [(4, 4), (2, 5), (1, 3), (0, 2)]:
        np.testing.assert_array_equal(TA.causal_mask(*shape).numpy(), A.causal_mask(*shape))


# ---------------------------------------------------------------- scaled dot-product attention

SDPA_CASES = {  # leading axes, T_q, T_k, d, d_v, causal
    "plain": ((2, 3), 4, 6, 5, 2, False),
    "causal": ((2,), 5, 5, 3, 4, True),
    "causal after a cache": ((2, 2), 2, 5, 3, 3, True),
    "one query": ((), 1, 4, 2, 3, True),
}


@pytest.mark.parametrize("case", SDPA_CASES)
def test_attention_backward_matches_finite_differences(case):
    lead, tq, tk, d, dv, causal = SDPA_CASES[case]
    rng = np.random.default_rng(len(case))
    q, k, v = rng.normal(size=(*lead, tq, d)), rng.normal(size=(*lead, tk, d)), rng.normal(size=(*lead, tk, dv))
    out, cache = A.scaled_dot_product_attention_forward(q, k, v, causal)
    assert out.shape == (*lead, tq, dv)
    np.testing.assert_allclose(cache[3].sum(axis=-1), 1.0, rtol=1e-12)  # every row of weights sums to 1
    assert_backward(
        lambda *a: A.scaled_dot_product_attention_forward(*a, causal),
        lambda g: A.scaled_dot_product_attention_backward(g, cache),
        q,
        k,
        v,
        rtol=1e-6,
        atol=1e-9,
        names=["dq", "dk", "dv"],
    )


@pytest.mark.parametrize("case", SDPA_CASES)
def test_attention_twins_agree_and_match_torch_sdpa(case):
    lead, tq, tk, d, dv, causal = SDPA_CASES[case]
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(*lead, tq, d)), rng.normal(size=(*lead, tk, d)), rng.normal(size=(*lead, tk, dv))
    _, cache = A.scaled_dot_product_attention_forward(q, k, v, causal)
    backward = lambda g: A.scaled_dot_product_attention_backward(g, cache)  # noqa: E731
    assert_twins(
        lambda *a: A.scaled_dot_product_attention_forward(*a, causal),
        lambda *a: TA.scaled_dot_product_attention_forward(*a, causal),
        q,
        k,
        v,
        numpy_backward=backward,
    )
    mask = torch.from_numpy(A.causal_mask(tq, tk)) if causal else None  # torch's is_causal aligns top-left
    assert_twins(
        lambda *a: A.scaled_dot_product_attention_forward(*a, causal),
        lambda *a: F.scaled_dot_product_attention(*a, attn_mask=mask),
        q,
        k,
        v,
        numpy_backward=backward,
    )
    if causal and tq == tk:
        assert_twins(
            lambda *a: A.scaled_dot_product_attention_forward(*a, causal),
            lambda *a: F.scaled_dot_product_attention(*a, is_causal=True),
            q,
            k,
            v,
        )
    g = rng.normal(size=(*lead, tq, dv))  # the torch tree's hand-written backward
    _, tcache = TA.scaled_dot_product_attention_forward(*map(torch.tensor, (q, k, v)), causal)
    for mine, twin in zip(backward(g), TA.scaled_dot_product_attention_backward(torch.tensor(g), tcache), strict=True):
        np.testing.assert_allclose(twin.numpy(), mine, rtol=1e-10, atol=1e-12)


@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(0, 3),
    st.integers(1, 4),
    st.booleans(),
    st.sampled_from([1.0, 1e3]),
)
def test_attention_agrees_across_trees_for_any_shape_and_large_scores(batch, tq, extra, d, causal, scale):
    rng = np.random.default_rng(batch * 100 + tq * 10 + d)
    tk = tq + extra
    q, k, v = (
        scale * rng.normal(size=(batch, tq, d)),
        scale * rng.normal(size=(batch, tk, d)),
        rng.normal(size=(batch, tk, 2)),
    )
    out, cache = A.scaled_dot_product_attention_forward(q, k, v, causal)
    assert np.isfinite(out).all() and np.isfinite(cache[3]).all()  # huge scores saturate, never overflow
    twin, _ = TA.scaled_dot_product_attention_forward(*map(torch.tensor, (q, k, v)), causal)
    np.testing.assert_allclose(out, twin.numpy(), rtol=1e-9, atol=1e-9)


def test_the_future_is_masked_and_each_row_of_weights_sums_to_one():
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(2, 6, 4)) for _ in range(3))
    out, cache = A.scaled_dot_product_attention_forward(q, k, v, causal=True)
    assert np.all(np.triu(cache[3][0], 1) == 0)
    k2, v2 = k.copy(), v.copy()
    k2[:, 4:], v2[:, 4:] = 100.0, -100.0  # change the keys and values after position 3
    out2, _ = A.scaled_dot_product_attention_forward(q, k2, v2, causal=True)
    np.testing.assert_array_equal(out2[:, :4], out[:, :4])
    assert not np.allclose(out2[:, 4:], out[:, 4:])


# ---------------------------------------------------------------- multi-head attention


@pytest.mark.parametrize(("causal", "cached"), [(False, 0), (True, 0), (True, 2)], ids=["plain", "causal", "cache"])
def test_multi_head_attention_backward_matches_finite_differences(causal, cached):
    rng = np.random.default_rng(5)
    x, weights = rng.normal(size=(2, 3, 6)), _mha_weights(rng, 6)
    past = (rng.normal(size=(2, 2, cached, 3)), rng.normal(size=(2, 2, cached, 3))) if cached else None

    def forward(*args):
        return A.multi_head_attention_forward(*args, 2, causal, past)

    out, cache = forward(x, *weights)
    assert out.shape == x.shape and cache[5].shape == (2, 2, cached + 3, 3)  # the keys of every position
    assert_backward(
        forward,
        lambda g: A.multi_head_attention_backward(g, cache),
        x,
        *weights,
        rtol=1e-6,
        atol=1e-9,
        names=["dx", *MHA_NAMES],
    )


def test_multi_head_attention_twins_agree_and_the_torch_backward_equals_autograd():
    rng = np.random.default_rng(6)
    x, weights = rng.normal(size=(3, 4, 8)), _mha_weights(rng, 8)
    past = (rng.normal(size=(3, 4, 2, 2)), rng.normal(size=(3, 4, 2, 2)))
    for causal, cached in ((False, None), (True, None), (True, past)):
        _, cache = A.multi_head_attention_forward(x, *weights, 4, causal, cached)
        backward = lambda g, cache=cache: A.multi_head_attention_backward(g, cache)  # noqa: E731
        tpast = None if cached is None else tuple(map(torch.tensor, cached))
        assert_twins(
            lambda *a, c=causal, p=cached: A.multi_head_attention_forward(*a, 4, c, p),
            lambda *a, c=causal, p=tpast: TA.multi_head_attention_forward(*a, 4, c, p),
            x,
            *weights,
            numpy_backward=backward,
        )
        g = rng.normal(size=x.shape)
        _, tcache = TA.multi_head_attention_forward(*map(torch.tensor, (x, *weights)), 4, causal, tpast)
        for mine, twin in zip(backward(g), TA.multi_head_attention_backward(torch.tensor(g), tcache), strict=True):
            np.testing.assert_allclose(twin.numpy(), mine, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("causal", [False, True], ids=["plain", "causal"])
def test_multi_head_attention_matches_torch_nn_from_copied_weights(causal, dtype):
    """torch.nn.MultiheadAttention (batch first) with random weights copied into both trees' layers:
    the outputs, the input's gradient and every parameter's gradient agree."""
    tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-5}
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).to(tdtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.5)  # biases not zero
    state = ref.state_dict()
    assert list(state) == MHA_NAMES
    ours = A.MultiheadAttention(8, 2, np.random.default_rng(0), causal=causal)
    twin = TA.MultiheadAttention(8, 2, np.random.default_rng(0), causal=causal).to(tdtype)
    ours.load_state_dict({name: value.numpy() for name, value in state.items()})  # names and shapes checked
    for name, p in ours.named_parameters():
        p.data = state[name].numpy().copy()  # in the test's dtype (load_state_dict keeps the layer's float32)
    twin.load_state_dict(state)
    assert [n for n, _ in ours.named_parameters()] == list(twin.state_dict()) == MHA_NAMES
    rng = np.random.default_rng(1)
    x, dout = rng.normal(size=(3, 5, 8)).astype(dtype), rng.normal(size=(3, 5, 8)).astype(dtype)

    def run_torch(layer, call):
        xt = torch.from_numpy(x).requires_grad_()
        layer.zero_grad()
        out = call(layer, xt)
        out.backward(torch.from_numpy(dout))
        return [out.detach().numpy(), xt.grad.numpy(), *(p.grad.numpy() for p in layer.parameters())]

    mask = torch.from_numpy(~A.causal_mask(5, 5)) if causal else None  # torch.nn masks where True
    expected = run_torch(ref, lambda m, xt: m(xt, xt, xt, attn_mask=mask, need_weights=False)[0])
    ours.zero_grad()
    out = ours(x)
    got = [out, ours.backward(dout), *(p.grad for p in ours.parameters())]
    for label, mine, theirs, twins in zip(
        ["out", "dx", *MHA_NAMES], got, expected, run_torch(twin, lambda m, xt: m(xt)), strict=True
    ):
        assert mine.dtype == dtype, label
        np.testing.assert_allclose(mine, theirs, err_msg=label, **tol)
        np.testing.assert_allclose(twins, theirs, err_msg=f"torch tree {label}", **tol)


@pytest.mark.parametrize("tree", [A, TA], ids=["numpy", "torch"])
def test_self_attention_without_positions_is_permutation_equivariant(tree):
    """Shuffle the positions of the input and the output is shuffled the same way: attention alone
    does not know the order of what it reads."""
    rng = np.random.default_rng(8)
    x, weights = rng.normal(size=(2, 7, 6)), _mha_weights(rng, 6)
    perm = rng.permutation(7)
    convert = torch.tensor if tree is TA else np.asarray
    out, _ = tree.multi_head_attention_forward(*map(convert, (x, *weights)), 3, False)
    shuffled, _ = tree.multi_head_attention_forward(*map(convert, (x[:, perm], *weights)), 3, False)
    np.testing.assert_allclose(np.asarray(shuffled), np.asarray(out)[:, perm], rtol=1e-12, atol=1e-12)
    masked, _ = tree.multi_head_attention_forward(*map(convert, (x[:, perm], *weights)), 3, True)
    assert not np.allclose(np.asarray(masked), np.asarray(out)[:, perm])  # the causal mask breaks the symmetry


@pytest.mark.parametrize("tree", [A, TA], ids=["numpy", "torch"])
def test_causal_output_at_t_does_not_depend_on_inputs_after_t(tree):
    rng = np.random.default_rng(9)
    x, weights = rng.normal(size=(2, 6, 4)), _mha_weights(rng, 4)
    convert = torch.tensor if tree is TA else np.asarray
    out, _ = tree.multi_head_attention_forward(*map(convert, (x, *weights)), 2, True)
    for t in range(5):
        later = x.copy()
        later[:, t + 1 :] = rng.normal(size=later[:, t + 1 :].shape)
        changed, _ = tree.multi_head_attention_forward(*map(convert, (later, *weights)), 2, True)
        np.testing.assert_allclose(np.asarray(changed)[:, : t + 1], np.asarray(out)[:, : t + 1], rtol=1e-12, atol=1e-13)
        assert not np.allclose(np.asarray(changed)[:, t + 1 :], np.asarray(out)[:, t + 1 :])


@pytest.mark.parametrize("tree", [A, TA], ids=["numpy", "torch"])
def test_a_cache_of_keys_and_values_gives_the_outputs_of_the_whole_sequence(tree):
    rng = np.random.default_rng(10)
    x, weights = rng.normal(size=(2, 6, 4)), _mha_weights(rng, 4)
    convert = torch.tensor if tree is TA else np.asarray
    whole, _ = tree.multi_head_attention_forward(*map(convert, (x, *weights)), 2, True)
    first, cache = tree.multi_head_attention_forward(*map(convert, (x[:, :4], *weights)), 2, True)
    rest, _ = tree.multi_head_attention_forward(*map(convert, (x[:, 4:], *weights)), 2, True, (cache[5], cache[6]))
    np.testing.assert_allclose(
        np.concatenate([np.asarray(first), np.asarray(rest)], axis=1), np.asarray(whole), rtol=1e-12
    )


# ---------------------------------------------------------------- positions


def test_sinusoidal_positions_are_waves_and_a_shift_is_a_rotation():
    table = A.sinusoidal_positions(50, 8)
    assert table.shape == (50, 8) and table.dtype == np.float32
    np.testing.assert_allclose(table[0], [0, 1] * 4, atol=0)  # sin 0, cos 0
    np.testing.assert_allclose(table[:, 0], np.sin(np.arange(50)), rtol=1e-6, atol=1e-6)  # the fastest wave
    assert len({row.tobytes() for row in table}) == 50  # every position has its own pattern
    rates = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    shift = 5
    for t in (0, 11, 30):  # PE[t + k] is PE[t] with each (sin, cos) pair rotated by k * rate
        for i, rate in enumerate(rates):
            c, s = np.cos(shift * rate), np.sin(shift * rate)
            sin_t, cos_t = table[t, 2 * i], table[t, 2 * i + 1]
            np.testing.assert_allclose(
                table[t + shift, 2 * i : 2 * i + 2], [sin_t * c + cos_t * s, cos_t * c - sin_t * s], atol=1e-5
            )
    np.testing.assert_array_equal(TA.sinusoidal_positions(50, 8).numpy(), table)
    assert A.sinusoidal_positions(3, 5).shape == (3, 5)  # an odd width ends with a sine


# ---------------------------------------------------------------- bad input


def _refusal(call) -> str:
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return f"{info.type.__name__}: {info.value}"


def test_both_trees_refuse_bad_input_with_the_same_sentence():
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    w = _mha_weights(rng, 4)
    calls = {
        "q one axis": lambda t: t.scaled_dot_product_attention_forward(q[0, 0], q, q),
        "k width": lambda t: t.scaled_dot_product_attention_forward(q, q[..., :2], q),
        "v length": lambda t: t.scaled_dot_product_attention_forward(q, q, q[:, :2]),
        "no keys": lambda t: t.scaled_dot_product_attention_forward(q, q[:, :0], q[:, :0]),
        "causal flag": lambda t: t.scaled_dot_product_attention_forward(q, q, q, "yes"),
        "causal, too few keys": lambda t: t.scaled_dot_product_attention_forward(q, q[:, :2], q[:, :2], True),
        "x two axes": lambda t: t.multi_head_attention_forward(x[0], *w, 2),
        "in_proj shape": lambda t: t.multi_head_attention_forward(x, w[0][:4], *w[1:], 2),
        "heads do not divide": lambda t: t.multi_head_attention_forward(x, *w, 3),
        "heads zero": lambda t: t.multi_head_attention_forward(x, *w, 0),
        "past not a pair": lambda t: t.multi_head_attention_forward(x, *w, 2, True, 3),
        "past shape": lambda t: t.multi_head_attention_forward(x, *w, 2, True, (np.zeros((2, 2, 1, 3)),) * 2),
        "layer heads": lambda t: t.MultiheadAttention(6, 4, np.random.default_rng(0)),
        "layer rng": lambda t: t.MultiheadAttention(4, 2, 0),
        "layer input": lambda t: t.MultiheadAttention(4, 2, np.random.default_rng(0))(x[..., :3]),
        "positions dim": lambda t: t.sinusoidal_positions(4, 0),
        "positions length": lambda t: t.sinusoidal_positions(-1, 4),
        "mask size": lambda t: t.causal_mask(2.0, 3),
        "gelu string": lambda t: t.gelu_forward("x"),
        "gelu dout shape": lambda t: t.gelu_backward(np.ones(3), t.gelu_forward(np.ones(4))[1]),
    }
    for name, call in calls.items():
        mine, theirs = _refusal(lambda call=call: call(A)), _refusal(lambda call=call: call(TA))
        assert mine == theirs.replace("numeric tensor", "numeric array"), name  # the trees' own word for it
    assert _refusal(lambda: A.multi_head_attention_forward(x, *w, 3)) == (
        "ValueError: num_heads must divide embed_dim so that every head gets embed_dim / num_heads features, "
        "got embed_dim=4 and num_heads=3."
    )

"""Recurrent networks: every NumPy backward against finite differences, both trees against
torch.nn.RNN / torch.nn.LSTM with copied weights, and one training step across trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import lstm as npm
from dlcourse.numpy import rnn as npr
from dlcourse.torch import lstm as thm
from dlcourse.torch import rnn as thr

from .helpers import assert_backward

GATES = {"rnn": 1, "lstm": 4}


def _weights(kind: str, d: int, h: int, rng: np.random.Generator) -> list[np.ndarray]:
    """weight_ih, weight_hh, bias_ih, bias_hh in torch's layout, float64."""
    g = GATES[kind]
    return [rng.normal(size=s) * 0.5 for s in [(g * h, d), (g * h, h), (g * h,), (g * h,)]]


def _run(kind: str, x, h0, c0, weights, dout):
    """Forward and backward of the NumPy sequence functions: output, and the gradients named."""
    if kind == "rnn":
        out, cache = npr.rnn_forward(x, h0, *weights)
        dx, dh0, *dw = npr.rnn_backward(dout, cache)
        return out, {"x": dx, "h0": dh0, **dict(zip(["w_ih", "w_hh", "b_ih", "b_hh"], dw, strict=True))}
    out, _, cache = npm.lstm_forward(x, h0, c0, *weights)
    dx, dh0, dc0, *dw = npm.lstm_backward(dout, cache)
    return out, {"x": dx, "h0": dh0, "c0": dc0, **dict(zip(["w_ih", "w_hh", "b_ih", "b_hh"], dw, strict=True))}


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_sequence_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(1)
    steps, batch, d, h = 4, 2, 3, 3
    x, h0, c0 = rng.normal(size=(steps, batch, d)), rng.normal(size=(batch, h)), rng.normal(size=(batch, h))
    weights = _weights(kind, d, h, rng)
    g = rng.normal(size=(steps, batch, h))
    _, grads = _run(kind, x, h0, c0, weights, g)
    inputs = {
        "x": x,
        "h0": h0,
        "c0": c0,
        "w_ih": weights[0],
        "w_hh": weights[1],
        "b_ih": weights[2],
        "b_hh": weights[3],
    }

    order = list(inputs)

    def forward(*values):
        args = dict(zip(order, values, strict=True))
        w = [args["w_ih"], args["w_hh"], args["b_ih"], args["b_hh"]]
        if kind == "rnn":
            return npr.rnn_forward(args["x"], args["h0"], *w)
        return npm.lstm_forward(args["x"], args["h0"], args["c0"], *w)

    names = list(grads)  # c0 only for the LSTM
    assert_backward(
        forward,
        lambda _: [grads[n] for n in names],
        *inputs.values(),
        upstream=g,
        wrt=[order.index(n) for n in names],
        names=names,
        rtol=1e-6,
        atol=1e-9,
    )


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_step_backwards_match_finite_differences(kind):
    rng = np.random.default_rng(2)
    batch, d, h = 3, 4, 2
    x, h_prev, c_prev = rng.normal(size=(batch, d)), rng.normal(size=(batch, h)), rng.normal(size=(batch, h))
    weights = _weights(kind, d, h, rng)
    dh, dc = rng.normal(size=(batch, h)), rng.normal(size=(batch, h))
    if kind == "rnn":
        args = [x, h_prev, *weights]
        forward, upstream = npr.rnn_step_forward, dh  # upstream: the gradient of h
        grads = npr.rnn_step_backward(dh, forward(*args)[1])
    else:
        args = [x, h_prev, c_prev, *weights]
        forward, upstream = npm.lstm_step_forward, (dh, dc)  # the gradients of h and of c
        grads = npm.lstm_step_backward(dh, dc, forward(*args)[2])

    assert len(grads) == len(args)  # one gradient per input, in the same order
    assert_backward(forward, lambda _: grads, *args, upstream=upstream, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_steps_unrolled_equal_the_sequence_functions(kind):
    rng = np.random.default_rng(3)
    steps, batch, d, h = 5, 2, 3, 4
    x, g = rng.normal(size=(steps, batch, d)), rng.normal(size=(steps, batch, h))
    weights = _weights(kind, d, h, rng)
    out, grads = _run(kind, x, None, None, weights, g)
    state, caches = (np.zeros((batch, h)), np.zeros((batch, h))), []
    for t in range(steps):
        if kind == "rnn":
            hidden, cache = npr.rnn_step_forward(x[t], state[0], *weights)
            state = (hidden, None)
        else:
            hidden, cell, cache = npm.lstm_step_forward(x[t], *state, *weights)
            state = (hidden, cell)
        np.testing.assert_allclose(hidden, out[t], rtol=1e-12)
        caches.append(cache)
    dh, dc, dw = np.zeros((batch, h)), np.zeros((batch, h)), 0
    for t in reversed(range(steps)):
        if kind == "rnn":
            dx, dh, *dws = npr.rnn_step_backward(g[t] + dh, caches[t])
        else:
            dx, dh, dc, *dws = npm.lstm_step_backward(g[t] + dh, dc, caches[t])
        np.testing.assert_allclose(dx, grads["x"][t], rtol=1e-10, atol=1e-12)
        dw = dw + np.concatenate([a.ravel() for a in dws])
    expected = np.concatenate([grads[k].ravel() for k in ("w_ih", "w_hh", "b_ih", "b_hh")])
    np.testing.assert_allclose(dw, expected, rtol=1e-10, atol=1e-12)


@st.composite
def problems(draw):
    steps, batch = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    d, h = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    with_state = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return steps, batch, d, h, with_state, rng


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@given(problem=problems())
def test_numpy_and_torch_tree_match_torch_nn_with_copied_weights(kind, problem):
    """Copy a torch.nn module's weights into both trees; outputs and every gradient agree."""
    steps, batch, d, h, with_state, rng = problem
    torch.manual_seed(int(rng.integers(1000)))
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(d, h).double()
    weights = [p.detach().numpy().copy() for p in module.parameters()]
    assert [name for name, _ in module.named_parameters()] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
    ]
    x, g = rng.normal(size=(steps, batch, d)), rng.normal(size=(steps, batch, h))
    h0, c0 = (rng.normal(size=(batch, h)), rng.normal(size=(batch, h))) if with_state else (None, None)
    leaves = {"x": torch.tensor(x, requires_grad=True)}
    state = None
    if with_state:
        leaves["h0"] = torch.tensor(h0[None], requires_grad=True)  # torch.nn wants (layers, N, H)
        if kind == "lstm":
            leaves["c0"] = torch.tensor(c0[None], requires_grad=True)
        state = leaves["h0"] if kind == "rnn" else (leaves["h0"], leaves["c0"])
    out, _ = module(leaves["x"], state)
    out.backward(torch.tensor(g))
    expected = {name: t.grad.numpy().reshape(x.shape if name == "x" else (batch, h)) for name, t in leaves.items()}
    expected.update(
        {k: p.grad.numpy() for k, p in zip(["w_ih", "w_hh", "b_ih", "b_hh"], module.parameters(), strict=True)}
    )
    ours, grads = _run(kind, x, h0, c0, weights, g)
    assert set(grads) >= set(expected)
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-9, atol=1e-12, err_msg=name)

    t = lambda a: None if a is None else torch.tensor(a)  # noqa: E731
    tw = [torch.tensor(w) for w in weights]
    if kind == "rnn":
        tout, tcache = thr.rnn_forward(t(x), t(h0), *tw)
        tgrads = thr.rnn_backward(torch.tensor(g), tcache)
    else:
        tout, _, tcache = thm.lstm_forward(t(x), t(h0), t(c0), *tw)
        tgrads = thm.lstm_backward(torch.tensor(g), tcache)
    np.testing.assert_allclose(tout.numpy(), ours, rtol=1e-10, atol=1e-12)
    for ours_grad, theirs in zip(grads.values(), tgrads, strict=True):
        np.testing.assert_allclose(theirs.numpy(), ours_grad, rtol=1e-9, atol=1e-12)


def test_torch_tree_backward_matches_autograd_through_its_own_forward():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(6, 3, 2)), requires_grad=True)
    weights = [torch.tensor(w, requires_grad=True) for w in _weights("lstm", 2, 5, rng)]
    out, _, cache = thm.lstm_forward(x, None, None, *weights)
    g = torch.tensor(rng.normal(size=(6, 3, 5)))
    out.backward(g)
    dx, _, _, *dw = thm.lstm_backward(g, cache)
    for ours, leaf in zip([dx, *dw], [x, *weights], strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_lstm_layer_copies_torch_weights_and_agrees():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(8, 16)
    ours = npm.LSTM(8, 16, np.random.default_rng(0))
    ours.load_state_dict({k.removesuffix("_l0"): v.detach().numpy() for k, v in reference.state_dict().items()})
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(20, 4, 8)).astype(np.float32), rng.normal(size=(20, 4, 16)).astype(np.float32)
    out, (h_n, c_n) = ours(x)
    assert out.dtype == np.float32
    dx = ours.backward(g)
    xt = torch.from_numpy(x).requires_grad_()
    tout, (th_n, tc_n) = reference(xt)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_n, tc_n[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_n, th_n[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs = dict(reference.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name + "_l0"].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_both_trees_draw_the_same_layer_and_compute_the_same(kind):
    np_home, torch_home = (npr, thr) if kind == "RNN" else (npm, thm)
    ours, twin = (
        getattr(np_home, kind)(3, 5, np.random.default_rng(7)),
        getattr(torch_home, kind)(3, 5, np.random.default_rng(7)),
    )
    state = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
    assert list(state) == list(ours.state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
        assert np.abs(v).max() <= 1 / np.sqrt(5)  # U(-1/sqrt(H), 1/sqrt(H)), as torch.nn draws
    x = np.random.default_rng(8).normal(size=(4, 2, 3)).astype(np.float32)
    out, last = ours(x)
    tout, tlast = twin(torch.from_numpy(x))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    if kind == "RNN":
        np.testing.assert_allclose(last, out[-1])


@pytest.mark.parametrize("tree", [npr, thr], ids=["numpy", "torch"])
def test_bad_shapes_name_the_argument(tree):
    to = np.asarray if tree is npr else torch.tensor
    lstm = npm if tree is npr else thm
    rng = np.random.default_rng(0)
    w = [to(a) for a in _weights("lstm", 3, 2, rng)]
    x = to(rng.normal(size=(4, 2, 3)))
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, 3\), got \(4, 2, 5\)\.$"):
        lstm.lstm_forward(to(rng.normal(size=(4, 2, 5))), None, None, *w)
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, 3\), got \(2, 3\)\.$"):
        lstm.lstm_forward(to(rng.normal(size=(2, 3))), None, None, *w)
    with pytest.raises(ValueError, match=r"^h0 must have shape \(2, 2\), got \(3, 2\)\.$"):
        lstm.lstm_forward(x, to(np.zeros((3, 2))), None, *w)
    with pytest.raises(ValueError, match=r"^weight_hh must have shape \(8, 2\), got \(2, 8\)\.$"):
        lstm.lstm_forward(x, None, None, w[0], w[1].T, w[2], w[3])
    rnn_w = [to(a) for a in _weights("rnn", 3, 2, rng)]
    with pytest.raises(ValueError, match=r"^weight_hh must have shape \(2, 2\), got \(8, 2\)\.$"):
        tree.rnn_forward(x, None, rnn_w[0], w[1], *rnn_w[2:])
    with pytest.raises(
        ValueError, match=r"^weight_ih must have 4 H rows for a hidden size H .*, got shape \(6, 3\)\.$"
    ):
        lstm.lstm_forward(x, None, None, w[0][:6], *w[1:])
    with pytest.raises(ValueError, match=r"^h_prev must have shape \(2, 2\), got \(2, 3\)\.$"):
        tree.rnn_step_forward(x[0], to(np.zeros((2, 3))), *rnn_w)
    _, cache = tree.rnn_forward(x, None, *rnn_w)
    with pytest.raises(ValueError, match=r"^dhs must have shape \(4, 2, 2\), got \(4, 2\)\.$"):
        tree.rnn_backward(to(np.zeros((4, 2))), cache)
    with pytest.raises(ValueError, match=r"^hidden_size must be a positive integer, got 0\.$"):
        lstm.LSTM(3, 0, rng)

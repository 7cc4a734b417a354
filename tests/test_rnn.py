"""Recurrent networks: every NumPy backward against finite differences, both trees against
torch.nn.RNN / torch.nn.LSTM with copied weights, and one training step across trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import optim as npo
from dlcourse.numpy import rnn as npr
from dlcourse.torch import rnn as thr

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
    out, _, cache = npr.lstm_forward(x, h0, c0, *weights)
    dx, dh0, dc0, *dw = npr.lstm_backward(dout, cache)
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

    def loss(name, value):
        args = {**inputs, name: value}
        w = [args["w_ih"], args["w_hh"], args["b_ih"], args["b_hh"]]
        if kind == "rnn":
            return float(np.sum(npr.rnn_forward(args["x"], args["h0"], *w)[0] * g))
        return float(np.sum(npr.lstm_forward(args["x"], args["h0"], args["c0"], *w)[0] * g))

    for name, grad in grads.items():
        numeric = numerical_gradient(lambda v, name=name: loss(name, v), inputs[name])
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_step_backwards_match_finite_differences(kind):
    rng = np.random.default_rng(2)
    batch, d, h = 3, 4, 2
    x, h_prev, c_prev = rng.normal(size=(batch, d)), rng.normal(size=(batch, h)), rng.normal(size=(batch, h))
    weights = _weights(kind, d, h, rng)
    dh, dc = rng.normal(size=(batch, h)), rng.normal(size=(batch, h))
    if kind == "rnn":
        args = [x, h_prev, *weights]
        grads = npr.rnn_step_backward(dh, npr.rnn_step_forward(*args)[1])

        def loss(a):
            return float(np.sum(npr.rnn_step_forward(*a)[0] * dh))
    else:
        args = [x, h_prev, c_prev, *weights]
        grads = npr.lstm_step_backward(dh, dc, npr.lstm_step_forward(*args)[2])

        def loss(a):
            h_new, c_new, _ = npr.lstm_step_forward(*a)
            return float(np.sum(h_new * dh) + np.sum(c_new * dc))

    assert len(grads) == len(args)  # one gradient per input, in the same order
    for k, grad in enumerate(grads):

        def partial(v, k=k):
            return loss([v if j == k else a for j, a in enumerate(args)])

        np.testing.assert_allclose(grad, numerical_gradient(partial, args[k]), rtol=1e-6, atol=1e-9)


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
            hidden, cell, cache = npr.lstm_step_forward(x[t], *state, *weights)
            state = (hidden, cell)
        np.testing.assert_allclose(hidden, out[t], rtol=1e-12)
        caches.append(cache)
    dh, dc, dw = np.zeros((batch, h)), np.zeros((batch, h)), 0
    for t in reversed(range(steps)):
        if kind == "rnn":
            dx, dh, *dws = npr.rnn_step_backward(g[t] + dh, caches[t])
        else:
            dx, dh, dc, *dws = npr.lstm_step_backward(g[t] + dh, dc, caches[t])
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
        tout, _, tcache = thr.lstm_forward(t(x), t(h0), t(c0), *tw)
        tgrads = thr.lstm_backward(torch.tensor(g), tcache)
    np.testing.assert_allclose(tout.numpy(), ours, rtol=1e-10, atol=1e-12)
    for ours_grad, theirs in zip(grads.values(), tgrads, strict=True):
        np.testing.assert_allclose(theirs.numpy(), ours_grad, rtol=1e-9, atol=1e-12)


def test_torch_tree_backward_matches_autograd_through_its_own_forward():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(6, 3, 2)), requires_grad=True)
    weights = [torch.tensor(w, requires_grad=True) for w in _weights("lstm", 2, 5, rng)]
    out, _, cache = thr.lstm_forward(x, None, None, *weights)
    g = torch.tensor(rng.normal(size=(6, 3, 5)))
    out.backward(g)
    dx, _, _, *dw = thr.lstm_backward(g, cache)
    for ours, leaf in zip([dx, *dw], [x, *weights], strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_lstm_layer_copies_torch_weights_and_agrees():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(8, 16)
    ours = npr.LSTM(8, 16, np.random.default_rng(0))
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
    ours, twin = getattr(npr, kind)(3, 5, np.random.default_rng(7)), getattr(thr, kind)(3, 5, np.random.default_rng(7))
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
def test_clip_grad_norm_matches_torch(tree):
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=(3, 4)) * 10, rng.normal(size=5) * 10]
    reference = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(reference, grads, strict=True):
        p.grad = torch.tensor(g)
    expected_norm = float(torch.nn.utils.clip_grad_norm_(reference, 2.0))
    if tree is npr:
        from dlcourse.numpy.layers import Parameter

        params = [Parameter(np.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.copy()
        read = lambda p: p.grad  # noqa: E731
    else:
        params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.tensor(g)
        read = lambda p: p.grad.numpy()  # noqa: E731
    norm = tree.clip_grad_norm(params, 2.0)
    assert norm == pytest.approx(expected_norm) and norm == pytest.approx(np.sqrt(sum((g**2).sum() for g in grads)))
    for p, r in zip(params, reference, strict=True):
        np.testing.assert_allclose(read(p), r.grad.numpy(), rtol=1e-12)
    clipped = np.sqrt(sum((read(p) ** 2).sum() for p in params))
    assert clipped == pytest.approx(2.0, rel=1e-5)
    assert tree.clip_grad_norm(params, 100.0) == pytest.approx(clipped)  # under the limit: unchanged
    np.testing.assert_allclose(np.sqrt(sum((read(p) ** 2).sum() for p in params)), clipped, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^max_norm must be a positive number, got 0\.$"):
        tree.clip_grad_norm(params, 0)


def _toy_text(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Ids of a text with structure to learn: 'abcab...' with a little noise, 6 symbols."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % 5
    noise = rng.random(n) < 0.1
    ids[noise] = 5
    return ids.astype(np.int64)


def test_char_lm_trees_share_names_weights_and_logits():
    ours = npr.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, num_layers=2)
    twin = thr.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, num_layers=2)
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(twin.state_dict())
    assert names[:3] == ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"] and names[-1] == "head.bias"
    for name, value in twin.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ours.state_dict()[name])
    ids = np.random.default_rng(1).integers(0, 6, size=(7, 3))
    logits, (h, c) = ours(ids)
    tlogits, (th, tc) = twin(torch.from_numpy(ids))
    assert logits.shape == (7, 3, 6) and h.shape == c.shape == (2, 3, 8)
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, tc.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_char_lm_backward_matches_finite_differences():
    model = npr.CharLM(5, 3, np.random.default_rng(0), embedding_dim=2, num_layers=2)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    rng = np.random.default_rng(1)
    ids, g = rng.integers(0, 5, size=(3, 2)), rng.normal(size=(3, 2, 5))
    model.zero_grad()
    model(ids)
    model.backward(g)
    for name, p in model.named_parameters():

        def loss(value, p=p):
            saved, p.data = p.data, value
            out = float(np.sum(model(ids)[0] * g))
            p.data = saved
            return out

        np.testing.assert_allclose(p.grad, numerical_gradient(loss, p.data), rtol=1e-6, atol=1e-9, err_msg=name)


def test_one_training_step_numpy_equals_torch_from_identical_weights():
    """Forward, cross-entropy, backward, clipping and one Adam step: the trees agree."""
    ours = npr.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    twin = thr.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    ids = _toy_text(200)[:120].reshape(4, 30).T  # (30, 4)
    x, y = ids[:-1], ids[1:]
    opt = npo.Adam(ours.parameters(), lr=0.01)
    from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward

    logits, _ = ours(x)
    loss, cache = cross_entropy_forward(logits.reshape(-1, 6), y.reshape(-1))
    ours.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
    norm = npr.clip_grad_norm(ours.parameters(), 0.05)
    opt.step()

    topt = torch.optim.Adam(twin.parameters(), lr=0.01)
    tlogits, _ = twin(torch.from_numpy(x))
    tloss = torch.nn.functional.cross_entropy(tlogits.reshape(-1, 6), torch.from_numpy(y).reshape(-1))
    tloss.backward()
    tnorm = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.05)
    topt.step()
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    assert norm == pytest.approx(float(tnorm), rel=1e-4) and norm > 0.05  # clipping was active
    for name, value in twin.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_train_char_lm_follows_the_same_path_in_both_trees():
    train = _toy_text(2000)
    histories = []
    for tree in (npr, thr):  # with dropout: both trees draw the same masks
        model = tree.CharLM(6, 12, np.random.default_rng(0), embedding_dim=4, dropout=0.3)
        histories.append(
            tree.train_char_lm(
                model,
                train,
                steps=6,
                batch_size=4,
                seq_len=20,
                lr=0.01,
                log_every=2,
                val_ids=train[:300],
                progress=False,
            )
        )
    a, b = histories
    assert a.steps == b.steps == 6 and a.logged_at == b.logged_at == [2, 4, 6]
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-4)
    np.testing.assert_allclose(a.lr, b.lr, rtol=1e-12)
    assert a.lr[0] > a.lr[1] > a.lr[2] > 0  # the cosine schedule decays
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-4)
    assert a.characters == 6 * 4 * 20


@pytest.fixture
def one_thread():
    """Tiny matrices: one thread (a second one only waits, badly so on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_learns_and_stops_on_its_budget(one_thread):
    train = _toy_text(4000)
    model = thr.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    before = thr.evaluate_char_lm(model, train[-500:])
    history = thr.train_char_lm(
        model, train, budget_s=1.0, batch_size=8, seq_len=20, lr=0.02, log_every=1, progress=False
    )
    # It stops before a step that would end past the budget: just under 1 s (a step here takes
    # milliseconds; the slack allows for a slow step on a busy machine).
    assert 0.8 <= history.seconds <= 1.1 and history.steps > 5
    assert history.lr[-1] < 0.02 * 0.05  # the cosine schedule ran down to (nearly) zero with the time
    after = thr.evaluate_char_lm(model, train[-500:])
    assert after < 0.6 * before  # the pattern is easy: the loss falls far
    with pytest.raises(ValueError, match="give steps or budget_s"):
        thr.train_char_lm(model, train)
    with pytest.raises(ValueError, match=r"^train_ids is too short: 50 characters, expected at least"):
        npr.train_char_lm(npr.CharLM(6, 4, np.random.default_rng(0)), train[:50], steps=1)


@pytest.mark.parametrize("tree", [npr, thr], ids=["numpy", "torch"])
def test_evaluation_scores_every_character_once_with_full_context(tree):
    model = tree.CharLM(6, 8, np.random.default_rng(3), embedding_dim=4)
    ids = _toy_text(157, seed=2)
    # One stream: every character but the first is predicted from all that precede it.
    logits, _ = model(ids[:-1, None] if tree is npr else torch.from_numpy(ids[:-1, None]))
    logits = np.asarray(logits.detach() if tree is thr else logits, dtype=np.float64)[:, 0]
    logp = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    direct = -logp[np.arange(len(ids) - 1), ids[1:]].mean()
    assert tree.evaluate_char_lm(model, ids, batch_size=1, seq_len=30) == pytest.approx(direct, rel=1e-5)
    several = tree.evaluate_char_lm(model, ids, batch_size=5, seq_len=7)  # streams start without context
    assert several == pytest.approx(direct, rel=0.1) and several != pytest.approx(direct, rel=1e-6)


def test_generate_is_seeded_and_follows_the_temperature():
    model = thr.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    ours = npr.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    prompt = np.array([0, 1, 2])
    a = thr.generate(model, prompt, 30, temperature=1.0, rng=np.random.default_rng(1))
    b = npr.generate(ours, prompt, 30, temperature=1.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, thr.generate(model, prompt, 30, rng=np.random.default_rng(1)))
    greedy = npr.generate(ours, prompt, 10, temperature=1e-4, rng=np.random.default_rng(5))
    logits, state = ours(prompt[:, None])
    for k in range(10):  # a temperature near 0 always picks the most likely character
        assert greedy[k] == int(np.argmax(logits[-1, 0]))
        logits, state = ours(greedy[k : k + 1, None], state)


def test_cosine_schedule():
    assert npr.cosine_lr(0.1, 0.0) == 0.1 and npr.cosine_lr(0.1, 1.0) == 0.0
    assert npr.cosine_lr(0.1, 0.5) == pytest.approx(0.05) and npr.cosine_lr(0.1, 2.0) == 0.0
    assert thr.cosine_lr is npr.cosine_lr and thr.LMHistory is npr.LMHistory


@pytest.mark.parametrize("tree", [npr, thr], ids=["numpy", "torch"])
def test_bad_shapes_name_the_argument(tree):
    to = np.asarray if tree is npr else torch.tensor
    rng = np.random.default_rng(0)
    w = [to(a) for a in _weights("lstm", 3, 2, rng)]
    x = to(rng.normal(size=(4, 2, 3)))
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, 3\), got \(4, 2, 5\)\.$"):
        tree.lstm_forward(to(rng.normal(size=(4, 2, 5))), None, None, *w)
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, 3\), got \(2, 3\)\.$"):
        tree.lstm_forward(to(rng.normal(size=(2, 3))), None, None, *w)
    with pytest.raises(ValueError, match=r"^h0 must have shape \(2, 2\), got \(3, 2\)\.$"):
        tree.lstm_forward(x, to(np.zeros((3, 2))), None, *w)
    with pytest.raises(ValueError, match=r"^weight_hh must have shape \(8, 2\), got \(2, 8\)\.$"):
        tree.lstm_forward(x, None, None, w[0], w[1].T, w[2], w[3])
    rnn_w = [to(a) for a in _weights("rnn", 3, 2, rng)]
    with pytest.raises(ValueError, match=r"^weight_hh must have shape \(2, 2\), got \(8, 2\)\.$"):
        tree.rnn_forward(x, None, rnn_w[0], w[1], *rnn_w[2:])
    with pytest.raises(
        ValueError, match=r"^weight_ih must have 4 H rows for a hidden size H .*, got shape \(6, 3\)\.$"
    ):
        tree.lstm_forward(x, None, None, w[0][:6], *w[1:])
    with pytest.raises(ValueError, match=r"^h_prev must have shape \(2, 2\), got \(2, 3\)\.$"):
        tree.rnn_step_forward(x[0], to(np.zeros((2, 3))), *rnn_w)
    _, cache = tree.rnn_forward(x, None, *rnn_w)
    with pytest.raises(ValueError, match=r"^dhs must have shape \(4, 2, 2\), got \(4, 2\)\.$"):
        tree.rnn_backward(to(np.zeros((4, 2))), cache)
    with pytest.raises(ValueError, match=r"^hidden_size must be a positive number, got 0\.$"):
        tree.LSTM(3, 0, rng)


@pytest.mark.parametrize("tree", [npr, thr], ids=["numpy", "torch"])
def test_dropout_is_active_in_training_only(tree):
    model = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, dropout=0.5)
    ids = np.random.default_rng(1).integers(0, 6, size=(5, 3))
    to = (lambda a: a) if tree is npr else torch.from_numpy
    value = (lambda t: t) if tree is npr else (lambda t: t.detach().numpy())
    model.train()
    a, b = value(model(to(ids))[0]), value(model(to(ids))[0])
    assert not np.allclose(a, b)  # a new mask every call
    model.eval()
    c, d = value(model(to(ids))[0]), value(model(to(ids))[0])
    np.testing.assert_array_equal(c, d)
    quiet = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    np.testing.assert_allclose(c, value(quiet(to(ids))[0]), rtol=1e-6)  # same weights, no dropout

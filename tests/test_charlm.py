"""The character-level language model: both trees share names, weights, logits, gradients and
a training path; evaluation scores every character once; sampling is seeded; budgets hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse import text as textlib
from dlcourse.numpy import charlm as npl
from dlcourse.numpy import optim as npo
from dlcourse.torch import charlm as thl

from .helpers import assert_parameter_gradients


def _toy_text(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Ids of a text with structure to learn: 'abcab...' with a little noise, 6 symbols."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % 5
    noise = rng.random(n) < 0.1
    ids[noise] = 5
    return ids.astype(np.int64)


def test_char_lm_trees_share_names_weights_and_logits():
    ours = npl.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, num_layers=2)
    twin = thl.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, num_layers=2)
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
    model = npl.CharLM(5, 3, np.random.default_rng(0), embedding_dim=2, num_layers=2)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    rng = np.random.default_rng(1)
    ids, g = rng.integers(0, 5, size=(3, 2)), rng.normal(size=(3, 2, 5))
    model.zero_grad()
    model(ids)
    model.backward(g)
    assert_parameter_gradients(model.named_parameters(), lambda: np.sum(model(ids)[0] * g), rtol=1e-6, atol=1e-9)


def test_one_training_step_numpy_equals_torch_from_identical_weights():
    """Forward, cross-entropy, backward, clipping and one Adam step: the trees agree."""
    ours = npl.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    twin = thl.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    ids = _toy_text(200)[:120].reshape(4, 30).T  # (30, 4)
    x, y = ids[:-1], ids[1:]
    opt = npo.Adam(ours.parameters(), lr=0.01)
    from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward

    logits, _ = ours(x)
    loss, cache = cross_entropy_forward(logits.reshape(-1, 6), y.reshape(-1))
    ours.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
    norm = npo.clip_grad_norm(ours.parameters(), 0.05)
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
    for tree in (npl, thl):  # with dropout: both trees draw the same masks
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
    model = thl.CharLM(6, 16, np.random.default_rng(0), embedding_dim=4)
    before = thl.evaluate_char_lm(model, train[-500:])
    history = thl.train_char_lm(
        model, train, budget_s=1.0, batch_size=8, seq_len=20, lr=0.02, log_every=1, progress=False
    )
    # It stops before a step that would end past the budget: just under 1 s (a step here takes
    # milliseconds; the slack allows for a slow step on a busy machine).
    assert 0.8 <= history.seconds <= 1.1 and history.steps > 5
    assert history.lr[-1] < 0.02 * 0.05  # the cosine schedule ran down to (nearly) zero with the time
    after = thl.evaluate_char_lm(model, train[-500:])
    assert after < 0.6 * before  # the pattern is easy: the loss falls far
    with pytest.raises(ValueError, match="give steps or budget_s"):
        thl.train_char_lm(model, train)
    with pytest.raises(ValueError, match=r"^train_ids is too short: 50 characters, expected at least"):
        npl.train_char_lm(npl.CharLM(6, 4, np.random.default_rng(0)), train[:50], steps=1)


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_evaluation_scores_every_character_once_with_full_context(tree):
    model = tree.CharLM(6, 8, np.random.default_rng(3), embedding_dim=4)
    ids = _toy_text(157, seed=2)
    # One stream: every character but the first is predicted from all that precede it.
    logits, _ = model(ids[:-1, None] if tree is npl else torch.from_numpy(ids[:-1, None]))
    logits = np.asarray(logits.detach() if tree is thl else logits, dtype=np.float64)[:, 0]
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
    model = thl.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    ours = npl.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    prompt = np.array([0, 1, 2])
    a = thl.generate(model, prompt, 30, temperature=1.0, rng=np.random.default_rng(1))
    b = npl.generate(ours, prompt, 30, temperature=1.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, thl.generate(model, prompt, 30, rng=np.random.default_rng(1)))
    greedy = npl.generate(ours, prompt, 10, temperature=1e-4, rng=np.random.default_rng(5))
    logits, state = ours(prompt[:, None])
    for k in range(10):  # a temperature near 0 always picks the most likely character
        assert greedy[k] == int(np.argmax(logits[-1, 0]))
        logits, state = ours(greedy[k : k + 1, None], state)


def test_cosine_schedule():
    assert npl.cosine_lr(0.1, 0.0) == 0.1 and npl.cosine_lr(0.1, 1.0) == 0.0
    assert npl.cosine_lr(0.1, 0.5) == pytest.approx(0.05) and npl.cosine_lr(0.1, 2.0) == 0.0
    assert thl.cosine_lr is npl.cosine_lr and thl.LMHistory is npl.LMHistory


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_dropout_is_active_in_training_only(tree):
    model = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4, dropout=0.5)
    ids = np.random.default_rng(1).integers(0, 6, size=(5, 3))
    to = (lambda a: a) if tree is npl else torch.from_numpy
    value = (lambda t: t) if tree is npl else (lambda t: t.detach().numpy())
    model.train()
    a, b = value(model(to(ids))[0]), value(model(to(ids))[0])
    assert not np.allclose(a, b)  # a new mask every call
    model.eval()
    c, d = value(model(to(ids))[0]), value(model(to(ids))[0])
    np.testing.assert_array_equal(c, d)
    quiet = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    np.testing.assert_allclose(c, value(quiet(to(ids))[0]), rtol=1e-6)  # same weights, no dropout


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_budget_stops_before_a_step_that_would_overrun(tree, monkeypatch):
    """Every step takes 0.21 s here, on a clock of the test's own (a real one made this test fail on
    a busy machine): stopping only once the budget is spent would end past 1 s, after 5 steps;
    stopping before a step that would overrun ends after 4, at 0.84 s."""
    clip = tree.clip_grad_norm

    class Clock:  # stands in for the time module inside dlcourse.text
        now = 0.0

        def perf_counter(self) -> float:
            return self.now

    clock = Clock()

    def slow_clip(params, max_norm):
        clock.now += 0.21
        return clip(params, max_norm)

    monkeypatch.setattr(tree, "clip_grad_norm", slow_clip)
    monkeypatch.setattr(textlib, "time", clock)  # the loop and its schedule are shared: dlcourse.text
    model = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    history = tree.train_char_lm(model, _toy_text(2000), budget_s=1.0, batch_size=4, seq_len=10, progress=False)
    assert history.steps == 4 and 0.8 <= history.seconds < 0.95


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_training_refuses_bad_ids_and_logging_alike(tree):
    model = tree.CharLM(5, 4, np.random.default_rng(0), embedding_dim=2)
    text = np.arange(200) % 5
    bad = [
        (
            dict(train_ids=text + 1),
            ValueError,
            r"^train_ids must hold ids in \[0, 5\) \(the model's vocab_size\), got values from 1 to 5\.$",
        ),
        (dict(train_ids=text - 1), ValueError, r"train_ids must hold ids in \[0, 5\)"),
        (dict(train_ids=text.astype(float)), TypeError, r"^train_ids must be a 1-D array of integer character ids"),
        (dict(train_ids=text, val_ids=text + 3), ValueError, r"^val_ids must hold ids in \[0, 5\)"),
        (dict(train_ids=text, log_every=0), ValueError, r"^log_every must be a positive integer, got 0\.$"),
        (dict(train_ids=text, eval_every=-1), ValueError, r"^eval_every must be a positive integer, got -1\.$"),
    ]
    for kwargs, error, message in bad:
        kwargs = {"steps": 2, "batch_size": 2, "seq_len": 5, "progress": False, **kwargs}
        with pytest.raises(error, match=message):
            tree.train_char_lm(model, **kwargs)
    with pytest.raises(TypeError, match=r"^steps must be an integer, got 2\.5\.$"):
        tree.train_char_lm(model, text, steps=2.5, batch_size=2, seq_len=5, progress=False)


def _refusal(call) -> str:
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return f"{info.type.__name__}: {info.value}"


def test_both_trees_refuse_bad_input_with_the_same_sentence():
    """Ids are integers in [0, vocab_size) in both trees (a negative id is never wrapped), and every
    refusal is the same sentence in both."""
    ids = np.arange(12).reshape(6, 2) % 5
    text = np.arange(100) % 5
    calls = {
        "negative id": lambda t, m: m(ids - 1),
        "id too large": lambda t, m: m(ids + 1),
        "float ids": lambda t, m: m(ids.astype(float)),
        "no steps": lambda t, m: m(ids[:0]),
        "state not a pair": lambda t, m: m(ids, 3),
        "state shape": lambda t, m: m(ids, (np.zeros((1, 3, 4)), np.zeros((1, 3, 4)))),
        "generate length": lambda t, m: t.generate(m, [0, 1], -1),
        "generate prompt": lambda t, m: t.generate(m, [-1, 2], 3),
        "generate rng": lambda t, m: t.generate(m, [1], 3, rng=3),
        "evaluate model": lambda t, m: t.evaluate_char_lm(None, text),
        "evaluate seq_len": lambda t, m: t.evaluate_char_lm(m, text, seq_len=0),
        "train lr": lambda t, m: t.train_char_lm(m, text, steps=1, lr=-1.0, batch_size=2, seq_len=3),
        "train seed": lambda t, m: t.train_char_lm(m, text, steps=1, seed=0.5, batch_size=2, seq_len=3),
        "train progress": lambda t, m: t.train_char_lm(m, text, steps=1, progress="no", batch_size=2, seq_len=3),
        "vocab_size": lambda t, m: t.CharLM(5.0, 4, np.random.default_rng(0)),
        "too large": lambda t, m: t.CharLM(5, 2**20, np.random.default_rng(0)),
        "dropout": lambda t, m: t.CharLM(5, 4, np.random.default_rng(0), dropout=1.0),
        "rng": lambda t, m: t.CharLM(5, 4, None),
        "train mode": lambda t, m: m.train("no"),
    }
    for name, call in calls.items():
        np_message, torch_message = (
            _refusal(lambda tree=tree, call=call: call(tree, tree.CharLM(5, 4, np.random.default_rng(0))))
            for tree in (npl, thl)
        )
        assert np_message == torch_message, name
    assert _refusal(lambda: npl.CharLM(5, 4, np.random.default_rng(0))(ids - 1)) == (
        "ValueError: ids must hold ids in [0, 5) (the model's vocab_size), got values from -1 to 3."
    )


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_inputs_are_converted_to_the_models_dtype_and_a_tiny_temperature_is_greedy(tree):
    model = tree.CharLM(6, 8, np.random.default_rng(0), embedding_dim=4)
    ids = np.random.default_rng(1).integers(0, 6, size=(5, 3))
    logits, (h, c) = model(ids)  # a NumPy array is accepted in both trees (and a tensor, in both)
    state64 = tuple(np.asarray(s.detach() if tree is thl else s, dtype=np.float64) for s in (h, c))
    again, (h2, _) = model(ids.tolist(), state64)  # the float64 state is cast to the parameters' float32
    assert again.dtype == h2.dtype == logits.dtype and str(logits.dtype).endswith("float32")
    prompt = np.array([0, 1, 2])
    greedy = tree.generate(model, prompt, 8, temperature=1e-310, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(greedy, tree.generate(model, prompt, 8, temperature=1e-6))  # no NaN: argmax

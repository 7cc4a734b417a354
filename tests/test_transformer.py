"""The transformer: the pre-LayerNorm block passes finite differences in float64 and matches
torch.nn.TransformerEncoderLayer from copied weights (outputs and every gradient); the character
transformer has the same names, weights, logits and training path in both trees, backpropagates
correctly, learns a short text fast, reads a key-value cache exactly as the whole sequence, samples the
same ids with and without the cache, and refuses bad input with the same sentence in both trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse import windows
from dlcourse.attention_checks import BLOCK_NAMES
from dlcourse.numpy import chargpt as NC
from dlcourse.numpy import optim as npo
from dlcourse.numpy import transformer as NT
from dlcourse.numpy.losses import cross_entropy_backward, cross_entropy_forward
from dlcourse.torch import chargpt as TC
from dlcourse.torch import transformer as TT

from .helpers import assert_backward, assert_parameter_gradients, assert_twins


def _block_weights(rng: np.random.Generator, width: int, hidden: int) -> dict[str, np.ndarray]:
    """Random float64 block weights, LayerNorm scales near 1, every bias non-zero."""
    attention = [(width,)] * 2 + [(3 * width, width), (3 * width,), (width, width), (width,)]
    shapes = dict(zip(BLOCK_NAMES[:6], attention, strict=True))
    shapes.update({"norm2.weight": (width,), "norm2.bias": (width,), "linear1.weight": (hidden, width)})
    shapes.update({"linear1.bias": (hidden,), "linear2.weight": (width, hidden), "linear2.bias": (width,)})
    weights = {name: 0.4 * rng.normal(size=shapes[name]) for name in BLOCK_NAMES}
    weights["norm1.weight"] += 1
    weights["norm2.weight"] += 1
    return weights


def _toy_text(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Ids of a text with structure to learn: 'abcdab...' with a little noise, 6 symbols."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % 5
    ids[rng.random(n) < 0.1] = 5
    return ids.astype(np.int64)


@pytest.fixture
def one_thread():
    """Tiny matrices: one thread (a second one only waits, badly so on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the block


@pytest.mark.parametrize(("causal", "cached"), [(True, 0), (False, 0), (True, 2)], ids=["causal", "plain", "cache"])
def test_block_backward_matches_finite_differences(causal, cached):
    rng = np.random.default_rng(1)
    x, weights = rng.normal(size=(2, 3, 4)), _block_weights(rng, 4, 8)
    past = (rng.normal(size=(2, 2, cached, 2)), rng.normal(size=(2, 2, cached, 2))) if cached else None
    names = list(BLOCK_NAMES)

    def forward(x_, *arrays):
        return NT.transformer_block_forward(x_, dict(zip(names, arrays, strict=True)), 2, causal, past)

    out, cache = forward(x, *weights.values())
    assert out.shape == x.shape

    def backward(g):
        dx, grads = NT.transformer_block_backward(g, cache)
        assert list(grads) == names
        return [dx, *grads.values()]

    assert_backward(forward, backward, x, *weights.values(), rtol=1e-6, atol=1e-9, names=["dx", *names])


def test_block_twins_agree_and_the_torch_backward_equals_autograd():
    rng = np.random.default_rng(2)
    x, weights = rng.normal(size=(2, 5, 6)), _block_weights(rng, 6, 12)
    names = list(BLOCK_NAMES)
    _, cache = NT.transformer_block_forward(x, weights, 3)

    def numpy_backward(g):
        dx, grads = NT.transformer_block_backward(g, cache)
        return [dx, *grads.values()]

    assert_twins(
        lambda x_, *a: NT.transformer_block_forward(x_, dict(zip(names, a, strict=True)), 3),
        lambda x_, *a: TT.transformer_block_forward(x_, dict(zip(names, a, strict=True)), 3),
        x,
        *weights.values(),
        numpy_backward=numpy_backward,
    )
    g = rng.normal(size=x.shape)
    _, tcache = TT.transformer_block_forward(torch.tensor(x), {n: torch.tensor(w) for n, w in weights.items()}, 3)
    tdx, tgrads = TT.transformer_block_backward(torch.tensor(g), tcache)
    dx, grads = NT.transformer_block_backward(g, cache)
    np.testing.assert_allclose(tdx.numpy(), dx, rtol=1e-10, atol=1e-12)
    for name in names:
        np.testing.assert_allclose(tgrads[name].numpy(), grads[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "plain"])
def test_block_matches_torch_transformer_encoder_layer_from_copied_weights(causal):
    """torch.nn.TransformerEncoderLayer with norm_first, batch_first, no dropout and the tanh GELU is
    the same block: its random weights copied into both trees' blocks give the same outputs, input
    gradient and parameter gradients."""
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoderLayer(
        8,
        2,
        dim_feedforward=16,
        dropout=0.0,
        activation=lambda t: F.gelu(t, approximate="tanh"),
        batch_first=True,
        norm_first=True,
    ).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn_like(p))  # LayerNorms and biases away from 1 and 0
    assert sorted(ref.state_dict()) == sorted(BLOCK_NAMES)  # in another order
    ours = NT.TransformerBlock(8, 2, np.random.default_rng(0), mlp_ratio=2, causal=causal)
    twin = TT.TransformerBlock(8, 2, np.random.default_rng(0), mlp_ratio=2, causal=causal).double()
    for name, p in ours.named_parameters():
        p.data = ref.state_dict()[name].numpy().copy()
    twin.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(3, 5, 8)), rng.normal(size=(3, 5, 8))

    def run_torch(layer, call):
        xt = torch.from_numpy(x).requires_grad_()
        layer.zero_grad()
        out = call(layer, xt)
        out.backward(torch.from_numpy(dout))
        grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
        return [out.detach().numpy(), xt.grad.numpy(), *(grads[name] for name in BLOCK_NAMES)]

    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64) if causal else None
    expected = run_torch(ref, lambda m, xt: m(xt, src_mask=mask, is_causal=causal))
    ours.zero_grad()
    got = [ours(x), ours.backward(dout), *(p.grad for p in ours.parameters())]
    for label, mine, theirs, twins in zip(
        ["out", "dx", *BLOCK_NAMES], got, expected, run_torch(twin, lambda m, xt: m(xt)), strict=True
    ):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11, err_msg=label)
        np.testing.assert_allclose(twins, theirs, rtol=1e-9, atol=1e-11, err_msg=f"torch tree {label}")


@pytest.mark.parametrize("tree", [NT, TT], ids=["numpy", "torch"])
def test_a_block_without_mask_or_positions_is_permutation_equivariant(tree):
    rng = np.random.default_rng(4)
    x, weights = rng.normal(size=(2, 6, 4)), _block_weights(rng, 4, 8)
    perm = rng.permutation(6)
    convert = torch.tensor if tree is TT else np.asarray
    w = {n: convert(a) for n, a in weights.items()}
    out, _ = tree.transformer_block_forward(convert(x), w, 2, causal=False)
    shuffled, _ = tree.transformer_block_forward(convert(x[:, perm]), w, 2, causal=False)
    np.testing.assert_allclose(np.asarray(shuffled), np.asarray(out)[:, perm], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- the character transformer

KINDS = ["learned", "sinusoidal", "none"]


@pytest.mark.parametrize("positions", KINDS)
def test_char_transformer_trees_share_names_weights_logits_and_maps(positions):
    ours = NT.CharTransformer(
        7, 8, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=9, positions=positions
    )
    twin = TT.CharTransformer(
        7, 8, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=9, positions=positions
    )
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(twin.state_dict())
    assert names[0] == "token_embedding.weight" and names[-2:] == ["head.weight", "head.bias"]
    assert ("position_embedding.weight" in names) == (positions == "learned")
    assert names.count("blocks.1.self_attn.in_proj_weight") == 1
    for name, value in twin.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), ours.state_dict()[name], err_msg=name)
    ids = np.random.default_rng(1).integers(0, 7, size=(3, 9))
    logits, present = ours(ids)
    tlogits, tpresent = twin(torch.from_numpy(ids))
    assert logits.shape == (3, 9, 7) and len(present) == 2 and present[0][0].shape == (3, 2, 9, 4)
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-5, atol=1e-6)
    maps, tmaps = ours.attention_maps(ids[0]), twin.attention_maps(ids[0])
    assert maps.shape == (2, 2, 9, 9)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(maps, 1) == 0)  # nothing after each position
    np.testing.assert_allclose(tmaps.numpy(), maps, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("positions", KINDS)
def test_char_transformer_backward_matches_finite_differences(positions):
    model = NT.CharTransformer(
        5, 4, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=6, positions=positions
    )
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.data = p.data.astype(np.float64) + 0.3 * rng.normal(size=p.shape)  # weights large enough to matter
    ids, g = rng.integers(0, 5, size=(2, 4)), rng.normal(size=(2, 4, 5))
    past = model(rng.integers(0, 5, size=(2, 2)))[1]  # two cached positions: the gradient treats them as constant
    model.zero_grad()
    model(ids, past)
    model.backward(g)
    assert_parameter_gradients(model.named_parameters(), lambda: np.sum(model(ids, past)[0] * g), rtol=1e-6, atol=1e-9)


def test_one_training_step_numpy_equals_torch_from_identical_weights():
    """Forward, cross-entropy, backward, clipping and one Adam step: the trees agree."""
    ours = NT.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=12)
    twin = TT.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=12)
    ids = _toy_text(200)[:52].reshape(4, 13)
    x, y = ids[:, :-1], ids[:, 1:]
    opt = npo.Adam(ours.parameters(), lr=0.01)
    logits, _ = ours(x)
    loss, cache = cross_entropy_forward(logits.reshape(-1, 6), y.reshape(-1))
    ours.backward(cross_entropy_backward(1.0, cache).reshape(logits.shape))
    norm = npo.clip_grad_norm(ours.parameters(), 0.05)
    opt.step()
    topt = torch.optim.Adam(twin.parameters(), lr=0.01)
    tlogits, _ = twin(torch.from_numpy(x))
    tloss = F.cross_entropy(tlogits.reshape(-1, 6), torch.from_numpy(y).reshape(-1))
    tloss.backward()
    tnorm = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.05)
    topt.step()
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    assert norm == pytest.approx(float(tnorm), rel=1e-4) and norm > 0.05  # clipping was active
    for name, value in twin.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_training_follows_the_same_path_in_both_trees(one_thread):
    train, val = _toy_text(600), _toy_text(200, seed=1)
    histories = []
    for tree, ctree in ((NT, NC), (TT, TC)):
        model = tree.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=1, context_size=10)
        histories.append(
            ctree.train_char_transformer(
                model,
                train,
                steps=12,
                batch_size=4,
                seq_len=8,
                lr=0.01,
                warmup=3,
                val_ids=val,
                eval_every=6,
                log_every=3,
                progress=False,
            )
        )
    ours, theirs = histories
    assert ours.steps == theirs.steps == 12 and ours.val_at == theirs.val_at == [6, 12]
    np.testing.assert_allclose(ours.train_loss, theirs.train_loss, rtol=1e-4)
    np.testing.assert_allclose(ours.val_loss, theirs.val_loss, rtol=1e-4)
    assert ours.lr[0] == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi * 2 / 12)))  # logged after step 3: warm


def test_a_tiny_char_transformer_learns_a_short_text_fast(one_thread):
    import time

    torch.manual_seed(0)
    train, val = _toy_text(4000), _toy_text(500, seed=1)
    model = TT.CharTransformer(6, 16, np.random.default_rng(0), num_heads=2, num_layers=1, context_size=16)
    before = TC.evaluate_char_transformer(model, val)
    start = time.perf_counter()
    history = TC.train_char_transformer(model, train, steps=150, batch_size=16, lr=0.01, warmup=10, progress=False)
    after = TC.evaluate_char_transformer(model, val)
    assert time.perf_counter() - start < 10
    assert before == pytest.approx(np.log(6), abs=0.05)  # it starts near uniform
    assert after < 0.7 * before and history.train_loss[-1] < 0.6 * history.train_loss[0]
    assert after < 0.6  # the pattern is learned: only the noise is left to guess (about 0.4 nats)


@pytest.mark.parametrize(("tree", "ctree"), [(NT, NC), (TT, TC)], ids=["numpy", "torch"])
def test_sampling_with_a_key_value_cache_equals_sampling_without(tree, ctree, one_thread):
    """The same ids for the same seed, also once the text outgrows the context and the window moves;
    the cached sampler reads far fewer positions."""
    model = tree.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=2, context_size=8)
    noise = np.random.default_rng(1)
    for p in model.parameters():  # random weights of some size, so that the samples vary
        extra = noise.normal(size=tuple(p.shape)).astype(np.float32)
        p.data = p.data + (torch.from_numpy(extra) if tree is TT else extra)
    read = []
    original = model._logits

    def counting(ids, past, *rest):
        read.append(ids.shape[1])
        return original(ids, past, *rest)

    model._logits = counting
    prompt = np.array([0, 1, 2])
    for temperature in (0.5, 1.0, 2.0):
        read.clear()
        cached = ctree.generate(model, prompt, 30, temperature, np.random.default_rng(2), use_cache=True)
        cached_reads = sum(read)
        read.clear()
        plain = ctree.generate(model, prompt, 30, temperature, np.random.default_rng(2), use_cache=False)
        np.testing.assert_array_equal(cached, plain)
        assert cached_reads < sum(read) / 2
    assert len(set(cached.tolist())) > 2


def test_window_start_and_evaluation_windows():
    assert windows.window_start(0, 8, 8) == 0 and windows.window_start(0, 9, 8) == 3
    assert windows.window_start(3, 11, 8) == 3 and windows.window_start(3, 12, 8) == 6
    ids = np.arange(23) % 7
    inputs, targets, mask = windows.evaluation_windows(ids, 8, 3)
    scored = inputs[mask] * 0 + np.nonzero(mask)[0] * 3 + np.nonzero(mask)[1]  # each scored pair's index
    assert sorted(scored.tolist()) == list(range(22))  # every (character, next) pair exactly once
    np.testing.assert_array_equal(targets[mask], ids[1:][scored])
    assert np.nonzero(mask[1:])[1].min() == 5  # after the first window, at least C - S = 5 of context
    one, _, only = windows.evaluation_windows(ids[:5], 8)
    assert one.shape == (1, 8) and only.sum() == 4


@pytest.mark.parametrize(("tree", "ctree"), [(NT, NC), (TT, TC)], ids=["numpy", "torch"])
def test_evaluation_scores_every_character_once(tree, ctree, one_thread):
    model = tree.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=1, context_size=32)
    ids = _toy_text(30)
    logits, _ = model(ids[None, :-1])
    logits = logits.detach().numpy() if tree is TT else logits
    logp = logits[0] - np.log(np.exp(logits[0]).sum(axis=-1, keepdims=True))
    expected = -np.mean(logp[np.arange(29), ids[1:]])  # the text fits one window: a plain mean
    assert ctree.evaluate_char_transformer(model, ids) == pytest.approx(expected, rel=1e-5)
    assert ctree.evaluate_char_transformer(model, _toy_text(300), batch_size=3, stride=5) == pytest.approx(
        NC.evaluate_char_transformer(
            NT.CharTransformer(6, 8, np.random.default_rng(0), num_heads=2, num_layers=1, context_size=32),
            _toy_text(300),
            batch_size=7,
            stride=5,
        ),
        rel=1e-5,
    )


@pytest.mark.parametrize("tree", [NT, TT], ids=["numpy", "torch"])
def test_without_positions_the_last_prediction_ignores_the_order_before_it(tree):
    """With no positional information, a one-block causal model's prediction at the last position
    sees the earlier characters as a set: shuffling them changes nothing. Learned positions change
    it, and so does a second block (its inputs at earlier positions were computed from prefixes)."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 6, size=(1, 7))
    shuffled = ids.copy()
    shuffled[0, :6] = ids[0, rng.permutation(6)]
    for positions, layers, same in (("none", 1, True), ("learned", 1, False), ("none", 2, False)):
        model = tree.CharTransformer(
            6, 8, np.random.default_rng(0), num_heads=2, num_layers=layers, context_size=8, positions=positions
        )
        for p in model.parameters():  # weights large enough for the differences to show
            p.data = p.data * 20
        a, b = (np.asarray(model(x)[0][0, -1].tolist()) for x in (ids, shuffled))
        assert np.allclose(a, b, rtol=1e-5, atol=1e-6) == same, (positions, layers)


def _refusal(call) -> str:
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return f"{info.type.__name__}: {info.value}"


def test_both_trees_refuse_bad_input_with_the_same_sentence():
    ids = np.arange(12).reshape(2, 6) % 5
    text = np.arange(200) % 5
    rng = np.random.default_rng
    calls = {
        "negative id": lambda t, c, m: m(ids - 1),
        "float ids": lambda t, c, m: m(ids.astype(float)),
        "one axis": lambda t, c, m: m(ids[0]),
        "beyond the context": lambda t, c, m: m(np.zeros((1, 9), dtype=np.int64)),
        "past not a list": lambda t, c, m: m(ids, 3),
        "past too long": lambda t, c, m: m(ids, m(ids)[1]),
        "past of one block": lambda t, c, m: m(ids[:, :1], m(ids)[1][:1]),
        "heads": lambda t, c, m: t.CharTransformer(5, 6, rng(0), num_heads=4),
        "positions": lambda t, c, m: t.CharTransformer(5, 4, rng(0), num_heads=2, positions="rotary"),
        "context": lambda t, c, m: t.CharTransformer(5, 4, rng(0), num_heads=2, context_size=0),
        "rng": lambda t, c, m: t.CharTransformer(5, 4, None, num_heads=2),
        "too large": lambda t, c, m: t.CharTransformer(5, 2**16, rng(0), num_heads=2, num_layers=64),
        "block weights": lambda t, c, m: t.transformer_block_forward(np.zeros((1, 2, 4)), {}, 2),
        "block heads": lambda t, c, m: t.TransformerBlock(6, 4, rng(0)),
        "maps beyond the context": lambda t, c, m: m.attention_maps(np.zeros(9, dtype=np.int64)),
        "generate length": lambda t, c, m: c.generate(m, [0, 1], -1),
        "generate prompt": lambda t, c, m: c.generate(m, [], 3),
        "generate cache flag": lambda t, c, m: c.generate(m, [1], 3, use_cache="yes"),
        "generate model": lambda t, c, m: c.generate(None, [1], 3),
        "evaluate stride": lambda t, c, m: c.evaluate_char_transformer(m, text, stride=9),
        "train seq_len": lambda t, c, m: c.train_char_transformer(m, text, steps=1, seq_len=9, batch_size=2),
        "train warmup": lambda t, c, m: c.train_char_transformer(m, text, steps=1, warmup=-1, batch_size=2),
        "train model": lambda t, c, m: c.train_char_transformer("model", text, steps=1),
    }
    for name, call in calls.items():
        np_message, torch_message = (
            _refusal(
                lambda t=t, c=c, call=call: call(t, c, t.CharTransformer(5, 4, rng(0), num_heads=2, context_size=8))
            )
            for t, c in ((NT, NC), (TT, TC))
        )
        assert np_message == torch_message.replace("numeric tensor", "numeric array"), name
    assert _refusal(lambda: NT.CharTransformer(5, 4, rng(0), num_heads=2, context_size=8)(np.zeros((1, 9), int))) == (
        "ValueError: ids reach position 8 (after 0 cached positions), beyond the model's context of 8 positions."
    )

"""Layers: finite differences for every backward, and agreement with torch on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse.numpy import layers as L
from dlcourse.numpy import losses as npl
from dlcourse.torch import layers as T

from .helpers import assert_backward, assert_parameter_gradients


def test_linear_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, w, b, g = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 2))
    _, cache = L.linear_forward(x, w, b)
    dx, dw, db = L.linear_backward(g, cache)
    assert_backward(L.linear_forward, lambda _: (dx, dw, db), x, w, b, upstream=g, rtol=1e-7, atol=1e-9)
    tdx, tdw, tdb = T.linear_backward(
        torch.tensor(g), T.linear_forward(torch.tensor(x), torch.tensor(w), torch.tensor(b))[1]
    )
    for ours, theirs in ((dx, tdx), (dw, tdw), (db, tdb)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    assert L.linear_backward(g, cache, input_grad=False)[0] is None


def test_weight_matrix_rows_are_inputs_columns_are_outputs():
    layer = L.Linear(2, 3, np.random.default_rng(0))
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (3,)
    assert layer(np.ones((5, 2), dtype=np.float32)).shape == (5, 3)


def _pair(activation: str, seed: int = 0, dropout: float = 0.0):
    """The same 5-8-8-3 network in both trees, from the same generator."""
    acts = {"relu": (L.ReLU, T.ReLU), "tanh": (L.Tanh, T.Tanh), "sigmoid": (L.Sigmoid, T.Sigmoid)}[activation]
    nets = []
    for tree, act in ((L, acts[0]), (T, acts[1])):
        rng = np.random.default_rng(seed)
        drop = np.random.default_rng(seed + 1)
        layers = [
            tree.Linear(5, 8, rng),
            act(),
            tree.Dropout(dropout, drop),
            tree.Linear(8, 8, rng),
            act(),
            tree.Linear(8, 3, rng),
        ]
        nets.append(tree.Sequential(*layers))
    return nets


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_network_forward_and_gradients_match_torch(activation, dropout):
    net, tnet = _pair(activation, dropout=dropout)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 5)).astype(np.float32), rng.integers(0, 3, size=6)
    logits = net(x)
    loss, cache = npl.cross_entropy_forward(logits, y)
    net.zero_grad()
    net.backward(npl.cross_entropy_backward(1.0, cache))
    tlogits = tnet(torch.from_numpy(x))
    tloss = F.cross_entropy(tlogits, torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(tloss.item(), rel=1e-5)
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_sequential_backward_matches_finite_differences_float64():
    net, _ = _pair("tanh")
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
        p.grad = np.zeros_like(p.data)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 5)), rng.integers(0, 3, size=4)
    net.zero_grad()
    _, cache = npl.cross_entropy_forward(net(x), y)
    net.backward(npl.cross_entropy_backward(1.0, cache))
    assert_parameter_gradients(net.named_parameters(), lambda: npl.cross_entropy(net(x), y), rtol=1e-6, atol=1e-9)


def test_dropout_train_and_eval():
    drop = L.Dropout(0.5, np.random.default_rng(0))
    x = np.ones((1000, 10), dtype=np.float32)
    out = drop(x)
    assert set(np.unique(out)) == {0.0, 2.0} and abs(out.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), out)
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    with pytest.raises(ValueError, match=r"^p must be in \[0, 1\), got 1\.0\.$"):
        L.Dropout(1.0, np.random.default_rng(0))


def test_state_dict_round_trip_and_errors():
    net, tnet = _pair("relu", seed=1)
    other, _ = _pair("relu", seed=2)
    other.load_state_dict(net.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    np.testing.assert_array_equal(other(x), net(x))
    # torch tree -> NumPy tree: same names, same shapes.
    other.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    with pytest.raises(ValueError, match=r"^0\.weight must have shape \(5, 8\), got \(8, 5\)\.$"):
        other.load_state_dict({k: (v.T if k == "0.weight" else v) for k, v in net.state_dict().items()})
    with pytest.raises(ValueError, match="state has keys"):
        other.load_state_dict({})


@pytest.mark.parametrize(
    ("entry", "value", "error", "pattern"),
    [
        ("1.running_var", np.full(4, np.nan), ValueError, r"^1\.running_var contains NaN at 4 position\(s\)"),
        ("1.running_mean", np.full(4, 1e300), ValueError, r"^1\.running_mean holds 4 infinite value\(s\) in float32"),
        ("1.running_mean", np.zeros(3), ValueError, r"^1\.running_mean must have shape \(4,\), got \(3,\)\.$"),
        ("1.running_var", np.array(["a"] * 4), TypeError, r"^1\.running_var must hold real numbers"),
        ("1.num_batches_tracked", 2.5, TypeError, r"^1\.num_batches_tracked must be an integer count"),
        ("1.weight", np.array([1.0, np.inf, 1.0, 1.0]), ValueError, r"^1\.weight holds 1 infinite value\(s\)"),
    ],
)
def test_load_state_dict_checks_buffers_and_loads_all_or_nothing(entry, value, error, pattern):
    """A bad entry late in the state (a buffer of the BatchNorm after the Linear) leaves every array
    as it was: the good entries before it are not copied in either."""
    from dlcourse.numpy import norm as N

    rng = np.random.default_rng(0)
    net = L.Sequential(L.Linear(3, 4, rng), N.BatchNorm1d(4))
    net(rng.normal(size=(8, 3)))
    before = net.state_dict()
    state = {k: np.zeros_like(v) for k, v in before.items()}  # every other entry valid, and different
    state[entry] = value
    with pytest.raises(error, match=pattern) as caught:
        net.load_state_dict(state)
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
    for name, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
    net.load_state_dict({**state, entry: before[entry]})  # the same state, mended, loads
    assert net.state_dict()["0.weight"].sum() == 0 and net.state_dict()["1.num_batches_tracked"].dtype == np.int64


def test_zero_initialisation_keeps_neurons_identical():
    """Symmetry: with zero weights every hidden unit gets the same gradient, so they never differ."""
    rng = np.random.default_rng(0)
    net = L.Sequential(L.Linear(4, 6, rng, init="zeros"), L.Tanh(), L.Linear(6, 3, rng, init="zeros"))
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 3, size=8)
    _, cache = npl.cross_entropy_forward(net(x), y)
    net.backward(npl.cross_entropy_backward(1.0, cache))
    w = net[0].weight.grad
    assert np.allclose(w, w[:, :1])  # every column (hidden unit) has the same gradient
    with pytest.raises(ValueError, match="init must be one of"):
        L.Linear(2, 2, rng, init="ones")


def test_sequential_turns_off_the_input_gradient_of_its_first_layer_whatever_its_type():
    """Module owns input_grad (True by default); Sequential switches it off for its first layer only."""
    from dlcourse.numpy.conv import Conv2d, Flatten

    rng = np.random.default_rng(0)
    assert L.Module.input_grad is True and L.ReLU().input_grad is True
    convnet = L.Sequential(Conv2d(1, 2, 3, rng), L.ReLU(), Flatten(), L.Linear(2 * 4 * 4, 3, rng))
    assert [layer.input_grad for layer in convnet.layers] == [False, True, True, True]
    out = convnet(rng.normal(size=(2, 1, 6, 6)))
    assert convnet.backward(np.ones_like(out)) is None  # the images get no gradient
    single = L.Sequential(L.Linear(3, 2, rng))
    single(rng.normal(size=(4, 3)))
    assert single.layers[0].input_grad is False and single.backward(np.ones((4, 2))) is None
    relu_first = L.Sequential(L.ReLU(), L.Linear(3, 2, rng))
    assert relu_first.layers[0].input_grad is False and relu_first.layers[1].input_grad is True

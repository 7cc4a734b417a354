"""Optimisers: one full step (and several) from identical weights match torch.optim exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse.numpy import layers as L
from dlcourse.numpy import losses as npl
from dlcourse.numpy import optim as O
from dlcourse.torch import layers as T
from dlcourse.torch import optim as TO

# name -> (NumPy tree, torch tree, torch.optim reference), each a function of the parameters.
OPTIMISERS = {
    "sgd": (
        lambda p: O.SGD(p, lr=0.1, weight_decay=0.01),
        lambda p: TO.SGD(p, lr=0.1, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
    ),
    "momentum": (
        lambda p: O.Momentum(p, lr=0.1, momentum=0.9),
        lambda p: TO.Momentum(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    "adam": (
        lambda p: O.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: TO.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
}


def _nets(seed=0):
    out = []
    for tree in (L, T, T):
        rng = np.random.default_rng(seed)
        out.append(tree.Sequential(tree.Linear(6, 16, rng), tree.ReLU(), tree.Linear(16, 4, rng)))
    return out


@pytest.mark.parametrize("name", OPTIMISERS)
@pytest.mark.parametrize("steps", [1, 5])
def test_training_steps_match_torch(name, steps):
    net, twin, ref = _nets()
    make_np, make_twin, make_ref = OPTIMISERS[name]
    opt, topt, ropt = make_np(net.parameters()), make_twin(twin.parameters()), make_ref(ref.parameters())
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x, y = rng.normal(size=(8, 6)).astype(np.float32), rng.integers(0, 4, size=8)
        _, cache = npl.cross_entropy_forward(net(x), y)
        opt.zero_grad()
        net.backward(npl.cross_entropy_backward(1.0, cache))
        opt.step()
        for model, optimiser in ((twin, topt), (ref, ropt)):
            loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    reference = dict(ref.named_parameters())
    twin_params = dict(twin.named_parameters())
    for pname, p in net.named_parameters():
        np.testing.assert_allclose(p.data, reference[pname].detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=pname)
        np.testing.assert_allclose(
            twin_params[pname].detach().numpy(), reference[pname].detach().numpy(), rtol=1e-6, atol=1e-7
        )
    start = _nets()[0]
    assert any(not np.allclose(p.data, q.data) for p, q in zip(net.parameters(), start.parameters(), strict=True))


def test_bad_hyperparameters():
    params = _nets()[0].parameters()
    with pytest.raises(ValueError, match=r"^lr must be a positive number, got 0\.$"):
        O.SGD(params, lr=0)
    with pytest.raises(ValueError, match=r"^weight_decay must be >= 0, got -1\.$"):
        O.Adam(params, weight_decay=-1)


@pytest.mark.parametrize("tree", [O, TO], ids=["numpy", "torch"])
def test_clip_grad_norm_matches_torch(tree):
    """One clip_grad_norm per tree (in optim), with torch.nn.utils.clip_grad_norm_'s contract."""
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=(3, 4)) * 10, rng.normal(size=5) * 10]
    reference = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(reference, grads, strict=True):
        p.grad = torch.tensor(g)
    expected_norm = float(torch.nn.utils.clip_grad_norm_(reference, 2.0))
    if tree is O:
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


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_of_both_trees_and_torch_agree(max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    np_params = [L.Parameter(np.zeros_like(g)) for g in grads]
    torch_params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    reference = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for g, a, b, c in zip(grads, np_params, torch_params, reference, strict=True):
        a.grad, b.grad, c.grad = g.copy(), torch.tensor(g), torch.tensor(g)
    norm = O.clip_grad_norm(np_params, max_norm)
    assert norm == pytest.approx(np.sqrt(sum((g * g).sum() for g in grads)))
    assert float(TO.clip_grad_norm(torch_params, max_norm)) == pytest.approx(norm)
    assert float(torch.nn.utils.clip_grad_norm_(reference, max_norm)) == pytest.approx(norm)
    for a, b, c in zip(np_params, torch_params, reference, strict=True):
        np.testing.assert_allclose(a.grad, c.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(b.grad.numpy(), c.grad.numpy(), rtol=1e-12)
    clipped = np.sqrt(sum((p.grad**2).sum() for p in np_params))
    assert clipped == pytest.approx(min(norm, max_norm), rel=1e-5)


def test_clip_grad_norm_returns_like_torch_and_handles_no_gradients():
    """NumPy: a float; PyTorch: a 0-dim tensor, as torch.nn.utils.clip_grad_norm_; 0 without gradients."""
    from dlcourse.numpy.layers import Parameter

    t = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    t.grad = torch.full((3,), 4.0, dtype=torch.float64)
    norm = TO.clip_grad_norm([t], 1.0)
    assert isinstance(norm, torch.Tensor) and norm.dim() == 0 and float(norm) == pytest.approx(np.sqrt(48))
    assert float(TO.clip_grad_norm([torch.nn.Parameter(torch.ones(2))], 1.0)) == 0.0
    assert O.clip_grad_norm([Parameter(np.ones(2))], 1.0) == 0.0
    for tree in (O, TO):
        with pytest.raises(ValueError, match=r"^max_norm must be a positive number, got -1\.$"):
            tree.clip_grad_norm([], -1)


def test_clip_grad_norm_refuses_a_single_parameter_alike_in_both_trees():
    """Iterating over one parameter would go over its rows (torch: silently clip nothing)."""
    single_np, single_torch = L.Parameter(np.ones(3)), torch.nn.Parameter(torch.ones(3))
    single_np.grad, single_torch.grad = np.full(3, 9.0), torch.full((3,), 9.0)
    for tree, single in ((O, single_np), (TO, single_torch)):
        with pytest.raises(TypeError, match=r"^params must be a list of parameters, got a single \w+; pass \[p\]"):
            tree.clip_grad_norm(single, 1.0)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_leaves_non_finite_gradients_alike_in_both_trees(bad):
    """A norm of inf or NaN cannot be rescaled: both trees return it and leave the gradients as they are
    (multiplying by max_norm / inf = 0 would turn inf into NaN and zero the finite entries)."""
    grad = np.array([1.0, bad, 2.0])
    p = L.Parameter(np.zeros(3))
    p.grad = grad.copy()
    t = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    t.grad = torch.tensor(grad)
    with np.errstate(all="raise"):
        total = O.clip_grad_norm([p], 1.0)
    ttotal = TO.clip_grad_norm([t], 1.0)
    assert np.isnan(total) if np.isnan(bad) else total == np.inf
    assert np.isnan(float(ttotal)) if np.isnan(bad) else float(ttotal) == np.inf
    np.testing.assert_array_equal(p.grad, grad)
    np.testing.assert_array_equal(t.grad.numpy(), grad)


@pytest.mark.parametrize("tree", [O, TO], ids=["numpy", "torch"])
def test_optimiser_hyperparameters_refuse_alike(tree):
    to = (lambda a: L.Parameter(a)) if tree is O else (lambda a: torch.nn.Parameter(torch.tensor(a)))
    params = [to(np.zeros(2))]
    with pytest.raises(ValueError, match=r"^betas\[0\] must be in \[0, 1\), got 1\.0\.$"):
        tree.Adam(params, betas=(1.0, 0.999))
    with pytest.raises(TypeError, match=r"^lr must be a real number, got '0\.1'\.$"):
        tree.SGD(params, lr="0.1")
    with pytest.raises(
        TypeError, match=r"must hold real (floating-point )?numbers, got"
    ):  # the Parameter or the optimiser
        tree.SGD([to(np.zeros(2) + 1j)], lr=0.1)
    assert tree.SGD(params, lr=np.float32(0.1)).lr == pytest.approx(0.1)

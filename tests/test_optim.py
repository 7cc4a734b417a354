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

"""The neuron and the perceptron: both trees agree, the rule learns, XOR defeats it."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.data import two_blobs, xor
from dlcourse.numpy import activations as npa
from dlcourse.numpy import perceptron as npp
from dlcourse.torch import perceptron as thp


@given(
    n=st.integers(1, 8),
    d=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    bias=st.floats(-5, 5),
)
def test_neuron_matches_torch_and_autograd(n, d, seed, bias):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(n, d)), rng.normal(size=d)
    ours = npp.neuron(x, w, bias)
    twin = thp.neuron(torch.from_numpy(x), torch.from_numpy(w), bias)
    reference = torch.sigmoid(torch.from_numpy(x) @ torch.from_numpy(w) + bias)
    assert ours.shape == (n,)
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-12)
    np.testing.assert_allclose(twin.numpy(), reference.numpy(), rtol=1e-12)


def test_neuron_gradient_by_chain_rule_matches_autograd():
    """dL/dw = x^T (dout * sigma'(z)): the forward/backward pairs compose like autograd."""
    rng = np.random.default_rng(0)
    x, w, dout = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    out, cache = npa.sigmoid_forward(x @ w + 0.3)
    dw = x.T @ npa.sigmoid_backward(dout, cache)
    wt = torch.from_numpy(w).requires_grad_()
    torch.sigmoid(torch.from_numpy(x) @ wt + 0.3).backward(torch.from_numpy(dout))
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perceptron_separates_separable_data_in_both_trees(seed):
    x, y = two_blobs(n=60, seed=seed)
    ours = npp.perceptron_train(x, y, epochs=100, seed=seed)
    twin = thp.perceptron_train(torch.from_numpy(x), torch.from_numpy(y), epochs=100, seed=seed)
    assert ours.converged
    np.testing.assert_array_equal(npp.perceptron_predict(x, ours.weight, ours.bias), y)
    assert ours.errors == twin.errors
    np.testing.assert_allclose(twin.weight.numpy(), ours.weight)
    assert ours.bias == twin.bias


def test_perceptron_cannot_learn_xor():
    x, y = xor()
    result = npp.perceptron_train(x, y, epochs=200)
    assert not result.converged
    assert min(result.errors) > 0
    assert (npp.perceptron_predict(x, result.weight, result.bias) != y).any()


def test_update_moves_boundary_toward_missed_point():
    w, b, x = np.array([0.5, -0.5]), 0.0, np.array([-1.0, 1.0])
    assert npp.perceptron_predict(x, w, b) == 0  # a positive point, missed
    new_w, new_b = npp.perceptron_update(w, b, x, 1.0, lr=0.5)
    np.testing.assert_allclose(new_w, [0.0, 0.0])
    assert new_b == 0.5
    # A point already classified right changes nothing.
    same_w, same_b = npp.perceptron_update(w, b, np.array([1.0, -1.0]), 1.0)
    np.testing.assert_array_equal(same_w, w)
    assert same_b == b


@given(x=hnp.arrays(np.float64, (4, 2), elements=st.floats(-1e3, 1e3)))
def test_predictions_are_labels(x):
    out = npp.perceptron_predict(x, np.array([1.0, -2.0]), 0.5)
    assert set(np.unique(out)) <= {0.0, 1.0}

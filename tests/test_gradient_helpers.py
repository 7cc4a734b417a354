"""The shared gradient checks of tests/helpers.py pass a right backward pass and fail a wrong one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.numpy import activations as npa
from dlcourse.numpy import layers as L

from .helpers import assert_backward, assert_parameter_gradients, assert_twins

X = np.random.default_rng(0).normal(size=(3, 4))


def test_assert_backward_passes_a_right_gradient_and_fails_a_wrong_one():
    _, cache = npa.tanh_forward(X)
    right = assert_backward(npa.tanh, lambda g: npa.tanh_backward(g, cache), X)
    assert len(right) == 1 and right[0].shape == X.shape
    with pytest.raises(AssertionError):
        assert_backward(npa.tanh, lambda g: 1.01 * npa.tanh_backward(g, cache), X)
    with pytest.raises(AssertionError):
        assert_backward(npa.tanh, lambda g: npa.tanh_backward(g[::-1], cache), X)  # the wrong upstream rows


def test_assert_backward_checks_every_input_and_several_outputs():
    w, b = np.ones((4, 2)), np.zeros(2)
    _, cache = L.linear_forward(X, w, b)
    assert_backward(L.linear_forward, lambda g: L.linear_backward(g, cache), X, w, b)
    with pytest.raises(AssertionError, match="input 2"):
        assert_backward(L.linear_forward, lambda g: (*L.linear_backward(g, cache)[:2], np.zeros(2)), X, w, b)
    double = lambda a: (a, 2 * a, "cache")  # noqa: E731
    assert_backward(double, lambda gs: gs[0] + 2 * gs[1], X, upstream=(np.ones_like(X), np.full_like(X, 3.0)))


def test_assert_parameter_gradients_fails_a_stale_gradient():
    layer = L.Linear(4, 2, np.random.default_rng(1), init="xavier")
    for p in layer.parameters():
        p.data = p.data.astype(np.float64)
    out = layer(X)
    layer.backward(np.ones_like(out))
    assert_parameter_gradients(layer.named_parameters(), lambda: np.sum(layer(X)))
    layer.weight.grad = layer.weight.grad * 0.9
    with pytest.raises(AssertionError, match="weight"):
        assert_parameter_gradients(layer.named_parameters(), lambda: np.sum(layer(X)))


def test_assert_twins_compares_values_and_autograd():
    _, cache = npa.sigmoid_forward(X)
    assert_twins(npa.sigmoid, torch.sigmoid, X, numpy_backward=lambda g: npa.sigmoid_backward(g, cache))
    with pytest.raises(AssertionError, match="values"):
        assert_twins(npa.sigmoid, torch.tanh, X)
    with pytest.raises(AssertionError, match="gradient"):
        assert_twins(npa.sigmoid, torch.sigmoid, X, numpy_backward=lambda g: g)

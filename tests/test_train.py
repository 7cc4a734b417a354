"""The training loop: both trees follow the same trajectory from the same weights and learn digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.data import load_digits
from dlcourse.numpy import layers as L
from dlcourse.numpy import optim as O
from dlcourse.numpy import train as TR
from dlcourse.torch import layers as T
from dlcourse.torch import optim as TO
from dlcourse.torch import train as TTR


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def test_digits_split(digits):
    assert digits["x_train"].shape[1] == 64 and digits["x_train"].dtype == np.float32
    assert len(digits["x_train"]) + len(digits["x_val"]) + len(digits["x_test"]) == 1797
    assert 0.0 <= digits["x_train"].min() and digits["x_train"].max() <= 1.0
    assert set(np.unique(digits["y_test"])) == set(range(10))


def test_numpy_and_torch_train_identically_and_learn(digits):
    histories = []
    for tree, optim, train in ((L, O, TR), (T, TO, TTR)):
        rng = np.random.default_rng(0)
        net = tree.Sequential(tree.Linear(64, 32, rng), tree.ReLU(), tree.Linear(32, 10, rng))
        data = {k: (v if tree is L else torch.from_numpy(v)) for k, v in digits.items()}
        history = train.fit(
            net,
            optim.Adam(net.parameters(), lr=3e-3),
            data["x_train"],
            data["y_train"],
            epochs=5,
            batch_size=64,
            rng=np.random.default_rng(1),
            x_val=data["x_val"],
            y_val=data["y_val"],
            progress=False,
        )
        histories.append(history)
        assert train.accuracy(net, data["x_test"], data["y_test"]) > 0.85
    ours, theirs = histories
    np.testing.assert_allclose(ours.train_loss, theirs.train_loss, rtol=1e-4)
    np.testing.assert_allclose(ours.val_acc, theirs.val_acc, atol=1 / 270 + 1e-9)  # at most one image apart
    assert ours.train_loss[-1] < ours.train_loss[0] / 3


def test_loader_names_the_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    with pytest.raises(ModuleNotFoundError, match=r"needs scikit-learn.*pip install \"dlcourse\[data\]\""):
        load_digits()

"""The datasets that ship inside the package load offline, are intact and split as documented."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import data
from dlcourse.datasets import regenerate


@pytest.mark.parametrize("name", sorted(regenerate.SHA256))
def test_committed_files_match_their_recorded_digest(name):
    assert regenerate.sha256(regenerate.HERE / name) == regenerate.SHA256[name]


def test_mnist_split_is_stratified_disjoint_and_seeded():
    a, b = data.load_mnist(seed=0), data.load_mnist(seed=0)
    assert a["x_train"].shape == (8000, 1, 28, 28) and a["x_test"].shape == (2000, 1, 28, 28)
    assert a["x_train"].dtype == np.float32 and a["y_train"].dtype == np.int64
    assert 0.0 <= a["x_train"].min() and a["x_train"].max() == 1.0
    assert np.bincount(a["y_test"]).tolist() == [200] * 10
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    train = {x.tobytes() for x in a["x_train"]}
    assert not any(x.tobytes() in train for x in a["x_test"][:200])  # no test image is also in training
    c = data.load_mnist(seed=1)
    assert not np.array_equal(a["y_train"], c["y_train"])


def test_mnist_odd_test_size_and_refusal():
    d = data.load_mnist(n_test=1234)
    assert len(d["y_test"]) == 1234 and len(d["y_train"]) == 10000 - 1234
    with pytest.raises(ValueError, match="n_test must leave images for training: got 10000"):
        data.load_mnist(n_test=10000)


def test_moby_dick_is_the_whole_novel():
    text = data.load_moby_dick()
    assert text.startswith("CHAPTER 1. Loomings.\n\nCall me Ishmael.")
    assert text.rstrip().endswith("five thousand years ago.")
    assert 1_100_000 < len(text) < 1_300_000

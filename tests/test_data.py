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
    assert a["x_train"].shape == (7000, 1, 28, 28) and a["x_test"].shape == (2000, 1, 28, 28)
    assert a["x_val"].shape == (1000, 1, 28, 28)
    assert a["x_train"].dtype == np.float32 and a["y_train"].dtype == np.int64 and a["y_val"].dtype == np.int64
    assert 0.0 <= a["x_train"].min() and a["x_train"].max() == 1.0
    assert np.bincount(a["y_test"]).tolist() == [200] * 10 and np.bincount(a["y_val"]).tolist() == [100] * 10
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    seen = {name: {x.tobytes() for x in a[f"x_{name}"]} for name in ("train", "val", "test")}
    assert sum(map(len, seen.values())) == len(set.union(*seen.values())) > 9_900  # disjoint (a few duplicates)
    c = data.load_mnist(seed=1)
    assert not np.array_equal(a["y_train"], c["y_train"])
    # the test set of a seed does not depend on the validation size
    np.testing.assert_array_equal(data.load_mnist(seed=0, n_val=0)["x_test"], a["x_test"])


def test_mnist_odd_sizes_and_refusal():
    d = data.load_mnist(n_test=1234, n_val=567)
    assert (len(d["y_test"]), len(d["y_val"]), len(d["y_train"])) == (1234, 567, 10000 - 1234 - 567)
    assert len(data.load_mnist(n_val=0)["y_val"]) == 0
    with pytest.raises(ValueError, match="n_test must leave images for training: got 10000"):
        data.load_mnist(n_test=10000)
    with pytest.raises(ValueError, match=r"^n_val must leave images for training: got 8000 with n_test=2000, "):
        data.load_mnist(n_val=8000)
    with pytest.raises(ValueError, match=r"^n_val must be"):
        data.load_mnist(n_val=-1)


def test_moby_dick_is_the_whole_novel():
    text = data.load_moby_dick()
    assert text.startswith("CHAPTER 1. Loomings.\n\nCall me Ishmael.")
    assert text.rstrip().endswith("five thousand years ago.")
    assert 1_100_000 < len(text) < 1_300_000


def test_generators_refuse_bad_arguments_in_a_sentence_and_take_numpy_integers():
    a, b = data.two_blobs(n=np.int64(7), seed=np.int64(3)), data.two_blobs(n=7, seed=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)  # a NumPy integer is the same number: the same draws
    with pytest.raises(TypeError, match=r"^n must be an integer, got 2\.5\.$"):
        data.two_blobs(n=2.5)
    with pytest.raises(TypeError, match=r"^seed must be an integer, got 0\.5\.$"):
        data.two_blobs(seed=0.5)
    with pytest.raises(TypeError, match=r"^center must hold real numbers"):
        data.two_blobs(center=(1 + 2j, 0.0))
    with pytest.raises(ValueError, match=r"^gap must be a finite number >= 0, got nan\.$"):
        data.two_blobs(gap=float("nan"))
    with pytest.raises(TypeError, match=r"^seed must be an integer"):
        data.load_mnist(seed="0")


def test_digits_refuses_fractions_before_scikit_learn_sees_them():
    with pytest.raises(ValueError, match=r"^test_fraction must be in \(0, 1\), got 1\.0\.$"):
        data.load_digits(test_fraction=1)  # an int would be a number of images to scikit-learn
    with pytest.raises(ValueError, match=r"^val_fraction must be in \(0, 1\), got 0\.0\.$"):
        data.load_digits(val_fraction=0.0)
    with pytest.raises(
        ValueError, match=r"^val_fraction=0\.5 and test_fraction=0\.5 leave 0 training, .* one per class\.$"
    ):
        data.load_digits(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match=r"leave .* and 4 test images; each set needs at least 10"):
        data.load_digits(test_fraction=0.002)

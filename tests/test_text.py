"""Text helpers: vocabulary round trips, the held-out end, stream layouts that lose or repeat
nothing, and temperature sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlcourse import text
from dlcourse.data import load_moby_dick
from dlcourse.numpy.losses import softmax


@given(st.text(min_size=1, max_size=40))
def test_vocabulary_round_trip(s):
    vocab = text.Vocabulary.from_text(s)
    ids = vocab.encode(s)
    assert ids.dtype == np.int64 and ids.shape == (len(s),)
    assert vocab.decode(ids) == s
    assert list(vocab.chars) == sorted(set(s))  # each character once, in code-point order
    assert ids.max() < len(vocab)


def test_vocabulary_errors_name_the_problem():
    vocab = text.Vocabulary.from_text("hello")
    assert vocab.chars == "ehlo" and len(vocab) == 4
    np.testing.assert_array_equal(vocab.encode("hole"), [1, 3, 2, 0])
    with pytest.raises(ValueError, match=r"^text holds ' ', which is not in the vocabulary of 4 characters\.$"):
        vocab.encode("hole in 1")
    with pytest.raises(ValueError, match=r"^ids must be integers in \[0, 4\)"):
        vocab.decode(np.array([0, 4]))
    with pytest.raises(ValueError, match="text must be a non-empty string"):
        text.Vocabulary.from_text("")
    assert vocab.decode(np.array([], dtype=np.int64)) == ""


def test_moby_dick_vocabulary_and_split():
    corpus = load_moby_dick()
    vocab = text.Vocabulary.from_text(corpus)
    assert len(vocab) == 83 and len(corpus) > 1_000_000
    ids = vocab.encode(corpus)
    train, val = text.split(ids)
    assert len(val) == round(0.1 * len(ids)) and len(train) + len(val) == len(ids)
    np.testing.assert_array_equal(val, ids[-len(val) :])  # the END of the book is held out
    assert vocab.decode(train[:9]) == "CHAPTER 1"


def test_split_checks_its_fraction():
    with pytest.raises(ValueError, match=r"^val_fraction must be in \(0, 1\), got 1\.5\.$"):
        text.split(np.arange(10), 1.5)


def test_split_three_cuts_train_val_test_in_order():
    ids = np.arange(1000) % 83
    train, val, test = text.split_three(ids, 0.1, 0.15)
    assert (len(train), len(val), len(test)) == (750, 100, 150)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), ids)  # in order, nothing lost or repeated
    np.testing.assert_array_equal(text.split_three(ids)[2], text.split(ids)[1])  # the same final tenth as split
    with pytest.raises(ValueError, match=r"^test_fraction must be in \(0, 1\), got 0\.0\.$"):
        text.split_three(ids, 0.1, 0.0)
    with pytest.raises(ValueError, match=r"^val_fraction=0\.5 and test_fraction=0\.5 leave no text for training"):
        text.split_three(ids, 0.5, 0.5)


@pytest.mark.parametrize(
    ("length", "val", "test", "least"), [(5, 0.1, 0.1, 6), (4, 0.1, 0.1, 6), (10, 0.04, 0.3, 13), (0, 0.1, 0.1, 6)]
)
def test_split_three_refuses_a_text_too_short_for_every_part(length, val, test, least):
    """A fraction of a short text rounds to no ids: an empty validation or test part would give a
    NaN loss later, far from the cause, so the split says how long the text must be."""
    with pytest.raises(ValueError, match=rf"^ids must hold at least {least} ids for val_fraction={val} ") as caught:
        text.split_three(np.arange(length) % 7, val, test)
    assert str(caught.value).endswith(f"one id or more, got {length}.")
    assert all(len(part) for part in text.split_three(np.arange(least) % 7, val, test))  # the minimum is enough


def test_streams_and_chunks_read_the_text_in_order():
    ids = np.arange(23)
    streams = text.stream_batches(ids, 4)  # 5 rows; the last 3 ids do not fill a stream
    assert streams.shape == (5, 4) and streams.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(streams[:, 1], [5, 6, 7, 8, 9])  # stream 1 is the 2nd stretch
    pieces = list(text.chunks(streams, 2))
    assert len(pieces) == 2  # rows 0-1 and 2-3 (with targets up to row 4)
    for k, (x, y) in enumerate(pieces):
        np.testing.assert_array_equal(x, streams[2 * k : 2 * k + 2])
        np.testing.assert_array_equal(y, x + 1)  # the next character of the same stream
    with pytest.raises(ValueError, match=r"^ids is too short: 3 ids cannot fill 4 streams\.$"):
        text.stream_batches(np.arange(3), 4)


@given(st.integers(2, 200), st.integers(1, 20))
def test_evaluation_streams_score_every_pair_exactly_once(length, batch_size):
    ids = np.arange(length) * 7 % 101
    inputs, targets, mask = text.evaluation_streams(ids, batch_size)
    assert inputs.shape == targets.shape == mask.shape and mask.dtype == bool
    assert mask.sum() == length - 1
    pairs = sorted(zip(inputs[mask].tolist(), targets[mask].tolist(), strict=True))
    assert pairs == sorted(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
    # Within a stream the pairs are consecutive: a state carried down the rows sees the past.
    for b in range(inputs.shape[1]):
        real = mask[:, b]
        np.testing.assert_array_equal(inputs[1:, b][real[1:]], targets[:-1, b][real[1:]])


def test_softmax_with_temperature():
    logits = np.array([2.0, 1.0, 0.0])
    base = text.softmax_with_temperature(logits, 1.0)
    np.testing.assert_allclose(base, np.exp(logits) / np.exp(logits).sum())
    cold, hot = text.softmax_with_temperature(logits, 0.5), text.softmax_with_temperature(logits, 2.0)
    assert cold[0] > base[0] > hot[0] and cold[2] < base[2] < hot[2]  # sharper, flatter
    np.testing.assert_allclose(text.softmax_with_temperature(logits, 1e-3), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(text.softmax_with_temperature(logits, 1e4), np.full(3, 1 / 3), rtol=1e-3)
    big = text.softmax_with_temperature(np.array([1e4, 0.0]), 0.1)  # no overflow
    np.testing.assert_allclose(big, [1.0, 0.0])
    with pytest.raises(ValueError, match=r"^temperature must be a positive number, got 0\.$"):
        text.softmax_with_temperature(logits, 0)


def test_sampling_follows_the_distribution_and_the_seed():
    logits = np.log(np.array([0.7, 0.2, 0.1]))
    draws = [text.sample_from_logits(logits, 1.0, np.random.default_rng(s)) for s in range(2000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 2000, [0.7, 0.2, 0.1], atol=0.03)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert [text.sample_from_logits(logits, 1.5, rng_a) for _ in range(20)] == [
        text.sample_from_logits(logits, 1.5, rng_b) for _ in range(20)
    ]
    with pytest.raises(ValueError, match=r"^logits must have shape \(any,\), got \(2, 3\)\.$"):
        text.sample_from_logits(np.zeros((2, 3)), 1.0, rng_a)


def test_bad_input_gets_one_sentence_naming_the_argument():
    vocab = text.Vocabulary.from_text("hello")
    with pytest.raises(ValueError, match=r"^chars must be distinct characters in code-point order"):
        text.Vocabulary("ba")  # encode finds ids by binary search: unsorted chars would give wrong ids
    with pytest.raises(TypeError, match=r"^text must be a string, got bytes b'hole'\.$"):
        vocab.encode(b"hole")
    with pytest.raises(TypeError, match=r"^ids must be an array of integer character ids, got float64"):
        vocab.decode(np.array([0.0, 1.0]))
    assert vocab.decode([]) == ""  # an empty list is no ids, whatever NumPy's default dtype
    with pytest.raises(TypeError, match=r"^ids must be a 1-D array of integer character ids, got <U3 of shape \(\)\.$"):
        text.split("abc")
    with pytest.raises(TypeError, match=r"^batch_size must be an integer, got 2\.5\.$"):
        text.stream_batches(np.arange(10), 2.5)
    with pytest.raises(TypeError, match=r"^streams must be a 2-D array of integer character ids"):
        text.chunks(np.zeros((4, 2)), 2)  # refused at the call, not at the first chunk
    with pytest.raises(TypeError, match=r"^trainer must be an LMTrainer \(with streams\(\), step\(\)"):
        text.train_language_model(None, np.arange(10), steps=1)
    with pytest.raises(TypeError, match=r"^rng must be a numpy\.random\.Generator"):
        text.sample_from_logits(np.zeros(3), 1.0, 0)
    for logits in ([np.nan, 0.0], [np.inf, 0.0], [-np.inf, -np.inf]):
        with pytest.raises(ValueError, match=r"^logits must be finite scores"):
            text.sample_from_logits(np.array(logits), 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^lr must be a positive number"):
        text.cosine_lr(-0.1, 0.5)


def test_a_tiny_temperature_picks_the_largest_score_instead_of_overflowing():
    logits = np.array([[1.0, 5.0, -np.inf, 3.0], [2.0, 0.5, 1.0, 2.5]])
    for tau in (1e-310, 1e-300):  # logits / tau overflows; the maximum is subtracted first instead
        np.testing.assert_array_equal(text.softmax_with_temperature(logits, tau), [[0, 1, 0, 0], [0, 0, 0, 1]])
        assert text.sample_from_logits(logits[0], tau, np.random.default_rng(0)) == 1
    ordinary = text.softmax_with_temperature(logits, 0.7)  # where nothing overflows: softmax(z / tau), as before
    np.testing.assert_array_equal(ordinary, softmax(logits / 0.7))

"""Data augmentation (dlcourse.augment): every output image is a shifted copy (or a window) of its input
with the padding value where the content left, offsets cover the whole range, seeding repeats a run,
the input is never changed, and bad arguments are refused with one sentence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.augment import random_crop, random_shift


def shifted(image: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """``image`` (C, H, W) with its content moved down by dy and right by dx (negative: up, left),
    written with loops over the output pixels: the oracle."""
    c, h, w = image.shape
    out = np.full((c, h, w), fill, dtype=image.dtype)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = image[:, i - dy, j - dx]
    return out


def offsets_of(x: np.ndarray, out: np.ndarray, max_shift: int, fill: float) -> list[list[tuple[int, int]]]:
    """For each image, the shifts (dy, dx) in [-max_shift, max_shift]^2 that turn x into out: at least
    one, and exactly one unless the content can leave the frame entirely."""
    found = []
    for image, result in zip(x, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-max_shift, max_shift + 1)
            for dx in range(-max_shift, max_shift + 1)
            if np.array_equal(shifted(image, dy, dx, fill), result)
        ]
        assert matches, "no shift explains the output"
        assert len(matches) == 1 or max_shift >= min(x.shape[2:]), f"several shifts explain the output: {matches}"
        found.append(matches)
    return found


def distinct_images(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Images whose pixels are all different and none equals the fill values used here, so that
    exactly one shift explains each output."""
    values = np.random.default_rng(seed).permutation(n * c * h * w) + 1.0  # 1, 2, ...: never 0 or -1
    return values.reshape(n, c, h, w).astype(np.float32)


def test_each_output_is_its_input_shifted_with_the_fill_where_the_content_left():
    x = distinct_images(200, 2, 6, 5)
    out = random_shift(x, np.random.default_rng(0), max_shift=2, fill=-1.0)
    assert out.shape == x.shape and out.dtype == np.float32
    shifts = [only for (only,) in offsets_of(x, out, 2, -1.0)]
    assert set(shifts) == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every shift occurs
    counts = np.bincount([(dy + 2) * 5 + dx + 2 for dy, dx in shifts], minlength=25)
    assert counts.max() < 25  # roughly uniform: 8 expected per shift, 200 images
    rows, cols = np.arange(6)[:, None], np.arange(5)[None, :]
    for result, (dy, dx) in zip(out, shifts, strict=True):  # the fill, exactly where the content left
        entering = (rows < dy) | (rows >= 6 + dy) | (cols < dx) | (cols >= 5 + dx)  # (H, W)
        assert np.all(result[:, entering] == -1.0) and np.all(result[:, ~entering] >= 1)


def test_a_crop_without_padding_is_a_window_of_the_image():
    x = distinct_images(50, 1, 7, 6)
    out = random_crop(x, np.random.default_rng(1), (4, 3))
    assert out.shape == (50, 1, 4, 3)
    corners = set()
    for image, window in zip(x, out, strict=True):
        at = [
            (r, c)
            for r in range(4)
            for c in range(4)
            if np.array_equal(image[:, r : r + 4, c : c + 3], window)  # 7 - 4 + 1 and 6 - 3 + 1 positions
        ]
        assert len(at) == 1
        corners |= set(at)
    assert corners == {(r, c) for r in range(4) for c in range(4)}


def test_a_padded_crop_may_include_the_fill_and_a_square_size_is_one_int():
    x = np.ones((300, 1, 3, 3))
    out = random_crop(x, np.random.default_rng(2), 3, padding=1, fill=5.0)
    assert out.shape == (300, 1, 3, 3)
    assert set(np.unique(out)) == {1.0, 5.0}
    assert (out == 1).all(axis=(1, 2, 3)).any()  # the centred window
    assert (out == 5).sum(axis=(1, 2, 3)).max() == 5  # a corner window: one row and one column of fill


def test_seeding_repeats_a_run_and_the_generator_moves_on():
    x = distinct_images(20, 1, 8, 8)
    a = random_shift(x, np.random.default_rng(7), 3)
    b = random_shift(x, np.random.default_rng(7), 3)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(7)
    first, second = random_shift(x, rng, 3), random_shift(x, rng, 3)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)
    assert not np.array_equal(a, random_shift(x, np.random.default_rng(8), 3))


def test_the_input_is_left_alone_and_the_output_is_a_new_array():
    x = distinct_images(4, 1, 5, 5)
    before = x.copy()
    out = random_shift(x, np.random.default_rng(0), 0)
    np.testing.assert_array_equal(out, x)  # no shift: a copy
    out[...] = 0
    np.testing.assert_array_equal(x, before)
    random_crop(x, np.random.default_rng(0), 2, padding=2, fill=9.0)
    np.testing.assert_array_equal(x, before)


def test_dtypes_and_an_empty_batch():
    assert random_shift(np.zeros((2, 1, 4, 4), np.float64), np.random.default_rng(0)).dtype == np.float64
    assert random_shift(np.zeros((2, 1, 4, 4), np.uint8), np.random.default_rng(0)).dtype == np.float64
    assert random_shift(np.zeros((0, 3, 4, 4), np.float32), np.random.default_rng(0)).shape == (0, 3, 4, 4)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(1, 2),
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(0, 3),
    st.integers(0, 2**16),
)
def test_shift_is_a_shifted_copy_for_any_shape(n, c, h, w, max_shift, seed):
    x = distinct_images(n, c, h, w, seed)
    out = random_shift(x, np.random.default_rng(seed), max_shift, fill=0.0)
    assert out.shape == x.shape and out.dtype == x.dtype
    offsets_of(x, out, max_shift, 0.0)  # each output is explained by a shift within the range


REFUSED = {  # what -> (call, error type, sentence)
    "one image without a batch axis": (
        lambda: random_shift(np.zeros((1, 4, 4)), np.random.default_rng(0)),
        ValueError,
        "x must be a batch of images of shape (N, C, H, W), got shape (1, 4, 4).",
    ),
    "a seed for rng": (
        lambda: random_shift(np.zeros((1, 1, 4, 4)), 0),
        TypeError,
        "rng must be a numpy.random.Generator, such as np.random.default_rng(0), got 0.",
    ),
    "a negative shift": (
        lambda: random_shift(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), -1),
        ValueError,
        "max_shift must be a non-negative integer, got -1.",
    ),
    "a fractional shift": (
        lambda: random_shift(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), 1.5),
        TypeError,
        "max_shift must be an integer, got 1.5.",
    ),
    "a NaN fill": (
        lambda: random_shift(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), 1, fill=float("nan")),
        ValueError,
        "fill must be a finite number, got nan.",
    ),
    "a fill given as a string": (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), 2, fill="0"),
        TypeError,
        "fill must be a real number, got '0'.",
    ),
    "a window larger than the padded image": (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), (3, 7), padding=1),
        ValueError,
        "size must fit in the padded images (6, 6), got (3, 7).",
    ),
    "a window of zero rows": (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), (0, 2)),
        ValueError,
        "size must be a positive integer, got 0.",
    ),
    "negative padding": (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), np.random.default_rng(0), 2, padding=-1),
        ValueError,
        "padding must be a non-negative integer, got -1.",
    ),
    "strings for images": (
        lambda: random_shift("digits", np.random.default_rng(0)),
        TypeError,
        "x must be a numeric array, got 'digits'.",
    ),
}


@pytest.mark.parametrize("what", REFUSED)
def test_bad_arguments_are_refused_in_one_sentence(what):
    call, error, sentence = REFUSED[what]
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == sentence

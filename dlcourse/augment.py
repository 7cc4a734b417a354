"""Data augmentation for image batches: random crops and random shifts, NumPy in and NumPy out.

A network trained on a few thousand digits sees each of them many times; showing it a slightly
moved copy each time is a cheap way to get more varied training data, and it teaches the network
that a digit moved by a pixel or two is the same digit. Both functions work on a batch of shape
(N, C, H, W), give every image its own random offset, draw the offsets from the generator they are
handed (so a seeded run is repeatable), and return a new array (the input is never changed).
For the torch tree, convert with ``torch.from_numpy`` after augmenting.

- :func:`random_crop` cuts a random window of a given size out of each image, optionally after
  padding every side with a constant (``fill``);
- :func:`random_shift` moves each image by up to ``max_shift`` pixels along each axis: it pads by
  ``max_shift`` and crops a window of the original size, so the pixels that come in from outside
  are ``fill`` (choose the background: 0 for digits in [0, 1], or the standardised background
  value after standardising).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlcourse.checks import as_pair
from dlcourse.validation import as_count, as_finite, as_float_array, check_allocation, check_rng

__all__ = ["random_crop", "random_shift"]


def _images(x: object) -> np.ndarray:
    """A batch of images (N, C, H, W), as a float array."""
    x = as_float_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W), got shape {tuple(x.shape)}.")
    return x


def random_crop(
    x: np.ndarray, rng: np.random.Generator, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0
) -> np.ndarray:
    """A random ``size`` window of every image, after padding each side by ``padding`` pixels of ``fill``.

    Each image gets its own window, uniformly among the (H + 2 padding - KH + 1) (W + 2 padding -
    KW + 1) positions that fit inside the padded image.

    Args:
        x: (N, C, H, W) images; integer arrays become float64, float arrays keep their dtype.
        rng: the generator the positions are drawn from (two arrays of N integers).
        size: KH = KW, or a pair (KH, KW), at most the padded image.
        padding: pixels added on every side before cropping (0: every window lies inside the image).
        fill: the value of the padding pixels, a finite number.

    Returns:
        (N, C, KH, KW), a new array of x's dtype.

    Raises:
        TypeError: x is not a numeric array, rng not a generator, or size, padding or fill not numbers.
        ValueError: x is not (N, C, H, W), the window is larger than the padded image, padding is
            negative or fill not finite.
    """
    x = _images(x)
    check_rng(rng)
    kh, kw = as_pair(size, "size")
    padding = as_count(padding, "padding", minimum=0)
    fill = as_finite(fill, "fill")
    n, c, h, w = x.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    if kh > hp or kw > wp:
        raise ValueError(f"size must fit in the padded images ({hp}, {wp}), got ({kh}, {kw}).")
    check_allocation((n, c, hp, wp), "the padded images")
    pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    padded = np.pad(x, pad, constant_values=fill) if padding else x  # (N, C, Hp, Wp)
    rows = rng.integers(0, hp - kh + 1, size=n)  # (N,) top edge of each window
    cols = rng.integers(0, wp - kw + 1, size=n)  # (N,) left edge
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))  # (N, C, Hp-KH+1, Wp-KW+1, KH, KW) view
    return windows[np.arange(n), :, rows, cols]  # (N, C, KH, KW): one window per image, a copy


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 2, fill: float = 0.0) -> np.ndarray:
    """Move every image by a random whole number of pixels in [-max_shift, max_shift] along each axis.

    The image is padded by ``max_shift`` pixels of ``fill`` on every side and an H x W window is cut
    out at a random position: the content moves, the pixels that leave the frame are lost, and the
    ones that enter it are ``fill``.

    Args:
        x: (N, C, H, W) images; integer arrays become float64, float arrays keep their dtype.
        rng: the generator the shifts are drawn from (two arrays of N integers).
        max_shift: the largest shift along each axis, >= 0 (0 returns a copy).
        fill: the value of the pixels that come in from outside, a finite number.

    Returns:
        (N, C, H, W), a new array of x's dtype.
    """
    x = _images(x)
    max_shift = as_count(max_shift, "max_shift", minimum=0)
    return random_crop(x, rng, (x.shape[2], x.shape[3]), padding=max_shift, fill=fill)

"""Text in windows, for language models that read a fixed context (transformers), with no backend.

An LSTM carries its state from one chunk of text to the next, so it can read a text of any length
(:mod:`dlcourse.text`). A transformer reads at most ``context_size`` positions at a time: it is
scored on overlapping windows, so that every character keeps some context (:func:`evaluation_windows`),
and when it writes a text longer than its context it slides its window forward
(:func:`window_start`), the same way whether or not it caches keys and values (:func:`sample_text`). Training needs no
helper here: the chunks of :func:`dlcourse.text.train_language_model`, each read on its own, are
independent windows. Both trees use this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dlcourse.checks import check_char_ids
from dlcourse.text import sample_from_logits
from dlcourse.validation import as_count, as_flag, check_allocation, check_positive, check_rng, describe

__all__ = ["evaluation_windows", "sample_text", "window_start"]


def evaluation_windows(
    ids: np.ndarray, context_size: int, stride: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (character, next character) pair of a text, in overlapping windows of ``context_size``.

    Window w reads ids[w S : w S + C] (S the stride, C the context) and predicts the next id at each
    position. The first window scores all its C predictions; each later one scores only its last S,
    which the windows before it have not scored, so every prediction is scored exactly once and,
    after the first window, with at least C - S characters of context. The last window is padded
    with id 0 and the padding masked out (a causal model's predictions do not depend on what follows).

    Args:
        ids: (L,) the encoded text, L >= 2.
        context_size: C, the positions a window holds.
        stride: S in [1, C], the shift between windows (default C // 2, at least 1).

    Returns:
        inputs (W, C), targets (W, C), int64, and mask (W, C) bool, True where a prediction is scored.
    """
    ids = check_char_ids(ids, "ids").astype(np.int64, copy=False)
    context_size = as_count(context_size, "context_size")
    stride = max(context_size // 2, 1) if stride is None else as_count(stride, "stride", maximum=context_size)
    if len(ids) < 2:
        raise ValueError(f"ids must hold at least 2 characters to score one prediction, got {len(ids)}.")
    pairs = len(ids) - 1
    count = 1 + -(-max(pairs - context_size, 0) // stride)  # windows: the first, then one per stride (ceil)
    starts = np.arange(count) * stride  # (W,)
    padded = np.zeros(starts[-1] + context_size + 1, dtype=np.int64)
    padded[: len(ids)] = ids
    index = starts[:, None] + np.arange(context_size)  # (W, C) the pair each position predicts
    mask = index < pairs
    mask[1:, : context_size - stride] = False  # scored by the window before
    return padded[index], padded[index + 1], mask


def window_start(start: int, end: int, context_size: int) -> int:
    """Where the window of a fixed-context model starts once the text is ids[:end].

    The window stays at ``start`` while ids[start:end] fits in the context; when it no longer fits,
    it moves forward so that the last ``context_size - context_size // 4`` ids remain. A sampler
    with a key-value cache refills its cache from those ids then (the cached keys hold their old
    positions), and a sampler without one reads the same window, so both see the same characters.

    Args:
        start: where the window started, 0 <= start <= end.
        end: the length of the text so far.
        context_size: C.

    Returns:
        The new start.
    """
    context_size = as_count(context_size, "context_size")
    end = as_count(end, "end", minimum=0)
    start = as_count(start, "start", minimum=0, maximum=end)
    if end - start <= context_size:
        return start
    return end - (context_size - context_size // 4)


def sample_text(
    next_logits: Callable[[np.ndarray, Any], tuple[np.ndarray, Any]],
    prompt_ids: np.ndarray,
    length: int,
    context_size: int,
    temperature: float,
    rng: np.random.Generator,
    use_cache: bool = True,
) -> np.ndarray:
    """Sample ``length`` ids from a fixed-context model, one at a time, after its prompt: the loop that
    both trees' ``generate`` share, with or without a key-value cache.

    Each id is drawn from the temperature softmax of the model's last logits
    (:func:`dlcourse.text.sample_from_logits`) and appended to the text. With ``use_cache`` the
    model then reads only that id, continuing its cache; without, it reads its whole window again.
    When the text outgrows the context the window moves (:func:`window_start`) and the cache is
    refilled from the new window, so both ways read the same characters at every step.

    Args:
        next_logits: ``next_logits(ids, past)`` -> (the logits after the last of ``ids``, (V,) as a
            NumPy array, and the cache of all positions read); ``ids`` (T,) continue the cache
            ``past``, or start a window when it is None. The trees pass their model's forward pass.
        prompt_ids: (P,) ids to read first, P >= 1.
        length: the number of ids to draw.
        context_size: C, the model's context.
        temperature: > 0.
        rng: the generator to draw with.
        use_cache: continue the cache (True) or read the whole window at every step (False).

    Returns:
        (length,) the drawn ids, int64.
    """
    if not callable(next_logits):
        raise TypeError(f"next_logits must be a function of (ids, past), got {describe(next_logits)}.")
    prompt_ids = check_char_ids(prompt_ids, "prompt_ids")
    if len(prompt_ids) == 0:
        raise ValueError("prompt_ids must hold at least one id to start from, got none.")
    length, context_size = as_count(length, "length", minimum=0), as_count(context_size, "context_size")
    check_allocation((len(prompt_ids) + length,), "the text")
    temperature, rng, use_cache = (
        check_positive(temperature, "temperature"),
        check_rng(rng),
        as_flag(use_cache, "use_cache"),
    )
    text = np.empty(len(prompt_ids) + length, dtype=np.int64)
    text[: len(prompt_ids)] = prompt_ids
    end = len(prompt_ids)
    start = window_start(0, end, context_size)
    logits, past = next_logits(text[start:end], None)
    for k in range(length):
        text[end] = sample_from_logits(logits, temperature, rng)
        end += 1
        if k == length - 1:
            break
        moved = window_start(start, end, context_size)
        if use_cache and moved == start:
            logits, past = next_logits(text[end - 1 : end], past)
        else:
            logits, past = next_logits(text[moved:end], None)
        start = moved
    return text[len(prompt_ids) :]

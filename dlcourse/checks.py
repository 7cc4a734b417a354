"""The argument checks of each concept, shared by both trees: a NumPy function and its torch twin
call the same check, so they accept the same input and refuse bad input with the same sentence.

Each takes ``to_array`` (:func:`dlcourse.validation.as_float_array` or
:func:`dlcourse.validation.as_float_tensor`) for the tree's conversion; the one-sentence primitives
they are built from live in :mod:`dlcourse.validation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlcourse.validation import (
    as_count,
    as_float_array,
    as_float_tensor,
    as_fraction,
    as_real,
    check_allocation,
    check_labels,
    check_positive,
    check_rng,
    check_shape,
    describe,
    promote,
)

__all__ = [
    "as_pair",
    "check_cache",
    "check_cell",
    "check_char_ids",
    "check_char_lm",
    "check_conv",
    "check_fit",
    "check_flatten",
    "check_generate",
    "check_input",
    "check_lenet",
    "check_linear",
    "check_lm_input",
    "check_lm_sizes",
    "check_logits",
    "check_lstm_state",
    "check_matmul",
    "check_neuron",
    "check_perceptron_update",
    "check_pool_input",
    "check_pool_stride",
    "check_training",
]


def check_matmul(a: Any, b: Any, to_array: Callable) -> tuple:
    """Convert and check the operands of a matrix product: a (n, k) and b (k, m)."""
    a, b = to_array(a, "a"), to_array(b, "b")
    check_shape(a, "a", (None, None))
    check_shape(b, "b", (a.shape[1], None))
    return promote(a, b)


def check_linear(x: Any, weight: Any, bias: Any, to_array: Callable) -> tuple:
    """Convert and check a linear layer's inputs, x (N, D_in), weight (D_in, D_out) and bias
    (D_out,), and bring them to their common float dtype (:func:`promote`)."""
    x, weight, bias = to_array(x, "x"), to_array(weight, "weight"), to_array(bias, "bias")
    check_shape(weight, "weight", (None, None))
    check_shape(x, "x", (None, weight.shape[0]))
    check_shape(bias, "bias", (weight.shape[1],))
    return promote(x, weight, bias)


def check_input(x: Any, shape: tuple[int | None, ...], dtype: Any, to_array: Callable) -> Any:
    """A layer's input, checked once at the layer's entry: converted to float, checked against
    ``shape``, then cast to ``dtype``, the dtype of the layer's parameters (both trees compute a
    layer in its parameters' dtype, as ``torch.nn`` expects)."""
    x = to_array(x, "x")
    check_shape(x, "x", shape)
    return x.astype(dtype, copy=False) if isinstance(x, np.ndarray) else x.to(dtype)


def check_conv(x: Any, weight: Any, bias: Any, to_array: Callable) -> tuple:
    """Convert and check a convolution's inputs: x (N, C, H, W), weight (F, C, KH, KW), bias (F,).

    ``to_array`` is :func:`as_float_array` or :func:`as_float_tensor`, so both trees refuse alike.
    """
    x, weight, bias = to_array(x, "x"), to_array(weight, "weight"), to_array(bias, "bias")
    check_shape(x, "x", (None, None, None, None))
    check_shape(weight, "weight", (None, x.shape[1], None, None))
    check_shape(bias, "bias", (weight.shape[0],))
    if 0 in (x.shape[1], weight.shape[0]):
        raise ValueError(
            f"x and weight must have at least one channel and one kernel, got x {tuple(x.shape)}, weight {tuple(weight.shape)}."
        )
    return promote(x, weight, bias)


def as_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """A kernel size or stride as a pair of positive ints: ``3`` becomes ``(3, 3)``."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {describe(value)}.")
    return as_count(pair[0], name), as_count(pair[1], name)


def check_neuron(x: Any, weight: Any, bias: Any, to_array: Callable) -> tuple:
    """A neuron's arguments: x (N, D) or (D,), weight (D,) and a number ``bias``, converted to their
    common float dtype."""
    x, weight = to_array(x, "x"), to_array(weight, "weight")
    check_shape(weight, "weight", (None,))
    check_shape(x, "x", (weight.shape[0],) if x.ndim == 1 else (None, weight.shape[0]))
    x, weight = promote(x, weight)
    return x, weight, as_real(bias, "bias")


def check_perceptron_update(x: Any, weight: Any, bias: Any, y: Any, lr: Any, to_array: Callable) -> tuple:
    """The perceptron rule's arguments: one example x (D,), weight (D,), a number ``bias``, a label
    ``y`` of 0 or 1 and a positive ``lr``."""
    x, weight, bias = check_neuron(x, weight, bias, to_array)
    check_shape(x, "x", (weight.shape[0],))
    y = as_real(y, "y")
    if y not in (0.0, 1.0):
        raise ValueError(f"y must be the label 0 or 1, got {describe(y)}.")
    return x, weight, bias, y, check_positive(lr, "lr")


def check_pool_stride(kernel: int, stride: int | None) -> tuple[int, int]:
    """The pooling window and stride as positive ints; the stride is the window when None."""
    kernel = as_count(kernel, "kernel")
    return kernel, kernel if stride is None else as_count(stride, "stride")


def check_lenet(
    rng: Any,
    channels: Any,
    kernel_size: Any,
    hidden: Any,
    dropout: Any,
    in_channels: Any,
    image_size: Any,
    n_classes: Any,
) -> None:
    """The arguments of ``lenet`` in either tree: sizes are positive integers, ``channels`` a
    sequence of them, ``dropout`` in [0, 1), and the kernel fits in the image."""
    check_rng(rng)
    if not isinstance(channels, (tuple, list)) or not channels:
        raise TypeError(f"channels must be a non-empty tuple of positive integers, got {describe(channels)}.")
    for c in channels:
        as_count(c, "channels")
    for value, name in ((kernel_size, "kernel_size"), (hidden, "hidden"), (in_channels, "in_channels")):
        as_count(value, name)
    as_count(image_size, "image_size")
    as_count(n_classes, "n_classes")
    as_fraction(dropout, "dropout")


def check_flatten(x: Any, to_array: Callable) -> Any:
    """The input of a Flatten layer: a float array or tensor with a batch axis and at least one more."""
    x = to_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one more, got shape {tuple(x.shape)}.")
    return x


def check_pool_input(x: Any, kernel: int, stride: int, to_array: Callable) -> Any:
    """A pooling input: a float (N, C, H, W) array or tensor in which the window fits both ways."""
    x = to_array(x, "x")
    check_shape(x, "x", (None, None, None, None))
    if kernel > min(x.shape[2:]):
        raise ValueError(f"the pooling window ({kernel}) is larger than the input's {tuple(x.shape[2:])} feature maps.")
    return x


def check_logits(logits: Any, to_array: Callable, name: str = "logits") -> Any:
    """Scores (or probabilities) over classes on the last axis: a float array or tensor with at
    least one axis and at least one class."""
    logits = to_array(logits, name)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"{name} must have a last axis of at least one class, got shape {tuple(logits.shape)}.")
    return logits


def check_fit(
    x: Any, y: Any, epochs: int, batch_size: int, rng: Any, x_val: Any, y_val: Any, to_array: Callable
) -> tuple:
    """The arguments of ``train.fit`` in either tree: x (N, ...) without NaN, y (N,) integer labels
    >= 0, positive epochs and batch size, a NumPy generator, and validation data given as a pair.

    Returns:
        (x, y, x_val, y_val), converted; the validation pair may be (None, None).
    """
    x = to_array(x, "x", allow_nan=False)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of examples, shape (N, ...), got shape {tuple(x.shape)}.")
    y = check_labels(y, "y", num_classes=2**62, shape=(len(x),))
    as_count(epochs, "epochs")
    as_count(batch_size, "batch_size")
    check_rng(rng)
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: give both or neither.")
    if x_val is not None:
        x_val = to_array(x_val, "x_val", allow_nan=False)
        check_shape(x_val, "x_val", (None, *x.shape[1:]))
        if len(x_val) == 0:
            raise ValueError("x_val is empty; give at least one validation example, or neither x_val nor y_val.")
        y_val = check_labels(y_val, "y_val", num_classes=2**62, shape=(len(x_val),))
    return x, y, x_val, y_val


def check_cache(cache: Any, layer: Any) -> Any:
    """A NumPy layer's cache, or a sentence when ``backward`` comes before any ``forward``."""
    if cache is None:
        raise ValueError(f"{type(layer).__name__}.backward was called before forward; call the layer on a batch first.")
    return cache


def check_cell(
    x: Any,
    h_prev: Any,
    c_prev: Any,
    weight_ih: Any,
    weight_hh: Any,
    bias_ih: Any,
    bias_hh: Any,
    gates: int,
    step: bool,
    to_array: Callable,
) -> tuple:
    """Convert and check the arguments of a recurrent cell with ``gates`` blocks (1: RNN, 4: LSTM),
    and bring them to their common float dtype (:func:`promote`). x is (N, D) for one step,
    (T, N, D) for a sequence, with T >= 1; ``h0`` and ``c0`` may be None (zeros), one step needs
    its states (an RNN's ``c_prev`` is None). Messages name the argument, as everywhere in the package.

    Returns:
        (x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh), converted; None stays None.
    """
    names = ("x", "h_prev", "c_prev") if step else ("x", "h0", "c0")
    names += ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    optional = {"c_prev"} if gates == 1 else set()  # an RNN has no cell state: its caller passes None
    optional |= {"h0", "c0"}  # a sequence may start from zeros
    values = [
        None if v is None and name in optional else to_array(v, name)
        for v, name in zip((x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh), names, strict=True)
    ]
    x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh = values
    check_shape(weight_ih, "weight_ih", (None, None))
    rows = weight_ih.shape[0]
    if rows % gates or rows == 0:
        raise ValueError(
            f"weight_ih must have {gates} H rows for a hidden size H (the gate blocks i, f, g, o), got shape "
            f"{tuple(weight_ih.shape)}."
        )
    hidden = rows // gates
    check_shape(weight_hh, "weight_hh", (rows, hidden))
    check_shape(bias_ih, "bias_ih", (gates * hidden,))
    check_shape(bias_hh, "bias_hh", (gates * hidden,))
    features = weight_ih.shape[1]
    check_shape(x, "x", (None, features) if step else (None, None, features))
    if not step and x.shape[0] == 0:
        raise ValueError(f"x must hold at least one time step, got shape {tuple(x.shape)}.")
    batch = x.shape[0] if step else x.shape[1]
    for value, name in ((h_prev, names[1]), (c_prev, names[2])):
        if value is not None:
            check_shape(value, name, (batch, hidden))
    present = promote(*(v for v in values if v is not None))
    it = iter(present)
    return tuple(None if v is None else next(it) for v in values)


def check_lstm_state(state: Any) -> tuple:
    """An LSTM layer's initial state: None (zeros) or a pair (h0, c0)."""
    if state is None:
        return None, None
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"state must be None or a pair (h0, c0), got {type(state).__name__}.")
    return tuple(state)


def check_training(
    steps: int | None,
    budget_s: float | None,
    ids: np.ndarray,
    batch_size: int,
    seq_len: int,
    log_every: int = 1,
    eval_every: int | None = None,
) -> None:
    """The arguments of a language model's training: an end (steps or a time budget), positive sizes,
    and a text long enough for one batch of chunks."""
    if steps is None and budget_s is None:
        raise ValueError("give steps or budget_s (or both): training needs an end.")
    for value, name in ((steps, "steps"), (log_every, "log_every"), (eval_every, "eval_every")):
        if value is not None:
            as_count(value, name)
    if budget_s is not None:
        check_positive(budget_s, "budget_s")
    batch_size, seq_len = as_count(batch_size, "batch_size"), as_count(seq_len, "seq_len")
    if len(ids) < batch_size * (seq_len + 1):
        raise ValueError(
            f"train_ids is too short: {len(ids)} characters, expected at least batch_size * (seq_len + 1) = "
            f"{batch_size * (seq_len + 1)}."
        )


def check_char_ids(ids: Any, name: str, vocab_size: int | None = None, ndim: int | None = 1, tensors: bool = False):
    """Character ids: an integer NumPy array of ``ndim`` axes (None: any), or the tensor itself where
    ``tensors`` allows one, with every id in [0, vocab_size) if that is given (never wrapped)."""
    if not (tensors and hasattr(ids, "numel")):
        try:
            ids = np.asarray(ids)
        except Exception:  # ragged lists, bfloat16 tensors, tensors on a GPU
            raise TypeError(f"{name} must be an array of integer character ids, got {describe(ids)}.") from None
        ids = ids.astype(np.int64) if ids.size == 0 and ids.dtype.kind == "f" else ids  # [] is float64
    integer = str(ids.dtype).removeprefix("torch.").startswith(("int", "uint"))  # NumPy's and torch's dtypes
    if not integer or (ndim is not None and ids.ndim != ndim):
        axes = "an array" if ndim is None else f"a {ndim}-D array"
        raise TypeError(f"{name} must be {axes} of integer character ids, got {ids.dtype} of shape {tuple(ids.shape)}.")
    if vocab_size is not None and math.prod(ids.shape) and not 0 <= int(ids.min()) <= int(ids.max()) < vocab_size:
        raise ValueError(
            f"{name} must hold ids in [0, {vocab_size}) (the model's vocab_size), got values from {int(ids.min())} "
            f"to {int(ids.max())}."
        )
    return ids


def check_char_lm(model: Any, cls: type) -> Any:
    """``model`` itself, after checking that it is a ``CharLM`` of the tree whose class is ``cls``."""
    if not isinstance(model, cls):
        got = (
            f"a {type(model).__name__} from {type(model).__module__}" if hasattr(model, "__dict__") else describe(model)
        )
        raise TypeError(f"model must be a CharLM of this tree, got {got}.")
    return model


def check_lm_sizes(vocab_size: Any, hidden_size: Any, rng: Any, embedding_dim: Any, num_layers: Any, dropout: Any):
    """``CharLM``'s arguments in either tree: sizes >= 1 (returned as ints V, H, E, layers), rng, dropout."""
    sizes = {"vocab_size": vocab_size, "hidden_size": hidden_size, "embedding_dim": embedding_dim, "layers": num_layers}
    v, h, e, n = (as_count(value, name if name != "layers" else "num_layers") for name, value in sizes.items())
    check_rng(rng)
    as_fraction(dropout, "dropout")
    total = v * (e + h + 1) + 4 * h * (e + h + 2) + (n - 1) * 8 * h * (h + 1)  # embedding, head, LSTM layers
    check_allocation((total,), "the CharLM's parameters")
    return v, h, e, n


def check_lm_input(ids: Any, state: Any, vocab_size: int, num_layers: int, hidden_size: int, like: Any) -> tuple:
    """A ``CharLM``'s input: ids (T, N) in [0, vocab_size), T, N >= 1, and None or a state (h, c) of real
    (num_layers, N, H) arrays, cast to the dtype and device of ``like``, a parameter (the model's dtype)."""
    numpy = isinstance(like, np.ndarray)
    ids = check_char_ids(ids, "ids", vocab_size, ndim=2, tensors=not numpy)
    if 0 in ids.shape:
        raise ValueError(f"ids must hold at least one step of one stream, got shape {tuple(ids.shape)}.")
    if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
        raise TypeError(f"state must be None or a pair (h, c) of arrays, got {describe(state)}.")
    converted = []
    for k, value in enumerate(state or ()):
        value = (as_float_array if numpy else as_float_tensor)(value, f"state[{k}]")
        check_shape(value, f"state[{k}]", (num_layers, ids.shape[1], hidden_size))
        converted.append(value.astype(like.dtype, copy=False) if numpy else value.to(like.device, like.dtype))
    return ids, None if state is None else tuple(converted)


def check_generate(model: Any, cls: type, prompt_ids: Any, length: Any, temperature: Any, rng: Any) -> tuple:
    """The arguments of ``charlm.generate`` in either tree (``cls`` is the tree's ``CharLM``):
    (prompt_ids as int64, length, temperature, rng), checked."""
    prompt_ids = check_char_ids(prompt_ids, "prompt_ids", check_char_lm(model, cls).vocab_size)
    if len(prompt_ids) == 0:
        raise ValueError("prompt_ids must hold at least one id to start from, got none.")
    length = as_count(length, "length", minimum=0)
    check_allocation((length,), "length")
    rng = check_rng(rng) if rng is not None else np.random.default_rng(0)
    return prompt_ids.astype(np.int64, copy=False), length, check_positive(temperature, "temperature"), rng

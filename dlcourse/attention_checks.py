"""The argument checks of attention and the transformer, shared by :mod:`dlcourse.numpy.attention`,
:mod:`dlcourse.numpy.transformer` and their torch twins, so that the two trees accept the same input and
refuse bad input with the same sentence. The one-sentence primitives they are built from live in
:mod:`dlcourse.validation`.

Each check that converts arrays takes ``to_array`` (:func:`dlcourse.validation.as_float_array` or
:func:`dlcourse.validation.as_float_tensor`) for the tree's conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dlcourse.checks import check_char_ids
from dlcourse.validation import (
    as_count,
    as_flag,
    check_allocation,
    check_positive,
    check_rng,
    check_shape,
    describe,
    promote,
)

__all__ = [
    "BLOCK_NAMES",
    "POSITIONS",
    "check_attention",
    "check_block",
    "check_char_transformer",
    "check_heads",
    "check_multi_head",
    "check_past",
    "check_sampling",
    "check_transformer_input",
    "check_transformer_sizes",
    "check_transformer_training",
]

# The parameters of a transformer block, by torch.nn.TransformerEncoderLayer's names: the shape of
# each as a function of the width D and the MLP's hidden width F (torch's layout: (out, in)).
BLOCK_NAMES = (
    "norm1.weight",
    "norm1.bias",
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "norm2.weight",
    "norm2.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
)
POSITIONS = ("learned", "sinusoidal", "none")  # the kinds of positional information a CharTransformer adds


def _block_shapes(width: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """The shape of each block parameter for width D and MLP width F."""
    d, f = width, hidden
    shapes = ((d,), (d,), (3 * d, d), (3 * d,), (d, d), (d,), (d,), (d,), (f, d), (f,), (d, f), (d,))
    return dict(zip(BLOCK_NAMES, shapes, strict=True))


def check_heads(embed_dim: Any, num_heads: Any) -> tuple[int, int]:
    """The width D and the number of heads h as positive ints, h dividing D (each head gets D / h)."""
    embed_dim, num_heads = as_count(embed_dim, "embed_dim"), as_count(num_heads, "num_heads")
    if embed_dim % num_heads:
        raise ValueError(
            f"num_heads must divide embed_dim so that every head gets embed_dim / num_heads features, "
            f"got embed_dim={embed_dim} and num_heads={num_heads}."
        )
    return embed_dim, num_heads


def check_attention(q: Any, k: Any, v: Any, causal: Any, to_array: Callable) -> tuple:
    """The arguments of ``scaled_dot_product_attention_forward``: q (..., T_q, d), k (..., T_k, d) and
    v (..., T_k, d_v) with the same leading axes, at least one key, and with ``causal`` at least as
    many keys as queries (query i sits at position T_k - T_q + i). Returns (q, k, v, causal), the
    arrays in their common float dtype."""
    q, k, v = to_array(q, "q"), to_array(k, "k"), to_array(v, "v")
    if q.ndim < 2:
        raise ValueError(f"q must have shape (..., T_q, d), at least 2 axes, got {tuple(q.shape)}.")
    lead = tuple(q.shape[:-2])
    check_shape(k, "k", (*lead, None, q.shape[-1]))
    check_shape(v, "v", (*lead, k.shape[-2], None))
    causal = as_flag(causal, "causal")
    if k.shape[-2] == 0:
        raise ValueError(f"k must hold at least one key to attend to, got shape {tuple(k.shape)}.")
    if causal and q.shape[-2] > k.shape[-2]:
        raise ValueError(
            f"causal attention needs at least as many keys as queries (the last query sees every key), "
            f"got {q.shape[-2]} queries and {k.shape[-2]} keys."
        )
    check_allocation((*lead, q.shape[-2], k.shape[-2]), "the attention weights")
    q, k, v = promote(q, k, v)
    return q, k, v, causal


def check_past(past: Any, batch: int, num_heads: int, head_dim: int, like: Any, to_array: Callable) -> Any:
    """A key-value cache of earlier positions: None, or a pair (keys, values), each (B, h, P, D / h),
    cast to the dtype of ``like``."""
    if past is None:
        return None
    if not isinstance(past, (tuple, list)) or len(past) != 2:
        raise TypeError(f"past must be None or a pair (keys, values) of arrays, got {describe(past)}.")
    keys, values = to_array(past[0], "past[0]"), to_array(past[1], "past[1]")
    check_shape(keys, "past[0]", (batch, num_heads, None, head_dim))
    check_shape(values, "past[1]", tuple(keys.shape))
    if isinstance(like, np.ndarray):
        return keys.astype(like.dtype, copy=False), values.astype(like.dtype, copy=False)
    return keys.to(like.device, like.dtype), values.to(like.device, like.dtype)


def check_multi_head(
    x: Any,
    in_proj_weight: Any,
    in_proj_bias: Any,
    out_proj_weight: Any,
    out_proj_bias: Any,
    num_heads: Any,
    causal: Any,
    past: Any,
    to_array: Callable,
) -> tuple:
    """The arguments of ``multi_head_attention_forward``: x (B, T, D), in_proj_weight (3D, D),
    in_proj_bias (3D,), out_proj_weight (D, D), out_proj_bias (D,), h heads dividing D, a flag and a
    cache ``past`` (see :func:`check_past`). Returns them converted, the arrays in their common dtype."""
    names = ("x", "in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
    arrays = [
        to_array(value, name)
        for value, name in zip((x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias), names, strict=True)
    ]
    x, in_w, in_b, out_w, out_b = arrays
    check_shape(x, "x", (None, None, None))
    width = x.shape[2]
    check_shape(in_w, "in_proj_weight", (3 * width, width))
    check_shape(in_b, "in_proj_bias", (3 * width,))
    check_shape(out_w, "out_proj_weight", (width, width))
    check_shape(out_b, "out_proj_bias", (width,))
    width, num_heads = check_heads(width, num_heads)
    causal = as_flag(causal, "causal")
    x, in_w, in_b, out_w, out_b = promote(x, in_w, in_b, out_w, out_b)
    past = check_past(past, x.shape[0], num_heads, width // num_heads, x, to_array)
    return x, in_w, in_b, out_w, out_b, num_heads, causal, past


def check_block(x: Any, weights: Any, num_heads: Any, causal: Any, past: Any, to_array: Callable) -> tuple:
    """The arguments of ``transformer_block_forward``: x (B, T, D); ``weights`` a mapping with exactly
    the names of :data:`BLOCK_NAMES` and their shapes for width D and some MLP width F; the heads,
    the flag and ``past`` as in :func:`check_multi_head`. Returns (x, weights as a dict, num_heads,
    causal, past), the arrays in their common dtype."""
    x = to_array(x, "x")
    check_shape(x, "x", (None, None, None))
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a dict of the block's arrays by name, got {describe(weights)}.")
    if set(weights) != set(BLOCK_NAMES):
        raise ValueError(f"weights must have the keys {list(BLOCK_NAMES)}, got {describe(sorted(map(str, weights)))}.")
    arrays = {name: to_array(weights[name], f"weights[{name!r}]") for name in BLOCK_NAMES}
    first = arrays["linear1.weight"]
    hidden = first.shape[0] if first.ndim == 2 else -1
    for name, shape in _block_shapes(x.shape[2], max(hidden, 0)).items():
        check_shape(arrays[name], f"weights[{name!r}]", shape)
    _, num_heads = check_heads(x.shape[2], num_heads)
    causal = as_flag(causal, "causal")
    converted = promote(x, *arrays.values())
    x, arrays = converted[0], dict(zip(BLOCK_NAMES, converted[1:], strict=True))
    past = check_past(past, x.shape[0], num_heads, x.shape[2] // num_heads, x, to_array)
    return x, arrays, num_heads, causal, past


def check_transformer_sizes(
    vocab_size: Any,
    embed_dim: Any,
    rng: Any,
    num_heads: Any,
    num_layers: Any,
    context_size: Any,
    positions: Any,
    mlp_ratio: Any,
) -> tuple[int, int, int, int, int, str, int]:
    """A ``CharTransformer``'s arguments in either tree: sizes >= 1 (heads dividing the width), a
    generator, a known kind of positions. Returns (V, D, h, layers, context, positions, F)."""
    vocab_size, context_size = as_count(vocab_size, "vocab_size"), as_count(context_size, "context_size")
    embed_dim, num_heads = check_heads(embed_dim, num_heads)
    num_layers, mlp_ratio = as_count(num_layers, "num_layers", maximum=1024), as_count(mlp_ratio, "mlp_ratio")
    check_rng(rng)
    if not isinstance(positions, str) or positions not in POSITIONS:
        raise ValueError(f"positions must be one of {list(POSITIONS)}, got {describe(positions)}.")
    hidden = mlp_ratio * embed_dim
    per_block = 4 * embed_dim * embed_dim + 2 * embed_dim * hidden + hidden + 9 * embed_dim
    total = (2 * vocab_size + context_size + 2) * embed_dim + vocab_size + num_layers * per_block
    check_allocation((total,), "the CharTransformer's parameters")
    return vocab_size, embed_dim, num_heads, num_layers, context_size, positions, hidden


def check_transformer_input(
    ids: Any, past: Any, vocab_size: int, context_size: int, num_layers: int, numpy: bool = True
) -> Any:
    """A ``CharTransformer``'s input: ids (B, T) in [0, vocab_size), B, T >= 1 (a NumPy array, or in
    the torch tree also a tensor), and None or a key-value cache ``past``, a list of one (keys,
    values) pair per block, whose P positions plus T fit the context (at most ``context_size``).
    Returns the ids; each block checks its pair's arrays."""
    ids = check_char_ids(ids, "ids", vocab_size, ndim=2, tensors=not numpy)
    if 0 in ids.shape:
        raise ValueError(f"ids must hold at least one position of one sequence, got shape {tuple(ids.shape)}.")
    start = 0
    if past is not None:
        pairs = isinstance(past, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in past)
        if not pairs or len(past) != num_layers:
            raise TypeError(
                f"past must be None or a list of {num_layers} (keys, values) pairs, one per block, got {describe(past)}."
            )
        keys = past[0][0]
        start = keys.shape[2] if hasattr(keys, "shape") and len(keys.shape) == 4 else 0
    if start + ids.shape[1] > context_size:
        raise ValueError(
            f"ids reach position {start + ids.shape[1] - 1} (after {start} cached positions), beyond the "
            f"model's context of {context_size} positions."
        )
    return ids


def check_char_transformer(model: Any, cls: type) -> Any:
    """``model`` itself, after checking that it is a ``CharTransformer`` of the tree whose class is ``cls``."""
    if not isinstance(model, cls):
        got = (
            f"a {type(model).__name__} from {type(model).__module__}" if hasattr(model, "__dict__") else describe(model)
        )
        raise TypeError(f"model must be a CharTransformer of this tree, got {got}.")
    return model


def check_transformer_training(model: Any, cls: type, seq_len: Any, warmup: Any) -> tuple[int, int]:
    """The arguments of ``train_char_transformer`` that the shared loop does not check: the model, a
    window ``seq_len`` that fits its context (None: the whole context), and ``warmup`` steps >= 0.
    Returns (seq_len, warmup)."""
    context = check_char_transformer(model, cls).context_size
    seq_len = context if seq_len is None else as_count(seq_len, "seq_len")
    if seq_len > context:
        raise ValueError(f"seq_len must fit the model's context of {context} positions, got {seq_len}.")
    return seq_len, as_count(warmup, "warmup", minimum=0)


def check_sampling(model: Any, cls: type, prompt_ids: Any, length: Any, temperature: Any, rng: Any, use_cache: Any):
    """The arguments of ``generate`` for a ``CharTransformer`` (``cls``, the tree's class): (prompt_ids as
    int64, length, temperature, rng, use_cache), checked; rng None becomes ``default_rng(0)``."""
    prompt_ids = check_char_ids(prompt_ids, "prompt_ids", check_char_transformer(model, cls).vocab_size)
    if len(prompt_ids) == 0:
        raise ValueError("prompt_ids must hold at least one id to start from, got none.")
    length = as_count(length, "length", minimum=0)
    check_allocation((length,), "length")
    rng = check_rng(rng) if rng is not None else np.random.default_rng(0)
    temperature = check_positive(temperature, "temperature")
    return prompt_ids.astype(np.int64, copy=False), length, temperature, rng, as_flag(use_cache, "use_cache")

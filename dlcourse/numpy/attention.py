r"""Attention in NumPy: GELU, scaled dot-product attention, multi-head attention and positions.

**Attention** is a soft dictionary lookup. Each query :math:`q_i` is compared with every key
:math:`k_j` by a dot product; the softmax of the scores gives weights that sum to 1, and the output
is the weighted average of the values :math:`v_j`:

.. math:: \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Big(\frac{Q K^\top}{\sqrt d}\Big) V

The scores are divided by :math:`\sqrt d`: a dot product of :math:`d` terms of unit variance has
variance :math:`d`, and large scores would saturate the softmax (one weight near 1, gradients near 0).
A **causal** mask lets query :math:`i` see only the keys at positions up to its own, so that a
model predicting the next character cannot read it.

**Multi-head attention** projects the input :math:`x` (B, T, D) to queries, keys and values, splits
each into h heads of D / h features, attends in every head separately, and mixes the heads' outputs
with a last projection. The parameters have ``torch.nn.MultiheadAttention``'s names and layout
(``in_proj_weight`` (3D, D): the rows of the query, key and value projections, in that order;
``out_proj.weight`` (D, D), (out, in) as in ``torch.nn.Linear``), so weights copy from it.

Attention sees a set, not a sequence: permuting the input positions permutes the output the same
way. **Positions** must therefore be added to the input: :func:`sinusoidal_positions` (fixed
waves of many wavelengths) or a learned embedding per position (:mod:`dlcourse.numpy.transformer`).

**GELU** (:math:`x\,\Phi(x)`), the activation of the transformer's MLP, in the tanh approximation
of GPT-2, ``torch.nn.functional.gelu(x, approximate="tanh")``.

Mirrored by :mod:`dlcourse.torch.attention`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dlcourse.attention_checks import check_attention, check_heads, check_multi_head
from dlcourse.checks import check_cache, check_input
from dlcourse.numpy.layers import Module, Parameter
from dlcourse.validation import (
    as_count,
    as_flag,
    as_float_array,
    check_allocation,
    check_grad,
    check_positive,
    check_rng,
)

__all__ = [
    "MultiheadAttention",
    "causal_mask",
    "gelu_backward",
    "gelu_forward",
    "multi_head_attention_backward",
    "multi_head_attention_forward",
    "normal",
    "scaled_dot_product_attention_backward",
    "scaled_dot_product_attention_forward",
    "sinusoidal_positions",
]

GELU_C = math.sqrt(2 / math.pi)  # the constant inside the tanh approximation
GELU_CUBIC = 0.044715  # the weight of the cubic term


def gelu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    r""":math:`\mathrm{GELU}(x) \approx \tfrac12 x\,\big(1 + \tanh(c\,(x + 0.044715\,x^3))\big)`, :math:`c = \sqrt{2/\pi}`.

    Args:
        x: any shape, float.

    Returns:
        out (shape of x) and ``cache = (x,)``.
    """
    x = as_float_array(x, "x")
    return 0.5 * x * (1 + np.tanh(GELU_C * (x + GELU_CUBIC * x * x * x))), (x,)


def gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    r"""dx for :func:`gelu_forward`: the product rule on :math:`\tfrac12 x (1 + t)`, :math:`t = \tanh(u)`,
    :math:`u = c\,(x + 0.044715\,x^3)`:
    :math:`\frac{d}{dx} = \tfrac12 (1 + t) + \tfrac12 x (1 - t^2)\, c\,(1 + 3 \cdot 0.044715\, x^2)`.

    Args:
        dout: upstream gradient, the shape of x.
        cache: from :func:`gelu_forward`.

    Returns:
        dx, the shape of x.
    """
    (x,) = cache
    dout = check_grad(dout, "dout", x.shape, as_float_array, like=x)
    x2 = x * x
    t = np.tanh(GELU_C * x * (1 + GELU_CUBIC * x2))  # recomputed: the cache keeps only x
    return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_CUBIC * x2))


def causal_mask(queries: int, keys: int) -> np.ndarray:
    """Which key each query may see: (queries, keys) bool, True where key j <= the query's position.

    Query i sits at position ``keys - queries + i``: the queries are the last positions of the keys'
    sequence (with a cache of earlier keys, the new positions). For as many queries as keys it is
    the lower triangle, ``torch.nn.functional.scaled_dot_product_attention``'s ``is_causal``.
    """
    queries, keys = as_count(queries, "queries", minimum=0), as_count(keys, "keys", minimum=0)
    check_allocation((queries, keys), "the mask")
    return np.tri(queries, keys, keys - queries, dtype=bool)


def scaled_dot_product_attention_forward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False, *, check: bool = True
) -> tuple[np.ndarray, tuple]:
    r"""softmax(q kᵀ / √d) v, over the keys, with an optional causal mask.

    Args:
        q: (..., T_q, d) queries.
        k: (..., T_k, d) keys, the same leading axes.
        v: (..., T_k, d_v) values.
        causal: mask the keys after each query's position (see :func:`causal_mask`).
        check: convert and check the arguments (the default).

    Returns:
        out (..., T_q, d_v) and ``cache = (q, k, v, weights (..., T_q, T_k), scale)``; the weights are
        the attention map, each row summing to 1.
    """
    if check:
        q, k, v, causal = check_attention(q, k, v, causal, as_float_array)
    scale = 1 / math.sqrt(q.shape[-1])
    weights = q @ k.swapaxes(-1, -2)  # (..., T_q, T_k) scores
    weights *= scale
    if causal:
        np.copyto(weights, -np.inf, where=~causal_mask(q.shape[-2], k.shape[-2]))
    weights -= weights.max(axis=-1, keepdims=True)  # the softmax, in place: no overflow
    np.exp(weights, out=weights)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, (q, k, v, weights, scale)  # (..., T_q, d_v)


def scaled_dot_product_attention_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    r"""Gradients of :func:`scaled_dot_product_attention_forward`.

    With :math:`P` the weights and :math:`dP = dout\, V^\top`: :math:`dV = P^\top dout`; the softmax's
    backward gives the scores' gradient :math:`dS = P \odot (dP - \sum_j P_j dP_j)` (row by row),
    and :math:`dQ = s\, dS\, K`, :math:`dK = s\, dS^\top Q` with :math:`s = 1/\sqrt d`. Masked
    weights are 0, so nothing flows to the keys a query could not see.

    Args:
        dout: (..., T_q, d_v) upstream gradient.
        cache: from :func:`scaled_dot_product_attention_forward`.

    Returns:
        dq (..., T_q, d), dk (..., T_k, d), dv (..., T_k, d_v).
    """
    q, k, v, weights, scale = cache
    dout = check_grad(dout, "dout", (*weights.shape[:-1], v.shape[-1]), as_float_array, like=weights)
    dv = weights.swapaxes(-1, -2) @ dout  # (..., T_k, d_v)
    dscores = dout @ v.swapaxes(-1, -2)  # (..., T_q, T_k), dP for now
    dscores -= (dscores * weights).sum(axis=-1, keepdims=True)
    dscores *= weights
    dscores *= scale
    return dscores @ k, dscores.swapaxes(-1, -2) @ q, dv


def _heads(a: np.ndarray, num_heads: int) -> np.ndarray:
    """(B, T, D) -> (B, h, T, D / h): the features of each head side by side."""
    batch, steps, width = a.shape
    return a.reshape(batch, steps, num_heads, width // num_heads).transpose(0, 2, 1, 3)  # (B, h, T, D/h)


def multi_head_attention_forward(
    x: np.ndarray,
    in_proj_weight: np.ndarray,
    in_proj_bias: np.ndarray,
    out_proj_weight: np.ndarray,
    out_proj_bias: np.ndarray,
    num_heads: int,
    causal: bool = False,
    past: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    check: bool = True,
) -> tuple[np.ndarray, tuple]:
    """Multi-head self-attention of x, with ``torch.nn.MultiheadAttention``'s parameters.

    Args:
        x: (B, T, D), batch first.
        in_proj_weight: (3D, D), the query, key and value projections stacked, (out, in) each.
        in_proj_bias: (3D,).
        out_proj_weight: (D, D), (out, in).
        out_proj_bias: (D,).
        num_heads: h, dividing D.
        causal: each position attends only to itself and the positions before it.
        past: a key-value cache of P earlier positions, (keys, values), each (B, h, P, D / h), or
            None: the keys and values of x are appended to it, and x holds positions P to P + T - 1.
            No gradient flows into it.
        check: convert and check the arguments (the default).

    Returns:
        out (B, T, D) and ``cache = (x, in_proj_weight, out_proj_weight, attention_cache, merged,
        keys, values, P)``: the cache of :func:`scaled_dot_product_attention_forward` (its weights
        (B, h, T, P + T) are the attention maps), the heads' outputs side by side (B, T, D), and the
        keys and values of all P + T positions (B, h, P + T, D / h), the cache for the next call.
    """
    if check:
        x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, causal, past = check_multi_head(
            x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, causal, past, as_float_array
        )
    batch, steps, width = x.shape
    qkv = x.reshape(batch * steps, width) @ in_proj_weight.T  # (B*T, 3D)
    qkv += in_proj_bias
    qkv = qkv.reshape(batch, steps, 3, width)  # (B, T, 3, D)
    q, k, v = (_heads(qkv[:, :, j], num_heads) for j in range(3))  # (B, h, T, D/h) each
    seen = 0 if past is None else past[0].shape[2]
    if past is not None:
        k, v = np.concatenate([past[0], k], axis=2), np.concatenate([past[1], v], axis=2)  # (B, h, P+T, D/h)
    heads, attention_cache = scaled_dot_product_attention_forward(q, k, v, causal, check=False)  # (B, h, T, D/h)
    merged = heads.transpose(0, 2, 1, 3).reshape(batch * steps, width)  # (B*T, D)
    out = merged @ out_proj_weight.T  # (B*T, D)
    out += out_proj_bias
    cache = (x, in_proj_weight, out_proj_weight, attention_cache, merged, k, v, seen)
    return out.reshape(batch, steps, width), cache


def multi_head_attention_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`multi_head_attention_forward` (none for the cached ``past``).

    Args:
        dout: (B, T, D) upstream gradient.
        cache: from :func:`multi_head_attention_forward`.

    Returns:
        dx (B, T, D), din_proj_weight (3D, D), din_proj_bias (3D,), dout_proj_weight (D, D),
        dout_proj_bias (D,).
    """
    x, in_proj_weight, out_proj_weight, attention_cache, merged, _, _, seen = cache
    batch, steps, width = x.shape
    num_heads = attention_cache[3].shape[1]
    dout = check_grad(dout, "dout", x.shape, as_float_array, like=merged).reshape(batch * steps, width)
    dout_proj_weight, dout_proj_bias = dout.T @ merged, dout.sum(axis=0)
    dheads = _heads((dout @ out_proj_weight).reshape(batch, steps, width), num_heads)  # (B, h, T, D/h)
    dq, dk, dv = scaled_dot_product_attention_backward(dheads, attention_cache)
    dqkv = np.stack([dq, dk[:, :, seen:], dv[:, :, seen:]], axis=2)  # (B, h, 3, T, D/h): the new positions
    dqkv = dqkv.transpose(0, 3, 2, 1, 4).reshape(batch * steps, 3 * width)  # (B*T, 3D): rows as in_proj_weight
    dx = (dqkv @ in_proj_weight).reshape(batch, steps, width)
    return dx, dqkv.T @ x.reshape(batch * steps, width), dqkv.sum(axis=0), dout_proj_weight, dout_proj_bias


def sinusoidal_positions(length: int, dim: int) -> np.ndarray:
    r"""The fixed positional encoding of "Attention is all you need": (length, dim) float32 with
    :math:`PE_{t, 2i} = \sin(t / 10000^{2i/D})` and :math:`PE_{t, 2i+1} = \cos(t / 10000^{2i/D})`.

    Each pair of features is a wave of its own wavelength, from :math:`2\pi` to :math:`10000 \cdot 2\pi`
    positions, so every position gets a distinct pattern, and a shift by a fixed offset is the same
    rotation of each pair wherever it starts.
    """
    length, dim = as_count(length, "length", minimum=0), as_count(dim, "dim")
    check_allocation((length, dim), "the positional encoding")
    rates = 10000.0 ** (-np.arange(0, dim, 2) / dim)  # (ceil(D/2),) the angular frequencies
    angles = np.arange(length)[:, None] * rates  # (T, ceil(D/2))
    out = np.empty((length, dim))
    out[:, 0::2], out[:, 1::2] = np.sin(angles), np.cos(angles[:, : dim // 2])
    return out.astype(np.float32)


def normal(rng: np.random.Generator, std: float, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, std²) of ``shape``, float32: how the transformer's weights start (GPT-2's scheme)."""
    check_rng(rng)
    std = check_positive(std, "std")
    shape = tuple(as_count(s, "shape", minimum=0) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    check_allocation(shape, "the weight")
    return (std * rng.standard_normal(shape)).astype(np.float32)


class MultiheadAttention(Module):
    """Multi-head self-attention as a layer: :func:`multi_head_attention_forward` with its parameters.

    Parameter names are ``torch.nn.MultiheadAttention``'s (``in_proj_weight``, ``in_proj_bias``,
    ``out_proj.weight``, ``out_proj.bias``), so ``load_state_dict`` copies one in. Weights start as
    N(0, 0.02²), the output projection's scaled by ``out_std`` / 0.02, biases at zero.

    Args:
        embed_dim: D.
        num_heads: h, dividing D.
        rng: the generator the weights are drawn from.
        causal: mask the positions after each query.
        out_std: the standard deviation of the output projection's weights.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, rng: np.random.Generator, causal: bool = False, out_std: float = 0.02
    ) -> None:
        self.embed_dim, self.num_heads = check_heads(embed_dim, num_heads)
        self.causal = as_flag(causal, "causal")
        d = self.embed_dim
        check_rng(rng)
        self.in_proj_weight = Parameter(normal(rng, 0.02, (3 * d, d)))  # (3D, D)
        self.in_proj_bias = Parameter(np.zeros(3 * d, dtype=np.float32))
        self.out_proj_weight = Parameter(normal(rng, out_std, (d, d)))  # (D, D)
        self.out_proj_bias = Parameter(np.zeros(d, dtype=np.float32))
        self.cache: tuple | None = None

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield "in_proj_weight", self.in_proj_weight
        yield "in_proj_bias", self.in_proj_bias
        yield "out_proj.weight", self.out_proj_weight
        yield "out_proj.bias", self.out_proj_bias

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (B, T, D) -> (B, T, D); the attention maps are ``cache[3][3]`` (B, h, T, T)."""
        x = check_input(x, (None, None, self.embed_dim), self.in_proj_weight.data.dtype, as_float_array)
        weights = [p.data for _, p in self.named_parameters()]
        out, self.cache = multi_head_attention_forward(x, *weights, self.num_heads, self.causal, check=False)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, *grads = multi_head_attention_backward(dout, check_cache(self.cache, self))
        for (_, p), grad in zip(self.named_parameters(), grads, strict=True):
            p.accumulate(grad)
        return dx if self.input_grad else None

    def __repr__(self) -> str:
        return f"MultiheadAttention({self.embed_dim}, num_heads={self.num_heads}, causal={self.causal})"

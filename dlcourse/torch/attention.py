r"""Attention in PyTorch, mirroring :mod:`dlcourse.numpy.attention`.

The forward functions are written out with tensor operations (matrix products, ``masked_fill``,
``softmax``), not ``torch.nn.functional.scaled_dot_product_attention`` or
``torch.nn.MultiheadAttention``, so autograd differentiates the very formulas of the NumPy tree; the
backward functions are the NumPy tree's, written with tensors, to check against autograd. The tests
match these functions with PyTorch's own attention, from copied weights.

:class:`MultiheadAttention` is a ``torch.nn.Module`` whose forward pass calls
:func:`multi_head_attention_forward` and whose backward pass is autograd's; its parameters have
``torch.nn.MultiheadAttention``'s names and layout, and start as the NumPy layer's (drawn from the
same NumPy generator).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlcourse.attention_checks import check_attention, check_heads, check_multi_head
from dlcourse.checks import check_input
from dlcourse.numpy import attention as reference
from dlcourse.validation import as_count, as_flag, as_float_tensor, check_allocation, check_grad

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

GELU_C = reference.GELU_C
GELU_CUBIC = reference.GELU_CUBIC


def gelu_forward(x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """GELU, tanh approximation, as :func:`dlcourse.numpy.attention.gelu_forward`: out and cache (x,).
    The forward pass is PyTorch's fused kernel (``gelu(x, approximate="tanh")``, the same formula),
    as :mod:`dlcourse.torch.activations` does: it is the widest elementwise step of a block."""
    x = as_float_tensor(x, "x")
    return torch.nn.functional.gelu(x, approximate="tanh"), (x,)


def gelu_backward(dout: torch.Tensor, cache: tuple) -> torch.Tensor:
    """dx for :func:`gelu_forward`, the NumPy tree's formula written with tensors."""
    (x,) = cache
    dout = check_grad(dout, "dout", tuple(x.shape), as_float_tensor, like=x)
    x2 = x * x
    t = torch.tanh(GELU_C * x * (1 + GELU_CUBIC * x2))
    return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_CUBIC * x2))


def causal_mask(queries: int, keys: int) -> torch.Tensor:
    """(queries, keys) bool, True where key j <= the query's position ``keys - queries + i``, as
    :func:`dlcourse.numpy.attention.causal_mask`; on the CPU."""
    queries, keys = as_count(queries, "queries", minimum=0), as_count(keys, "keys", minimum=0)
    check_allocation((queries, keys), "the mask")
    return torch.ones(queries, keys, dtype=torch.bool).tril(keys - queries)


def scaled_dot_product_attention_forward(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False, *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """softmax(q kᵀ / √d) v with an optional causal mask, as the NumPy tree: q (..., T_q, d),
    k (..., T_k, d), v (..., T_k, d_v) -> out (..., T_q, d_v), cache (q, k, v, weights, scale)."""
    if check:
        q, k, v, causal = check_attention(q, k, v, causal, as_float_tensor)
    scale = 1 / math.sqrt(q.shape[-1])
    scores = (q * scale) @ k.transpose(-1, -2)  # (..., T_q, T_k); scaling q is the cheaper product
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2]).to(scores.device), -math.inf)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, (q, k, v, weights, scale)


def scaled_dot_product_attention_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """dq, dk, dv for :func:`scaled_dot_product_attention_forward`, the NumPy tree's formulas."""
    q, k, v, weights, scale = cache
    dout = check_grad(dout, "dout", (*weights.shape[:-1], v.shape[-1]), as_float_tensor, like=weights)
    dv = weights.transpose(-1, -2) @ dout
    dweights = dout @ v.transpose(-1, -2)  # (..., T_q, T_k)
    dscores = weights * (dweights - (dweights * weights).sum(dim=-1, keepdim=True)) * scale
    return dscores @ k, dscores.transpose(-1, -2) @ q, dv


def _heads(a: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, h, T, D / h)."""
    batch, steps, width = a.shape
    return a.reshape(batch, steps, num_heads, width // num_heads).transpose(1, 2)  # (B, h, T, D/h)


def multi_head_attention_forward(
    x: torch.Tensor,
    in_proj_weight: torch.Tensor,
    in_proj_bias: torch.Tensor,
    out_proj_weight: torch.Tensor,
    out_proj_bias: torch.Tensor,
    num_heads: int,
    causal: bool = False,
    past: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    check: bool = True,
) -> tuple[torch.Tensor, tuple]:
    """Multi-head self-attention, as :func:`dlcourse.numpy.attention.multi_head_attention_forward`:
    x (B, T, D) -> out (B, T, D) and the same cache, (x, in_proj_weight, out_proj_weight,
    attention_cache, merged, keys, values, P)."""
    if check:
        x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, causal, past = check_multi_head(
            x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, causal, past, as_float_tensor
        )
    batch, steps, width = x.shape
    qkv = torch.addmm(in_proj_bias, x.reshape(batch * steps, width), in_proj_weight.T)  # (B*T, 3D)
    q, k, v = (_heads(part.reshape(batch, steps, width), num_heads) for part in qkv.chunk(3, dim=1))  # (B, h, T, D/h)
    seen = 0 if past is None else past[0].shape[2]
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, h, P+T, D/h)
    heads, attention_cache = scaled_dot_product_attention_forward(q, k, v, causal, check=False)
    merged = heads.transpose(1, 2).reshape(batch * steps, width)  # (B*T, D)
    out = torch.addmm(out_proj_bias, merged, out_proj_weight.T)
    cache = (x, in_proj_weight, out_proj_weight, attention_cache, merged, k, v, seen)
    return out.reshape(batch, steps, width), cache


def multi_head_attention_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, ...]:
    """dx, din_proj_weight, din_proj_bias, dout_proj_weight, dout_proj_bias for
    :func:`multi_head_attention_forward`, the NumPy tree's formulas."""
    x, in_proj_weight, out_proj_weight, attention_cache, merged, _, _, seen = cache
    batch, steps, width = x.shape
    num_heads = attention_cache[3].shape[1]
    dout = check_grad(dout, "dout", tuple(x.shape), as_float_tensor, like=merged).reshape(batch * steps, width)
    dout_proj_weight, dout_proj_bias = dout.T @ merged, dout.sum(dim=0)
    dheads = _heads((dout @ out_proj_weight).reshape(batch, steps, width), num_heads)
    dq, dk, dv = scaled_dot_product_attention_backward(dheads, attention_cache)
    dqkv = torch.stack([dq, dk[:, :, seen:], dv[:, :, seen:]], dim=2)  # (B, h, 3, T, D/h)
    dqkv = dqkv.permute(0, 3, 2, 1, 4).reshape(batch * steps, 3 * width)  # (B*T, 3D)
    dx = (dqkv @ in_proj_weight).reshape(batch, steps, width)
    return dx, dqkv.T @ x.reshape(batch * steps, width), dqkv.sum(dim=0), dout_proj_weight, dout_proj_bias


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed sinusoidal encoding, (length, dim) float32, as the NumPy tree computes it."""
    return torch.from_numpy(reference.sinusoidal_positions(length, dim))


def normal(rng: np.random.Generator, std: float, shape: tuple[int, ...]) -> torch.Tensor:
    """N(0, std²) of ``shape``, float32, drawn exactly as the NumPy tree draws it."""
    return torch.from_numpy(reference.normal(rng, std, shape))


class MultiheadAttention(torch.nn.Module):
    """Multi-head self-attention built from :func:`multi_head_attention_forward` (autograd does the
    backward pass), with ``torch.nn.MultiheadAttention``'s parameter names and the NumPy layer's
    initial weights.

    Args:
        embed_dim: D.
        num_heads: h, dividing D.
        rng: the NumPy generator the weights are drawn from.
        causal: mask the positions after each query.
        out_std: the standard deviation of the output projection's weights.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, rng: np.random.Generator, causal: bool = False, out_std: float = 0.02
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = check_heads(embed_dim, num_heads)
        self.causal = as_flag(causal, "causal")
        d = self.embed_dim
        self.in_proj_weight = torch.nn.Parameter(normal(rng, 0.02, (3 * d, d)))  # (3D, D)
        self.in_proj_bias = torch.nn.Parameter(torch.zeros(3 * d))
        self.out_proj = torch.nn.Linear(d, d)  # holds out_proj.weight (D, D) and out_proj.bias
        with torch.no_grad():
            self.out_proj.weight.copy_(normal(rng, out_std, (d, d)))
            self.out_proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D)."""
        x = check_input(x, (None, None, self.embed_dim), self.in_proj_weight.dtype, as_float_tensor)
        out, _ = multi_head_attention_forward(
            x,
            self.in_proj_weight,
            self.in_proj_bias,
            self.out_proj.weight,
            self.out_proj.bias,
            self.num_heads,
            self.causal,
            check=False,
        )
        return out

    def extra_repr(self) -> str:
        return f"{self.embed_dim}, num_heads={self.num_heads}, causal={self.causal}"

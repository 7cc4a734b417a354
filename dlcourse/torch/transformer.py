r"""The transformer in PyTorch, mirroring :mod:`dlcourse.numpy.transformer`.

:func:`transformer_block_forward` is written out with this tree's LayerNorm, attention and GELU
functions (tensor operations, no fused kernels), so autograd differentiates the NumPy tree's
formulas; :func:`transformer_block_backward` is the NumPy tree's backward pass with tensors, to check
against autograd. :class:`TransformerBlock` and :class:`CharTransformer` are ``torch.nn.Module``
subclasses whose forward passes call these functions and whose backward pass is autograd's; they
have the NumPy classes' parameter names and initial weights (``torch.nn.TransformerEncoderLayer``'s
names for a block), and run on the device of their parameters.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlcourse.attention_checks import (
    BLOCK_NAMES,
    check_block,
    check_heads,
    check_transformer_input,
    check_transformer_sizes,
)
from dlcourse.checks import check_char_ids, check_input
from dlcourse.numpy import transformer as reference
from dlcourse.torch.attention import (
    MultiheadAttention,
    gelu_backward,
    gelu_forward,
    multi_head_attention_backward,
    multi_head_attention_forward,
    normal,
    sinusoidal_positions,
)
from dlcourse.torch.norm import LayerNorm, layernorm_backward, layernorm_forward
from dlcourse.validation import as_count, as_flag, as_float_tensor, check_grad, check_rng

__all__ = [
    "CharTransformer",
    "TransformerBlock",
    "transformer_block_backward",
    "transformer_block_forward",
]


def transformer_block_forward(
    x: torch.Tensor,
    weights: dict[str, torch.Tensor],
    num_heads: int,
    causal: bool = True,
    past: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    check: bool = True,
) -> tuple[torch.Tensor, tuple]:
    """A pre-LayerNorm block, as :func:`dlcourse.numpy.transformer.transformer_block_forward`:
    x (B, T, D) -> out (B, T, D) and the same cache."""
    if check:
        x, weights, num_heads, causal, past = check_block(x, weights, num_heads, causal, past, as_float_tensor)
    w = weights
    batch, steps, width = x.shape
    h1, norm1_cache = layernorm_forward(x, w["norm1.weight"], w["norm1.bias"], check=False)
    attended, attention_cache = multi_head_attention_forward(
        h1,
        w["self_attn.in_proj_weight"],
        w["self_attn.in_proj_bias"],
        w["self_attn.out_proj.weight"],
        w["self_attn.out_proj.bias"],
        num_heads,
        causal,
        past,
        check=False,
    )
    x = x + attended
    h2, norm2_cache = layernorm_forward(x, w["norm2.weight"], w["norm2.bias"], check=False)
    h2 = h2.reshape(batch * steps, width)  # (B*T, D)
    g, gelu_cache = gelu_forward(torch.addmm(w["linear1.bias"], h2, w["linear1.weight"].T))  # (B*T, F)
    m = torch.addmm(w["linear2.bias"], g, w["linear2.weight"].T)  # (B*T, D)
    out = x + m.reshape(batch, steps, width)
    return out, (norm1_cache, attention_cache, norm2_cache, h2, gelu_cache, g, w)


def transformer_block_backward(dout: torch.Tensor, cache: tuple) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """dx and the gradient of every weight (a dict by name) for :func:`transformer_block_forward`,
    the NumPy tree's backward pass written with tensors."""
    norm1_cache, attention_cache, norm2_cache, h2, gelu_cache, g, w = cache
    shape = tuple(norm1_cache[0].shape)
    dout = check_grad(dout, "dout", shape, as_float_tensor, like=h2)
    grads: dict[str, torch.Tensor] = {}
    dm = dout.reshape(-1, shape[2])  # (B*T, D)
    grads["linear2.weight"], grads["linear2.bias"] = dm.T @ g, dm.sum(dim=0)
    du = gelu_backward(dm @ w["linear2.weight"], gelu_cache)  # (B*T, F)
    grads["linear1.weight"], grads["linear1.bias"] = du.T @ h2, du.sum(dim=0)
    dmid, grads["norm2.weight"], grads["norm2.bias"] = layernorm_backward(
        (du @ w["linear1.weight"]).reshape(shape), norm2_cache
    )
    dmid = dmid + dout
    dh1, *attention_grads = multi_head_attention_backward(dmid, attention_cache)
    for name, grad in zip(BLOCK_NAMES[2:6], attention_grads, strict=True):
        grads[name] = grad
    dx, grads["norm1.weight"], grads["norm1.bias"] = layernorm_backward(dh1, norm1_cache)
    return dx + dmid, {name: grads[name] for name in BLOCK_NAMES}


class TransformerBlock(torch.nn.Module):
    """A pre-LayerNorm block built from :func:`transformer_block_forward` (autograd does the backward
    pass), with ``torch.nn.TransformerEncoderLayer``'s parameter names and the NumPy block's initial
    weights; arguments as :class:`dlcourse.numpy.transformer.TransformerBlock`.

    Args:
        embed_dim: D.
        num_heads: h, dividing D.
        rng: the NumPy generator the weights are drawn from.
        mlp_ratio: the MLP's hidden width, in multiples of D.
        causal: mask the positions after each query.
        num_layers: the depth of the stack the block belongs to (for the initial scale).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        rng: np.random.Generator,
        mlp_ratio: int = 4,
        causal: bool = True,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        check_rng(rng)
        self.embed_dim, self.num_heads = check_heads(embed_dim, num_heads)
        self.causal = as_flag(causal, "causal")
        d, hidden = self.embed_dim, as_count(mlp_ratio, "mlp_ratio") * self.embed_dim
        residual_std = 0.02 / math.sqrt(2 * as_count(num_layers, "num_layers"))
        self.norm1 = LayerNorm(d)
        self.self_attn = MultiheadAttention(d, self.num_heads, np.random.default_rng(0))  # weights drawn below
        self.norm2 = LayerNorm(d)
        self.linear1 = torch.nn.Linear(d, hidden)  # holds linear1.weight (F, D) and its bias
        self.linear2 = torch.nn.Linear(hidden, d)
        draws = {  # in the order of BLOCK_NAMES, as the NumPy block draws them
            "self_attn.in_proj_weight": normal(rng, 0.02, (3 * d, d)),
            "self_attn.out_proj.weight": normal(rng, residual_std, (d, d)),
            "linear1.weight": normal(rng, 0.02, (hidden, d)),
            "linear2.weight": normal(rng, residual_std, (d, hidden)),
        }
        with torch.no_grad():
            for name, p in self.named_parameters():  # LayerNorms start at scale 1, biases at 0
                scale = name.startswith("norm") and name.endswith("weight")
                p.copy_(draws[name] if name in draws else torch.ones_like(p) if scale else torch.zeros_like(p))

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); see :meth:`forward_with_cache` for the cache."""
        return self.forward_with_cache(x, past)[0]

    def forward_with_cache(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple]:
        """x (B, T, D) -> out (B, T, D) and the cache of :func:`transformer_block_forward` (the keys and
        values at ``cache[1][5]``, ``cache[1][6]``, the attention maps at ``cache[1][3][3]``)."""
        x = check_input(x, (None, None, self.embed_dim), self.norm1.weight.dtype, as_float_tensor)
        return transformer_block_forward(x, dict(self.named_parameters()), self.num_heads, self.causal, past)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, causal={self.causal}"


class CharTransformer(torch.nn.Module):
    """A decoder-only transformer over characters, as :class:`dlcourse.numpy.transformer.CharTransformer`:
    the same arguments, parameter names and initial weights (drawn from the same NumPy generator in
    the same order), the same ``forward(ids, past)`` with a key-value cache.

    Args:
        vocab_size: V.
        embed_dim: D.
        rng: the NumPy generator the weights are drawn from.
        num_heads: h, dividing D.
        num_layers: N blocks.
        context_size: C, the most positions read at once.
        positions: ``"learned"``, ``"sinusoidal"`` or ``"none"``.
        mlp_ratio: each block's MLP width, in multiples of D.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        rng: np.random.Generator,
        num_heads: int = 4,
        num_layers: int = 2,
        context_size: int = 64,
        positions: str = "learned",
        mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        v, d, h, n, c, positions, _ = check_transformer_sizes(
            vocab_size, embed_dim, rng, num_heads, num_layers, context_size, positions, mlp_ratio
        )
        self.vocab_size, self.embed_dim, self.num_heads, self.num_layers = v, d, h, n
        self.context_size, self.positions = c, positions
        self.token_embedding = torch.nn.Embedding(v, d)
        self.token_embedding.weight.data.copy_(normal(rng, 0.02, (v, d)))
        self.position_embedding = None
        if positions == "learned":
            self.position_embedding = torch.nn.Embedding(c, d)
            self.position_embedding.weight.data.copy_(normal(rng, 0.02, (c, d)))
        scale = reference.SINUSOID_SCALE  # the NumPy tree's: the waves start as large as the token embeddings
        table = scale * sinusoidal_positions(c, d) if positions == "sinusoidal" else torch.zeros(0, d)
        self.register_buffer("position_table", table, persistent=False)  # (C, D) fixed, not in state_dict
        self.blocks = torch.nn.ModuleList(
            TransformerBlock(d, h, rng, mlp_ratio, causal=True, num_layers=n) for _ in range(n)
        )
        self.norm = LayerNorm(d)
        self.head = torch.nn.Linear(d, v)  # holds head.weight (V, D) and head.bias
        with torch.no_grad():
            self.head.weight.copy_(normal(rng, 0.02, (v, d)))
            self.head.bias.zero_()

    def forward(
        self, ids: torch.Tensor, past: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """ids (B, T) -> logits (B, T, V) and ``present``, the key-value cache of every block, as the
        NumPy tree; ids go to the model's device."""
        ids = check_transformer_input(ids, past, self.vocab_size, self.context_size, self.num_layers, numpy=False)
        ids = ids if isinstance(ids, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        return self._logits(ids.to(self.head.weight.device, torch.int64), past)

    def _logits(
        self,
        ids: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None,
        maps: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """:meth:`forward` without its checks, for the loops of training, evaluation and sampling;
        ``maps``, when given, receives each block's attention weights (B, h, T, P + T)."""
        steps = ids.shape[1]
        start = past[0][0].shape[2] if past else 0
        x = self.token_embedding(ids)  # (B, T, D)
        if self.position_embedding is not None:
            x = x + self.position_embedding.weight[start : start + steps]  # (T, D) broadcast over the batch
        elif self.positions == "sinusoidal":
            x = x + self.position_table[start : start + steps].to(x.dtype)
        present = []
        for k, block in enumerate(self.blocks):
            x, cache = block.forward_with_cache(x, past[k] if past else None)  # (B, T, D)
            present.append((cache[1][5], cache[1][6]))
            if maps is not None:
                maps.append(cache[1][3][3])
        return self.norm(x) @ self.head.weight.T + self.head.bias, present  # (B, T, V)

    def attention_maps(self, ids: np.ndarray) -> torch.Tensor:
        """The attention weights of every block and head on one sequence, ids (T,), T <= C:
        (num_layers, num_heads, T, T), on the CPU, as the NumPy tree."""
        ids = check_char_ids(ids, "ids", self.vocab_size, ndim=1, tensors=True)
        ids = check_transformer_input(ids[None], None, self.vocab_size, self.context_size, self.num_layers, False)
        ids = ids if isinstance(ids, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        maps: list[torch.Tensor] = []
        with torch.no_grad():
            self._logits(ids.to(self.head.weight.device, torch.int64), None, maps)
        return torch.stack([m[0] for m in maps]).cpu()  # (N, h, T, T)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, context_size={self.context_size}, positions={self.positions!r}"

r"""The transformer in NumPy: a pre-LayerNorm block, and a decoder-only character model built from them.

A **block** (pre-LayerNorm, as in GPT-2) adds two things to its input, each computed from a
normalised copy of it: multi-head self-attention, where positions exchange information, and an MLP
(Linear, GELU, Linear, F = 4D hidden units by default), which works on each position alone:

.. math:: x' = x + \operatorname{MHA}(\operatorname{LN}_1(x)), \qquad y = x' + \operatorname{MLP}(\operatorname{LN}_2(x'))

The residual connections keep a direct path from every block's output back to the input, so
gradients reach the first block undiminished. Parameter names are those of
``torch.nn.TransformerEncoderLayer`` (``norm_first=True``, ``batch_first=True``), so its weights copy.

:class:`CharTransformer` is a character GPT: a token embedding plus positional information, N
causal blocks, a final LayerNorm and a linear head, giving logits for the next character at every
position. Its forward pass takes and returns a **key-value cache** (``past``): the keys and values of
the positions already read, the transformer's counterpart of an LSTM's state, which lets sampling
feed one new character at a time. Training, scoring and sampling live in
:mod:`dlcourse.numpy.chargpt`.

Mirrored by :mod:`dlcourse.torch.transformer`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dlcourse.attention_checks import (
    BLOCK_NAMES,
    check_block,
    check_heads,
    check_transformer_input,
    check_transformer_sizes,
)
from dlcourse.checks import check_cache, check_char_ids, check_input
from dlcourse.numpy.attention import (
    gelu_backward,
    gelu_forward,
    multi_head_attention_backward,
    multi_head_attention_forward,
    normal,
    sinusoidal_positions,
)
from dlcourse.numpy.layers import Module, Parameter
from dlcourse.numpy.norm import LayerNorm, layernorm_backward, layernorm_forward
from dlcourse.validation import as_count, as_flag, as_float_array, check_grad, check_rng

SINUSOID_SCALE = 0.02 * math.sqrt(2)
"""The sinusoidal table is multiplied by this, so that its features (of standard deviation 1 / sqrt 2) start
as large as the token embeddings' (0.02); the original paper scaled the embeddings up by sqrt(D) instead."""

__all__ = [
    "CharTransformer",
    "TransformerBlock",
    "transformer_block_backward",
    "transformer_block_forward",
]


def transformer_block_forward(
    x: np.ndarray,
    weights: dict[str, np.ndarray],
    num_heads: int,
    causal: bool = True,
    past: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    check: bool = True,
) -> tuple[np.ndarray, tuple]:
    """A pre-LayerNorm transformer block: x + MHA(LN1(x)), then + MLP(LN2(.)), the MLP with GELU.

    Args:
        x: (B, T, D).
        weights: the block's arrays by the names of ``torch.nn.TransformerEncoderLayer``
            (:data:`dlcourse.attention_checks.BLOCK_NAMES`): ``norm1.weight`` (D,), ...,
            ``self_attn.in_proj_weight`` (3D, D), ..., ``linear1.weight`` (F, D), ``linear2.weight``
            (D, F), each Linear's as (out, in).
        num_heads: h, dividing D.
        causal: mask the positions after each query (a language model's blocks are causal).
        past: a key-value cache of earlier positions for the attention, as in
            :func:`dlcourse.numpy.attention.multi_head_attention_forward`.
        check: convert and check the arguments (the default).

    Returns:
        out (B, T, D) and ``cache = (norm1_cache, attention_cache, norm2_cache, h2 (B*T, D),
        gelu_cache, g (B*T, F), weights)``; ``attention_cache`` is the attention's (its keys and values
        at indices 5 and 6, its maps at ``[3][3]``).
    """
    if check:
        x, weights, num_heads, causal, past = check_block(x, weights, num_heads, causal, past, as_float_array)
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
    x = x + attended  # the first residual connection
    h2, norm2_cache = layernorm_forward(x, w["norm2.weight"], w["norm2.bias"], check=False)
    h2 = h2.reshape(batch * steps, width)  # (B*T, D)
    u = h2 @ w["linear1.weight"].T  # (B*T, F)
    u += w["linear1.bias"]
    g, gelu_cache = gelu_forward(u)
    m = g @ w["linear2.weight"].T  # (B*T, D)
    m += w["linear2.bias"]
    out = x + m.reshape(batch, steps, width)  # the second residual connection
    return out, (norm1_cache, attention_cache, norm2_cache, h2, gelu_cache, g, w)


def transformer_block_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gradients of :func:`transformer_block_forward`: each residual connection passes its gradient
    straight through and adds that of its branch.

    Args:
        dout: (B, T, D) upstream gradient.
        cache: from :func:`transformer_block_forward`.

    Returns:
        dx (B, T, D) and the gradient of every weight, a dict by the same names.
    """
    norm1_cache, attention_cache, norm2_cache, h2, gelu_cache, g, w = cache
    shape = norm1_cache[0].shape  # x_hat of the input: (B, T, D)
    dout = check_grad(dout, "dout", shape, as_float_array, like=h2)
    grads: dict[str, np.ndarray] = {}
    dm = dout.reshape(-1, shape[2])  # (B*T, D): the MLP's output gradient
    grads["linear2.weight"], grads["linear2.bias"] = dm.T @ g, dm.sum(axis=0)
    du = gelu_backward(dm @ w["linear2.weight"], gelu_cache)  # (B*T, F)
    grads["linear1.weight"], grads["linear1.bias"] = du.T @ h2, du.sum(axis=0)
    dh2 = (du @ w["linear1.weight"]).reshape(shape)
    dmid, grads["norm2.weight"], grads["norm2.bias"] = layernorm_backward(dh2, norm2_cache)
    dmid += dout  # through the second residual connection
    dh1, *attention_grads = multi_head_attention_backward(dmid, attention_cache)
    for name, grad in zip(BLOCK_NAMES[2:6], attention_grads, strict=True):
        grads[name] = grad
    dx, grads["norm1.weight"], grads["norm1.bias"] = layernorm_backward(dh1, norm1_cache)
    dx += dmid  # through the first residual connection
    return dx, {name: grads[name] for name in BLOCK_NAMES}


def _block_weights(rng: np.random.Generator, width: int, hidden: int, residual_std: float) -> dict[str, np.ndarray]:
    """A block's initial weights, drawn in the order of BLOCK_NAMES: N(0, 0.02²) for the projections
    into a branch, N(0, residual_std²) for the two that write into the residual stream, zero biases,
    LayerNorms at scale 1 and shift 0."""
    d, f = width, hidden
    ones, zeros = np.ones(d, dtype=np.float32), np.zeros(d, dtype=np.float32)
    return {
        "norm1.weight": ones.copy(),
        "norm1.bias": zeros.copy(),
        "self_attn.in_proj_weight": normal(rng, 0.02, (3 * d, d)),
        "self_attn.in_proj_bias": np.zeros(3 * d, dtype=np.float32),
        "self_attn.out_proj.weight": normal(rng, residual_std, (d, d)),
        "self_attn.out_proj.bias": zeros.copy(),
        "norm2.weight": ones.copy(),
        "norm2.bias": zeros.copy(),
        "linear1.weight": normal(rng, 0.02, (f, d)),
        "linear1.bias": np.zeros(f, dtype=np.float32),
        "linear2.weight": normal(rng, residual_std, (d, f)),
        "linear2.bias": zeros.copy(),
    }


class TransformerBlock(Module):
    """A pre-LayerNorm transformer block as a layer, with ``torch.nn.TransformerEncoderLayer``'s
    parameter names (``norm1.weight``, ``self_attn.in_proj_weight``, ``linear1.weight``, ...).

    Weights start as in GPT-2: N(0, 0.02²), the two projections into the residual stream
    (``self_attn.out_proj``, ``linear2``) with 0.02 / sqrt(2 num_layers), so that the stream's variance
    does not grow with depth; biases at zero.

    Args:
        embed_dim: D.
        num_heads: h, dividing D.
        rng: the generator the weights are drawn from.
        mlp_ratio: the MLP's hidden width F, in multiples of D.
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
        check_rng(rng)
        self.embed_dim, self.num_heads = check_heads(embed_dim, num_heads)
        self.causal = as_flag(causal, "causal")
        hidden = as_count(mlp_ratio, "mlp_ratio") * self.embed_dim
        residual_std = 0.02 / math.sqrt(2 * as_count(num_layers, "num_layers"))
        self.params = {k: Parameter(v) for k, v in _block_weights(rng, self.embed_dim, hidden, residual_std).items()}
        self.cache: tuple | None = None

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield from self.params.items()

    def forward(self, x: np.ndarray, past: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """x (B, T, D) -> (B, T, D); ``past``: a key-value cache, as in :func:`transformer_block_forward`."""
        x = check_input(x, (None, None, self.embed_dim), self.params["norm1.weight"].data.dtype, as_float_array)
        weights = {name: p.data for name, p in self.params.items()}
        out, self.cache = transformer_block_forward(x, weights, self.num_heads, self.causal, past)
        return out

    def __call__(self, x: np.ndarray, past: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        return self.forward(x, past)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, grads = transformer_block_backward(dout, check_cache(self.cache, self))
        for name, p in self.params.items():
            p.accumulate(grads[name])
        return dx if self.input_grad else None

    @property
    def present(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys and values of every position of the last forward pass, (B, h, P + T, D / h) each."""
        attention = check_cache(self.cache, self)[1]
        return attention[5], attention[6]

    @property
    def attention_weights(self) -> np.ndarray:
        """The attention maps of the last forward pass, (B, h, T, P + T): row i is query i's weights."""
        return check_cache(self.cache, self)[1][3][3]


class CharTransformer(Module):
    """A decoder-only transformer over characters (a character GPT).

    Reads ids (B, T) and gives, at every position, logits (B, T, V) for the next character, seeing
    only the positions up to its own. The parameter names are those of the PyTorch twin
    (``token_embedding.weight`` (V, D), ``position_embedding.weight`` (C, D) when positions are
    learned, ``blocks.{k}.{name}`` with the names of :class:`TransformerBlock`, ``norm.weight``,
    ``norm.bias``, ``head.weight`` (V, D), ``head.bias``), so ``state_dict()`` copies across trees;
    both draw their weights from the same generator in the same order.

    Args:
        vocab_size: V, the number of distinct characters.
        embed_dim: D, the width of the residual stream.
        rng: the generator the weights are drawn from.
        num_heads: h, dividing D.
        num_layers: N, the number of blocks.
        context_size: C, the most positions the model reads at once.
        positions: ``"learned"`` (an embedding per position), ``"sinusoidal"`` (the fixed waves of
            :func:`dlcourse.numpy.attention.sinusoidal_positions`, times :data:`SINUSOID_SCALE`) or ``"none"``.
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
        v, d, h, n, c, positions, _ = check_transformer_sizes(
            vocab_size, embed_dim, rng, num_heads, num_layers, context_size, positions, mlp_ratio
        )
        self.vocab_size, self.embed_dim, self.num_heads, self.num_layers = v, d, h, n
        self.context_size, self.positions = c, positions
        self.token_embedding = Parameter(normal(rng, 0.02, (v, d)))  # (V, D)
        self.position_embedding = Parameter(normal(rng, 0.02, (c, d))) if positions == "learned" else None  # (C, D)
        table = SINUSOID_SCALE * sinusoidal_positions(c, d) if positions == "sinusoidal" else None
        self.position_table = table  # (C, D), fixed
        self.blocks = [TransformerBlock(d, h, rng, mlp_ratio, causal=True, num_layers=n) for _ in range(n)]
        self.norm = LayerNorm(d)
        self.head_weight = Parameter(normal(rng, 0.02, (v, d)))  # (V, D), torch layout
        self.head_bias = Parameter(np.zeros(v, dtype=np.float32))
        self.cache: tuple | None = None

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield "token_embedding.weight", self.token_embedding
        if self.position_embedding is not None:
            yield "position_embedding.weight", self.position_embedding
        for k, block in enumerate(self.blocks):
            for name, p in block.named_parameters():
                yield f"blocks.{k}.{name}", p
        yield "norm.weight", self.norm.weight
        yield "norm.bias", self.norm.bias
        yield "head.weight", self.head_weight
        yield "head.bias", self.head_bias

    def forward(
        self, ids: np.ndarray, past: list[tuple[np.ndarray, np.ndarray]] | None = None
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """ids (B, T) integers in [0, V) -> logits (B, T, V), and ``present``: the key-value cache of
        every position read so far, one (keys, values) pair per block, each (B, h, P + T, D / h).

        ``past``: the ``present`` of an earlier call, whose P positions ``ids`` continue (at most C in
        all), or None to start at position 0."""
        ids = check_transformer_input(ids, past, self.vocab_size, self.context_size, self.num_layers)
        return self._logits(ids, past)

    def __call__(
        self, ids: np.ndarray, past: list[tuple[np.ndarray, np.ndarray]] | None = None
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        return self.forward(ids, past)

    def _logits(
        self, ids: np.ndarray, past: list[tuple[np.ndarray, np.ndarray]] | None
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """:meth:`forward` without its checks, for the loops of training, evaluation and sampling."""
        batch, steps = ids.shape
        start = past[0][0].shape[2] if past else 0
        x = self.token_embedding.data[ids]  # (B, T, D)
        if self.position_embedding is not None:
            x = x + self.position_embedding.data[start : start + steps]  # (T, D) broadcast over the batch
        elif self.position_table is not None:
            x = x + self.position_table[start : start + steps].astype(x.dtype)
        present = []
        for k, block in enumerate(self.blocks):
            x = block(x, past[k] if past else None)  # (B, T, D)
            present.append(block.present)
        top = self.norm(x).reshape(batch * steps, self.embed_dim)  # (B*T, D)
        logits = top @ self.head_weight.data.T  # (B*T, V)
        logits += self.head_bias.data
        self.cache = (ids, top, start)
        return logits.reshape(batch, steps, self.vocab_size), present

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits (B, T, V) -> accumulates every parameter's gradient (the ids have none, and the
        cached ``past`` of the forward pass is treated as constant)."""
        ids, top, start = check_cache(self.cache, self)
        batch, steps = ids.shape
        flat = check_grad(dlogits, "dlogits", (batch, steps, self.vocab_size), as_float_array, like=top)
        flat = flat.reshape(batch * steps, self.vocab_size)  # (B*T, V)
        self.head_weight.accumulate(flat.T @ top)
        self.head_bias.accumulate(flat.sum(axis=0))
        dx = self.norm.backward((flat @ self.head_weight.data).reshape(batch, steps, self.embed_dim))
        for block in reversed(self.blocks):
            dx = block.backward(dx)  # (B, T, D)
        if self.position_embedding is not None:
            dposition = np.zeros_like(self.position_embedding.data)
            dposition[start : start + steps] = dx.sum(axis=0)
            self.position_embedding.accumulate(dposition)
        dtoken = np.zeros_like(self.token_embedding.data)
        np.add.at(dtoken, ids.reshape(-1), dx.reshape(batch * steps, self.embed_dim))  # repeated ids add up
        self.token_embedding.accumulate(dtoken)

    def attention_maps(self, ids: np.ndarray) -> np.ndarray:
        """The attention weights of every block and head on one sequence, ids (T,), T <= C:
        (num_layers, num_heads, T, T), row i of each map the weights of position i (zero after i)."""
        ids = check_char_ids(ids, "ids", self.vocab_size, ndim=1)
        self.forward(ids[None, :])
        return np.stack([block.attention_weights[0] for block in self.blocks])  # (N, h, T, T)

    def __repr__(self) -> str:
        return (
            f"CharTransformer(vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
            f"num_layers={self.num_layers}, context_size={self.context_size}, positions={self.positions!r})"
        )

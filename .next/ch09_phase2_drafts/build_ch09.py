"""Build chapters/09_attention.ipynb with nbformat (run from the repository root)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import sys

sys.path.insert(0, ".")
from tests.setup_cells import source as setup_source  # noqa: E402

PATH = Path("chapters/09_attention.ipynb")
cells = []


def md(text, **meta):
    cells.append(new_markdown_cell(text.strip("\n"), metadata=meta))


def code(text, **meta):
    cells.append(new_code_cell(text.strip("\n"), metadata=meta))


WHY_TIMING = "It reports wall-clock times, which differ from run to run and machine to machine."

# ---------------------------------------------------------------- opening

md(r"""
# Attention and transformers

The LSTM of [chapter 8](08_recurrent_networks.ipynb) reads a text one character at a time and
carries everything it has read in two vectors of fixed size. That is its strength, a memory that
costs the same at every step, and its limit: whatever the model will need later must be squeezed
into those vectors now, and the gradient that teaches it what to keep has to travel back through
every step in between. **Attention** takes another route. At every position the model looks back
at all the positions before it, directly, and takes from each what it needs. The **transformer**,
built from attention and small per-position networks, has replaced recurrence in most sequence
models since 2017. This chapter builds it from scratch.

**In this chapter**

- the fixed-size state as a bottleneck, measured: a copying task where an LSTM fails as the text
  to copy grows and a one-block transformer does not;
- dot-product attention as a soft dictionary lookup with queries, keys and values, and why the
  scores are divided by $\sqrt d$, measured on the softmax's saturation;
- self-attention, the causal mask and multi-head attention, with NumPy forward and backward
  passes checked against finite differences and against `torch.nn.MultiheadAttention`;
- positional information, sinusoidal and learned, and why it is needed: without it,
  self-attention cannot tell one order of its inputs from another;
- the transformer block (pre-LayerNorm, residual connections, an MLP with GELU), checked against
  `torch.nn.TransformerEncoderLayer`;
- a small character GPT on *Moby Dick*: training, sampling at several temperatures, a key-value
  cache that makes sampling faster, the attention maps of its heads, and a comparison with the
  LSTM at the same training time;
- what changes on a GPU, and what attention costs: time and memory that grow with the square of
  the sequence length.
""")

md(r"""
All the code comes from the course package. The NumPy tree writes every forward and backward pass
by hand: `dlcourse.numpy.attention` (attention, multi-head attention, GELU, sinusoidal positions)
and `dlcourse.numpy.transformer` (the block and the character model). The PyTorch tree mirrors
them name for name (`dlcourse.torch.attention`, `dlcourse.torch.transformer`), and
`dlcourse.torch.chargpt` trains, scores and samples the character model with the training loop of
chapter 8. The layer normalisation is chapter 6's (`dlcourse.numpy.norm`).
""")

code(setup_source(PATH), tags=["remove-cell"])

code(r"""
import textwrap
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from dlcourse import seed_everything, show_source, text
from dlcourse.data import load_moby_dick
from dlcourse.exercises import ch09
from dlcourse.gradcheck import numerical_gradient, relative_error
from dlcourse.numpy import attention, chargpt, transformer
from dlcourse.plotting import COLORS, use_style
from dlcourse.torch import attention as tattention
from dlcourse.torch import chargpt as tchargpt
from dlcourse.torch import charlm as tcharlm
from dlcourse.torch import transformer as ttransformer
from dlcourse.widgets import explore

rng = seed_everything(0)  # seeds Python, NumPy and PyTorch
use_style()
# One CPU thread for NumPy and PyTorch alike, as in chapter 8: the
# timings then repeat from run to run.
threadpool_limits(limits=1)
torch.set_num_threads(1)
""")

# ---------------------------------------------------------------- 1 the bottleneck

md(r"""
## The bottleneck of a fixed-size state

A recurrent network summarises the past in its state: after $t$ characters, the LSTM of chapter 8
holds $h_t$ and $c_t$, a fixed number of values however long the text. Anything it will need
later has to be written into that state when it goes by, and kept there. A simple task shows what
that costs. Each sequence is a string of random symbols, a separator, and the same string again;
the model reads the sequence one symbol at a time and predicts the next symbol, and we score only
its predictions of the second half. The first half is unpredictable, so to copy it the model must
remember all of it: $n$ symbols of 3 bits each (8 symbols), more with every symbol added.
""")

code(r"""
N_SYMBOLS = 8     # symbols 0 to 7
SEP = N_SYMBOLS   # symbol 8 separates the two halves
V_COPY = N_SYMBOLS + 1

def copy_batch(n_seq, length, r):
    first = r.integers(0, N_SYMBOLS, size=(n_seq, length))
    sep = np.full((n_seq, 1), SEP)
    seq = np.concatenate([first, sep, first], axis=1)  # (n, 2 length + 1)
    return torch.from_numpy(seq)

print(copy_batch(3, 6, np.random.default_rng(0)).numpy())
""")

md(r"""
Two models from the package read these sequences. The LSTM is chapter 8's `CharLM` with 64 hidden
units. The transformer is this chapter's `CharTransformer` with a single block of attention (the
rest of the chapter explains what is inside). Both are trained with Adam for the same 200 updates
of 32 sequences, and scored on 500 new sequences: the share of the second half's symbols that each
model predicts right. A guess is right one time in eight.
""")

code(r"""
def next_logits(model, seq):
    # logits for the next symbol at every position, (n, T, V)
    if isinstance(model, tcharlm.CharLM):
        return model(seq.T)[0].transpose(0, 1)  # the LSTM reads (T, n)
    return model(seq)[0]

def copy_model(kind, length, seed):
    if kind == "LSTM":
        return tcharlm.CharLM(V_COPY, 64, np.random.default_rng(seed),
                              embedding_dim=16)
    return ttransformer.CharTransformer(V_COPY, 32, np.random.default_rng(seed),
                                       num_heads=2, num_layers=1,
                                       context_size=2 * length + 1)

def train_copy(kind, length, steps=200, seed=0):
    torch.manual_seed(seed)
    r = np.random.default_rng(seed)
    model = copy_model(kind, length, seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        seq = copy_batch(32, length, r)
        # predictions from the separator on: the symbols of the second half
        logits = next_logits(model, seq[:, :-1])[:, length:]
        loss = F.cross_entropy(logits.reshape(-1, V_COPY),
                               seq[:, length + 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seq = copy_batch(500, length, np.random.default_rng(123))
    with torch.no_grad():
        guess = next_logits(model, seq[:, :-1])[:, length:].argmax(dim=-1)
    return float((guess == seq[:, length + 1:]).float().mean())

lengths = [4, 8, 16, 32]
runs = [(kind, n) for n in lengths for kind in ("LSTM", "transformer")]
copy_acc = {run: train_copy(*run) for run in tqdm(runs, desc="runs")}
""")

code(r"""
print("length   LSTM   transformer")
for n in lengths:
    print(f"{n:6d}   {copy_acc['LSTM', n]:.2f}   {copy_acc['transformer', n]:.2f}")
sizes = {kind: sum(p.numel() for p in copy_model(kind, max(lengths), 0).parameters())
         for kind in ("LSTM", "transformer")}
print(f"parameters: LSTM {sizes['LSTM']:,}, transformer {sizes['transformer']:,} "
      f"(at length {max(lengths)})")

fig, ax = plt.subplots(figsize=(6.4, 3.2))
for kind, c in zip(("LSTM", "transformer"), COLORS):
    ax.plot(lengths, [copy_acc[kind, n] for n in lengths], "o-", color=c,
            label=kind)
ax.axhline(1 / N_SYMBOLS, color="0.5", ls="--", lw=1, label="guessing")
ax.set(xscale="log", ylim=(0, 1.05), xlabel="symbols to copy",
       ylabel="test accuracy", title="Copy the first half: 200 updates each")
ax.minorticks_off()
ax.set_xticks(lengths, labels=[str(n) for n in lengths])
ax.legend()
plt.show()
assert all(copy_acc["transformer", n] > 0.99 for n in lengths)
assert copy_acc["LSTM", 4] > 0.9 > copy_acc["LSTM", 8]
assert all(copy_acc["LSTM", n] < 0.25 for n in lengths if n >= 16)
""", portable={"compare": "exempt", "reason": "The accuracies come from short float32 training runs whose digits move with the CPU's rounding; the cell asserts the pattern the text describes."})

md(r"""
The transformer copies perfectly at every length in the table. The LSTM copies a short string,
slips at eight symbols, and from sixteen symbols on does no better than guessing (the dashed line).
With more units and far more training an LSTM can copy longer strings; the point is how the
difficulty grows. For the LSTM every extra symbol is one more thing to write into the same state
and keep there across the whole sequence. The transformer never has to: when it predicts the
$i$-th symbol of the copy it looks straight back at the $i$-th symbol of the original, which sits
a fixed distance behind it. Its cost is of another kind: at every position it looks at all the
earlier positions, which the last sections of this chapter measure. How it looks is the
subject of the next section.
""")

# ---------------------------------------------------------------- 2 attention

md(r"""
## Attention: a soft dictionary lookup

A Python dictionary maps keys to values: a query that equals a key returns that key's value, and
every other value is ignored. **Attention** is a soft version of that lookup. A **query** $q$ is
compared with every **key** $k_j$ by a dot product, the scores become weights by a softmax, and the
result is the weighted average of the **values** $v_j$:

$$
\operatorname{Attention}(q; K, V) = \sum_j w_j\, v_j, \qquad
w = \operatorname{softmax}\!\left(\frac{q K^\top}{\sqrt d}\right),
$$

where the rows of $K$ are the keys, of length $d$ like the query, and the rows of $V$ the values.
A key that points the same way as the query gets a large score and most of the weight; every value
still contributes a little, so the lookup is differentiable and can be learned. For many queries at
once, stacked as the rows of $Q$, it is one matrix formula,
$\operatorname{softmax}(QK^\top / \sqrt d)\,V$, with the softmax taken over each row.

Four keys, one value each, and a query that points at the third key:
""")

code(r"""
keys = np.eye(4)                                  # 4 keys of d = 4 features
values = np.array([[10.0], [20.0], [30.0], [40.0]])  # one value per key
for strength in (1.0, 3.0, 12.0):
    query = strength * np.array([[0.0, 0.0, 1.0, 0.0]])
    out, cache = attention.scaled_dot_product_attention_forward(query, keys, values)
    weights = cache[3][0]
    print(f"query {strength:4.0f} x key 2: weights {np.round(weights, 3)}, "
          f"output {out[0, 0]:.2f}")
    assert weights.argmax() == 2 and np.isclose(weights.sum(), 1.0)
assert weights[2] > 0.99  # a long query: almost a hard lookup of 30
""")

md(r"""
A weak query spreads its weight, and the output is a blend of all the values; the longer the
query, the more the weight concentrates on the matching key, and the output approaches that key's
value, 30. The package's function takes queries, keys and values with any number of leading axes
(a batch, heads) and keeps the weights in its cache, for the backward pass and for looking at:
""")

code(r"""
show_source(attention.scaled_dot_product_attention_forward)
""")

md(r"""
### Why the scores are divided by $\sqrt d$

If the entries of a query and a key are independent with mean 0 and variance 1, their dot
product is a sum of $d$ such products and has variance $d$. Without the division, longer vectors
give larger scores, and a softmax of large scores **saturates**: nearly all the weight goes to one
key, and the softmax's gradient, $\partial w_i / \partial s_j = w_i(\delta_{ij} - w_j)$, is close to
zero everywhere, so the model can hardly learn to change where it looks. Dividing by $\sqrt d$
brings the scores back to variance 1 whatever $d$ is. The next cell measures both ways on random
queries and keys: the spread of the scores, the largest weight of each softmax, and
$1 - \sum_j w_j^2$, the trace of the softmax's Jacobian (the sum of its diagonal terms
$w_j(1 - w_j)$), which is near 0 when the softmax is saturated.
""")

code(r"""
dims = [4, 16, 64, 256, 1024]
r = np.random.default_rng(1)
stats = {}
for d in dims:
    q = r.normal(size=(200, 1, d))                 # 200 queries
    k = r.normal(size=(200, 32, d))                # 32 keys for each
    raw = (q @ k.swapaxes(-1, -2))[:, 0]           # (200, 32) dot products
    for scaled in (False, True):
        s = raw / np.sqrt(d) if scaled else raw
        w = np.exp(s - s.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        stats[d, scaled] = (s.std(), w.max(axis=1).mean(),
                            (1 - (w * w).sum(axis=1)).mean())
print("    d   score std (raw, scaled)   largest weight   1 - sum w^2")
for d in dims:
    (s0, m0, j0), (s1, m1, j1) = stats[d, False], stats[d, True]
    print(f"{d:5d}   {s0:8.2f} {s1:8.2f}        {m0:.3f}  {m1:.3f}    "
          f"{j0:.3f}  {j1:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for scaled, c, label in ((False, COLORS[1], "q k / 1"), (True, COLORS[0], "q k / sqrt(d)")):
    axes[0].plot(dims, [stats[d, scaled][1] for d in dims], "o-", color=c, label=label)
    axes[1].plot(dims, [stats[d, scaled][2] for d in dims], "o-", color=c, label=label)
axes[0].set(xscale="log", ylim=(0, 1.05), xlabel="d", ylabel="largest weight (mean)")
axes[1].set(xscale="log", ylim=(0, 1.05), xlabel="d", ylabel="1 - sum of squared weights")
axes[0].legend()
fig.suptitle("Softmax over 32 keys: saturation without the scaling")
plt.show()
assert all(abs(stats[d, False][0] / np.sqrt(d) - 1) < 0.1 for d in dims)  # std ~ sqrt(d)
assert all(abs(stats[d, True][0] - 1) < 0.1 for d in dims)                # std ~ 1
assert stats[1024, False][1] > 0.9 and stats[1024, False][2] < 0.15
assert max(stats[d, True][1] for d in dims) < 2 * min(stats[d, True][1] for d in dims)
""")

md(r"""
The raw scores' spread grows like $\sqrt d$ (the first column), and with it the largest weight
climbs towards 1 while $1 - \sum_j w_j^2$ falls towards 0: at the widest vectors in the table, the
unscaled softmax is almost a hard maximum, with almost no gradient. The scaled scores keep a spread
near 1, and their weights look the same at every $d$.

### The backward pass

With $S$ the scaled scores, $P$ the weights and $O = PV$, the gradients follow from the rules of
chapter 5 and the softmax's Jacobian, row by row: $dV = P^\top dO$; $dP = dO\,V^\top$; through the
softmax, $dS = P \odot \big(dP - \textstyle\sum_j P_{\cdot j}\, dP_{\cdot j}\big)$, where the sum
runs over each row; and with $s = 1/\sqrt d$, $dQ = s\, dS\, K$ and $dK = s\, dS^\top Q$.
""")

code(r"""
show_source(attention.scaled_dot_product_attention_backward)
""")

md(r"""
The check, in float64: the hand-written gradients against centred finite differences, and
against `torch.autograd` through PyTorch's own `scaled_dot_product_attention`, here with the
causal mask of the next section switched on.
""")

code(r"""
def max_error(a, b):
    # the largest difference, relative to the largest value: 0 when equal
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())

r = np.random.default_rng(2)
q, k, v = r.normal(size=(2, 5, 4)), r.normal(size=(2, 5, 4)), r.normal(size=(2, 5, 3))
out, cache = attention.scaled_dot_product_attention_forward(q, k, v, causal=True)
g = r.normal(size=out.shape)               # an upstream gradient
grads = attention.scaled_dot_product_attention_backward(g, cache)

args = [q, k, v]
for i, name in enumerate("qkv"):
    def loss(a, i=i):
        changed = [a if j == i else x for j, x in enumerate(args)]
        return float(np.sum(attention.scaled_dot_product_attention_forward(
            *changed, causal=True)[0] * g))
    err = relative_error(grads[i], numerical_gradient(loss, args[i]))
    print(f"d{name}: relative error against finite differences {err:.1e}")
    assert err < 1e-6

tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in args)
ref = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
ref.backward(torch.tensor(g))
errors = [max_error(out, ref.detach().numpy())]
errors += [max_error(mine, t.grad.numpy()) for mine, t in zip(grads, (tq, tk, tv))]
print(f"against F.scaled_dot_product_attention: largest relative difference {max(errors):.1e}")
assert max(errors) < 1e-10
""")

# ---------------------------------------------------------------- 3 self-attention

md(r"""
## Self-attention, the causal mask and many heads

In **self-attention** the queries, the keys and the values all come from the same sequence. Each
position $t$ of the input $x$ (a sequence of $T$ vectors of width $D$) is projected three times,
by three learned matrices: into a query $q_t = x_t W_Q^\top$ (what it is looking for), a key
$k_t = x_t W_K^\top$ (what it offers to be found by) and a value $v_t = x_t W_V^\top$ (what it hands
over when found). Every position then attends over every position, itself included. The output at
position $t$ is a mixture of the values, with weights that depend on the contents: the model decides
for each position, from the data, where to look.

A language model must not look ahead: when it predicts character $t + 1$ from position $t$, the
keys and values of positions after $t$ contain the answer. The **causal mask** sets the scores of
those positions to $-\infty$ before the softmax, so their weights are exactly 0 and the rest are
renormalised. For a sequence of five positions, with 1 where a query (row) may look at a key
(column):
""")

code(r"""
print(attention.causal_mask(5, 5).astype(int))
""")

md(r"""
With the mask, the output at position $t$ is a function of positions $0$ to $t$ only. One training
sequence of $T$ characters thus gives $T$ predictions at once, each from its own past, without
running the model $T$ times. The next cell changes the inputs after position $t$ and checks that
the outputs up to $t$ do not move, for every $t$:
""")

code(r"""
r = np.random.default_rng(3)
q, k, v = (r.normal(size=(1, 6, 4)) for _ in range(3))
out, _ = attention.scaled_dot_product_attention_forward(q, k, v, causal=True)
for t in range(5):
    k2, v2 = k.copy(), v.copy()
    k2[:, t + 1:] = r.normal(size=k2[:, t + 1:].shape)   # a different future
    v2[:, t + 1:] = r.normal(size=v2[:, t + 1:].shape)
    out2, _ = attention.scaled_dot_product_attention_forward(q, k2, v2, causal=True)
    assert np.array_equal(out2[:, :t + 1], out[:, :t + 1])
    assert not np.allclose(out2[:, t + 1:], out[:, t + 1:])
print("outputs up to t unchanged by the inputs after t, for t = 0 to 4")
""")

md(r"""
**Multi-head attention** runs several attentions side by side. With $h$ heads, the $D$ features
of the queries, keys and values are split into $h$ groups of $D / h$; each head attends with its
own group, so one head can follow the previous character while another looks for the start of the
word. The heads' outputs are put side by side again and mixed by a last learned projection,
$W_O$. Splitting does not add parameters: the projections are the same $D \times D$ matrices as for
one head of width $D$.

The package keeps `torch.nn.MultiheadAttention`'s layout: `in_proj_weight` stacks $W_Q$, $W_K$ and
$W_V$ into one $(3D, D)$ matrix, so one matrix product makes all three, and `out_proj.weight` is
$W_O$, stored (out, in) as in `torch.nn.Linear`. The argument `past` is for sampling and comes back
later in the chapter.
""")

code(r"""
show_source(attention.multi_head_attention_forward)
""")

md(r"""
Since the layout is PyTorch's, the weights of a `torch.nn.MultiheadAttention` copy into the
package's layer unchanged. In float64, with random weights and the causal mask, the outputs, the
input's gradient and the gradients of all four parameters must agree:
""")

code(r"""
torch.manual_seed(0)
ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
mha = attention.MultiheadAttention(8, 2, np.random.default_rng(0), causal=True)
for name, p in mha.named_parameters():
    p.data = ref.state_dict()[name].numpy().copy()   # the same names
print("parameters:", [f"{n} {tuple(p.shape)}" for n, p in mha.named_parameters()])

r = np.random.default_rng(4)
x, g = r.normal(size=(3, 5, 8)), r.normal(size=(3, 5, 8))
out = mha(x)
mha.zero_grad()
dx = mha.backward(g)

xt = torch.tensor(x, requires_grad=True)
mask = torch.from_numpy(~attention.causal_mask(5, 5))  # torch masks where True
ref_out, _ = ref(xt, xt, xt, attn_mask=mask, need_weights=False)
ref_out.backward(torch.tensor(g))
ref_grads = dict(ref.named_parameters())
errors = {"output": max_error(out, ref_out.detach().numpy()),
          "dx": max_error(dx, xt.grad.numpy())}
for name, p in mha.named_parameters():
    errors[name] = max_error(p.grad, ref_grads[name].grad.numpy())
for name, err in errors.items():
    print(f"{name:16s} relative difference {err:.1e}")
assert max(errors.values()) < 1e-10
""")

md(r"""
The backward pass of multi-head attention runs the forward pass in reverse: the output
projection's gradient, the heads split again, attention's backward pass for every head at once,
and the three projections' gradients stacked back into one $(3D, D)$ matrix
(`multi_head_attention_backward`; the tests check it against finite differences too).

## Where is each position?

Attention compares contents with contents; nothing in it says which position a key came from.
Shuffle the positions of the input, and without a mask every query finds the same keys with the
same scores, only in another order: the output is shuffled the same way, and otherwise unchanged.
Self-attention is **permutation-equivariant**:
""")

code(r"""
r = np.random.default_rng(5)
x = r.normal(size=(1, 7, 8))
weights = [p.data for _, p in mha.named_parameters()]
perm = r.permutation(7)
out, _ = attention.multi_head_attention_forward(x, *weights, 2)
shuffled, _ = attention.multi_head_attention_forward(x[:, perm], *weights, 2)
print("permutation:", perm)
print(f"largest |out(shuffled x) - shuffled out(x)|: "
      f"{np.abs(shuffled - out[:, perm]).max():.1e}")
assert np.allclose(shuffled, out[:, perm], rtol=1e-12, atol=1e-12)
""")

md(r"""
For a language model order is everything: "dog bites man" is not "man bites dog". (The causal mask
already breaks the symmetry a little, since each position sees a different set of keys, but a
position cannot tell in which order its past arrived.) The fix is to add to each input vector a
vector that depends on its position. Two common choices:

- **Sinusoidal positions**, from the original transformer (Vaswani et al., 2017, "Attention is all
  you need"): fixed waves, $PE_{t, 2i} = \sin(t / 10000^{2i/D})$ and
  $PE_{t, 2i+1} = \cos(t / 10000^{2i/D})$. Each pair of features turns at its own speed, from once
  every $2\pi$ positions to once every $10000 \cdot 2\pi$, so every position gets its own pattern,
  and moving $k$ positions on rotates each pair by an angle that depends only on $k$.
- **Learned positions**: one trained vector per position, an embedding table indexed by $t$, as in
  GPT. It can fit whatever the data need, but it has rows only for the positions seen in training.
""")

code(r"""
show_source(attention.sinusoidal_positions)
""")

code(r"""
table = attention.sinusoidal_positions(64, 32)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
im = axes[0].imshow(table.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set(xlabel="position t", ylabel="feature", title="sinusoidal positions, D = 32")
fig.colorbar(im, ax=axes[0])
for col, c in zip((0, 6, 14), COLORS):
    axes[1].plot(table[:, col], color=c, label=f"feature {col}")
axes[1].set(xlabel="position t", title="three features")
axes[1].legend(loc="lower left")
plt.show()
assert len({row.tobytes() for row in table}) == 64  # every position its own vector
""")

md(r"""
This chapter's language model uses learned positions (`positions="learned"`, the default of
`CharTransformer`); `"sinusoidal"` and `"none"` are there to experiment with.

## The transformer block

A transformer is a stack of identical **blocks**. Each block adds two things to its input, each
computed from a normalised copy of it:

$$
x' = x + \operatorname{MHA}\big(\operatorname{LN}_1(x)\big), \qquad
y = x' + \operatorname{MLP}\big(\operatorname{LN}_2(x')\big).
$$

- Attention is where positions exchange information. The **MLP** (two linear layers, out to
  $F = 4D$ units and back) then works on every position on its own, with the same weights at every
  position.
- The **residual connections** ($x + \dots$) give every block a direct path from its output back
  to its input. A deep stack then starts close to the identity, and the gradient reaches the first
  block through the additions undiminished, the same idea that made very deep convolutional
  networks trainable.
- **Layer normalisation** (chapter 6) standardises each position's vector before attention and
  before the MLP. This **pre-LayerNorm** arrangement (GPT-2's) leaves the residual path itself
  untouched; the original transformer normalised after each addition (**post-LayerNorm**), which
  trains less easily in deep stacks without a careful warm-up of the learning rate.

The MLP's activation is the **GELU**, $x\,\Phi(x)$ with $\Phi$ the standard normal distribution
function, here in GPT-2's tanh approximation,
$\tfrac12 x\,\big(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715\,x^3))\big)$ (chapter 5 derived its
backward pass in an exercise). It is a smooth ReLU: it lets small negative inputs through a little.
""")

code(r"""
x = np.linspace(-4, 3, 300)
gelu, _ = attention.gelu_forward(x)
torch_gelu = F.gelu(torch.tensor(x), approximate="tanh").numpy()
print(f"largest difference from F.gelu(approximate='tanh'): "
      f"{np.abs(gelu - torch_gelu).max():.1e}")
print(f"GELU(-1) = {attention.gelu_forward(np.array([-1.0]))[0][0]:.4f}, "
      f"minimum {gelu.min():.4f} at x = {x[gelu.argmin()]:.2f}")
assert np.allclose(gelu, torch_gelu, rtol=1e-12, atol=1e-14)
fig, ax = plt.subplots(figsize=(6.4, 3))
ax.plot(x, np.maximum(x, 0), color=COLORS[1], label="ReLU")
ax.plot(x, gelu, color=COLORS[0], label="GELU (tanh approximation)")
ax.set(xlabel="x", ylabel="activation")
ax.legend()
plt.show()
""")

code(r"""
show_source(transformer.transformer_block_forward)
""")

md(r"""
The block's parameters have the names and layout of `torch.nn.TransformerEncoderLayer` with
`norm_first=True`, so that PyTorch's own layer, given the tanh GELU and no dropout, is the same
block. Its random weights copied in, the two must agree in the output and in every gradient; and
the block's hand-written backward pass (`transformer_block_backward`) must agree with finite
differences:
""")

code(r"""
torch.manual_seed(1)
ref = torch.nn.TransformerEncoderLayer(
    8, 2, dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=True,
    activation=lambda t: F.gelu(t, approximate="tanh")).double()
with torch.no_grad():
    for p in ref.parameters():
        p.add_(0.3 * torch.randn_like(p))   # LayerNorms and biases away from 1 and 0
block = transformer.TransformerBlock(8, 2, np.random.default_rng(0), causal=True)
for name, p in block.named_parameters():
    p.data = ref.state_dict()[name].numpy().copy()

r = np.random.default_rng(6)
x, g = r.normal(size=(2, 5, 8)), r.normal(size=(2, 5, 8))
out = block(x)
block.zero_grad()
dx = block.backward(g)
xt = torch.tensor(x, requires_grad=True)
mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
ref_out = ref(xt, src_mask=mask, is_causal=True)
ref_out.backward(torch.tensor(g))
ref_grads = dict(ref.named_parameters())
errors = [max_error(out, ref_out.detach().numpy()), max_error(dx, xt.grad.numpy())]
errors += [max_error(p.grad, ref_grads[n].grad.numpy()) for n, p in block.named_parameters()]
print(f"against torch.nn.TransformerEncoderLayer: output, dx and "
      f"{len(errors) - 2} parameter gradients, largest relative difference {max(errors):.1e}")
assert max(errors) < 1e-9

weights = {n: p.data for n, p in block.named_parameters()}
_, cache = transformer.transformer_block_forward(x, weights, 2)
dx, dweights = transformer.transformer_block_backward(g, cache)
def loss(a, name=None):
    w = weights if name is None else {**weights, name: a}
    return float(np.sum(transformer.transformer_block_forward(
        x if name is not None else a, w, 2)[0] * g))
errors = {"dx": max_error(dx, numerical_gradient(loss, x))}
for name in ("self_attn.in_proj_weight", "linear1.weight", "norm2.weight"):
    errors[name] = max_error(dweights[name],
                                  numerical_gradient(lambda a, n=name: loss(a, n), weights[name]))
print("against finite differences:",
      ", ".join(f"{n} {e:.1e}" for n, e in errors.items()))
assert max(errors.values()) < 1e-6
""")

# ---------------------------------------------------------------- 4 the character GPT

md(r"""
## A character GPT on *Moby Dick*

A **decoder-only** transformer (the design of GPT) is a language model built from causal blocks:

- a **token embedding** gives each character a learned vector of width $D$, and a **position
  embedding** adds a learned vector for each position;
- $N$ causal transformer blocks;
- a last LayerNorm and a **linear head** that gives, at every position, one score per character of
  the vocabulary for the character that comes next.

`CharTransformer` is that model. Its `forward(ids, past)` takes ids of shape (batch, positions),
batch first as in PyTorch's attention layers, and returns the logits and the keys and values of
every block (`present`), which sampling will reuse.
""")

code(r"""
show_source(ttransformer.CharTransformer._logits)
""")

md(r"""
The data are chapter 8's, cut as its `char_lm` benchmark cuts them (`text.split_three`): the first
80 % of the book for training, the next 10 % for validation, and the last 10 % for the final score
of the benchmark, which this chapter never looks at.
""")

code(r"""
corpus = load_moby_dick()
vocab = text.Vocabulary.from_text(corpus)
train_ids, val_ids, test_ids = text.split_three(vocab.encode(corpus))
print(f"{len(vocab)} characters; training {len(train_ids):,}, validation "
      f"{len(val_ids):,}, final {len(test_ids):,}")
""")

md(r"""
Training reuses chapter 8's loop, `text.train_language_model`: the book is read as parallel
streams in chunks of `seq_len` characters, with a cosine learning-rate schedule. The difference is
what happens at a chunk's border. The LSTM carried its state into the next chunk; a transformer has
no state to carry, so every chunk of every stream is an independent **window**, and each of its
characters is predicted from the ones before it inside the window. The model can therefore read at
most `context_size` characters back. `train_char_transformer` adds a linear **warm-up**, which keeps
Adam's first, noisy steps small. One update:
""")

code(r"""
show_source(tchargpt._Trainer.step)
""")

md(r"""
As in chapter 8, the NumPy model (trained by its hand-written backward pass) and its PyTorch twin
(trained by autograd) start from the same weights and must follow the same path:
""")

code(r"""
small = dict(vocab_size=len(vocab), embed_dim=16, num_heads=2, num_layers=2,
             context_size=32)
settings = dict(steps=12, batch_size=8, lr=0.01, warmup=4, log_every=4, progress=False)
h_np = chargpt.train_char_transformer(
    transformer.CharTransformer(rng=np.random.default_rng(1), **small), train_ids, **settings)
h_t = tchargpt.train_char_transformer(
    ttransformer.CharTransformer(rng=np.random.default_rng(1), **small), train_ids, **settings)
np.testing.assert_allclose(h_np.train_loss, h_t.train_loss, rtol=1e-3)
print("training loss every 4 steps")
print("  NumPy:  ", np.round(h_np.train_loss, 4))
print("  PyTorch:", np.round(h_t.train_loss, 4))
""")

md(r"""
Now a real run in the PyTorch tree: 2 blocks of width 64 with 4 heads, windows of 64 characters,
300 updates of 32 windows, peak learning rate 0.01 after 30 steps of warm-up. The validation loss is
scored on overlapping windows (`windows.evaluation_windows`): each window moves on by half its
length and scores only its second half, so every validation character is scored once and, after
the first window, with at least 32 characters of context.
""")

code(r"""
gpt = ttransformer.CharTransformer(len(vocab), 64, np.random.default_rng(0),
                                   num_heads=4, num_layers=2, context_size=64)
n_gpt = sum(p.numel() for p in gpt.parameters())
print(f"{n_gpt:,} parameters")
start = time.perf_counter()
gpt_history = tchargpt.train_char_transformer(
    gpt, train_ids, steps=300, batch_size=32, lr=0.01, warmup=30, log_every=10)
gpt_seconds = time.perf_counter() - start
gpt_val = tchargpt.evaluate_char_transformer(gpt, val_ids)
""")

code(r"""
print(f"trained in {gpt_seconds:.0f} s")
""", portable={"compare": "timing", "only": r"(\d+) s", "reason": WHY_TIMING})

code(r"""
print(f"{gpt_history.characters:,} characters, "
      f"{gpt_history.epochs:.2f} passes over the training text")
print(f"validation loss: {gpt_val:.2f} nats per character, "
      f"{gpt_val / np.log(2):.2f} bits")
uniform = float(np.log(len(vocab)))
print(f"uniform guess: {uniform:.2f}")
assert gpt_val < 2.5 < uniform
fig, ax = plt.subplots(figsize=(6.4, 3.2))
ax.plot(gpt_history.logged_at, gpt_history.train_loss, color=COLORS[0],
        label="training (mean of 10 steps)")
ax.plot([gpt_history.steps], [gpt_val], "o", color=COLORS[1], label="validation")
ax.set(xlabel="step", ylabel="nats per character", ylim=(1.5, 4.5),
       title="Character GPT on Moby Dick")
ax.legend()
plt.show()
""", portable={"compare": "tolerance", "atol": 0.03, "only": r"(\d\.\d\d)", "reason": "The losses come from a float32 training run whose last digits move with the CPU's rounding."})

md(r"""
The training curve falls fast at first, to the level of a model that knows only how common each
character is and which one tends to follow which, and then more slowly as attention learns to use
the context. After this short run the model is far from good (the printed loss); the comparison
with the LSTM below puts it in perspective.

### Sampling, and a cache of keys and values

Sampling works as in chapter 8: feed a prompt, draw the next character from the softmax of the last
logits at a temperature, append it, repeat.
""")

code(r"""
prompt = "The whale "
for tau in (0.5, 1.0, 1.5):
    drawn = tchargpt.generate(gpt, vocab.encode(prompt), 200, temperature=tau,
                              rng=np.random.default_rng(7))
    print(f"--- temperature {tau}")
    for line in (prompt + vocab.decode(drawn)).splitlines():
        print(textwrap.fill(line, width=68))
""", portable={"compare": "exempt", "reason": "The samples are drawn from a briefly trained float32 model, whose last digits, and so a few of its draws, move with the CPU's rounding."})

md(r"""
At low temperature the model repeats its safest guesses; at high temperature the text dissolves;
in between it has the spelling of the book in places and not much more, as expected after a few
hundred updates.

Each new character needs the keys and values of every earlier position in every block. Without
care, the model recomputes them all at every step: the whole window passes through the model again
for a single new character. But with the causal mask the keys and values of earlier positions never
change when later characters arrive. A **key-value cache** keeps them: `forward(ids, past)` takes
the keys and values of the positions read so far and returns them with the new ones appended, so
each step reads one new character. The cache is the transformer's counterpart of the LSTM's state;
unlike the LSTM's state, it grows with every character read. First, reading a text in two pieces
with the cache gives the logits of reading it at once:
""")

code(r"""
ids = torch.from_numpy(vocab.encode("Call me Ishmael. Some years ago"))[None]
with torch.no_grad():
    whole, _ = gpt(ids)
    first, cache = gpt(ids[:, :20])
    rest, _ = gpt(ids[:, 20:], cache)
print("cache per block: keys and values of shape", tuple(cache[0][0].shape),
      "(batch, heads, positions, features)")
print(f"largest difference: {(torch.cat([first, rest], 1) - whole).abs().max():.1e}")
assert torch.allclose(torch.cat([first, rest], 1), whole, atol=1e-5)
""")

md(r"""
`generate(..., use_cache=True)` samples that way, one character per step; `use_cache=False` reads
the whole window at every step. When the text grows past the context, both slide their window the
same way (`windows.window_start`), so with the same seed they must draw the same characters:
""")

code(r"""
ids = vocab.encode(prompt)
samples = {use_cache: tchargpt.generate(gpt, ids, 300, temperature=1.0,
                                        rng=np.random.default_rng(3), use_cache=use_cache)
           for use_cache in (True, False)}
same = np.array_equal(samples[True], samples[False])
print(f"the same 300 characters with and without the cache: {same}")
assert same
""")

code(r"""
def sampling_seconds(use_cache, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tchargpt.generate(gpt, ids, 300, rng=np.random.default_rng(3), use_cache=use_cache)
        times.append(time.perf_counter() - start)
    return min(times)   # the least disturbed run

cached_s, plain_s = sampling_seconds(True), sampling_seconds(False)
print(f"with the cache {cached_s:.2f} s, without {plain_s:.2f} s: "
      f"{plain_s / cached_s:.1f} times faster")
assert cached_s < plain_s
""", portable={"compare": "timing", "only": r"(\d+\.\d+)", "reason": WHY_TIMING})

md(r"""
Here the gain is modest (the printed factor): the model is so small that much of each step's
time is the fixed cost of calling it. The gain grows with the model and with the context: without
a cache each step costs a whole window, with it one position (which still attends over all the
cached ones).

### What the heads look at

Every head of every block has its own attention map: for each position, the weights it gives to
the positions before it. `attention_maps` returns them for one sequence. Pick a block, a head and
a position: the left panel shows the head's whole map (rows: queries, columns: keys, the upper
triangle masked), the right panel the weights of the chosen position over the characters it can
see.
""")

code(r"""
snippet = "the whale, the white whale, and the sea"
maps = gpt.attention_maps(vocab.encode(snippet)).numpy()  # (blocks, heads, T, T)
print("maps:", maps.shape, "(blocks, heads, queries, keys)")
assert np.allclose(maps.sum(axis=-1), 1, atol=1e-5)
assert np.all(np.triu(maps, 1) == 0)  # no weight on the future

def draw_head(block, head, position):
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2),
                                      gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(maps[block, head], cmap="Blues", vmin=0, vmax=1)
    left.axhline(position, color=COLORS[1], lw=1)
    left.set(xlabel="key position", ylabel="query position",
             title=f"block {block}, head {head}")
    w = maps[block, head, position, :position + 1]
    right.bar(np.arange(position + 1), w, color=COLORS[0])
    right.set_xticks(np.arange(position + 1),
                     labels=[repr(ch)[1:-1] or " " for ch in snippet[:position + 1]],
                     fontsize=7)
    right.set(ylim=(0, 1), ylabel="weight",
              title=f"position {position} ({snippet[position]!r}) looks at")
    return fig

explore(draw_head, title="Attention maps of the character GPT",
        block=list(range(maps.shape[0])), head=list(range(maps.shape[1])),
        position=[5, 15, 25, 38])
""")

md(r"""
Different heads look at different things: some spread their weight over many characters, some
concentrate it on a few, often on the characters just before the query. After a short training run
the patterns are rough; the heads of larger models trained for longer become far more specific.

### Against the LSTM, at the same training time

A fair comparison gives both models the same budget of what is scarce; here, time on this
computer. The next cell trains chapter 8's LSTM language model (`CharLM`, 128 units, the settings
of its short run) on the same training text for exactly as many seconds as the transformer took
above (the `budget_s` argument), and scores it on the same validation text. The `char_lm` and
`char_transformer` benchmarks (`benchmarks/run.py`) compare larger versions of the two models at
300 seconds each, and score them on the final tenth of the book.
""")

code(r"""
lstm = tcharlm.CharLM(len(vocab), 128, np.random.default_rng(0), embedding_dim=32)
lstm_history = tcharlm.train_char_lm(lstm, train_ids, budget_s=gpt_seconds,
                                     batch_size=32, seq_len=50, lr=0.02)
lstm_val = tcharlm.evaluate_char_lm(lstm, val_ids)
n_lstm = sum(p.numel() for p in lstm.parameters())
print(f"same time, same text ({gpt_seconds:.0f} s of training each):")
print(f"  LSTM:        {n_lstm:7,} parameters, {lstm_history.steps:4d} steps, "
      f"validation {lstm_val:.2f} nats/char")
print(f"  transformer: {n_gpt:7,} parameters, {gpt_history.steps:4d} steps, "
      f"validation {gpt_val:.2f} nats/char")
assert lstm_val < gpt_val
""", portable={"compare": "exempt", "reason": "The LSTM trains for a wall-clock budget, so how far it gets depends on the machine; the cell asserts the comparison the text draws."})

md(r"""
At this small budget, on a CPU, the LSTM is ahead (the printed losses). Its recurrence is a strong
prior for text: it reads the characters in order and carries a summary forward from the first
update on, where the transformer first has to learn from the data, through its attention, which
earlier positions matter. The transformer's advantages lie elsewhere: in the copying task of the
first section, in long contexts, and in how well it uses parallel hardware, the subject of the next
section. Language models that must read long texts, trained with far more computation, are
transformers.

## What changes on a GPU

The LSTM's step $t$ needs $h_{t-1}$: over a sequence of $T$ characters it runs $T$ steps one after
another, whatever the hardware. The transformer, in training, computes all $T$ positions at once:
the causal mask replaces the loop over time, and every position's attention, MLP and LayerNorm are
large matrix products that a GPU runs in parallel. On a CPU with one thread, as here, both do the
same amount of arithmetic per character whatever the order, so the time of a training step grows
with $T$ for both models; the transformer's faster than in proportion, because of attention's cost,
which the last section measures:
""")

code(r"""
def step_time(model, steps, repeats=3, batch=16):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(0, len(vocab), (batch, steps + 1))
    lstm_like = isinstance(model, tcharlm.CharLM)   # reads (T, batch)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        x, y = (ids[:, :-1].T, ids[:, 1:].T) if lstm_like else (ids[:, :-1], ids[:, 1:])
        loss = F.cross_entropy(model(x)[0].reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))   # the first run warms up

seq_lengths = [32, 64, 128, 256]
scaling_models = {
    "LSTM": tcharlm.CharLM(len(vocab), 128, np.random.default_rng(0), embedding_dim=32),
    "transformer": ttransformer.CharTransformer(len(vocab), 64, np.random.default_rng(0),
                                                num_heads=4, num_layers=2, context_size=256)}
step_ms = {(name, T): 1e3 * step_time(m, T)
           for name, m in scaling_models.items() for T in seq_lengths}
print("T      LSTM ms   transformer ms   (one training step, batch 16, CPU)")
for T in seq_lengths:
    print(f"{T:3d}   {step_ms['LSTM', T]:7.1f}   {step_ms['transformer', T]:14.1f}")
assert all(step_ms[name, 256] > 2 * step_ms[name, 32] for name in scaling_models)
""", portable={"compare": "timing", "only": r"(\d+\.\d)", "reason": WHY_TIMING})

md(r"""
On a GPU the picture changes. The LSTM still takes $T$ steps in a row, each too small to fill the
device, so its time keeps growing with $T$; the transformer's step is a few large operations over
all positions, and until the device is full its time barely grows with $T$. The `seq_scaling`
benchmark (`benchmarks/run.py -k seq_scaling`) measures these two models' training steps against $T$
on every device it finds. The same parallelism is why transformers could be trained on far more
text than recurrent networks. It ends at sampling: there, a transformer too produces one character
at a time, and the key-value cache is what keeps each of those steps cheap.

## The cost of attention

Every query is compared with every key: for a sequence of $T$ positions, each head computes a
$T \times T$ matrix of scores, and training keeps the weights for the backward pass. Time and
memory grow with $T^2$, while the MLP and the projections grow only with $T$. The next cell times
one head's forward and backward pass (NumPy, float32, 64 features) and counts the bytes of its
weights:
""")

code(r"""
cost_lengths = [256, 512, 1024, 2048]
cost = {}
r = np.random.default_rng(8)
for T in cost_lengths:
    q, k, v, g = (r.normal(size=(1, T, 64)).astype(np.float32) for _ in range(4))
    times = []
    for _ in range(4):
        start = time.perf_counter()
        _, cache = attention.scaled_dot_product_attention_forward(q, k, v, causal=True)
        attention.scaled_dot_product_attention_backward(g, cache)
        times.append(time.perf_counter() - start)
    cost[T] = (float(np.median(times[1:])), cache[3].nbytes)
print("    T   ms (forward + backward)   weights (MiB)")
for T in cost_lengths:
    print(f"{T:5d}   {1e3 * cost[T][0]:10.1f}   {cost[T][1] / 2**20:18.2f}")
slope = np.log(cost[2048][0] / cost[1024][0]) / np.log(2)
print(f"time grows like T^{slope:.1f} between the last two lengths")
assert all(cost[2 * T][1] == 4 * cost[T][1] for T in cost_lengths[:-1])
assert slope > 1.5
""", portable={"compare": "timing", "only": r"(\d+\.\d+)|(\d\.\d)", "reason": WHY_TIMING})

md(r"""
Each doubling of $T$ quadruples the weights' memory exactly, and multiplies the time by nearly
four once the sequence is long (the printed exponent). At a context of some thousands of positions
attention dominates the cost of a transformer, and much work has gone into pushing that limit.
Some methods restrict which keys a query may see: fixed sparse patterns (Child et al., 2019,
"Generating long sequences with sparse transformers") or a sliding window plus a few global
positions (Beltagy et al., 2020, "Longformer: the long-document transformer"). Some approximate
the softmax of all pairs with low-rank or kernel tricks whose cost grows linearly with $T$ (Wang et
al., 2020, "Linformer: self-attention with linear complexity"; Choromanski et al., 2021,
"Rethinking attention with Performers"). FlashAttention (Dao et al., 2022, "FlashAttention: fast
and memory-efficient exact attention with IO-awareness") computes exact attention block by block
without ever storing the $T \times T$ matrix, which removes the quadratic memory though not the
quadratic time; it is behind `torch.nn.functional.scaled_dot_product_attention` on GPUs. Relative
position schemes such as rotary embeddings (Su et al., 2021, "RoFormer: enhanced transformer with
rotary position embedding") and ALiBi (Press et al., 2022, "Train short, test long") help a model
read longer contexts than it was trained on. And state-space models such as Mamba (Gu and Dao,
2023, "Mamba: linear-time sequence modeling with selective state spaces") return to a recurrent
state of fixed size, with training that runs in parallel over time.
""")

md(r"""
## Summary

- A recurrent network keeps the past in a state of fixed size. On a copying task, an LSTM that
  copied a short string fell to guessing as the string grew, while a one-block transformer, which
  looks back at the original directly, copied every length perfectly.
- Attention is a soft dictionary lookup, $\operatorname{softmax}(QK^\top/\sqrt d)\,V$: queries
  compared with keys give weights, and the output is the weighted average of the values. Without
  the division by $\sqrt d$, the scores grow with $d$ and the softmax saturates, with almost no
  gradient.
- In self-attention the queries, keys and values are projections of the same sequence. The causal
  mask hides the future, so one pass gives a prediction at every position from its own past.
  Multi-head attention splits the features among heads that attend separately, and mixes their
  outputs. The package's NumPy attention agrees with `torch.nn.MultiheadAttention` in outputs and
  all gradients, and with finite differences.
- Self-attention is permutation-equivariant: order must be added, with sinusoidal or learned
  position vectors.
- A pre-LayerNorm transformer block adds attention and an MLP with GELU to its input, each computed
  from a normalised copy; the residual path carries the signal and the gradient through deep
  stacks. It agrees with `torch.nn.TransformerEncoderLayer`.
- A small character GPT trained on *Moby Dick* with chapter 8's loop, on independent windows. A
  key-value cache gives the same samples faster. At the same short training time on a CPU, chapter
  8's LSTM did better; the transformer's strengths are long contexts and parallel hardware, where
  it computes all positions of a sequence at once.
- Attention's time and memory grow with the square of the sequence length; sparse, windowed,
  low-rank and IO-aware attentions, and recurrent state-space models, are ways around it.
""")

# ---------------------------------------------------------------- exercises

md(r"""
## Exercises

Each exercise has a stub to complete and a checker that runs it on a few test cases and says
what went wrong. The stubs start out wrong on purpose, so the stored output shows the checker's
feedback. Solutions are folded away below each exercise. Hints get more specific each time you
try again; `progress()` shows which exercises you have passed in this environment.
""")

code(r"""
from dlcourse.exercises import progress

progress("ch09")
""")


def exercise(label, statement, stub, name, extra_solution=None):
    md(f"```{{exercise-start}}\n:label: {label}\n```\n\n{statement.strip()}")
    code(stub)
    md("```{exercise-end}\n```")
    md(f"```{{solution-start}} {label}\n:class: dropdown\n```")
    hidden = {"collapsed": True, "jupyter": {"outputs_hidden": True, "source_hidden": True}}
    code(f"show_source(ch09.solution_{name})", **hidden)
    code(f"ch09.check_{name}(ch09.solution_{name})", **hidden)
    if extra_solution:
        code(extra_solution, **hidden)
    md("```{solution-end}\n```")


exercise(
    "ex-ch09-attention",
    r"""
**Scaled dot-product attention.** Write `attention(q, k, v, causal)` in NumPy. `q` has shape
$(\dots, T_q, d)$, `k` $(\dots, T_k, d)$ and `v` $(\dots, T_k, d_v)$, with the same leading axes
(none, a batch, or a batch and heads). Return $\operatorname{softmax}(qk^\top/\sqrt d)\,v$, of shape
$(\dots, T_q, d_v)$. When `causal` is True (then $T_q = T_k$), query $i$ may only see the keys
$0$ to $i$. Make it work for large scores too, without hiding a warning. Do not call the package or
torch (the checker refuses them). Then run the checker.
""",
    r"""
def attention(q, k, v, causal):
    # Your code here
    return None

ch09.check_attention(attention)
""",
    "attention",
)

exercise(
    "ex-ch09-sinusoidal",
    r"""
**Sinusoidal positions.** Write `sinusoidal(length, dim)` for an even `dim`: an array of shape
`(length, dim)` whose row $t$ is the positional encoding of position $t$, with
$PE_{t, 2i} = \sin(t / 10000^{2i/D})$ and $PE_{t, 2i+1} = \cos(t / 10000^{2i/D})$, $D$ = `dim`.
Do not call the package (the checker refuses it). Then run the checker, and compare one row of
yours with `attention.sinusoidal_positions`.
""",
    r"""
def sinusoidal(length, dim):
    # Your code here
    return None

ch09.check_sinusoidal(sinusoidal)
""",
    "sinusoidal",
)

exercise(
    "ex-ch09-block-parameters",
    r"""
**Counting a block's parameters.** Write `block_parameters(embed_dim, num_heads, mlp_ratio)`,
which returns, as an int, the number of trainable numbers in one transformer block of this
chapter: width $D$ = `embed_dim`, `num_heads` heads, and an MLP of $F$ = `mlp_ratio` $\times D$
hidden units (the block of `torch.nn.TransformerEncoderLayer(embed_dim, num_heads,
dim_feedforward=F)`). Work it out from the shapes; you may check one case by summing `p.numel()`
over a block's parameters outside your function. Then run the checker.
""",
    r"""
def block_parameters(embed_dim, num_heads, mlp_ratio):
    # Your code here
    return None

ch09.check_block_parameters(block_parameters)
""",
    "block_parameters",
)

exercise(
    "ex-ch09-fix-heads",
    r"""
**Find the bug.** The function below is multi-head self-attention without a mask: `x` is
$(B, T, D)$, the weights are in `torch.nn.MultiheadAttention`'s layout (`in_proj_weight` $(3D, D)$,
`out_proj_weight` $(D, D)$) and `num_heads` divides $D$. It runs, its output has the right shape,
and with one head it is even right; with more heads it is wrong. Find the bug and fix it, changing
as little as you can, without calling torch or the package (the checker refuses them). One way to
hunt it down: print what head 0 receives for a small `x`, next to `q`.
""",
    r"""
def self_attention(x, in_proj_weight, in_proj_bias, out_proj_weight,
                   out_proj_bias, num_heads):
    batch, steps, width = x.shape
    head_dim = width // num_heads
    qkv = x @ in_proj_weight.T + in_proj_bias          # (B, T, 3D)
    q, k, v = np.split(qkv, 3, axis=-1)                # (B, T, D) each
    q = q.reshape(batch, num_heads, steps, head_dim)   # (B, h, T, D/h)
    k = k.reshape(batch, num_heads, steps, head_dim)
    v = v.reshape(batch, num_heads, steps, head_dim)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)  # (B, h, T, T)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    heads = weights @ v                                # (B, h, T, D/h)
    merged = heads.transpose(0, 2, 1, 3).reshape(batch, steps, width)
    return merged @ out_proj_weight.T + out_proj_bias

ch09.check_fix_heads(self_attention)
""",
    "fix_heads",
)

exercise(
    "ex-ch09-attend-next",
    r"""
**One step with a key-value cache.** Write `attend_next(q, k_new, v_new, k_cache, v_cache)` for
one head of causal self-attention during sampling. A new position arrives with its query `q` and
key `k_new` (both of length $d$) and its value `v_new` (length $d_v$); `k_cache` $(t, d)$ and
`v_cache` $(t, d_v)$ hold the keys and values of the $t$ positions before it ($t$ may be 0). Return
`(out, k_cache, v_cache)`: the new position's attention output, of length $d_v$, and the two caches
with the new position added at the end. Write it in NumPy, without calling torch or the package.
Then run the checker, and check that a loop of your steps over a sequence gives the rows of
`attention.scaled_dot_product_attention_forward(q, k, v, causal=True)`.
""",
    r"""
def attend_next(q, k_new, v_new, k_cache, v_cache):
    # Your code here
    return None

ch09.check_attend_next(attend_next)
""",
    "attend_next",
    extra_solution=r"""
r = np.random.default_rng(0)
q, k, v = r.normal(size=(6, 4)), r.normal(size=(6, 4)), r.normal(size=(6, 3))
k_cache, v_cache = np.zeros((0, 4)), np.zeros((0, 3))
rows = []
for t in range(6):   # one position at a time, as in sampling
    out, k_cache, v_cache = ch09.solution_attend_next(q[t], k[t], v[t], k_cache, v_cache)
    rows.append(out)
full, _ = attention.scaled_dot_product_attention_forward(q, k, v, causal=True)
print(f"largest difference from full causal attention: {np.abs(np.stack(rows) - full).max():.1e}")
assert np.allclose(np.stack(rows), full)
""",
)

nb = new_notebook(cells=cells)
nb.metadata = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.11.7"},
}
nbformat.write(nb, PATH)
print(f"wrote {PATH}: {len(cells)} cells")

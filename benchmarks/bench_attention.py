"""Attention benchmarks: the forward and backward pass of multi-head causal self-attention (NumPy against
torch.nn.MultiheadAttention), and a character-level transformer on Moby Dick trained on a wall-clock
budget, on the data and split of ``char_lm`` so that the two models compare.

Also the time of a training step against the sequence length for the LSTM and the transformer, on
every device there is (``seq_scaling``): where a GPU's parallelism over time steps shows.

Registered in ``run.py`` as ``attention_step``, ``char_transformer`` and ``seq_scaling``. Run alone with, for example,
``python benchmarks/run.py -k char_transformer`` (add ``--quick`` for a smoke test).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from bench_common import Result, median, torch_devices, torch_threads
from bench_rnn import MOBY_DICK
from threadpoolctl import threadpool_limits

from dlcourse.device import synchronize
from dlcourse.timing import time_interleaved

TORCH_TREE = "torch tree (written out)"  # timed alongside, reported as a metric (not an impl name)

# The character transformer of the char_transformer benchmark; the chapter reports what it reaches.
CHAR_TRANSFORMER = {
    "embed_dim": 128,  # D, the width of the residual stream
    "num_heads": 4,  # heads per attention layer, D / h = 32 features each
    "num_layers": 2,  # transformer blocks: 2 beat 4 in this budget, twice the updates (sweeps/char_transformer.json)
    "context_size": 64,  # characters per training window, and the most the model reads at once
    "positions": "learned",  # an embedding per position ("sinusoidal": fixed waves)
    "batch_size": 32,  # windows per update
    "lr": 6e-3,  # Adam's peak learning rate, decayed to 0 over the budget (cosine)
    "warmup": 100,  # updates of linear warm-up to the peak rate
    "clip": 1.0,  # largest gradient norm
    "threads": None,  # PyTorch's CPU threads; None keeps its default (one per core)
}

# The attention layer timed by ``attention_step`` (``--quick``: a small one).
ATTENTION = {"batch": 32, "T": 64, "embed_dim": 128, "num_heads": 4}
SMALL_ATTENTION = {"batch": 8, "T": 32, "embed_dim": 64, "num_heads": 4}


def bench_attention_step(quick: bool) -> list[Result]:
    """Forward plus backward of multi-head causal self-attention (batch 32, T 64, D 128, 4 heads),
    float32: the NumPy tree's ``multi_head_attention_forward`` / ``_backward`` against
    ``torch.nn.MultiheadAttention`` (batch first, a causal mask, no weights returned) with autograd,
    from the same weights. NumPy's BLAS gets as many threads as PyTorch uses.

    The torch tree's written-out twin (:func:`dlcourse.torch.attention.multi_head_attention_forward`
    with autograd) is timed alongside: ``speed_vs_torch_tree`` is each row's speed against it, which
    shows what PyTorch's fused attention kernel adds over the same formulas in tensor operations.
    """
    from dlcourse.numpy import attention as npa
    from dlcourse.torch import attention as tha

    sizes = SMALL_ATTENTION if quick else ATTENTION
    batch, steps, width, heads = sizes["batch"], sizes["T"], sizes["embed_dim"], sizes["num_heads"]
    repeats, threads = (5 if quick else 40), torch.get_num_threads()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, width)).astype(np.float32)
    dout = rng.normal(size=(batch, steps, width)).astype(np.float32)
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(width, heads, batch_first=True)
    weights = [p.detach().numpy().copy() for p in reference.parameters()]  # in_proj w, b, out_proj w, b

    def numpy_step():
        with threadpool_limits(limits=threads):
            _, cache = npa.multi_head_attention_forward(x, *weights, heads, True)
            return npa.multi_head_attention_backward(dout, cache)

    fns, syncs = {"numpy": numpy_step}, {}
    mask = torch.from_numpy(~npa.causal_mask(steps, steps))  # torch.nn masks where True
    for impl, device in torch_devices():
        model = torch.nn.MultiheadAttention(width, heads, batch_first=True).to(device)
        model.load_state_dict(reference.state_dict())
        xt, dt, mt = (torch.from_numpy(a).to(device) for a in (x, dout, mask.numpy()))
        xt.requires_grad_()

        def torch_step(model=model, xt=xt, dt=dt, mt=mt):
            model.zero_grad()
            xt.grad = None
            out, _ = model(xt, xt, xt, attn_mask=mt, is_causal=True, need_weights=False)
            out.backward(dt)

        fns[impl], syncs[impl] = torch_step, (lambda d=device: synchronize(d))
    tree_weights = [torch.from_numpy(w).requires_grad_() for w in weights]
    xt_tree = torch.from_numpy(x).requires_grad_()

    def torch_tree_step():
        for w in (*tree_weights, xt_tree):
            w.grad = None
        out, _ = tha.multi_head_attention_forward(xt_tree, *tree_weights, heads, True)
        out.backward(torch.from_numpy(dout))

    fns[TORCH_TREE] = torch_tree_step
    times = time_interleaved(fns, repeats=repeats, warmup=2, syncs=syncs, block=5)
    tree_s = median(times.pop(TORCH_TREE))
    rows = [Result("attention_step", impl, median(t), repeats) for impl, t in times.items()]
    reference_s = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {
            **sizes,
            "causal": True,
            "dtype": "float32",
            "pass": "forward+backward",
            "threads": threads,
            "reference": "torch.nn.MultiheadAttention(batch_first=True), attn_mask causal, need_weights=False",
        }
        row.metrics = {
            "speed_vs_torch_cpu": round(reference_s / row.median_s, 3),
            "speed_vs_torch_tree": round(tree_s / row.median_s, 3),
            "ms_per_step": round(row.median_s * 1e3, 3),
        }
    return rows


def bench_char_transformer(quick: bool) -> list[Result]:
    """Train a character-level transformer (a small GPT) on Moby Dick with PyTorch on the CPU, on a
    wall-clock budget (300 s; 10 s with --quick), and report the loss on the final tenth of the text in
    nats per character, as ``char_lm`` does for the LSTM.

    Windows of ``context_size`` characters, Adam with a linear warm-up, gradient clipping and a
    cosine learning rate that reaches 0 when the budget runs out
    (:func:`dlcourse.torch.chargpt.train_char_transformer`). The budget can be changed with the
    environment variable ``DLCOURSE_CHAR_TRANSFORMER_BUDGET`` (seconds). Threads as in ``char_lm``.
    """
    config = dict(CHAR_TRANSFORMER)
    if quick:  # a small model, one thread: a smoke test of the whole pipeline
        config.update(embed_dim=32, num_layers=1, context_size=32, batch_size=16, lr=1e-2, warmup=10, threads=1)
    budget = float(os.environ.get("DLCOURSE_CHAR_TRANSFORMER_BUDGET", 10 if quick else 300))
    return [char_transformer_row(config, budget)]


def char_transformer_row(config: dict, budget: float, progress: bool = True, final: bool = True) -> Result:
    """Train the character transformer described by ``config`` (keys as :data:`CHAR_TRANSFORMER`) for
    ``budget`` seconds and score it: the ``char_transformer`` row (also used by ``sweep.py``).

    The text is cut 80/10/10 along the book (:func:`dlcourse.text.split_three`), as for ``char_lm``:
    the model trains on the first 80 %, ``val_loss`` is measured on the next 10 % (where a sweep
    chooses settings), and with ``final`` the chosen model is scored once on the last 10 %
    (``test_loss``, the figure reported against the goal). A sweep passes ``final=False``."""
    from dlcourse import text
    from dlcourse.data import load_moby_dick
    from dlcourse.torch import chargpt, transformer

    config = dict(config)
    corpus = load_moby_dick()
    vocab = text.Vocabulary.from_text(corpus)
    train_ids, val_ids, test_ids = text.split_three(vocab.encode(corpus), val_fraction=0.1, test_fraction=0.1)
    torch.manual_seed(0)
    model = transformer.CharTransformer(
        len(vocab),
        config["embed_dim"],
        np.random.default_rng(0),
        num_heads=config["num_heads"],
        num_layers=config["num_layers"],
        context_size=config["context_size"],
        positions=config["positions"],
    )
    with torch_threads(config["threads"]) as used:
        start = time.perf_counter()
        history = chargpt.train_char_transformer(
            model,
            train_ids,
            budget_s=budget,
            batch_size=config["batch_size"],
            seq_len=config["context_size"],
            lr=config["lr"],
            clip=config["clip"],
            warmup=config["warmup"],
            progress=progress,
        )
        tick = time.perf_counter()
        val_loss = chargpt.evaluate_char_transformer(model, val_ids)
        test_loss = chargpt.evaluate_char_transformer(model, test_ids) if final else None
        eval_s = time.perf_counter() - tick
    config["threads"] = used
    n_params = sum(p.numel() for p in model.parameters())
    return Result(
        "char_transformer",
        "torch-cpu",
        history.seconds,
        1,
        {
            "text": MOBY_DICK,
            "train_chars": len(train_ids),
            "val_chars": len(val_ids),
            "test_chars": len(test_ids),
            "split": "80/10/10 along the book: train, validation (settings chosen here), final (test_loss, once)",
            "vocab_size": len(vocab),
            "model": f"embedding {config['embed_dim']} + {config['positions']} positions + {config['num_layers']} "
            f"pre-LN blocks ({config['num_heads']} heads, MLP {4 * config['embed_dim']}, GELU) + LayerNorm + linear",
            "parameters": n_params,
            **config,
            "budget_s": budget,
            "schedule": "linear warm-up, then cosine on elapsed time, to 0 at the budget",
            "evaluation": "overlapping windows of context_size, stride context_size // 2: every character scored once",
        },
        {
            "val_loss": round(val_loss, 4),
            **(
                {"test_loss": round(test_loss, 4), "test_bits_per_char": round(test_loss / np.log(2), 4)}
                if test_loss is not None
                else {}
            ),
            "train_s": round(history.seconds, 1),
            "params": n_params,
            "steps": history.steps,
            "epochs": round(history.epochs, 3),
            "chars_per_s": round(history.characters / history.seconds),
            "last_train_loss": round(history.train_loss[-1], 4) if history.train_loss else None,
            "eval_s": round(eval_s, 1),
            "total_s": round(time.perf_counter() - start, 1),
        },
    )


def bench_seq_scaling(quick: bool) -> list[Result]:
    """Time per training step against the sequence length T, for the two character models of the
    course: the LSTM of ``char_lm`` (``torch.nn.LSTM``, which must run its T steps one after another)
    and the transformer of ``char_transformer`` (whose T positions are computed together), batch 16,
    on every device there is. On a CPU both grow about linearly with T; on a GPU the transformer's
    step stays nearly flat until the device is full, while the LSTM's keeps growing with T.

    Each row is one (model, T, device); ``ms_per_step`` and ``us_per_char`` are its metrics.
    """
    from bench_rnn import CHAR_LM

    from dlcourse.torch import charlm, transformer

    lengths, batch, vocab = ((16, 32, 64) if quick else (32, 64, 128, 256, 512)), 16, 83
    repeats = 3 if quick else 10
    rows = []
    for impl, device in torch_devices():
        torch.manual_seed(0)
        models = {
            "lstm": charlm.CharLM(
                vocab, CHAR_LM["hidden_size"], np.random.default_rng(0), embedding_dim=CHAR_LM["embedding_dim"]
            ),
            "transformer": transformer.CharTransformer(
                vocab,
                CHAR_TRANSFORMER["embed_dim"],
                np.random.default_rng(0),
                num_heads=CHAR_TRANSFORMER["num_heads"],
                num_layers=CHAR_TRANSFORMER["num_layers"],
                context_size=max(lengths),
            ),
        }
        for name, model in models.items():
            model.to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            for steps in lengths:
                ids = torch.randint(0, vocab, (batch, steps + 1), device=device)
                time_major = name == "lstm"  # the LSTM reads (T, B), the transformer (B, T)

                def step(model=model, optimizer=optimizer, ids=ids, time_major=time_major):
                    x, y = (ids[:, :-1].T, ids[:, 1:].T) if time_major else (ids[:, :-1], ids[:, 1:])
                    logits = model(x)[0]
                    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()

                times = time_interleaved(
                    {name: step}, repeats=repeats, warmup=2, syncs={name: lambda d=device: synchronize(d)}
                )
                seconds = median(times[name])
                rows.append(
                    Result(
                        "seq_scaling",
                        impl,
                        seconds,
                        repeats,
                        {"model": name, "T": steps, "batch": batch, "pass": "forward+backward+Adam"},
                        {
                            "ms_per_step": round(seconds * 1e3, 3),
                            "us_per_char": round(seconds / (batch * steps) * 1e6, 3),
                        },
                    )
                )
    return rows

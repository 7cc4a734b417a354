"""Speed measurements for dlcourse, as ratios against references run in the same process.

Usage:
    python benchmarks/run.py [-k NAME]... [--json PATH] [--save] [--quick]

Runs the named benchmarks (all by default), repeats each, prints a table of medians and,
with --json, writes::

    {"machine": {...},
     "results": [{"benchmark": str, "impl": str, "median_s": float, "repeats": int,
                  "params": {...}, "metrics": {...}}]}

``impl`` is one of numpy, numpy-naive, torch-cpu, torch-cuda, torch-mps. These names and
this format are stable: results are compared across chapters and machines.

Where a benchmark compares implementations (``speed_vs_torch_cpu``), they are timed in
alternation, in blocks of calls, round after round, so that machine noise lands on all of them alike.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(1, str(Path(__file__).resolve().parent))  # the bench_*.py modules beside this file

from bench_common import IMPLS, Result
from bench_common import median as _median
from bench_common import torch_devices as _torch_devices

from dlcourse.device import synchronize
from dlcourse.numpy import activations as npa
from dlcourse.numpy.linalg import matmul_flops
from dlcourse.timing import median_time, time_interleaved
from dlcourse.torch import activations as tha


def bench_matmul_peak(quick: bool) -> list[Result]:
    """The machine's float32 and float64 matrix-product throughput: the physical limit
    other results are compared with. Square n x n products."""
    n = 512 if quick else 2048
    repeats = 3 if quick else 7
    flops = matmul_flops(n, n, n)
    rng = np.random.default_rng(0)
    rows = []
    impls: list[tuple[str, Callable]] = [("numpy", lambda dt: _numpy_matmul(rng, n, dt))]
    impls += [(name, lambda dt, d=dev: _torch_matmul(n, dt, d)) for name, dev in _torch_devices()]
    for impl, make in impls:
        metrics, medians = {}, {}
        for dtype in ("float32", "float64"):
            fn, sync = make(dtype)
            medians[dtype] = median_time(fn, repeats=repeats, warmup=1, sync=sync)
            metrics[f"{dtype}_gflops"] = round(flops / medians[dtype] / 1e9, 2)
        rows.append(Result("matmul_peak", impl, medians["float32"], repeats, {"n": n}, metrics))
    return rows


def _numpy_matmul(rng: np.random.Generator, n: int, dtype: str):
    a, b = rng.normal(size=(n, n)).astype(dtype), rng.normal(size=(n, n)).astype(dtype)
    return (lambda: a @ b), None


def _torch_matmul(n: int, dtype: str, device: torch.device):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g, dtype=getattr(torch, dtype)).to(device)
    b = torch.randn(n, n, generator=g, dtype=getattr(torch, dtype)).to(device)
    return (lambda: a @ b), (lambda: synchronize(device))


def _bench_activation(name: str, quick: bool) -> list[Result]:
    """Forward plus backward of one activation over a float32 array, NumPy tree against
    the PyTorch tree (the same formulas, PyTorch kernels)."""
    size = 2**18 if quick else 2**22
    repeats = 5 if quick else 30
    rng = np.random.default_rng(0)
    x = rng.normal(size=size).astype(np.float32)
    dout = rng.normal(size=size).astype(np.float32)
    fwd, bwd = getattr(npa, f"{name}_forward"), getattr(npa, f"{name}_backward")

    def numpy_step():
        _, cache = fwd(x)
        return bwd(dout, cache)

    fns, syncs = {"numpy": numpy_step}, {}
    tfwd, tbwd = getattr(tha, f"{name}_forward"), getattr(tha, f"{name}_backward")
    for impl, device in _torch_devices():
        xt, dt = torch.from_numpy(x).to(device), torch.from_numpy(dout).to(device)

        def torch_step(xt=xt, dt=dt):
            _, cache = tfwd(xt)
            return tbwd(dt, cache)

        fns[impl], syncs[impl] = torch_step, (lambda d=device: synchronize(d))
    # Two references that explain the torch-cpu row, reported as its metrics: torch's own op with
    # autograd (one fused kernel each way), and the comparison `x > 0` alone, which ReLU's backward
    # formula `dout * (x > 0)` needs before a product of a float and a bool tensor.
    xg, dg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)
    builtin = getattr(torch, name)
    fns["autograd"] = lambda: builtin(xg).backward(dg)
    if name == "relu":
        xc = torch.from_numpy(x)
        fns["mask"] = lambda: xc > 0
    times = time_interleaved(fns, repeats=repeats, warmup=2, syncs=syncs, block=5)
    extra = {k: _median(times.pop(k)) for k in ("autograd", "mask") if k in times}
    rows = [Result(f"activation_{name}", impl, _median(t), repeats) for impl, t in times.items()]
    reference = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {"size": size, "dtype": "float32", "pass": "forward+backward"}
        row.metrics = {
            "gelem_per_s": round(size / row.median_s / 1e9, 3),
            "speed_vs_torch_cpu": round(reference / row.median_s, 3),
        }
        if row.impl == "torch-cpu":
            row.metrics["torch_autograd_ms"] = round(extra["autograd"] * 1e3, 3)  # torch.<name> + .backward
            if "mask" in extra:
                row.metrics["mask_ms"] = round(extra["mask"] * 1e3, 3)  # x > 0 alone
    return rows


def bench_mlp_train_step(quick: bool) -> list[Result]:
    """One training step (forward, backward, SGD update) of a 784-256-10 ReLU MLP on a batch
    of 128, float32: the package's modular NumPy layers against torch.nn + torch.optim."""
    from dlcourse.numpy import layers as L
    from dlcourse.numpy import losses
    from dlcourse.numpy import optim as O

    repeats = 20 if quick else 500
    sizes, batch = (784, 256, 10), 128
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch)
    net = L.Sequential(L.Linear(sizes[0], sizes[1], rng), L.ReLU(), L.Linear(sizes[1], sizes[2], rng))
    opt = O.SGD(net.parameters(), lr=0.01)

    def numpy_step():
        loss, cache = losses.cross_entropy_forward(net(x), y)
        opt.zero_grad()
        net.backward(losses.cross_entropy_backward(1.0, cache))
        opt.step()

    fns, syncs = {"numpy": numpy_step}, {}
    for impl, device in _torch_devices():
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(), torch.nn.Linear(sizes[1], sizes[2])
        ).to(device)
        topt = torch.optim.SGD(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

        def torch_step(model=model, topt=topt, xt=xt, yt=yt):
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            topt.zero_grad()
            loss.backward()
            topt.step()

        fns[impl], syncs[impl] = torch_step, (lambda d=device: synchronize(d))
    times = time_interleaved(fns, repeats=repeats, warmup=10, syncs=syncs, block=25)
    rows = [Result("mlp_train_step", impl, _median(t), repeats) for impl, t in times.items()]
    # Matrix products per step: forward and weight gradient of both layers, input gradient of the second.
    products = [(batch, sizes[0], sizes[1]), (batch, sizes[1], sizes[2])]
    flops = 2 * sum(matmul_flops(*p) for p in products) + matmul_flops(batch, sizes[2], sizes[1])
    reference = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {"sizes": list(sizes), "batch": batch, "dtype": "float32", "optimizer": "SGD"}
        row.metrics = {
            "speed_vs_torch_cpu": round(reference / row.median_s, 3),
            "gflops": round(flops / row.median_s / 1e9, 2),
        }
    return rows


def bench_mlp_digits(quick: bool) -> list[Result]:
    """Train the package's NumPy MLP (64-256-10, ReLU, dropout 0.2, Adam 2e-3, batch 32) on the
    8x8 digits that ship with scikit-learn; report test accuracy over several seeds."""
    from dlcourse.data import load_digits
    from dlcourse.numpy import layers as L
    from dlcourse.numpy import optim as O
    from dlcourse.numpy import train as TR

    seeds = [0] if quick else [0, 1, 2]
    epochs = 5 if quick else 40
    data = load_digits(seed=0)
    times, accs = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        net = L.Sequential(
            L.Linear(64, 256, rng), L.ReLU(), L.Dropout(0.2, np.random.default_rng(seed + 100)), L.Linear(256, 10, rng)
        )
        opt = O.Adam(net.parameters(), lr=2e-3)
        start = time.perf_counter()
        TR.fit(
            net, opt, data["x_train"], data["y_train"], epochs, 32, np.random.default_rng(seed + 200), progress=False
        )
        times.append(time.perf_counter() - start)
        accs.append(TR.accuracy(net, data["x_test"], data["y_test"]))
    train_s = _median(times)
    return [
        Result(
            "mlp_digits",
            "numpy",
            train_s,
            len(seeds),
            {"dataset": "sklearn digits 8x8", "sizes": [64, 256, 10], "epochs": epochs, "seeds": seeds},
            {
                "test_acc": round(float(np.median(accs)), 4),
                "test_acc_min": round(min(accs), 4),
                "train_s": round(train_s, 3),
                "n_test": len(data["y_test"]),
            },
        )
    ]


def bench_conv2d_lenet(quick: bool) -> list[Result]:
    """LeNet's two convolution layers (1->6 kernels 5x5 on 28x28 with padding 2, then 6->16
    kernels 5x5 on 14x14), forward plus backward (all gradients), float32: the loop
    reference, the im2col version and torch CPU. Also the share of the machine's float32
    matmul peak that the im2col matrix products reach at these shapes."""
    from dlcourse.numpy import conv as npc

    batch = 8 if quick else 64
    repeats = 5 if quick else 30
    rng = np.random.default_rng(0)
    layers = []
    for x_shape, w_shape, padding in (((batch, 1, 28, 28), (6, 1, 5, 5), 2), ((batch, 6, 14, 14), (16, 6, 5, 5), 0)):
        x = rng.normal(size=x_shape).astype(np.float32)
        weight = (rng.normal(size=w_shape) * 0.1).astype(np.float32)
        bias = np.zeros(w_shape[0], dtype=np.float32)
        out, _ = npc.conv2d_forward(x, weight, bias, 1, padding)
        layers.append((x, weight, bias, padding, rng.normal(size=out.shape).astype(np.float32)))

    def step(forward, backward):
        def run():
            for x, weight, bias, padding, dout in layers:
                _, cache = forward(x, weight, bias, 1, padding)
                backward(dout, cache)

        return run

    tlayers = [
        (*(torch.from_numpy(a).requires_grad_() for a in (x, w, b)), p, torch.from_numpy(d)) for x, w, b, p, d in layers
    ]

    def torch_step():
        for x, weight, bias, padding, dout in tlayers:
            x.grad = weight.grad = bias.grad = None
            torch.nn.functional.conv2d(x, weight, bias, padding=padding).backward(dout)

    fast = step(npc.conv2d_forward, npc.conv2d_backward)
    times = time_interleaved({"numpy": fast, "torch-cpu": torch_step}, repeats=repeats, warmup=2, block=5)
    naive_s = median_time(step(npc.conv2d_naive_forward, npc.conv2d_naive_backward), repeats=1, warmup=0)

    # The im2col matrix products alone: forward (N*L, CKK) @ (CKK, F); backward dweight and dcols.
    flops, products = 0, []
    for _, weight, _, _, dout in layers:
        n_rows = dout.shape[0] * dout.shape[2] * dout.shape[3]
        ckk, f = int(np.prod(weight.shape[1:])), weight.shape[0]
        cols = rng.normal(size=(n_rows, ckk)).astype(np.float32)
        wmat = weight.reshape(f, ckk)
        dcols_t = rng.normal(size=(f, n_rows)).astype(np.float32)
        products += [lambda c=cols, w=wmat: c @ w.T, lambda d=dcols_t, c=cols: d @ c, lambda w=wmat, d=dcols_t: w.T @ d]
        flops += 3 * matmul_flops(n_rows, ckk, f)
    matmul_s = median_time(lambda: [p() for p in products], repeats=repeats, warmup=2)
    n = 1024
    a, b = rng.normal(size=(n, n)).astype(np.float32), rng.normal(size=(n, n)).astype(np.float32)
    peak = matmul_flops(n, n, n) / median_time(lambda: a @ b, repeats=5, warmup=1)

    params = {"batch": batch, "layers": "1->6 5x5 pad 2 on 28x28; 6->16 5x5 on 14x14", "dtype": "float32"}
    numpy_s, torch_s = _median(times["numpy"]), _median(times["torch-cpu"])
    return [
        Result(
            "conv2d_lenet",
            "numpy-naive",
            naive_s,
            1,
            params,
            {"speed_vs_torch_cpu": round(torch_s / naive_s, 5), "gflops": round(flops / naive_s / 1e9, 3)},
        ),
        Result(
            "conv2d_lenet",
            "numpy",
            numpy_s,
            repeats,
            params,
            {
                "speed_vs_torch_cpu": round(torch_s / numpy_s, 3),
                "speed_vs_numpy_naive": round(naive_s / numpy_s, 1),
                "gflops": round(flops / numpy_s / 1e9, 2),
                "matmul_gflops": round(flops / matmul_s / 1e9, 1),
                "matmul_share_of_peak": round(flops / matmul_s / peak, 3),
                "matmul_share_of_step": round(matmul_s / numpy_s, 3),
            },
        ),
        Result(
            "conv2d_lenet",
            "torch-cpu",
            torch_s,
            repeats,
            params,
            {"speed_vs_torch_cpu": 1.0, "gflops": round(flops / torch_s / 1e9, 2)},
        ),
    ]


BENCHMARKS: dict[str, Callable[[bool], list[Result]]] = {
    "matmul_peak": bench_matmul_peak,
    "activation_sigmoid": lambda quick: _bench_activation("sigmoid", quick),
    "activation_tanh": lambda quick: _bench_activation("tanh", quick),
    "activation_relu": lambda quick: _bench_activation("relu", quick),
    "mlp_train_step": bench_mlp_train_step,
    "mlp_digits": bench_mlp_digits,
    "conv2d_lenet": bench_conv2d_lenet,
}
# Benchmarks that live in their own modules, imported only when they run: "module:function".
LAZY = {
    "cnn_mnist": "bench_cnn:bench_cnn_mnist",
    "lstm_step": "bench_rnn:bench_lstm_step",
    "lstm_step_small": "bench_rnn:bench_lstm_step_small",
    "char_lm": "bench_rnn:bench_char_lm",
    "dqn_cartpole": "bench_rl:bench_dqn_cartpole",
    "cnn_train_step": "bench_scale:bench_cnn_train_step",
    "batchnorm_step": "bench_norm:bench_batchnorm_step",
    "reinforce_cartpole": "bench_pg:bench_reinforce_cartpole",
    "resnet_mnist": "bench_resnet:bench_resnet_mnist",
    "attention_step": "bench_attention:bench_attention_step",
    "char_transformer": "bench_attention:bench_char_transformer",
    "seq_scaling": "bench_attention:bench_seq_scaling",
}
for _name, _target in LAZY.items():
    BENCHMARKS[_name] = lambda quick, t=_target: getattr(importlib.import_module(t.split(":")[0]), t.split(":")[1])(
        quick
    )


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def results_path(info: dict) -> Path:
    """Where ``--save`` writes: ``dlcourse/bench_data/<date>_<cores>core[_<gpu>].json``, in the package,
    so that the book's chapters can read it wherever ``dlcourse`` is installed."""
    slug = f"{info['date'][:10]}_{info['cpu_count']}core"
    if info.get("cuda"):
        slug += "_" + "".join(c if c.isalnum() else "-" for c in info["cuda"].lower()).strip("-")
    return Path(__file__).resolve().parents[1] / "dlcourse" / "bench_data" / f"{slug}.json"


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def format_table(results: list[Result]) -> str:
    """A plain-text table: one row per result."""
    lines = [f"{'benchmark':<20} {'impl':<12} {'median':>10}  metrics"]
    for r in results:
        metrics = ", ".join(f"{k}={v}" for k, v in r.metrics.items())
        lines.append(f"{r.benchmark:<20} {r.impl:<12} {r.median_s * 1e3:>8.2f}ms  {metrics}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-k",
        dest="names",
        action="append",
        metavar="NAME",
        help=f"benchmark to run (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--save", action="store_true", help="also write the results to dlcourse/bench_data/<date>_<machine>.json"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats, for smoke tests")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    results: list[Result] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results += BENCHMARKS[name](args.quick)
    assert all(r.impl in IMPLS for r in results)
    print(format_table(results))
    payload = {"machine": machine_info(), "results": [asdict(r) for r in results]}
    targets = ([args.json] if args.json else []) + ([results_path(payload["machine"])] if args.save else [])
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

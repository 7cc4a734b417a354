"""Speed measurements for dlcourse, as ratios against references run in the same process.

Usage:
    python benchmarks/run.py [-k NAME]... [--json PATH] [--quick]

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
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from dlcourse.device import synchronize
from dlcourse.numpy import activations as npa
from dlcourse.numpy.linalg import matmul_flops
from dlcourse.timing import time_call, time_interleaved
from dlcourse.torch import activations as tha

IMPLS = ("numpy", "numpy-naive", "torch-cpu", "torch-cuda", "torch-mps")


@dataclass
class Result:
    """One row of the results table; the JSON schema is ``asdict(Result)``."""

    benchmark: str
    impl: str
    median_s: float
    repeats: int
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def _median(times: list[float]) -> float:
    return float(np.median(times))


def _torch_devices() -> list[tuple[str, torch.device]]:
    devices = [("torch-cpu", torch.device("cpu"))]
    if torch.cuda.is_available():
        devices.append(("torch-cuda", torch.device("cuda")))
    if torch.backends.mps.is_available():
        devices.append(("torch-mps", torch.device("mps")))
    return devices


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
            medians[dtype] = _median(time_call(fn, repeats=repeats, warmup=1, sync=sync))
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
    times = time_interleaved(fns, repeats=repeats, warmup=2, syncs=syncs, block=5)
    rows = [Result(f"activation_{name}", impl, _median(t), repeats) for impl, t in times.items()]
    reference = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {"size": size, "dtype": "float32", "pass": "forward+backward"}
        row.metrics = {
            "gelem_per_s": round(size / row.median_s / 1e9, 3),
            "speed_vs_torch_cpu": round(reference / row.median_s, 3),
        }
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
    reference = next(r.median_s for r in rows if r.impl == "torch-cpu")
    for row in rows:
        row.params = {"sizes": list(sizes), "batch": batch, "dtype": "float32", "optimizer": "SGD"}
        row.metrics = {"speed_vs_torch_cpu": round(reference / row.median_s, 3)}
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
    return [
        Result(
            "mlp_digits",
            "numpy",
            _median(times),
            len(seeds),
            {"dataset": "sklearn digits 8x8", "sizes": [64, 256, 10], "epochs": epochs, "seeds": seeds},
            {
                "test_acc": round(float(np.median(accs)), 4),
                "test_acc_min": round(min(accs), 4),
                "train_s": round(_median(times), 3),
                "n_test": len(data["y_test"]),
            },
        )
    ]


BENCHMARKS: dict[str, Callable[[bool], list[Result]]] = {
    "matmul_peak": bench_matmul_peak,
    "activation_sigmoid": lambda quick: _bench_activation("sigmoid", quick),
    "activation_tanh": lambda quick: _bench_activation("tanh", quick),
    "activation_relu": lambda quick: _bench_activation("relu", quick),
    "mlp_train_step": bench_mlp_train_step,
    "mlp_digits": bench_mlp_digits,
}


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
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
    if args.json:
        payload = {"machine": machine_info(), "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

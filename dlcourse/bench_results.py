"""Read the committed benchmark results (``dlcourse/bench_data/*.json``) for the book.

The files ship inside the package, so that the chapters which quote them run wherever
``dlcourse`` is installed (Colab, a downloaded notebook, ``pip install``), not only in a clone.
Each file is one run of ``benchmarks/run.py --save`` on one machine on one day::

    {"machine": {"date": ..., "processor": ..., "cpu_count": ..., "cuda": ..., ...},
     "results": [{"benchmark", "impl", "median_s", "repeats", "params", "metrics"}, ...]}

The chapters quote these numbers through :func:`latest_rows` instead of typing them, so the
text always says what the last committed run measured.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dlcourse.validation import describe

__all__ = [
    "GOALS",
    "Goal",
    "RESULTS_DIR",
    "check_goals",
    "combine_latest",
    "format_rows",
    "latest_rows",
    "load_file",
    "load_results",
    "load_sweep",
    "machine_label",
    "plot_gflops",
    "plot_speedups",
]

RESULTS_DIR = Path(__file__).resolve().parent / "bench_data"
IMPL_ORDER = ("numpy-naive", "numpy", "torch-cpu", "torch-mps", "torch-cuda")


def load_results(directory: Path | str = RESULTS_DIR) -> list[dict]:
    """Every results file in ``directory``, oldest first (by the date the run recorded).

    Raises:
        FileNotFoundError: the folder is missing, with what to do about it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no benchmark results folder at {directory}: the committed results ship in dlcourse/bench_data; "
            "reinstall dlcourse, or run `python benchmarks/run.py --save` in a clone to make your own."
        )
    runs = [_read(p) | {"file": p.name} for p in sorted(directory.glob("*.json"))]
    return sorted(runs, key=lambda run: run["machine"]["date"])


def _json(path: Path, what: str) -> object:
    """The JSON in ``path``, or one sentence saying that it is not ``what`` (unreadable, not JSON)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = str(exc).split("\n")[0][:120]
        raise ValueError(f"{path} is not {what}: it could not be read as JSON ({reason}).") from None


def _read(path: Path) -> dict:
    """One results file, checked: ``{"machine": {"date": ...}, "results": [...]}``."""
    data = _json(path, "a benchmark results file")
    if not (
        isinstance(data, dict)
        and isinstance(data.get("machine"), dict)
        and "date" in data["machine"]
        and isinstance(data.get("results"), list)
    ):
        raise ValueError(
            f"{path} is not a benchmark results file: expected a JSON object with machine (holding date) and results."
        )
    return data


def load_file(name: str, directory: Path | str = RESULTS_DIR) -> dict:
    """One results file by name, such as ``"cnn_mnist.json"``: ``{"machine": ..., "results": [...]}``.

    Raises:
        ValueError: ``name`` is not a plain file name, or the file is not a results file.
        FileNotFoundError: there is no such file, naming the files there are.
    """
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(
            f"name must be the name of a file in {directory}, such as 'cnn_mnist.json', got {describe(name)}."
        )
    path = Path(directory) / name
    if not path.is_file():
        there = sorted(p.name for p in Path(directory).glob("*.json")) if Path(directory).is_dir() else []
        raise FileNotFoundError(
            f"name={describe(name)}: no such benchmark results file in {directory}; expected one of "
            f"{', '.join(there) or '(none: the folder is missing or empty)'}."
        )
    return _read(path)


def load_sweep(name: str, directory: Path | str = RESULTS_DIR / "sweeps") -> dict:
    """The committed sweep that chose a benchmark's settings, such as ``"cnn_mnist.json"``, written by
    ``python benchmarks/sweep.py <benchmark> --save``: ``{"machine", "benchmark", "selected_on",
    "rows"}``, each row scored on validation data only. Sweeps live in ``bench_data/sweeps/``, apart
    from the results files, so that :func:`load_results` never mistakes a candidate for a result.

    Raises:
        ValueError: ``name`` is not a plain file name, or the file is not a sweep.
        FileNotFoundError: there is no such sweep.
    """
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(
            f"name must be the name of a file in {directory}, such as 'cnn_mnist.json', got {describe(name)}."
        )
    path = Path(directory) / name
    if not path.is_file():
        there = sorted(p.name for p in Path(directory).glob("*.json")) if Path(directory).is_dir() else []
        raise FileNotFoundError(
            f"name={describe(name)}: no such sweep in {directory}; expected one of {', '.join(there) or '(none)'}."
        )
    data = _json(path, "a sweep")
    if not (isinstance(data, dict) and {"machine", "benchmark", "selected_on", "rows"} <= set(data)):
        raise ValueError(f"{path} is not a sweep: expected machine, benchmark, selected_on and rows.")
    return data


def latest_rows(benchmark: str, directory: Path | str = RESULTS_DIR, gpu: bool | None = None) -> list[dict]:
    """The rows of ``benchmark`` from the most recent run that measured it.

    Args:
        benchmark: a name from ``benchmarks/run.py`` (``cnn_mnist``, ``lstm_step``, ...).
        directory: where the results files are.
        gpu: ``True`` for runs on a machine with a CUDA GPU only, ``False`` for runs without
            one, ``None`` for any.

    Returns:
        Its result rows, each with the run's ``machine`` added.

    Raises:
        LookupError: no committed run measured ``benchmark``.
    """
    for run in reversed(load_results(directory)):
        if gpu is not None and bool(run["machine"].get("cuda")) != gpu:
            continue
        rows = [r | {"machine": run["machine"]} for r in run["results"] if r["benchmark"] == benchmark]
        if rows:
            return rows
    raise LookupError(f"no committed run in {directory} measured {benchmark!r}; run benchmarks/run.py -k {benchmark}.")


def _machine_key(machine: dict) -> tuple:
    """What identifies a machine across runs: its CPU, core count and GPU (not the date)."""
    return machine.get("cpu_model") or machine.get("processor"), machine.get("cpu_count"), machine.get("cuda")


def combine_latest(runs: list[dict]) -> list[dict]:
    """One run per machine, made of the newest row of every (benchmark, implementation) measured on it.

    Each results file holds the benchmarks of one run of ``benchmarks/run.py``, often a few of
    them; the plots want every benchmark of a machine together. Machines are told apart by CPU,
    core count and GPU.

    Args:
        runs: from :func:`load_results`, oldest first.

    Returns:
        One dict per machine, ordered by its newest run: ``machine`` (that of the newest run),
        ``files`` (the files the rows come from) and ``results``.
    """
    combined: dict[tuple, dict] = {}
    for run in runs:  # oldest first, so that newer rows replace older ones
        entry = combined.pop(_machine_key(run["machine"]), {"rows": {}, "files": []})
        entry["machine"] = run["machine"]
        for row in run["results"]:
            entry["rows"][(row["benchmark"], row["impl"])] = row
        entry["files"] = [f for f in entry["files"] if f != run["file"]] + [run["file"]]
        combined[_machine_key(run["machine"])] = entry  # re-inserted: the dict stays in order of newest run
    return [
        {"machine": e["machine"], "files": e["files"], "results": list(e["rows"].values())} for e in combined.values()
    ]


def machine_label(machine: dict) -> str:
    """A short description of a results file's machine, such as "2-core AMD EPYC, 2026-11-22"."""
    cpu = machine.get("cpu_model") or machine.get("processor") or "CPU"
    label = f"{machine.get('cpu_count')}-core {cpu}"
    if machine.get("cuda"):
        label += f" + {machine['cuda']}"
    return f"{label}, {machine['date'][:10]}"


def format_rows(rows: list[dict], metrics: list[str] | None = None) -> str:
    """A plain-text table of result rows: implementation, median time and the chosen metrics
    (by default every metric holding a single number or word; per-seed lists are left out)."""
    scalar = (int, float, str)
    names = metrics or sorted({k for r in rows for k, v in r["metrics"].items() if isinstance(v, scalar)})
    lines = [f"{'impl':<12} {'median':>10}  " + "  ".join(f"{n:>14}" for n in names)]
    for r in rows:
        values = "  ".join(f"{r['metrics'].get(n, '')!s:>14}" for n in names)
        lines.append(f"{r['impl']:<12} {r['median_s'] * 1e3:>8.2f}ms  {values}")
    return "\n".join(lines)


def _grouped_bars(rows: list[dict], metric: str, ax: plt.Axes) -> dict[str, str]:
    """One group of bars per benchmark, one bar per implementation, heights from ``metric``;
    logarithmic y axis, benchmark names below. Returns each implementation's colour."""
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in rows))
    impls = [i for i in IMPL_ORDER if any(r["impl"] == i for r in rows)]
    colors = {impl: f"C{k}" for k, impl in enumerate(impls)}
    width = 0.8 / max(len(impls), 1)
    for k, impl in enumerate(impls):
        heights = [
            next((r["metrics"][metric] for r in rows if r["benchmark"] == b and r["impl"] == impl), np.nan)
            for b in benchmarks
        ]
        offset = (k - (len(impls) - 1) / 2) * width
        ax.bar(np.arange(len(benchmarks)) + offset, heights, width, label=impl, color=colors[impl])
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(benchmarks)), benchmarks, rotation=20, ha="right")
    if impls:  # above the axes, where no bar or limit line can run through it
        ax.legend(fontsize="small", ncols=len(impls), loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    return colors


def plot_speedups(run: dict, ax: plt.Axes | None = None) -> plt.Axes:
    """Throughput of each implementation relative to torch on the CPU, one group of bars per benchmark.

    Benchmarks whose rows carry ``speed_vs_torch_cpu`` are drawn; the y axis is logarithmic,
    and 1 (torch CPU) is marked.
    """
    ax = ax or plt.subplots(figsize=(7.5, 3.4))[1]
    _grouped_bars([r for r in run["results"] if "speed_vs_torch_cpu" in r["metrics"]], "speed_vs_torch_cpu", ax)
    ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
    ax.set_ylabel("speed relative to torch CPU")
    return ax


@dataclass(frozen=True)
class Goal:
    """One goal a benchmark is held to: ``metric`` of ``benchmark`` run by ``impl``, compared with
    ``threshold`` by ``compare`` (``operator.ge``: at least; ``operator.le``: at most)."""

    benchmark: str
    impl: str
    metric: str
    compare: Callable[[float, float], bool]
    threshold: float
    text: str

    def met(self, value: float) -> bool:
        """Whether a measured ``value`` meets the goal."""
        return bool(self.compare(value, self.threshold))


# The goals set in the issues.
GOALS = [
    Goal(
        "mlp_train_step",
        "numpy",
        "speed_vs_torch_cpu",
        operator.ge,
        1.0,
        "NumPy MLP step at least as fast as torch CPU",
    ),
    Goal("mlp_digits", "numpy", "test_acc", operator.ge, 0.97, "NumPy MLP on 8x8 digits: test accuracy >= 0.97"),
    Goal("conv2d_lenet", "numpy", "speed_vs_torch_cpu", operator.ge, 0.5, "im2col convolution >= 0.5x torch CPU"),
    Goal("conv2d_lenet", "numpy", "speed_vs_numpy_naive", operator.ge, 10.0, "im2col convolution >= 10x the loop"),
    Goal(
        "cnn_mnist",
        "torch-cpu",
        "test_acc_min",
        operator.ge,
        0.98,
        "CNN on MNIST digits: test accuracy >= 0.98 for every seed (recipe chosen on validation, test scored once)",
    ),
    Goal("cnn_mnist", "torch-cpu", "train_s_max", operator.le, 60.0, "... every seed within 60 s of training"),
    Goal("lstm_step", "numpy", "speed_vs_torch_cpu", operator.ge, 0.5, "NumPy LSTM forward+backward >= 0.5x torch CPU"),
    Goal(
        "char_lm",
        "torch-cpu",
        "test_loss",
        operator.le,
        1.40,
        "character LSTM on Moby Dick: loss <= 1.40 nats/char on the book's final 10 % (settings chosen on the 10 % before)",
    ),
    Goal("char_lm", "torch-cpu", "train_s", operator.le, 300.0, "... within 300 s of training"),
    Goal(
        "attention_step",
        "numpy",
        "speed_vs_torch_cpu",
        operator.ge,
        0.5,
        "NumPy multi-head causal self-attention forward+backward >= 0.5x torch CPU",
    ),
    Goal(
        "char_transformer",
        "torch-cpu",
        "test_loss",
        operator.le,
        1.40,
        "character transformer on Moby Dick: loss <= 1.40 nats/char on the final 10 %, as char_lm (settings chosen on the 10 % before)",
    ),
    Goal("char_transformer", "torch-cpu", "test_loss", operator.le, 1.55, "... and at the very least <= 1.55"),
    Goal("char_transformer", "torch-cpu", "train_s", operator.le, 300.0, "... within 300 s of training"),
    *(
        goal
        for impl in ("torch-cpu", "numpy")
        for goal in (
            Goal(
                "dqn_cartpole",
                impl,
                "avg_return",
                operator.ge,
                475.0,
                f"DQN on CartPole ({impl}): median over seeds of the kept network's mean return on 100 fresh "
                "episodes >= 475",
            ),
            Goal("dqn_cartpole", impl, "avg_return_min", operator.ge, 400.0, "... and the worst seed's >= 400"),
            Goal(
                "dqn_cartpole",
                impl,
                "env_steps_max",
                operator.le,
                50_000,
                "... each seed within 50,000 environment steps, training and evaluation episodes counted",
            ),
        )
    ),
    *(
        goal
        for impl in ("torch-cpu", "numpy")
        for goal in (
            Goal(
                "reinforce_cartpole",
                impl,
                "avg_return",
                operator.ge,
                475.0,
                f"REINFORCE on CartPole ({impl}): median over seeds of the kept policy's mean return on 100 fresh "
                "episodes >= 475",
            ),
            Goal(
                "reinforce_cartpole",
                impl,
                "env_steps_max",
                operator.le,
                150_000,
                "... each seed within 150,000 environment steps, training and evaluation episodes counted",
            ),
        )
    ),
    Goal(
        "batchnorm_step",
        "numpy",
        "speed_vs_torch_cpu",
        operator.ge,
        0.5,
        "NumPy BatchNorm2d forward+backward >= 0.5x torch CPU",
    ),
    Goal(
        "cnn_train_step",
        "torch-cuda",
        "speed_vs_torch_cpu",
        operator.ge,
        20.0,
        "CNN training step on a GPU >= 20x 2 CPU cores",
    ),
]


def check_goals(run: dict) -> list[dict]:
    """Each goal in :data:`GOALS` against one results file: the measured value and whether it is met.

    Goals whose benchmark or implementation the run did not measure are reported with
    ``measured=None`` and ``met=None``.
    """
    rows = run.get("results") if isinstance(run, dict) else None
    shaped = isinstance(rows, list) and all(
        isinstance(r, dict) and {"benchmark", "impl"} <= set(r) and isinstance(r.get("metrics"), dict) for r in rows
    )
    if not shaped:
        raise ValueError(
            "run must be a results file as load_file returns it, whose results are rows with benchmark, impl "
            f"and a metrics dict, got {describe(run)}."
        )
    report = []
    for goal in GOALS:
        row = next((r for r in rows if r["benchmark"] == goal.benchmark and r["impl"] == goal.impl), None)
        value = None if row is None else row["metrics"].get(goal.metric)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(
                f"run's {goal.benchmark} {goal.impl} row must hold a number for {goal.metric}, got {describe(value)}."
            )
        report.append(
            {
                "goal": goal.text,
                "benchmark": goal.benchmark,
                "impl": goal.impl,
                "metric": goal.metric,
                "measured": value,
                "met": None if value is None else goal.met(value),
            }
        )
    return report


def plot_gflops(run: dict, ax: plt.Axes | None = None) -> plt.Axes:
    """Achieved GFLOP/s of the matrix-product-bound benchmarks, under the machine's own limit.

    Bars: each implementation's ``gflops`` metric, one group per benchmark. Dashed lines:
    ``matmul_peak`` (float32) of each implementation's device, the most its matrix products
    could reach on this machine.
    """
    ax = ax or plt.subplots(figsize=(7.5, 3.4))[1]
    colors = _grouped_bars([r for r in run["results"] if "gflops" in r["metrics"]], "gflops", ax)
    for peak in (r for r in run["results"] if r["benchmark"] == "matmul_peak" and r["impl"] in colors):
        ax.axhline(peak["metrics"]["float32_gflops"], color=colors[peak["impl"]], ls="--", lw=1)
    ax.set_ylabel("GFLOP/s (dashed: matmul peak)")
    return ax

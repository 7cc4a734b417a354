"""benchmarks/run.py -k cnn_mnist: the row format and its metrics (accuracy itself is never asserted here,
beyond being a fraction; the --quick run trains one epoch on 1,000 images, one thread)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dlcourse.bench_results import load_file, load_sweep

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_cnn_mnist_quick_row(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "cnn_mnist", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert "cnn_mnist" in proc.stdout
    payload = json.loads(out.read_text())
    rows = {r["impl"]: r for r in payload["results"]}
    assert "torch-cpu" in rows and set(rows) <= {"torch-cpu", "torch-cuda", "torch-mps"}
    for row in rows.values():
        assert set(row) == {"benchmark", "impl", "median_s", "repeats", "params", "metrics"}
        assert row["benchmark"] == "cnn_mnist" and row["median_s"] > 0 and row["repeats"] == 1
        params, metrics = row["params"], row["metrics"]
        assert params["dataset"].startswith("MNIST (10,000 digits") and params["seeds"] == [0]
        assert {"test_acc", "test_acc_min", "train_s", "epochs", "n_train", "n_test", "parameters"} <= set(metrics)
        assert 0.2 < metrics["test_acc"] <= 1 and metrics["test_acc_min"] == metrics["test_acc"]
        assert metrics["epochs"] == params["epochs"] == 1
        assert metrics["n_train"] == 1000 and metrics["n_val"] == 1000 and metrics["n_test"] == 2000
        assert 0.2 < metrics["val_acc"] <= 1 and len(metrics["test_acc_per_seed"]) == 1
        assert metrics["train_s"] == round(row["median_s"], 2)
        assert metrics["parameters"] == 421_642


def test_committed_results_have_the_full_run():
    """The book reads dlcourse/bench_data/cnn_mnist.json: it must hold a full (not --quick) run."""
    rows = load_file("cnn_mnist.json")["results"]
    cnn = [r for r in rows if r["benchmark"] == "cnn_mnist"]
    assert any(r["impl"] == "torch-cpu" for r in cnn)
    for row in cnn:
        metrics = row["metrics"]
        assert len(row["params"]["seeds"]) >= 3 and (metrics["n_train"], metrics["n_val"]) == (7000, 1000)
        assert len(metrics["test_acc_per_seed"]) == len(metrics["val_acc_per_seed"]) == len(row["params"]["seeds"])
        assert "chosen on validation" in row["params"]["split"]
    assert {r["impl"] for r in rows if r["benchmark"] == "conv2d_lenet"} == {"numpy-naive", "numpy", "torch-cpu"}


def test_committed_sweep_chose_the_recipe_on_validation_only():
    """dlcourse/bench_data/cnn_mnist_sweep.json holds what was tried; the committed recipe is its best."""
    sweep = load_sweep("cnn_mnist.json")
    rows = sweep["rows"]
    assert sweep["selected_on"].startswith("val_acc") and len(rows) >= 2
    assert all(not any(k.startswith("test") for k in r["metrics"]) for r in rows)
    best = max(rows, key=lambda r: r["metrics"]["val_acc"])
    committed = load_file("cnn_mnist.json")["results"]
    chosen = next(r for r in committed if r["benchmark"] == "cnn_mnist" and r["impl"] == "torch-cpu")
    assert best["params"]["recipe"] == chosen["params"]["recipe"]

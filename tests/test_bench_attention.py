"""The attention and residual-network benchmarks keep their rows' format (speed is never asserted),
and the committed results hold what the book and the README quote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_attention_benchmarks_report_their_metrics(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "attention_step", "-k", "char_transformer"]
    cmd += ["-k", "seq_scaling", "--json", str(out)]
    env = {**os.environ, "DLCOURSE_CHAR_TRANSFORMER_BUDGET": "3", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300, env=env)
    rows = json.loads(out.read_text())["results"]
    step = {r["impl"]: r for r in rows if r["benchmark"] == "attention_step"}
    assert set(step) == {"numpy", "torch-cpu"} and step["torch-cpu"]["metrics"]["speed_vs_torch_cpu"] == 1.0
    assert step["numpy"]["params"]["causal"] is True and step["numpy"]["metrics"]["speed_vs_torch_tree"] > 0
    (lm,) = [r for r in rows if r["benchmark"] == "char_transformer"]
    metrics, params = lm["metrics"], lm["params"]
    assert {"val_loss", "test_loss", "train_s", "params", "steps"} <= set(metrics)
    assert 0 < metrics["test_loss"] < 4.42 and metrics["train_s"] <= 3.5  # log(83) = 4.42: better than uniform
    assert params["test_chars"] == params["val_chars"] == 119_032 and params["budget_s"] == 3
    scaling = [r for r in rows if r["benchmark"] == "seq_scaling"]
    assert {(r["params"]["model"], r["params"]["T"]) for r in scaling} == {
        (m, t) for m in ("lstm", "transformer") for t in (16, 32, 64)
    }
    assert all(r["metrics"]["ms_per_step"] > 0 for r in scaling)


def test_char_transformer_sweep_scores_validation_only(tmp_path):
    out = tmp_path / "sweep.json"
    tiny = '{"embed_dim": 16, "num_layers": 1, "context_size": 16, "warmup": 5, "threads": 1}'
    cmd = [sys.executable, str(RUN.parent / "sweep.py"), "char_transformer", "--budget", "2", "--json", str(out), tiny]
    subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    )
    (row,) = json.loads(out.read_text())["rows"]
    assert row["benchmark"] == "char_transformer" and row["params"]["embed_dim"] == 16
    assert 0 < row["metrics"]["val_loss"] < 4.42 and "test_loss" not in row["metrics"]


def test_committed_char_transformer_was_chosen_on_validation_and_scored_once_on_the_final_part():
    """sweeps/char_transformer.json holds the variants, scored on validation; rnn.json the chosen
    settings' run, beside char_lm from the same run, with the final tenth's test_loss."""
    sys.path.insert(0, str(RUN.parent))
    from bench_attention import CHAR_TRANSFORMER

    from dlcourse.bench_results import load_file, load_sweep

    sweep = load_sweep("char_transformer.json")
    rows = sweep["rows"]
    assert sweep["selected_on"].startswith("val_loss") and len(rows) >= 2
    assert all("test_loss" not in r["metrics"] and r["params"]["budget_s"] == 300 for r in rows)
    best = min(rows, key=lambda r: r["metrics"]["val_loss"])
    run = load_file("rnn.json")
    (gpt,) = [r for r in run["results"] if r["benchmark"] == "char_transformer"]
    (lstm,) = [r for r in run["results"] if r["benchmark"] == "char_lm"]
    settings = {k: v for k, v in CHAR_TRANSFORMER.items() if k != "threads"}
    assert {k: best["params"][k] for k in settings} == settings == {k: gpt["params"][k] for k in settings}
    for row in (gpt, lstm):
        assert {"val_loss", "test_loss"} <= set(row["metrics"]) and row["params"]["test_chars"] == 119_032


def test_resnet_benchmark_chooses_on_validation_and_reports_test_once(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "resnet_mnist", "--json", str(out)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300, env=env)
    (row,) = json.loads(out.read_text())["results"]
    assert row["benchmark"] == "resnet_mnist" and row["impl"] == "torch-cpu"
    params, metrics = row["params"], row["metrics"]
    assert len(params["selection"]) >= 2 and params["chosen_change"] in [s["change"] for s in params["selection"]]
    chosen = next(s for s in params["selection"] if s["change"] == params["chosen_change"])
    assert chosen["val_acc_seed0"] == max(s["val_acc_seed0"] for s in params["selection"])  # chosen on validation
    assert metrics["n_val"] == 1000 and metrics["n_test"] == 2000 and len(metrics["test_acc_per_seed"]) == 1
    assert 0 <= metrics["test_acc_min"] <= metrics["test_acc"] <= 1 and metrics["parameters"] > 0

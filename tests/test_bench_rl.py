"""benchmarks/run.py -k dqn_cartpole keeps the shared row schema and reports its metrics (quick mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dlcourse.bench_results import load_file

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
IMPLS = {"numpy", "numpy-naive", "torch-cpu", "torch-cuda", "torch-mps"}
METRICS = {"avg_return", "avg_return_min", "env_steps", "env_steps_max", "train_s", "solved_seeds", "per_seed"}


def check_rows(rows: list[dict]) -> None:
    assert rows and {r["impl"] for r in rows} >= {"numpy", "torch-cpu"}
    for row in rows:
        assert set(row) == {"benchmark", "impl", "median_s", "repeats", "params", "metrics"}
        assert row["benchmark"] == "dqn_cartpole" and row["impl"] in IMPLS
        assert row["median_s"] > 0 and row["repeats"] == len(row["params"]["seeds"])
        metrics = row["metrics"]
        assert METRICS <= set(metrics)
        assert 0 < metrics["avg_return_min"] <= metrics["avg_return"] <= 500
        assert 0 < metrics["env_steps"] <= metrics["env_steps_max"] <= row["params"]["budget_steps"]
        assert len(metrics["per_seed"]) == row["repeats"]
        assert 0 <= metrics["solved_seeds"] <= row["repeats"]


def test_quick_run_writes_the_shared_schema(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "dqn_cartpole", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert "dqn_cartpole" in proc.stdout
    payload = json.loads(out.read_text())
    assert set(payload) == {"machine", "results"}
    check_rows(payload["results"])


def test_committed_results_have_the_same_schema():
    """The chapter reads dlcourse/bench_data/dqn_cartpole.json; it must be a full run, not a quick one."""
    rows = load_file("dqn_cartpole.json")["results"]
    check_rows(rows)
    assert all(row["params"]["budget_steps"] == 50_000 and len(row["params"]["seeds"]) >= 3 for row in rows)

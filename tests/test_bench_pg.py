"""benchmarks/run.py -k reinforce_cartpole keeps the shared row schema and counts every step (quick mode),
and the committed results are a full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dlcourse.bench_results import load_file

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def check_rows(rows: list[dict]) -> None:
    assert {r["impl"] for r in rows} == {"numpy", "torch-cpu"}
    for row in rows:
        assert set(row) == {"benchmark", "impl", "median_s", "repeats", "params", "metrics"}
        assert row["benchmark"] == "reinforce_cartpole" and row["repeats"] == len(row["params"]["seeds"])
        m = row["metrics"]
        assert 0 < m["avg_return_min"] <= m["avg_return"] <= 500
        assert len(m["per_seed"]) == row["repeats"]
        assert m["avg_return_min"] == round(min(s["avg_return"] for s in m["per_seed"]), 1)
        assert m["env_steps_max"] == max(s["env_steps"] for s in m["per_seed"]) <= row["params"]["budget_steps"]
        for s in m["per_seed"]:  # every step counted: training and evaluation episodes
            assert s["env_steps"] == s["train_steps"] + s["eval_env_steps"]


def test_quick_run_writes_the_shared_schema(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "reinforce_cartpole", "--json", str(out)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    check_rows(json.loads(out.read_text())["results"])


def test_committed_results_are_a_full_run():
    rows = load_file("reinforce_cartpole.json")["results"]
    check_rows(rows)
    assert all(r["params"]["budget_steps"] == 150_000 and len(r["params"]["seeds"]) == 5 for r in rows)

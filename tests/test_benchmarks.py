"""benchmarks/run.py keeps its command line and JSON format (speed itself is never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
IMPLS = {"numpy", "numpy-naive", "torch-cpu", "torch-cuda", "torch-mps"}


def test_json_format(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "matmul_peak", "-k", "activation_relu", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert "matmul_peak" in proc.stdout and "activation_relu" in proc.stdout
    payload = json.loads(out.read_text())
    assert set(payload) == {"machine", "results"}
    assert {"cpu_count", "numpy", "torch"} <= set(payload["machine"])
    rows = payload["results"]
    assert {r["benchmark"] for r in rows} == {"matmul_peak", "activation_relu"}
    for row in rows:
        assert set(row) == {"benchmark", "impl", "median_s", "repeats", "params", "metrics"}
        assert row["impl"] in IMPLS and row["median_s"] > 0 and row["repeats"] >= 1
    peak = [r for r in rows if r["benchmark"] == "matmul_peak"]
    assert {r["impl"] for r in peak} >= {"numpy", "torch-cpu"}
    assert all(r["metrics"]["float32_gflops"] > 0 and r["metrics"]["float64_gflops"] > 0 for r in peak)
    relu = {r["impl"]: r for r in rows if r["benchmark"] == "activation_relu"}
    assert relu["torch-cpu"]["metrics"]["speed_vs_torch_cpu"] == 1.0


def test_mlp_benchmarks_report_their_metrics(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "mlp_train_step", "-k", "mlp_digits", "--json", str(out)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    rows = {(r["benchmark"], r["impl"]): r for r in json.loads(out.read_text())["results"]}
    assert rows[("mlp_train_step", "numpy")]["params"]["sizes"] == [784, 256, 10]
    assert rows[("mlp_train_step", "numpy")]["metrics"]["speed_vs_torch_cpu"] > 0
    digits = rows[("mlp_digits", "numpy")]["metrics"]
    assert set(digits) >= {"test_acc", "train_s"} and 0 <= digits["test_acc"] <= 1


def test_conv2d_lenet_reports_all_three_implementations(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "conv2d_lenet", "--json", str(out)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    rows = {r["impl"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"numpy-naive", "numpy", "torch-cpu"}
    metrics = rows["numpy"]["metrics"]
    assert {"speed_vs_torch_cpu", "speed_vs_numpy_naive", "matmul_share_of_peak"} <= set(metrics)
    assert 0 < metrics["matmul_share_of_peak"]


def test_unknown_name_is_refused():
    proc = subprocess.run([sys.executable, str(RUN), "-k", "nope"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown benchmark 'nope'; choose from matmul_peak" in proc.stderr


def test_cnn_train_step_reports_every_torch_device(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "-k", "cnn_train_step", "--json", str(out)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    rows = {r["impl"]: r for r in json.loads(out.read_text())["results"]}
    assert "torch-cpu" in rows and rows["torch-cpu"]["metrics"]["speed_vs_torch_cpu"] == 1.0
    assert all(r["metrics"]["gflops"] > 0 and r["params"]["batch"] == 32 for r in rows.values())


def test_save_writes_a_results_file_named_by_date_and_machine():
    sys.path.insert(0, str(RUN.parent))
    import run

    path = run.results_path({"date": "2026-11-22T10:00:00+00:00", "cpu_count": 2, "cuda": "NVIDIA H100 80GB HBM3"})
    assert (
        path.parent.name == "bench_data"
        and path.parent.parent.name == "dlcourse"
        and path.name == "2026-11-22_2core_nvidia-h100-80gb-hbm3.json"
    )
    assert run.results_path({"date": "2026-11-22T10:00:00+00:00", "cpu_count": 2}).name == "2026-11-22_2core.json"


def test_torch_threads_sets_the_count_inside_and_restores_it_even_on_errors():
    import pytest
    import torch

    sys.path.insert(0, str(RUN.parent))
    from bench_common import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1) as used:
        assert used == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a failing benchmark")
    assert torch.get_num_threads() == before
    with torch_threads(None) as used:  # None: left as it is
        assert used == before

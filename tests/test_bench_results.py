"""Reading committed benchmark results: newest run first, GPU filter, goals, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from dlcourse import bench_results as B


def _run(date, rows, cuda=None):
    return {"machine": {"date": date, "cpu_count": 2, "processor": "x86_64", "cuda": cuda}, "results": rows}


def _row(benchmark, impl, **metrics):
    return {"benchmark": benchmark, "impl": impl, "median_s": 0.01, "repeats": 3, "params": {}, "metrics": metrics}


@pytest.fixture
def results(tmp_path):
    old = _run("2026-01-01T00:00:00+00:00", [_row("cnn_mnist", "torch-cpu", test_acc=0.97, train_s=50.0)])
    new = _run(
        "2026-02-01T00:00:00+00:00",
        [
            _row("cnn_mnist", "torch-cpu", test_acc=0.985, test_acc_min=0.982, train_s=55.0, train_s_max=70.0),
            _row("conv2d_lenet", "numpy", speed_vs_torch_cpu=0.9, speed_vs_numpy_naive=400.0, gflops=20.0),
            _row("conv2d_lenet", "torch-cpu", speed_vs_torch_cpu=1.0, gflops=22.0),
            _row("matmul_peak", "numpy", float32_gflops=150.0, float64_gflops=60.0),
        ],
    )
    gpu = _run("2025-12-01T00:00:00+00:00", [_row("cnn_mnist", "torch-cuda", test_acc=0.99, train_s=5.0)], "H100")
    # File names sort in another order than the dates: the recorded date decides.
    for name, run in (("b.json", old), ("a.json", new), ("c.json", gpu)):
        (tmp_path / name).write_text(json.dumps(run))
    return tmp_path


def test_latest_rows_come_from_the_newest_run_that_measured_it(results):
    rows = B.latest_rows("cnn_mnist", results)
    assert [r["metrics"]["test_acc"] for r in rows] == [0.985]
    assert rows[0]["machine"]["date"].startswith("2026-02-01")
    gpu_rows = B.latest_rows("cnn_mnist", results, gpu=True)
    assert gpu_rows[0]["impl"] == "torch-cuda"


def test_missing_benchmark_and_missing_folder_say_what_to_do(results, tmp_path):
    with pytest.raises(LookupError, match="measured 'char_lm'; run benchmarks/run.py -k char_lm"):
        B.latest_rows("char_lm", results)
    with pytest.raises(FileNotFoundError, match="no benchmark results folder at .*reinstall dlcourse"):
        B.load_results(tmp_path / "nowhere")


def test_load_file_reads_one_file_and_names_the_others_when_missing(results):
    assert B.load_file("a.json", results)["machine"]["date"].startswith("2026")
    with pytest.raises(FileNotFoundError, match=r"name='nope.json': no such .* expected one of a.json, b.json"):
        B.load_file("nope.json", results)
    with pytest.raises(FileNotFoundError, match=r"expected one of \(none"):
        B.load_file("a.json", results / "nowhere")


def test_the_chapters_results_files_ship_in_the_package():
    """Chapters 7, 8 and 9 read these by name; they are package data, not repository files."""
    for name in ("cnn_mnist.json", "rnn.json", "dqn_cartpole.json"):
        assert B.load_file(name)["results"]
    assert B.RESULTS_DIR.parent == Path(B.__file__).parent


def test_goals_are_checked_both_ways_and_unmeasured_ones_left_open(results):
    run = B.load_results(results)[-1]
    report = {(g["benchmark"], g["impl"], g["metric"]): g for g in B.check_goals(run)}
    assert report[("cnn_mnist", "torch-cpu", "test_acc_min")]["met"] is True  # every seed: the worst one counts
    assert report[("cnn_mnist", "torch-cpu", "train_s_max")]["met"] is False  # the slowest seed: 70 s > 60 s
    assert report[("conv2d_lenet", "numpy", "speed_vs_torch_cpu")]["met"] is True
    lm = report[("char_lm", "torch-cpu", "test_loss")]
    assert lm["measured"] is None and lm["met"] is None
    # DQN is held to its median, its worst seed and its counted steps, in both trees
    assert {(i, m) for b, i, m in report if b == "dqn_cartpole"} == {
        (i, m) for i in ("numpy", "torch-cpu") for m in ("avg_return", "avg_return_min", "env_steps_max")
    }


def test_tables_and_plots(results):
    run = B.load_results(results)[-1]
    table = B.format_rows([r for r in run["results"] if r["benchmark"] == "conv2d_lenet"], ["speed_vs_torch_cpu"])
    assert "numpy" in table and "0.9" in table and "speed_vs_torch_cpu" in table
    ax = B.plot_speedups(run)
    assert len(ax.patches) == 2  # conv2d_lenet: numpy and torch-cpu
    ax = B.plot_gflops(run)
    assert [line.get_ydata()[0] for line in ax.lines] == [150.0]  # numpy's matmul peak as the limit line
    assert "2-core" in B.machine_label(run["machine"])
    plt.close("all")


def test_the_committed_results_are_readable():
    runs = B.load_results()
    assert runs, "dlcourse/bench_data holds no results file"
    for run in runs:
        assert {"date", "cpu_count"} <= set(run["machine"]) and run["results"]


def test_format_rows_leaves_out_list_metrics():
    rows = [_row("dqn_cartpole", "numpy", avg_return=498.4, per_seed=[{"seed": 0}])]
    table = B.format_rows(rows)
    assert "avg_return" in table and "498.4" in table and "per_seed" not in table


def test_combine_latest_gathers_the_newest_row_of_each_benchmark_per_machine(results):
    # A newer file on the CPU machine that measured only one benchmark: the plots still get them all.
    newest = _run("2026-03-01T00:00:00+00:00", [_row("lstm_step", "numpy", speed_vs_torch_cpu=0.6)])
    (results / "d.json").write_text(json.dumps(newest))
    combined = B.combine_latest(B.load_results(results))
    assert [c["machine"].get("cuda") for c in combined] == ["H100", None]  # ordered by each machine's newest run
    gpu, cpu = combined
    assert gpu["files"] == ["c.json"] and [r["impl"] for r in gpu["results"]] == ["torch-cuda"]
    assert cpu["files"] == ["b.json", "a.json", "d.json"] and cpu["machine"]["date"].startswith("2026-03-01")
    rows = {(r["benchmark"], r["impl"]): r for r in cpu["results"]}
    assert set(rows) == {
        ("cnn_mnist", "torch-cpu"),
        ("conv2d_lenet", "numpy"),
        ("conv2d_lenet", "torch-cpu"),
        ("matmul_peak", "numpy"),
        ("lstm_step", "numpy"),
    }
    assert rows[("cnn_mnist", "torch-cpu")]["metrics"]["test_acc"] == 0.985  # the newer of the two runs
    ax = B.plot_gflops(cpu)  # the newest file alone has no GFLOP/s rows; combined, the plot has bars
    assert len(ax.patches) > 0
    plt.close(ax.figure)


def test_goals_are_typed_and_compare_with_operators():
    import operator

    assert all(isinstance(g, B.Goal) and g.compare in (operator.ge, operator.le) for g in B.GOALS)
    at_least = B.Goal("b", "numpy", "m", operator.ge, 1.0, "m >= 1")
    assert at_least.met(1.0) and at_least.met(2.0) and not at_least.met(0.99)
    at_most = B.Goal("b", "numpy", "m", operator.le, 60.0, "m <= 60")
    assert at_most.met(60.0) and not at_most.met(60.01)


def test_load_file_refuses_paths_and_files_that_are_not_results(results):
    for name in (None, 3, "", "../a.json", "/etc/passwd"):
        with pytest.raises(ValueError, match="name must be the name of a file"):
            B.load_file(name, results)
    (results / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"other.json is not a benchmark results file: expected a JSON object"):
        B.load_file("other.json", results)
    with pytest.raises(ValueError, match="is not a benchmark results file"):
        B.load_results(results)
    (results / "other.json").write_text("not json")
    with pytest.raises(ValueError, match="could not be read as JSON"):
        B.load_file("other.json", results)


def test_sweeps_are_read_apart_from_results(tmp_path):
    """A sweep's candidates never count as results: they live in bench_data/sweeps/, which
    load_results does not read, and load_sweep refuses anything that is not a sweep."""
    assert all("rows" not in run for run in B.load_results())
    assert B.load_sweep("cnn_mnist.json")["selected_on"].startswith("val_acc")
    (tmp_path / "x.json").write_text(json.dumps({"machine": {"date": "2026"}, "results": []}))
    with pytest.raises(ValueError, match=r"is not a sweep: expected machine, benchmark, selected_on and rows\.$"):
        B.load_sweep("x.json", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no such sweep in .*expected one of x\.json\.$"):
        B.load_sweep("y.json", tmp_path)
    with pytest.raises(ValueError, match=r"^name must be the name of a file"):
        B.load_sweep("../cnn_mnist.json")


def test_a_malformed_sweep_or_run_gets_one_sentence(tmp_path):
    (tmp_path / "broken.json").write_text('{"machine": ')
    with pytest.raises(ValueError, match=r"broken\.json is not a sweep: it could not be read as JSON \(") as caught:
        B.load_sweep("broken.json", tmp_path)
    assert str(caught.value).endswith(").") and "\n" not in str(caught.value)
    (tmp_path / "latin.json").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ValueError, match=r"latin\.json is not a sweep: it could not be read as JSON"):
        B.load_sweep("latin.json", tmp_path)
    bad_runs = [
        None,
        {},
        {"results": "x"},
        {"results": [{"impl": "numpy", "metrics": {}}]},
        {"results": [{"benchmark": "a", "impl": "b"}]},
    ]
    for run in bad_runs:
        with pytest.raises(ValueError, match=r"^run must be a results file as load_file returns it"):
            B.check_goals(run)
    goal = B.GOALS[0]
    row = {"benchmark": goal.benchmark, "impl": goal.impl, "metrics": {goal.metric: "fast"}}
    with pytest.raises(ValueError, match=rf"^run's {goal.benchmark} {goal.impl} row must hold a number for"):
        B.check_goals({"results": [row]})

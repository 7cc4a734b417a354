"""Device choice, seeding, show-source, timing and the explorer widget."""

from __future__ import annotations

import json
import re

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dlcourse import get_device, seed_everything, show_source
from dlcourse.device import ENV_VAR
from dlcourse.numpy import activations
from dlcourse.timing import median_time, time_call, time_interleaved
from dlcourse.widgets import explore


def test_device_default_says_what_it_chose(monkeypatch, capsys):
    monkeypatch.delenv(ENV_VAR, raising=False)
    device = get_device()
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert device.type == expected
    assert capsys.readouterr().out.startswith(f"dlcourse: using {expected}")


def test_device_env_override(monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, "cpu")
    assert get_device().type == "cpu"
    assert f"set by {ENV_VAR}" in capsys.readouterr().out


def test_device_env_bad_values(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "tpu")
    with pytest.raises(ValueError, match=r"^DLCOURSE_DEVICE must be 'cuda', 'cuda:N', 'mps' or 'cpu', got 'tpu'\.$"):
        get_device(verbose=False)
    if not torch.cuda.is_available():
        monkeypatch.setenv(ENV_VAR, "cuda")
        with pytest.raises(ValueError, match="no cuda device"):
            get_device(verbose=False)


def test_seed_everything_makes_runs_repeat():
    rng = seed_everything(3)
    first = (rng.normal(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    rng = seed_everything(3)
    assert (rng.normal(), np.random.rand(), torch.rand(1).item()) == first  # noqa: NPY002
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        seed_everything(-1)


def test_show_source_is_the_package_code():
    source = show_source(activations.sigmoid)
    assert source.code.startswith("def sigmoid(x: np.ndarray, *, check: bool = True) -> np.ndarray:")
    assert re.match(r"dlcourse/numpy/activations\.py, lines \d+-\d+", source.where)
    markdown = source._repr_markdown_()
    assert "```python\ndef sigmoid" in markdown


def test_timing_counts_repeats():
    calls = []
    times = time_call(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(times) == 4 and len(calls) == 6 and all(t >= 0 for t in times)
    assert median_time(lambda: None, repeats=3) >= 0


def _draw(w, b):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    x = np.linspace(-5, 5, 50)
    ax.plot(x, activations.sigmoid(w * x + b))
    return fig


def test_explorer_pre_draws_every_combination():
    explorer = explore(_draw, title="bias", w=[0.5, 1.0, 2.0], b=[-1.0, 0.0])
    assert sorted(explorer.frames) == ["0,0", "0,1", "1,0", "1,1", "2,0", "2,1"]
    assert len(set(explorer.frames.values())) == 6  # every frame differs
    html = explorer.static_html()
    assert html.count('type="range"') == 2 and 'class="dlc-explorer"' in html
    payload = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html).group(1))
    assert payload["labels"] == [["0.5", "1", "2"], ["-1", "0"]]
    assert explorer.static_html() == html  # deterministic: same ids and frames each time
    bundle = explorer._repr_mimebundle_()
    assert "text/html" in bundle and "Explorer('bias'" in bundle["text/plain"]
    assert plt.get_fignums() == []  # frames do not leak open figures


def test_explorer_id_names_the_explorer_not_its_pixels():
    """Two machines that draw slightly different pixels give the same HTML id (images are not compared)."""
    a = explore(_draw, title="bias", w=[0.5, 1.0], b=[0.0])
    b = explore(lambda w, b: _draw(w, b + 1e-3), title="bias", w=[0.5, 1.0], b=[0.0])
    assert a.frames != b.frames
    ids = [re.search(r'id="(dlc-explorer-\w+)"', e.static_html()).group(1) for e in (a, b)]
    assert ids[0] == ids[1]
    other = explore(_draw, title="another title", w=[0.5, 1.0], b=[0.0])
    assert re.search(r'id="(dlc-explorer-\w+)"', other.static_html()).group(1) != ids[0]


def test_live_explorer_draws_into_the_widget_state():
    """The live widget's figure lives in the Output widget's state (not a display() call that a client
    without widget routing, such as nbval, would put into the cell's outputs), and follows the sliders."""
    calls = []

    def draw(w, b):
        calls.append((w, b))
        return _draw(w, b)

    box = explore(draw, title="bias", w=[0.5, 1.0, 2.0], b=[-1.0, 0.0]).live_widget()
    out, sliders = box.children[-1], box.children[1:-1]
    frames = len(calls)  # the pre-drawn frames, then the initial live figure
    assert calls[-1] == (1.0, 0.0) and len(out.outputs) == 1
    sliders[0].value = 2.0
    assert calls[frames:] == [(2.0, 0.0)] and len(out.outputs) == 1
    assert plt.get_fignums() == []


def test_explorer_rejects_empty_controls():
    with pytest.raises(ValueError, match="at least one control"):
        explore(_draw)
    with pytest.raises(ValueError, match="the control 'w' has no values"):
        explore(_draw, w=[])


def test_time_interleaved_alternates_blocks():
    order = []
    times = time_interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=4, warmup=1, block=2
    )
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 2
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}

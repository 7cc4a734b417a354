"""Explorers: a figure with sliders that works live in Jupyter and static in the HTML book.

:func:`explore` draws a figure for every combination of slider values in advance. The
result carries two renderings of the same thing:

- in Jupyter (a live kernel), ipywidgets sliders that redraw the figure;
- in the static HTML book, where there is no kernel, plain HTML range inputs that swap
  between the pre-drawn frames with a few lines of JavaScript and no network.

The book's ``_config.yml`` ranks ``text/html`` above the widget view, so the static
version is what a reader of the HTML book gets; JupyterLab prefers the live widget.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

_SCRIPT = """
(function () {
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
  var img = root.querySelector("img");
  var sliders = root.querySelectorAll("input[type=range]");
  function update() {
    var key = [];
    sliders.forEach(function (s, i) {
      key.push(s.value);
      s.nextElementSibling.textContent = data.labels[i][s.value];
    });
    img.src = "data:image/png;base64," + data.frames[key.join(",")];
  }
  sliders.forEach(function (s) { s.addEventListener("input", update); });
})();
"""


def _format(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def _png(fig: plt.Figure, dpi: int) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Explorer:
    """A figure with sliders; display it as the last expression of a cell.

    Build it with :func:`explore` rather than directly.
    """

    def __init__(
        self,
        draw: Callable[..., plt.Figure],
        controls: dict[str, Sequence[Any]],
        initial: dict[str, int],
        dpi: int,
        title: str,
    ) -> None:
        self.draw, self.controls, self.initial, self.dpi, self.title = draw, controls, initial, dpi, title
        names = list(controls)
        self.frames: dict[str, str] = {}
        for indices in itertools.product(*(range(len(controls[n])) for n in names)):
            kwargs = {n: controls[n][i] for n, i in zip(names, indices, strict=True)}
            self.frames[",".join(map(str, indices))] = _png(draw(**kwargs), dpi)

    def static_html(self) -> str:
        """The self-contained HTML version: range inputs, one image, a short script."""
        names = list(self.controls)
        payload = {
            "frames": self.frames,
            "labels": [[_format(v) for v in self.controls[n]] for n in names],
        }
        blob = json.dumps(payload, sort_keys=True)
        # The id names the explorer, not its pictures: the same title and sliders give the same id on
        # every machine, though the pixels of the frames may differ in the last bits of the data drawn.
        name = json.dumps([self.title, names, payload["labels"]], sort_keys=True)
        uid = "dlc-explorer-" + hashlib.sha1(name.encode()).hexdigest()[:12]
        rows = []
        for n in names:
            i = self.initial[n]
            rows.append(
                f'<label style="display:block">{html.escape(n)} '
                f'<input type="range" min="0" max="{len(self.controls[n]) - 1}" step="1" value="{i}" aria-label="{html.escape(n)}">'
                f"<output>{_format(self.controls[n][i])}</output></label>"
            )
        key = ",".join(str(self.initial[n]) for n in names)
        return (
            f'<div class="dlc-explorer" id="{uid}">'
            f"<p><strong>{html.escape(self.title)}</strong> (move the sliders)</p>{''.join(rows)}"
            f'<img alt="{html.escape(self.title)}" src="data:image/png;base64,{self.frames[key]}">'
            f'<script type="application/json">{blob}</script>'
            f"<script>{_SCRIPT % {'id': uid}}</script></div>"
        )

    def live_widget(self):
        """ipywidgets sliders over the same values, redrawing the figure on change."""
        import ipywidgets as widgets

        sliders = {
            n: widgets.SelectionSlider(
                options=[(_format(v), v) for v in values],
                value=values[self.initial[n]],
                description=n,
                continuous_update=False,
            )
            for n, values in self.controls.items()
        }

        out = widgets.Output()

        def redraw(change: Any = None) -> None:
            # The figure goes into the Output widget's state rather than through display(): a
            # display() while the cell runs would also land in the cell's own outputs for any
            # client that does not route widget messages (nbval among them).
            fig = self.draw(**{n: s.value for n, s in sliders.items()})
            out.outputs = ()
            out.append_display_data(fig)
            plt.close(fig)

        for slider in sliders.values():
            slider.observe(redraw, names="value")
        redraw()
        return widgets.VBox([widgets.HTML(f"<b>{html.escape(self.title)}</b>"), *sliders.values(), out])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "text/plain": f"Explorer({self.title!r}: {', '.join(self.controls)}; {len(self.frames)} frames)",
            "text/html": self.static_html(),
        }
        try:
            widget_bundle = self.live_widget()._repr_mimebundle_()
        except Exception:  # no kernel or no ipywidgets: the static version is all there is
            return bundle
        if widget_bundle and "application/vnd.jupyter.widget-view+json" in widget_bundle:
            bundle["application/vnd.jupyter.widget-view+json"] = widget_bundle[
                "application/vnd.jupyter.widget-view+json"
            ]
        return bundle


def explore(
    draw: Callable[..., plt.Figure], title: str = "Explorer", dpi: int = 72, **controls: Sequence[Any]
) -> Explorer:
    """Make an explorer over every combination of the given slider values.

    Args:
        draw: called with one keyword argument per control; returns a new Figure.
        title: shown above the sliders.
        dpi: resolution of the pre-drawn frames (they are embedded in the notebook).
        **controls: name -> the values its slider steps through. Each starts at its middle value.

    Returns:
        An :class:`Explorer`; make it the last expression of a cell to show it.

    Example:
        >>> def draw(w, b):  # doctest: +SKIP
        ...     fig, ax = plt.subplots()
        ...     ax.plot(x, sigmoid(w * x + b))
        ...     return fig
        >>> explore(draw, w=[0.5, 1, 2], b=[-2, 0, 2])  # doctest: +SKIP
    """
    if not controls:
        raise ValueError("explore needs at least one control, such as w=[0.5, 1, 2].")
    for name, values in controls.items():
        if len(values) == 0:
            raise ValueError(f"the control {name!r} has no values; give it a list such as [0.5, 1, 2].")
    controls = {n: list(v) for n, v in controls.items()}
    initial = {n: len(v) // 2 for n, v in controls.items()}
    return Explorer(draw, controls, initial, dpi, title)

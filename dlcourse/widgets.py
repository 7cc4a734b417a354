"""Explorers: a figure with sliders that works live in Jupyter and static in the HTML book.

:func:`explore` draws a figure for every combination of slider values in advance. The
result carries two renderings of the same thing:

- in Jupyter (a live kernel), ipywidgets sliders that redraw the figure;
- in the static HTML book, where there is no kernel, plain HTML range inputs that swap
  between the pre-drawn frames with a few lines of JavaScript and no network.

The book's ``_config.yml`` ranks ``text/html`` above the widget view, so the static
version is what a reader of the HTML book gets; JupyterLab prefers the live widget.

:func:`animate` turns rendered frames (chapter 10's CartPole) into a player that also needs
neither a kernel nor the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import re
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


# ---------------------------------------------------------------- animations that play in a static page


def animate(frames: Sequence[np.ndarray], fps: int = 25, width: float = 3.6, dpi: int = 60, every: int = 1) -> Any:
    """Turn RGB frames into a JavaScript animation that plays in Jupyter and in the static HTML book.

    The frames are embedded as PNG images in one HTML snippet (Matplotlib's ``to_jshtml``),
    with play, pause and step buttons; no kernel and no network are needed to watch it. Keep
    the snippet small: fewer frames (``every``), a narrow figure and a low ``dpi``.

    Args:
        frames: (H, W, 3) uint8 images, such as ``env.render()`` with ``render_mode="rgb_array"``.
        fps: frames per second of playback (before thinning with ``every``).
        width: the figure's width in inches; the height follows the frames' aspect ratio.
        dpi: pixels per inch of the embedded images.
        every: keep every ``every``-th frame (and slow the clock to match).

    Returns:
        An ``IPython.display.HTML`` object; make it the last expression of a cell.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib import animation

    frames = list(frames)[::every]
    if not frames:
        raise ValueError("frames is empty; render at least one frame (render_mode='rgb_array').")
    height = width * frames[0].shape[0] / frames[0].shape[1]
    # The frames fill the whole figure; a layout engine (the course style turns one on) has nothing to do.
    with plt.rc_context({"figure.constrained_layout.use": False}):
        fig = plt.figure(figsize=(width, height), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        image = ax.imshow(frames[0])

        def show(i: int) -> list:
            image.set_data(frames[i])
            return [image]

        anim = animation.FuncAnimation(fig, show, frames=len(frames), interval=1000 * every / fps, blit=True)
        html = anim.to_jshtml(fps=max(1, round(fps / every)), default_mode="once")
    plt.close(fig)
    return HTML(stable_ids(offline_controls(html)))


def stable_ids(html: str) -> str:
    """Replace the random id that ``to_jshtml`` gives each player (``uuid4``) by a hash of the player
    itself, so that the same animation gives the same HTML on every run (for nbval's comparison)."""
    found = re.search(r"_anim_img([0-9a-f]{32})", html)
    if found is None:
        return html
    uid = found.group(1)
    stable = hashlib.sha1(html.replace(uid, "").encode()).hexdigest()[:32]
    return html.replace(uid, stable)


# Matplotlib's player draws its buttons with Font Awesome icons, loaded from a CDN: the book
# must not reach the network, so the stylesheet is dropped and each icon becomes a character.
_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "\u23ee",
    "fa fa-step-backward": "\u23f4\u23f4",
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-pause": "\u23f8",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u23f5\u23f5",
    "fa fa-fast-forward": "\u23ed",
    "fa fa-plus": "+",
}


def offline_controls(html: str) -> str:
    """Make Matplotlib's ``to_jshtml`` player self-contained: no stylesheet from the network,
    and plain characters instead of Font Awesome icons on its buttons."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*">\s*', "", html)
    for icon, text in _ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', text)
    return html

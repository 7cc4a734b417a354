"""Plot helpers with one house style, so every figure in the book looks the same.

Call :func:`use_style` once per notebook (``dlcourse.plotting.use_style()``); the other
helpers draw into a Matplotlib ``Axes`` and return it, among them chapter 10's FrozenLake
value and policy grid (:func:`plot_frozenlake`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from dlcourse.validation import check_shape

# Okabe-Ito: distinguishable with every common kind of colour blindness.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": "medium",
    "legend.frameon": False,
    "font.size": 10,
    "lines.linewidth": 2,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the course style to every figure drawn from now on."""
    mpl.rcParams.update(STYLE)


def plot_functions(
    ax: plt.Axes, x: np.ndarray, curves: Mapping[str, np.ndarray], title: str = "", xlabel: str = "x"
) -> plt.Axes:
    """Draw several curves over the same x, labelled, with the axes through the origin marked.

    Args:
        ax: where to draw.
        x: (N,) the shared horizontal coordinates.
        curves: label -> (N,) values.
        title: the axes title.
        xlabel: the horizontal axis label.
    """
    for label, values in curves.items():
        ax.plot(x, values, label=label)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set(title=title, xlabel=xlabel)
    ax.legend()
    return ax


def plot_decision_boundary(
    ax: plt.Axes,
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    title: str = "",
    resolution: int = 200,
    legend_loc: str = "upper left",
) -> plt.Axes:
    """Shade the plane by the class ``predict`` gives it and scatter the labelled points.

    Args:
        ax: where to draw.
        predict: maps (M, 2) points to (M,) labels or probabilities in [0, 1].
        x: (N, 2) the points.
        y: (N,) their labels, 0 or 1.
        title: the axes title.
        resolution: grid points along each axis.
        legend_loc: where the legend goes (any Matplotlib location, e.g. "lower right").
    """
    pad = 0.5
    lo, hi = x.min(axis=0) - pad, x.max(axis=0) + pad  # (2,), (2,)
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])  # (resolution**2, 2)
    z = np.asarray(predict(grid), dtype=float).reshape(g0.shape)  # (resolution, resolution)
    ax.contourf(g0, g1, z, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(g0, g1, z, levels=[0.5], colors="k", linewidths=1)
    for label, marker in ((0, "o"), (1, "s")):
        pts = x[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, color=COLORS[label * 3], edgecolor="k", label=f"class {label}")
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    ax.set_aspect("equal")
    ax.legend(loc=legend_loc)
    return ax


_ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake: left, down, right, up as (dx, dy) on screen


def plot_frozenlake(ax: Any, q: np.ndarray, desc: Any, title: str = "", vmax: float | None = None) -> Any:
    """Draw a FrozenLake map: each cell shaded by its value max_a Q(s, a), with the greedy action as an arrow.

    Holes are dark, the goal is marked G and the start S. Cells whose actions all have the
    same value (nothing learned yet) get a dot instead of an arrow.

    Args:
        ax: a Matplotlib Axes.
        q: (S, A) the action values, S = rows * cols, actions left, down, right, up.
        desc: the map, ``env.unwrapped.desc`` (rows of bytes such as ``b"S"``, ``b"F"``, ``b"H"``, ``b"G"``).
        title: the axes title.
        vmax: the top of the colour scale (default: the largest value, at least 1e-9).
    """
    import matplotlib.patches as patches

    desc = np.asarray(desc).astype(str)  # (rows, cols) letters
    rows, cols = desc.shape
    check_shape(q, "q", (rows * cols, 4))
    values = q.max(axis=1).reshape(rows, cols)  # (rows, cols)
    top = vmax if vmax is not None else max(float(values.max()), 1e-9)
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top)
    for r in range(rows):
        for c in range(cols):
            letter, s = desc[r, c], r * cols + c
            if letter == "H":
                ax.add_patch(patches.Rectangle((c - 0.5, r - 0.5), 1, 1, color="0.25"))
                ax.text(c, r, "hole", ha="center", va="center", color="white", fontsize=7)
                continue
            if letter == "G":
                ax.text(c, r, "G", ha="center", va="center", fontsize=13, weight="bold", color="#E69F00")
                continue
            colour = "white" if values[r, c] > 0.6 * top else "black"
            if np.ptp(q[s]) == 0:
                ax.plot(c, r, "o", ms=3, color=colour)
            else:
                dx, dy = _ARROWS[int(q[s].argmax())]
                ax.annotate(
                    "",
                    (c + 0.32 * dx, r + 0.32 * dy),
                    (c - 0.32 * dx, r - 0.32 * dy),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.6},
                )
            ax.text(c - 0.45, r - 0.45, f"{values[r, c]:.2f}", ha="left", va="top", fontsize=6.5, color=colour)
            if letter == "S":
                ax.text(c + 0.45, r + 0.45, "S", ha="right", va="bottom", fontsize=8, weight="bold", color=colour)
    ax.set(xticks=[], yticks=[], title=title)
    ax.grid(False)
    return image

"""The report's charts: matplotlib figures saved as inline SVG (no external font, image or script).

Text is kept as text (`svg.fonttype = none`), so Chinese labels render with the browser's fonts rather than
needing a CJK font inside matplotlib, and the file stays small."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the report is built on servers and in CI

from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

Tick = Callable[[float], str]  # a value axis label in the report's locale (40M, 4,000万)

__all__ = ["TIER_COLOURS", "bars", "grouped_bars", "line"]

TIER_COLOURS = {"low": "#2e7d32", "medium": "#f9a825", "high": "#ef6c00", "critical": "#c62828"}
# Any: matplotlib types the rc keys as one Literal union. parse_math off: a "$" in a label is text, not TeX.
_STYLE: Any = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9, "svg.hashsalt": "riskbridge",
               "text.parse_math": False}


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text stays text in the SVG and the browser draws it with its own (CJK) fonts; matplotlib only
        # measures it, so a glyph its bundled font lacks is no problem here.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _values_axis(ax: Axes, tick: Tick | None, horizontal: bool = False) -> None:
    """Label the value axis with the locale's numbers, never matplotlib's 1e7 offset."""
    if tick is not None:
        (ax.xaxis if horizontal else ax.yaxis).set_major_formatter(FuncFormatter(lambda v, _pos: tick(v)))


def grouped_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]],
                 colours: Sequence[str] = ("#90a4ae", "#1565c0"), tick: Tick | None = None) -> str:
    """Side-by-side bars, one group per label (e.g. tiers at the period start and now)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 2.6))
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            xs = [x + i * width for x in range(len(labels))]
            ax.bar(xs, list(values), width=width, label=name, color=colours[i % len(colours)])
        ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], list(labels))
        ax.set_title(title)
        ax.legend(frameon=False)
        _values_axis(ax, tick)
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig)


def bars(title: str, labels: Sequence[str], values: Sequence[float], colours: Sequence[str] | None = None,
         horizontal: bool = False, tick: Tick | None = None) -> str:
    """One bar per label; horizontal for long labels (owners, reasons)."""
    with plt.rc_context(_STYLE):
        height = max(2.2, 0.32 * len(labels) + 0.8) if horizontal else 2.6
        fig, ax = plt.subplots(figsize=(5.2, height))
        colour = list(colours) if colours else "#1565c0"
        if horizontal:
            ax.barh(list(labels)[::-1], list(values)[::-1], color=colour[::-1] if colours else colour)
        else:
            ax.bar(list(labels), list(values), color=colour)
        _values_axis(ax, tick, horizontal)
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig)


def line(title: str, labels: Sequence[str], values: Sequence[float], tick: Tick | None = None) -> str:
    """One value per run, in order (API calls per run)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 2.4))
        ax.plot(list(labels), list(values), marker="o", color="#1565c0")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        _values_axis(ax, tick)
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig)

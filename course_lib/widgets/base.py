"""What every course widget shares: the base class and the figure helpers (all chapters).

Every widget works headless (nbval, tests) and in the browser: heavy work runs on a button
press or a method call, never on every slider tick; results are kept on the widget
(e.g. ``race.results``) so notebooks can assert on them; pictures are PNGs rendered with
matplotlib's object API into ``ipywidgets.Image``; and ``repr`` is short and deterministic
because nbval compares a widget's text form.
"""
from __future__ import annotations

import io

import ipywidgets as w
from matplotlib.figure import Figure

__all__ = ["CourseWidget", "figure_png", "new_figure", "bar_chart_png"]


def figure_png(fig) -> bytes:
    """Render a matplotlib ``Figure`` (object API, no pyplot state) to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def new_figure(width: float = 6.0, height: float = 3.0) -> Figure:
    """A matplotlib figure that belongs to no global pyplot state."""
    return Figure(figsize=(width, height))


def bar_chart_png(values: dict, xlabel: str, *, title: str | None = None, log: bool = False,
                  colour: str = "#4c72b0") -> bytes:
    """Horizontal bars, one per entry of ``values``, first entry on top, as PNG bytes."""
    fig = new_figure(6, 0.5 + 0.45 * len(values))
    ax = fig.add_subplot()
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color=colour)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return figure_png(fig)


class CourseWidget(w.VBox):
    """Base class: a VBox whose text form (what nbval compares) is a short stable summary.

    Its DOM element carries the CSS classes ``course-widget`` and ``course-<ClassName>``, which the
    browser test uses to find it.
    """

    def __init__(self, children=(), **kwargs):
        super().__init__(children, **kwargs)
        self.add_class("course-widget")
        self.add_class(f"course-{type(self).__name__}")

    def summary(self) -> str:  # pragma: no cover - overridden
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary()})"

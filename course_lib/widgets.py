"""The course's interactive widgets (ipywidgets), all in one module.

Every widget works headless (nbval, tests) and in the browser: heavy work runs on a button
press or a method call, never on every slider tick; results are kept on the widget
(e.g. ``race.results``) so notebooks can assert on them; pictures are PNGs rendered with
matplotlib's object API into ``ipywidgets.Image``; and ``repr`` is short and deterministic
because nbval compares a widget's text form.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Callable

import ipywidgets as w

from .timing import throughput


def human_bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def figure_png(fig) -> bytes:
    """Render a matplotlib ``Figure`` (object API, no pyplot state) to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def new_figure(width: float = 6.0, height: float = 3.0):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


class CourseWidget(w.VBox):
    """Base class: a VBox whose text form (what nbval compares) is a short stable summary."""

    def summary(self) -> str:  # pragma: no cover - overridden
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary()})"


@dataclass(frozen=True)
class Contender:
    """A callable in a :class:`TimingRace`; ``max_bytes`` caps the payload for slow contenders
    (throughput per byte does not depend on the payload once it is a few blocks long)."""
    name: str
    fn: Callable[[bytes], object]
    max_bytes: int | None = None


class TimingRace(CourseWidget):
    """Throughput race (chapter 00): pick a payload size, press *Run*, see MB/s on a log scale."""

    def __init__(self, contenders, sizes=(1 << 10, 1 << 16, 1 << 20), title: str = "Throughput race"):
        self.contenders = [c if isinstance(c, Contender) else Contender(name, c)
                           for name, c in (contenders.items() if isinstance(contenders, dict)
                                           else ((c.name, c) for c in contenders))]
        self.title = title
        self.results: dict[str, float] = {}
        self.size = w.Dropdown(options=[(human_bytes(s), s) for s in sizes], value=sizes[len(sizes) // 2],
                               description="payload")
        self.button = w.Button(description="Run race", button_style="primary", icon="play")
        self.status = w.HTML("Press <b>Run race</b> to measure.")
        self.chart = w.Image(format="png")
        self.button.on_click(lambda _: self.run())
        super().__init__([w.HTML(f"<b>{title}</b>"), w.HBox([self.size, self.button]), self.status, self.chart])

    def summary(self) -> str:
        names = ", ".join(c.name for c in self.contenders)
        return f"{names}; payload {human_bytes(self.size.value)}"

    def run(self, size: int | None = None) -> dict[str, float]:
        """Measure every contender on ``size`` random bytes; returns ``{name: MB/s}``."""
        if size is not None:
            self.size.value = size
        payload = os.urandom(self.size.value)
        self.status.value = "running…"
        self.results = {}
        for c in self.contenders:
            data = payload if c.max_bytes is None else payload[: c.max_bytes]
            self.results[c.name] = throughput(c.fn, data, repeat=3)
        self.chart.value = self._plot()
        fastest = max(self.results, key=self.results.get)
        self.status.value = "<br>".join(
            f"{name}: {mb_s:,.1f} MB/s" + ("" if name == fastest else f" ({self.results[fastest] / mb_s:,.0f}× slower)")
            for name, mb_s in self.results.items())
        return self.results

    def _plot(self) -> bytes:
        fig = new_figure(6, 0.5 + 0.45 * len(self.results))
        ax = fig.add_subplot()
        names = list(self.results)[::-1]
        ax.barh(names, [self.results[n] for n in names], color="#4c72b0")
        ax.set_xscale("log")
        ax.set_xlabel("throughput, MB/s (log scale)")
        ax.set_title(f"{self.title} — {human_bytes(self.size.value)} payload")
        return figure_png(fig)

"""Races: throughput of several contenders, and DataLoader epochs (chapters 00, 01 and 04)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

import ipywidgets as w
import torch
from torch.utils.data import DataLoader

from ..display import format_rate, human_bytes
from ..timing import throughput
from .base import CourseWidget, bar_chart_png

__all__ = ["Contender", "TimingRace", "EpochRace"]


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
        """``contenders``: ``{name: fn(data) or Contender}`` or a list of :class:`Contender`."""
        if isinstance(contenders, dict):
            contenders = [fn if isinstance(fn, Contender) else Contender(name, fn) for name, fn in contenders.items()]
        self.contenders = list(contenders)
        self.title = title
        self.results: dict[str, float] = {}
        self.size = w.Dropdown(options=[(human_bytes(s), s) for s in sizes], value=sizes[len(sizes) // 2],
                               description="payload")
        self.button = w.Button(description="Run race", button_style="primary", icon="play")
        self.status = w.HTML("Press <b>Run race</b> to measure.")
        self.chart = w.Image(format="png", width=540)
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
            f"{name}: {format_rate(mb_s)}" + ("" if name == fastest else f" ({self.results[fastest] / mb_s:,.0f}× slower)")
            for name, mb_s in self.results.items())
        return self.results

    def _plot(self) -> bytes:
        return bar_chart_png(self.results, "throughput, MB/s (log scale)", log=True,
                             title=f"{self.title} — {human_bytes(self.size.value)} payload")


class EpochRace(CourseWidget):
    """Time one shuffled DataLoader epoch over several datasets (chapter 04): pick workers, press *Run*."""

    def __init__(self, datasets: dict, batch_size: int = 64, workers=(0, 2), collate_fn=None):
        """``collate_fn`` is passed to every ``DataLoader`` (e.g. ``datasets.collate_records``)."""
        self.datasets = dict(datasets)
        self.batch_size = batch_size
        self.collate_fn = collate_fn
        self.workers = w.Dropdown(options=list(workers), value=workers[0], description="workers")
        self.button = w.Button(description="Run epoch", button_style="primary", icon="play")
        self.status = w.HTML("Press <b>Run epoch</b>.")
        self.chart = w.Image(format="png", width=540)
        self.results: dict[str, float] = {}
        self.button.on_click(lambda _: self.run())
        super().__init__([w.HBox([self.workers, self.button]), self.status, self.chart])

    def summary(self) -> str:
        return f"{', '.join(self.datasets)}; batch {self.batch_size}"

    def run(self, workers: int | None = None, repeat: int = 5) -> dict[str, float]:
        """Best-of-``repeat`` seconds per epoch for each dataset; returns ``{name: seconds}``.

        The repeats are interleaved (one epoch of each dataset, then the next round), so a burst of load on a
        shared machine slows every dataset alike instead of whichever happened to be running.
        """
        if workers is not None:
            self.workers.value = workers
        self.results = {name: float("inf") for name in self.datasets}
        for _ in range(repeat):
            for name, dataset in self.datasets.items():
                loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.workers.value,
                                    collate_fn=self.collate_fn,
                                    generator=torch.Generator().manual_seed(0), timeout=120 if self.workers.value else 0)
                start = time.perf_counter()
                for _batch in loader:
                    pass
                self.results[name] = min(self.results[name], time.perf_counter() - start)
        base = next(iter(self.results.values()))
        self.status.value = "<br>".join(f"{name}: {s * 1e3:,.1f} ms per epoch ({s / base:.2f}×)"
                                        for name, s in self.results.items())
        self.chart.value = bar_chart_png({name: s * 1e3 for name, s in self.results.items()},
                                         f"ms per epoch (batch {self.batch_size}, {self.workers.value} workers)",
                                         colour="#55a868")
        return self.results

"""Secure aggregation made visible: clients as tiles, dropouts, masks that cancel or are rebuilt (chapter 10)."""
from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from .. import secagg
from ..errors import TooManyDropoutsError
from .base import CourseWidget

__all__ = ["SecureAggregationViewer"]

_COLOURS = {"cancelled": "#55a868", "rebuilt": "#dd8452", "self": "#4c72b0", "dropped": "#c44e52"}


class SecureAggregationViewer(CourseWidget):
    """Tiles for clients 1…n; click to drop one, then *Aggregate* runs the real protocol (``secagg``).

    Each client's update is a few small integers, so the sums can be read. The result shows the
    server's view of each masked input, which pairwise masks cancelled, which the server rebuilt
    from Shamir shares of a dropped client's mask key, and the sum against the true sum.
    """

    def __init__(self, clients: int = 6, threshold: int = 4, length: int = 4, seed: int = 0):
        self.clients, self.length = clients, length
        rng = np.random.default_rng(seed)
        self.updates = {n: rng.integers(-9, 10, length) for n in range(1, clients + 1)}
        self.tiles = [w.ToggleButton(value=False, description=f"client {n}", tooltip="click: drop out",
                                     layout=w.Layout(width="92px")) for n in self.updates]
        for tile in self.tiles:
            tile.observe(self._restyle, "value")
        self.threshold = w.IntSlider(value=threshold, min=clients // 2 + 1, max=clients, description="threshold t")
        self.button = w.Button(description="Aggregate", button_style="primary")
        self.button.on_click(lambda _: self.aggregate())
        self.output = w.HTML()
        self.result: secagg.Result | None = None
        self.error = ""
        super().__init__([w.HTML(f"<b>{clients} clients</b>, each with an update of {length} integers. Click a "
                                 f"tile to drop that client before it sends its masked input."),
                          w.HBox(self.tiles), w.HBox([self.threshold, self.button]), self.output])
        self._restyle()

    def summary(self) -> str:
        return f"{self.clients} clients, threshold {self.threshold.value}; dropped {self.dropped() or 'none'}"

    def dropped(self) -> list[int]:
        return [n for n, tile in zip(self.updates, self.tiles) if tile.value]

    def drop(self, *numbers: int) -> None:
        """Drop exactly these clients (the same as clicking their tiles)."""
        for n, tile in zip(self.updates, self.tiles):
            tile.value = n in numbers

    def aggregate(self) -> secagg.Result | None:
        """Run one round with the chosen dropouts; keeps ``result`` (or ``error``) and redraws."""
        config = secagg.Config(clients=self.clients, threshold=self.threshold.value, length=self.length, bits=5)
        ring = {n: secagg.to_ring(u, config.ring_bits) for n, u in self.updates.items()}
        self.result, self.error = None, ""
        try:
            self.result = secagg.secure_aggregate(ring, config, drop_before_masking=set(self.dropped()))
        except TooManyDropoutsError as error:
            self.error = str(error)
        self.output.value = self._render(config)
        return self.result

    def _restyle(self, *_):
        for tile in self.tiles:
            tile.button_style = "danger" if tile.value else ""

    def _render(self, config) -> str:
        if self.error:
            return f"<p style='color:{_COLOURS['dropped']}'><b>Round refused:</b> {html.escape(self.error)}</p>"
        result, k = self.result, config.ring_bits
        survivors, dropped = result.survivors, result.dropped
        rows = []
        for n in self.updates:
            if n in dropped:
                rows.append(f"<tr><td>client {n}</td><td colspan=2 style='color:{_COLOURS['dropped']}'>dropped: "
                            f"its mask key rebuilt from {config.threshold} Shamir shares</td></tr>")
                continue
            view = " ".join(f"{int(v):>{len(str(2 ** k))}}" for v in result.masked_inputs[n])
            rows.append(f"<tr><td>client {n}</td><td><code>{self.updates[n].tolist()}</code></td>"
                        f"<td><code>{view}</code></td></tr>")
        pairs = []
        for a in self.updates:
            for b in self.updates:
                if a < b and not (a in dropped and b in dropped):
                    kind = "rebuilt" if (a in dropped or b in dropped) else "cancelled"
                    pairs.append(f"<span style='background:{_COLOURS[kind]};color:white;padding:1px 4px;"
                                 f"margin:1px;border-radius:3px'>{a}–{b}</span>")
        true_sum = sum(self.updates[n] for n in survivors)
        got = secagg.from_ring(result.total, k)
        return (f"<table><tr><th></th><th>update (private)</th><th>what the server receives, in Z_2^{k}</th></tr>"
                f"{''.join(rows)}</table>"
                f"<p>Pairwise masks: <span style='color:{_COLOURS['cancelled']}'>cancelled in the sum</span>, "
                f"<span style='color:{_COLOURS['rebuilt']}'>removed by the server after rebuilding a dropped "
                f"client's key</span>:<br>{' '.join(pairs)}</p>"
                f"<p style='color:{_COLOURS['self']}'>Self-masks of {len(survivors)} survivors removed from "
                f"{config.threshold}-of-{self.clients} shares of their seeds.</p>"
                f"<p><b>Sum</b> of clients {survivors}: {got.tolist()} — true sum {true_sum.tolist()}"
                f" {'✓' if np.array_equal(got, true_sum) else '✗'}</p>")

"""Secret sharing made visible: shares that look uniformly random (chapter 07)."""
from __future__ import annotations

import ipywidgets as w
import numpy as np
import torch

from ..mpc.sharing import reconstruct, share
from .base import CourseWidget, figure_png, new_figure

__all__ = ["ShareViewer"]


class ShareViewer(CourseWidget):
    """Additive secret sharing in Z_2^64 (chapter 07): pick a secret and a number of parties.

    The shares are shown as signed 64-bit integers; *Draw sharings* repeats the sharing many
    times and plots where one party's share lands — uniformly over the ring, whatever the secret.
    """

    def __init__(self, secret: int = 42, parties: int = 3, draws: int = 10_000):
        self.secret = w.IntText(value=secret, description="secret")
        self.parties = w.IntSlider(value=parties, min=2, max=6, description="parties")
        self.table = w.HTML()
        self.button = w.Button(description="Draw sharings", icon="bar-chart")
        self.histogram_image = w.Image(format="png", width=540)
        self.draws = draws
        self.shares: list[int] = []
        self.samples = None
        for control in (self.secret, self.parties):
            control.observe(lambda _: self.update(), names="value")
        self.button.on_click(lambda _: self.histogram())
        super().__init__([w.HBox([self.secret, self.parties]), self.table, self.button, self.histogram_image])
        self.update()

    def summary(self) -> str:
        return f"secret {self.secret.value}; {self.parties.value} parties"

    def update(self) -> list[int]:
        """Share the secret afresh; returns the shares (signed 64-bit)."""
        shares = share(torch.tensor([self.secret.value], dtype=torch.int64), self.parties.value)
        self.shares = [int(s.item()) for s in shares]
        total = int(reconstruct(shares).item())
        rows = "".join(f"<tr><td>party {i}</td><td style='font-family:monospace'>{v:+,d}</td></tr>"
                       for i, v in enumerate(self.shares))
        self.table.value = (f"<table>{rows}<tr><td><b>sum of the shares, mod 2⁶⁴</b></td>"
                            f"<td style='font-family:monospace'><b>= {total:+,d}</b></td></tr></table>")
        return self.shares

    def histogram(self, draws: int | None = None):
        """Party 0's share over many sharings of the same secret; returns the samples (as floats)."""
        draws = draws or self.draws
        secret = torch.full((draws,), self.secret.value, dtype=torch.int64)
        self.samples = share(secret, self.parties.value)[0].numpy().astype(np.float64)
        fig = new_figure(6, 2.6)
        ax = fig.add_subplot()
        ax.hist(self.samples, bins=32, range=(-2.0**63, 2.0**63), color="#8172b2")
        ax.set_xticks([-2.0**63, -2.0**62, 0.0, 2.0**62, 2.0**63], ["−2⁶³", "−2⁶²", "0", "2⁶²", "2⁶³"])  # no 1e19 offset
        ax.set_xlabel(f"party 0's share of the secret {self.secret.value} (over {draws:,} sharings)")
        ax.set_ylabel("count")
        self.histogram_image.value = figure_png(fig)
        return self.samples

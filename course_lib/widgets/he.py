"""CKKS precision made visible: bits left after each multiplication, and the end of the chain (chapter 11)."""
from __future__ import annotations

import ipywidgets as w

from .. import he
from .base import CourseWidget, figure_png, new_figure

__all__ = ["PrecisionViewer"]


class PrecisionViewer(CourseWidget):
    """Choose the scale and the number of levels, press *Square repeatedly*: the bars show the bits
    of precision after each squaring of values in [−1, 1]; one squaring more than the chain holds is
    refused by SEAL ("scale out of bounds"), never answered wrongly."""

    def __init__(self, scale_bits: int = 30, levels: int = 3):
        self.scale = w.IntSlider(value=scale_bits, min=20, max=40, step=5, description="scale bits")
        self.levels = w.IntSlider(value=levels, min=1, max=4, description="levels")
        self.button = w.Button(description="Square repeatedly", button_style="primary")
        self.button.on_click(lambda _: self.run())
        self.chart = w.Image(format="png")
        self.info = w.HTML()
        self.bits: list[float] = []
        super().__init__([w.HBox([self.scale, self.levels, self.button]), self.info, self.chart])

    def summary(self) -> str:
        return f"scale 2^{self.scale.value}, {self.levels.value} levels"

    def run(self) -> list[float]:
        """Square as often as the chain allows, and once more; keeps ``bits`` and redraws."""
        scale, depth = self.scale.value, self.levels.value
        degree, chain = he.parameters_for_depth(depth, scale, scale + 20)
        self.bits = he.precision_bits(he.context(depth, scale_bits=scale, outer_bits=scale + 20), depth + 1)
        refused = len(self.bits) <= depth + 1
        self.info.value = (f"N = {degree} ({degree // 2} slots), chain {chain} = {sum(chain)} bits. "
                           + ", ".join(f"after {k} squaring{'s' if k != 1 else ''}: {b:.1f} bits"
                                       for k, b in enumerate(self.bits))
                           + (f"; squaring {depth + 1}: <b>refused</b> (scale out of bounds)" if refused else ""))
        fig = new_figure(6, 2.6)
        ax = fig.add_subplot()
        ax.bar(range(len(self.bits)), self.bits, color="#4c72b0")
        if refused:
            ax.bar([len(self.bits)], [0.4], color="#c44e52")
            ax.annotate("refused", (len(self.bits), 0.6), ha="center", color="#c44e52")
        ax.set_xticks(range(depth + 2))
        ax.set_xlabel("squarings")
        ax.set_ylabel("bits of precision")
        ax.set_ylim(0, max(self.bits + [1]) + 3)
        ax.set_title(f"scale 2^{scale}, {depth} levels")
        self.chart.value = figure_png(fig)
        return self.bits

"""Gradient inversion made visible: a client's image coming back from its gradient (chapter 09)."""
from __future__ import annotations

import ipywidgets as w
import numpy as np
import torch

from ..attacks import best_match_psnr, client_gradient, invert_gradients
from ..images import to_png
from .base import CourseWidget

__all__ = ["GradientInversionViewer"]


def _grey_png(image: torch.Tensor, scale: int = 12) -> bytes:
    """An 8×8 image with values in [0, 1] as an enlarged grey PNG (white = ink, as the digits are stored)."""
    side = int(image.numel() ** 0.5)
    pixels = (255 * (1 - image.detach().clamp(0, 1))).round().to(torch.uint8).reshape(side, side).numpy()
    return to_png(np.ascontiguousarray(pixels), scale)


class GradientInversionViewer(CourseWidget):
    """The attacker sees one update and optimises a dummy batch until its gradient matches (DLG).

    Pick how many images the client's batch holds and press *Run attack*; the slider then steps
    through the optimisation: the first original next to its closest reconstruction, and the
    PSNR of every image (higher is closer; above about 30 dB the two are hard to tell apart on screen).
    """

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor, batch_sizes=(1, 4, 16), steps: int = 200):
        self.model, self.images, self.labels, self.steps = model, images, labels, steps
        self.batch = w.Dropdown(options=list(batch_sizes), value=batch_sizes[0], description="batch")
        self.button = w.Button(description="Run attack", button_style="danger", icon="play")
        self.step = w.IntSlider(value=0, min=0, max=0, description="iteration", disabled=True)
        self.original = w.Image(format="png", width=96)
        self.recovered = w.Image(format="png", width=96)
        self.info = w.HTML("Press <b>Run attack</b>.")
        self.result = None
        self.button.on_click(lambda _: self.run())
        self.step.observe(lambda _: self._show(), names="value")
        pictures = w.HBox([w.VBox([w.HTML("client's image"), self.original]),
                           w.VBox([w.HTML("attacker's reconstruction"), self.recovered])])
        super().__init__([w.HBox([self.batch, self.button]), self.step, pictures, self.info])

    def summary(self) -> str:
        return f"batch sizes {', '.join(map(str, self.batch.options))}; {self.steps} steps of L-BFGS"

    def run(self, batch: int | None = None, seed: int = 0) -> list[float]:
        """Attack the gradient of the first ``batch`` images; returns the final PSNR of each image."""
        if batch is not None:
            self.batch.value = batch
        n = self.batch.value
        x, y = self.images[:n], self.labels[:n]
        self.result = invert_gradients(self.model, client_gradient(self.model, x, y), n, steps=self.steps, seed=seed)
        self.step.disabled, self.step.max = False, len(self.result.history) - 1
        if self.step.value == self.step.max:
            self._show()
        self.step.value = self.step.max
        return best_match_psnr(self.result.images, x)

    def _show(self) -> None:
        if self.result is None:
            return
        evaluation, images, distance = self.result.history[self.step.value]
        originals = self.images[:self.batch.value]
        scores = best_match_psnr(images, originals)
        closest = min(range(len(images)), key=lambda k: ((images[k] - originals[0]) ** 2).mean().item())
        self.original.value = _grey_png(originals[0])
        self.recovered.value = _grey_png(images[closest])
        self.info.value = (f"evaluation {evaluation}: gradient distance {distance:.2e}; PSNR per image (dB): "
                           + ", ".join("∞" if s == float("inf") else f"{s:.1f}" for s in scores))

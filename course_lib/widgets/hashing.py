"""Hashing made visible: the avalanche effect (chapter 02)."""
from __future__ import annotations

import hashlib
import random

import ipywidgets as w
import numpy as np

from ..images import to_png
from .base import CourseWidget, figure_png, new_figure

__all__ = ["Avalanche", "flip_bit", "differing_bits"]


def flip_bit(message: bytes, bit: int) -> bytes:
    """``message`` with bit number ``bit`` flipped (bit 0 = most significant bit of byte 0)."""
    out = bytearray(message)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def differing_bits(a: bytes, b: bytes) -> int:
    return bin(int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).count("1")


class Avalanche(CourseWidget):
    """Avalanche effect (chapter 02): flip one bit of a message, see about half the digest bits change.

    Typing or moving the slider updates the two bit grids at once (one hash each, a few ms);
    *Run random flips* collects a histogram of changed bits over many random one-bit flips.
    """

    HASHES = {
        "SHA-256": lambda m: hashlib.sha256(m).digest(),
        "BLAKE2b-256": lambda m: hashlib.blake2b(m, digest_size=32).digest(),
        "SHA3-256": lambda m: hashlib.sha3_256(m).digest(),
    }

    def __init__(self, message: str = "label=7;patient=0042", bit: int = 0):
        self.text = w.Text(value=message, description="message", continuous_update=True)
        self.algorithm = w.Dropdown(options=list(self.HASHES), value="SHA-256", description="hash")
        self.bit = w.IntSlider(value=bit, min=0, max=max(0, 8 * len(message.encode()) - 1), description="flip bit")
        self.grids = w.Image(format="png", width=300)
        self.info = w.HTML()
        self.button = w.Button(description="Run random flips", icon="bar-chart")
        self.histogram_image = w.Image(format="png", width=540)
        self.flips: list[int] = []
        for control in (self.text, self.algorithm, self.bit):
            control.observe(lambda _: self.update(), names="value")
        self.button.on_click(lambda _: self.random_flips())
        super().__init__([w.HBox([self.text, self.algorithm]), self.bit, self.grids, self.info,
                          self.button, self.histogram_image])
        self.update()

    def summary(self) -> str:
        return f"{self.algorithm.value}; message {self.text.value!r}; flip bit {self.bit.value}"

    def compare(self) -> dict:
        """Digests of the message and of the message with one bit flipped, and how many bits differ."""
        message = self.text.value.encode()
        self.bit.max = max(0, 8 * len(message) - 1)
        digest = self.HASHES[self.algorithm.value]
        original = digest(message)
        flipped = digest(flip_bit(message, self.bit.value)) if message else original
        changed = differing_bits(original, flipped)
        return {"original": original, "flipped": flipped, "changed_bits": changed,
                "share": changed / (8 * len(original))}

    def update(self) -> dict:
        result = self.compare()
        self.grids.value = self._grid_png(result["original"], result["flipped"])
        self.info.value = (f"{result['changed_bits']} of {8 * len(result['original'])} digest bits changed "
                           f"(<b>{result['share']:.0%}</b>); red = changed")
        return result

    def random_flips(self, n: int = 1000, seed: int | None = None) -> list[int]:
        """Flip ``n`` random single bits of random 32-byte messages; histogram of changed bits."""
        rng = random.Random(seed)
        digest = self.HASHES[self.algorithm.value]
        self.flips = []
        for _ in range(n):
            message = rng.randbytes(32)
            self.flips.append(differing_bits(digest(message), digest(flip_bit(message, rng.randrange(256)))))
        fig = new_figure(6, 2.6)
        ax = fig.add_subplot()
        ax.hist(self.flips, bins=range(min(self.flips), max(self.flips) + 2), color="#4c72b0")
        ax.axvline(128, color="red", linestyle="--", label="half of 256 bits")
        ax.set_xlabel("digest bits changed by a one-bit flip")
        ax.set_ylabel("count")
        ax.legend()
        self.histogram_image.value = figure_png(fig)
        return self.flips

    @staticmethod
    def _grid_png(original: bytes, flipped: bytes, cell: int = 9) -> bytes:
        bits_a = np.unpackbits(np.frombuffer(original, np.uint8))
        bits_b = np.unpackbits(np.frombuffer(flipped, np.uint8))
        side = int(len(bits_a) ** 0.5)
        colours = {0: (235, 235, 235), 1: (40, 40, 40)}
        def grid(bits, highlight):
            img = np.array([colours[int(b)] for b in bits], np.uint8)
            if highlight is not None:
                img[highlight] = (220, 50, 50)
            return img.reshape(side, side, 3)
        gap = np.full((side, 1, 3), 255, np.uint8)
        picture = np.concatenate([grid(bits_a, None), gap, grid(bits_b, bits_a != bits_b)], axis=1)
        return to_png(picture, cell)

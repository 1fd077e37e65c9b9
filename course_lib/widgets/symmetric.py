"""Symmetric encryption made visible: the ECB penguin and the cost of password KDFs (chapter 01)."""
from __future__ import annotations

import os

import ipywidgets as w

from ..images import bytes_as_image, distinct_blocks, load_image, to_png
from ..symmetric import NONCE_SIZE, derive_key, encrypt, gpu_guesses_per_second, new_key, new_salt
from ..timing import measure
from ..toy.modes import RawAES, cbc_encrypt, ctr_encrypt, ecb_encrypt, pkcs7_pad
from .base import CourseWidget, new_figure

__all__ = ["CiphertextViewer", "KdfCost"]


class CiphertextViewer(CourseWidget):
    """The ECB "penguin" (chapter 01): one image encrypted under ECB, CBC, CTR and GCM, side by side.

    The image bytes are encrypted and the ciphertext shown as pixels of the same shape. Flat
    regions give equal plaintext blocks; ECB maps them to equal ciphertext blocks, so the shapes
    survive. ``distinct_blocks`` counts distinct 16-byte ciphertext blocks per mode.
    """

    MODES = ("ECB", "CBC", "CTR", "GCM")

    def __init__(self, pixels=None, scale: int = 2):
        self.pixels = load_image() if pixels is None else pixels
        self.scale = scale
        self.ciphertexts: dict[str, bytes] = {}
        self.panels = {name: w.Image(format="png", width=self.pixels.shape[1] * scale)
                       for name in ("plaintext", *self.MODES)}
        self.panels["plaintext"].value = to_png(self.pixels, scale)
        self.captions = {name: w.HTML() for name in self.panels}
        self.captions["plaintext"].value = "<b>plaintext</b>"
        self.button = w.Button(description="New key", icon="refresh")
        self.button.on_click(lambda _: self.new_key())
        columns = [w.VBox([self.captions[n], self.panels[n]]) for n in self.panels]
        super().__init__([w.HBox(columns), self.button])
        self.new_key()

    def summary(self) -> str:
        h, wd = self.pixels.shape[:2]
        return f"{wd}×{h} image; plaintext vs {', '.join(self.MODES)}"

    def new_key(self) -> None:
        """Encrypt the image in every mode, each under its own fresh random key (and IV/nonce)."""
        data = self.pixels.tobytes()
        self.ciphertexts = {   # one key per mode: never one key for two algorithms
            "ECB": ecb_encrypt(RawAES(new_key()), pkcs7_pad(data)),
            "CBC": cbc_encrypt(RawAES(new_key()), os.urandom(16), pkcs7_pad(data)),
            "CTR": ctr_encrypt(RawAES(new_key()), os.urandom(16), data),
            "GCM": encrypt(new_key(), data)[NONCE_SIZE:],
        }
        for mode, ct in self.ciphertexts.items():
            self.panels[mode].value = to_png(bytes_as_image(ct, self.pixels.shape), self.scale)
            self.captions[mode].value = f"<b>{mode}</b>: {distinct_blocks(ct[:len(data)]):,} distinct blocks"

    def figure(self):
        """A static matplotlib figure of the same panels (for printed or rendered notebooks)."""
        fig = new_figure(2.0 * (1 + len(self.MODES)), 2.6)
        panels = {"plaintext": self.pixels, **{m: bytes_as_image(ct, self.pixels.shape)
                                               for m, ct in self.ciphertexts.items()}}
        for i, (name, img) in enumerate(panels.items(), start=1):
            ax = fig.add_subplot(1, len(panels), i)
            ax.imshow(img)
            ax.set_title(name)
            ax.axis("off")
        return fig

    @property
    def distinct_blocks(self) -> dict[str, int]:
        n = self.pixels.nbytes
        return {"plaintext": distinct_blocks(self.pixels.tobytes()),
                **{mode: distinct_blocks(ct[:n]) for mode, ct in self.ciphertexts.items()}}


class KdfCost(CourseWidget):
    """Cost of deriving a key from a password (chapter 01): pick a KDF and a cost, press *Measure*.

    Every guess an attacker makes costs one derivation. The table shows one guess on one CPU core
    (measured) and the guesses per second of one high-end GPU (an estimate scaled from OWASP's
    calibration, ``symmetric.KDF_GPU_REFERENCE``): PBKDF2 is cheap on a GPU, Argon2id and scrypt
    are memory-hard and stay expensive there.
    """

    COSTS = {"argon2id": ("log2 memory (KiB)", 10, 18, 14), "scrypt": ("log2 N", 10, 18, 14),
             "pbkdf2": ("log2 iterations", 10, 20, 16)}
    ARGON2ID_TIME_COST = 2

    def __init__(self):
        self.kdf = w.Dropdown(options=list(self.COSTS), value="scrypt", description="KDF")
        label, low, high, default = self.COSTS["scrypt"]
        self.cost = w.IntSlider(value=default, min=low, max=high, description=label)
        self.button = w.Button(description="Measure", button_style="primary", icon="clock-o")
        self.table = w.HTML("Pick a KDF and a cost, then press <b>Measure</b>.")
        self.history: list[dict] = []
        self.kdf.observe(self._on_kdf, names="value")
        self.button.on_click(lambda _: self.measure())
        super().__init__([w.HBox([self.kdf, self.cost, self.button]), self.table])

    def summary(self) -> str:
        return "Argon2id (log2 KiB 10–18, t = 2), scrypt (log2 N 10–18) or PBKDF2-HMAC-SHA256 (log2 iterations 10–20)"

    def _on_kdf(self, change) -> None:
        label, low, high, default = self.COSTS[change["new"]]
        self.cost.description = label
        self.cost.min, self.cost.max = low, high  # order matters when ranges differ
        self.cost.value = default

    def measure(self, kdf: str | None = None, cost: int | None = None) -> dict:
        """Time one derivation; returns and records ``{kdf, cost, seconds, ...}``."""
        if kdf is not None:
            self.kdf.value = kdf
        if cost is not None:
            self.cost.value = cost
        kdf, cost, salt = self.kdf.value, self.cost.value, new_salt()
        params = {"argon2id": {"memory_cost": 2**cost, "iterations": self.ARGON2ID_TIME_COST},
                  "scrypt": {"n": 2**cost}, "pbkdf2": {"iterations": 2**cost}}[kdf]
        work = 2**cost * (self.ARGON2ID_TIME_COST if kdf == "argon2id" else 1)
        seconds = measure(lambda: derive_key("correct horse", salt, kdf, **params), repeat=1, min_time=0).best
        gpu_rate = gpu_guesses_per_second(kdf, work)
        row = {"kdf": kdf, "cost": f"2^{cost}" + (f", t = {self.ARGON2ID_TIME_COST}" if kdf == "argon2id" else ""),
               "seconds": seconds, "top_10k_passwords_s": 1e4 * seconds,
               "all_8_lowercase_years": 26**8 * seconds / 3.156e7,
               "gpu_guesses_per_s": gpu_rate, "all_8_lowercase_gpu_years": 26**8 / gpu_rate / 3.156e7}
        self.history.append(row)
        self.table.value = self._render()
        return row

    def _render(self) -> str:
        head = "<tr><th>KDF</th><th>cost</th><th>one guess, 1 core</th><th>10k common passwords, 1 core</th>" \
               "<th>all 8 lowercase letters, 1 core</th><th>guesses/s, 1 GPU (estimate)</th>" \
               "<th>all 8 lowercase letters, 1 GPU</th></tr>"
        rows = "".join(f"<tr><td>{r['kdf']}</td><td>{r['cost']}</td><td>{r['seconds'] * 1e3:,.1f} ms</td>"
                       f"<td>{r['top_10k_passwords_s']:,.0f} s</td><td>{r['all_8_lowercase_years']:,.1f} years</td>"
                       f"<td>{r['gpu_guesses_per_s']:,.0f}</td><td>{r['all_8_lowercase_gpu_years']:,.2f} years</td></tr>"
                       for r in self.history[-8:])
        return (f"<table>{head}{rows}</table><small>cores: measured here. GPU: about 10,000 guesses/s per high-end "
                "GPU at OWASP's settings (S. Thomas, tobtu.com, 2022), scaled linearly with the cost.</small>")

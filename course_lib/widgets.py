"""The course's interactive widgets (ipywidgets), all in one module.

Every widget works headless (nbval, tests) and in the browser: heavy work runs on a button
press or a method call, never on every slider tick; results are kept on the widget
(e.g. ``race.results``) so notebooks can assert on them; pictures are PNGs rendered with
matplotlib's object API into ``ipywidgets.Image``; and ``repr`` is short and deterministic
because nbval compares a widget's text form.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Callable

import ipywidgets as w

from .timing import format_rate, throughput


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
        fig = new_figure(6, 0.5 + 0.45 * len(self.results))
        ax = fig.add_subplot()
        names = list(self.results)[::-1]
        ax.barh(names, [self.results[n] for n in names], color="#4c72b0")
        ax.set_xscale("log")
        ax.set_xlabel("throughput, MB/s (log scale)")
        ax.set_title(f"{self.title} — {human_bytes(self.size.value)} payload")
        return figure_png(fig)


class CiphertextViewer(CourseWidget):
    """The ECB "penguin" (chapter 01): one image encrypted under ECB, CBC, CTR and GCM, side by side.

    The image bytes are encrypted and the ciphertext shown as pixels of the same shape. Flat
    regions give equal plaintext blocks; ECB maps them to equal ciphertext blocks, so the shapes
    survive. ``distinct_blocks`` counts distinct 16-byte ciphertext blocks per mode.
    """

    MODES = ("ECB", "CBC", "CTR", "GCM")

    def __init__(self, pixels=None, scale: int = 2):
        from .images import load_image, to_png
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
        from .images import bytes_as_image, distinct_blocks, to_png
        from .symmetric import NONCE_SIZE, encrypt, new_key
        from .toy.modes import RawAES, cbc_encrypt, ctr_encrypt, ecb_encrypt, pkcs7_pad
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
        from .images import bytes_as_image
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
        from .images import distinct_blocks
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
        from .symmetric import derive_key, gpu_guesses_per_second, new_salt
        from .timing import measure
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
        import random
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
        import numpy as np
        from .images import to_png
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


def _public_key_operations(name: str) -> dict[str, Callable[[], object]]:
    """Callables for one algorithm's operations, each on a freshly generated key (chapter 03)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, x25519
    message = os.urandom(32)
    if name.startswith("RSA-"):
        bits = int(name[4:])
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        public = key.public_key()
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        sealed, signature = public.encrypt(message, oaep), key.sign(message, pss, hashes.SHA256())
        return {"keygen": lambda: rsa.generate_private_key(public_exponent=65537, key_size=bits),
                "sign": lambda: key.sign(message, pss, hashes.SHA256()),
                "verify": lambda: public.verify(signature, message, pss, hashes.SHA256()),
                "encrypt": lambda: public.encrypt(message, oaep),
                "decrypt": lambda: key.decrypt(sealed, oaep)}
    if name == "Ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        signature = key.sign(message)
        return {"keygen": ed25519.Ed25519PrivateKey.generate, "sign": lambda: key.sign(message),
                "verify": lambda: key.public_key().verify(signature, message)}
    if name == "X25519":
        key, peer = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate().public_key()
        return {"keygen": x25519.X25519PrivateKey.generate, "key agreement": lambda: key.exchange(peer)}
    raise ValueError(f"unknown algorithm {name!r}")


class PublicKeyTimings(CourseWidget):
    """Key generation, sign, verify, encrypt, decrypt: RSA-2048/3072/4096 vs Ed25519/X25519 (chapter 03).

    RSA key generation is a random search for primes, so its time varies from run to run; it is
    measured once per press, the other operations with the course's timing helper.
    """

    ALGORITHMS = ("RSA-2048", "RSA-3072", "RSA-4096", "Ed25519", "X25519")
    OPERATIONS = ("keygen", "sign", "verify", "encrypt", "decrypt", "key agreement")

    def __init__(self, algorithms=ALGORITHMS):
        self.choice = w.SelectMultiple(options=self.ALGORITHMS, value=tuple(algorithms), description="algorithms",
                                       rows=len(self.ALGORITHMS))
        self.button = w.Button(description="Measure", button_style="primary", icon="clock-o")
        self.table = w.HTML("Choose algorithms and press <b>Measure</b>.")
        self.chart = w.Image(format="png", width=630)
        self.results: dict[str, dict[str, float]] = {}
        self.button.on_click(lambda _: self.measure())
        super().__init__([w.HBox([self.choice, self.button]), self.table, self.chart])

    def summary(self) -> str:
        return ", ".join(self.choice.value)

    def measure(self, algorithms=None) -> dict[str, dict[str, float]]:
        """Seconds per operation, ``{algorithm: {operation: seconds}}``."""
        from .timing import measure
        if algorithms is not None:
            self.choice.value = tuple(algorithms)
        self.results = {}
        for name in self.choice.value:
            ops = _public_key_operations(name)
            self.results[name] = {
                op: measure(fn, repeat=1 if op == "keygen" and name.startswith("RSA") else 3,
                            min_time=0 if op == "keygen" and name.startswith("RSA") else 0.01).best
                for op, fn in ops.items()}
        self.table.value = self._table()
        self.chart.value = self._plot()
        return self.results

    def _table(self) -> str:
        head = "".join(f"<th>{op}</th>" for op in self.OPERATIONS)
        rows = "".join(
            f"<tr><td><b>{name}</b></td>" + "".join(
                f"<td>{ops[op] * 1e3:,.3f} ms</td>" if op in ops else "<td>—</td>" for op in self.OPERATIONS) + "</tr>"
            for name, ops in self.results.items())
        return f"<table><tr><th></th>{head}</tr>{rows}</table>"

    def _plot(self) -> bytes:
        import numpy as np
        fig = new_figure(7, 3.2)
        ax = fig.add_subplot()
        names = list(self.results)
        width = 0.8 / len(self.OPERATIONS)
        for i, op in enumerate(self.OPERATIONS):
            values = [self.results[n].get(op, np.nan) * 1e3 for n in names]
            ax.bar(np.arange(len(names)) + i * width, values, width, label=op)
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
        ax.set_yscale("log")
        ax.set_ylabel("milliseconds (log scale)")
        ax.legend(fontsize="small", ncol=3)
        return figure_png(fig)


class EpochRace(CourseWidget):
    """Time one shuffled DataLoader epoch over several datasets (chapter 04): pick workers, press *Run*."""

    def __init__(self, datasets: dict, batch_size: int = 64, workers=(0, 2)):
        self.datasets = dict(datasets)
        self.batch_size = batch_size
        self.workers = w.Dropdown(options=list(workers), value=workers[0], description="workers")
        self.button = w.Button(description="Run epoch", button_style="primary", icon="play")
        self.status = w.HTML("Press <b>Run epoch</b>.")
        self.chart = w.Image(format="png", width=540)
        self.results: dict[str, float] = {}
        self.button.on_click(lambda _: self.run())
        super().__init__([w.HBox([self.workers, self.button]), self.status, self.chart])

    def summary(self) -> str:
        return f"{', '.join(self.datasets)}; batch {self.batch_size}"

    def run(self, workers: int | None = None, repeat: int = 3) -> dict[str, float]:
        """Best-of-``repeat`` seconds per epoch for each dataset; returns ``{name: seconds}``."""
        import time
        import torch
        from torch.utils.data import DataLoader
        if workers is not None:
            self.workers.value = workers
        self.results = {}
        for name, dataset in self.datasets.items():
            best = float("inf")
            for _ in range(repeat):
                loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.workers.value,
                                    generator=torch.Generator().manual_seed(0), timeout=120 if self.workers.value else 0)
                start = time.perf_counter()
                for _batch in loader:
                    pass
                best = min(best, time.perf_counter() - start)
            self.results[name] = best
        base = next(iter(self.results.values()))
        self.status.value = "<br>".join(f"{name}: {s * 1e3:,.1f} ms per epoch ({s / base:.2f}×)"
                                        for name, s in self.results.items())
        fig = new_figure(6, 0.6 + 0.45 * len(self.results))
        ax = fig.add_subplot()
        names = list(self.results)[::-1]
        ax.barh(names, [self.results[n] * 1e3 for n in names], color="#55a868")
        ax.set_xlabel(f"ms per epoch (batch {self.batch_size}, {self.workers.value} workers)")
        self.chart.value = figure_png(fig)
        return self.results


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
        import torch
        from .mpc import reconstruct, share
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
        import numpy as np
        import torch
        from .mpc import share
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

"""Public-key costs made visible: RSA against elliptic curves (chapter 03)."""
from __future__ import annotations

import os
from typing import Callable

import ipywidgets as w
import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, x25519

from ..timing import measure
from .base import CourseWidget, figure_png, new_figure

__all__ = ["PublicKeyTimings"]


def _public_key_operations(name: str) -> dict[str, Callable[[], object]]:
    """Callables for one algorithm's operations, each on a freshly generated key (chapter 03)."""
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

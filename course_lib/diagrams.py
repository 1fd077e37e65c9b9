"""Protocol diagrams drawn by code, where each protocol is taught (chapters 01–04 and 07).

Each function returns a :class:`Diagram`: it shows as a picture in Jupyter and as its title in
text (what nbval compares). Nothing is downloaded: boxes and arrows with matplotlib.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .widgets.base import figure_png


__all__ = ["COLOURS", "Diagram", "aes_gcm", "envelope", "merkle_proof", "hybrid", "beaver", "carry_circuit"]

COLOURS = {"key": "#fde2b3", "data": "#d6e6f5", "op": "#e8e0f4", "out": "#d9f0d3", "public": "#eeeeee",
           "secret": "#f8d0d0"}


class Diagram:
    """A drawn figure with a title; ``_repr_png_`` for Jupyter, the title as text."""

    def __init__(self, title: str, figure: Figure):
        self.title, self.figure = title, figure

    def _repr_png_(self) -> bytes:
        return figure_png(self.figure)

    def __repr__(self) -> str:
        return f"[diagram: {self.title}]"

    @property
    def labels(self) -> list[str]:
        return [t.get_text() for ax in self.figure.axes for t in ax.texts]


def _canvas(title: str, width: float, height: float, units=(10, 6)):
    figure = Figure(figsize=(width, height))
    ax = figure.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, units[0])
    ax.set_ylim(0, units[1])
    ax.axis("off")
    ax.text(units[0] / 2, units[1] - 0.25, title, ha="center", va="top", fontsize=11, weight="bold")
    return figure, ax


def _box(ax, x, y, text, kind="op", w=1.5, h=0.6, size=9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03", fc=COLOURS[kind],
                                ec="#555555", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start, end, text=None, offset=(0.08, 0.08)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=0.8, color="#444444"))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text, fontsize=8,
                color="#333333")


def aes_gcm() -> Diagram:
    """AES-GCM (chapter 01): counter blocks make the keystream; GHASH over AD and ciphertext makes the tag."""
    title = "AES-GCM: counter-mode encryption plus a GHASH tag"
    figure, ax = _canvas(title, 8.5, 4.6, (12, 7))
    for i in range(3):
        x = 5 + 2.4 * i
        _box(ax, x, 5.8, f"counter J0+{i + 1}", "public", w=1.9)
        _box(ax, x, 4.8, "AES_K", "op")
        _box(ax, x - 0.9, 3.8, f"P{i + 1}", "data", w=0.7)
        _box(ax, x, 3.8, "⊕", "op", w=0.5)
        _box(ax, x, 2.8, f"C{i + 1}", "out", w=0.9)
        _arrow(ax, (x, 5.5), (x, 5.1))
        _arrow(ax, (x, 4.5), (x, 4.1), "keystream")
        _arrow(ax, (x - 0.55, 3.8), (x - 0.25, 3.8))
        _arrow(ax, (x, 3.5), (x, 3.1))
        _arrow(ax, (x, 2.5), (6.2, 1.85))
    _box(ax, 1.6, 5.8, "key K (secret)", "key", w=2.2)
    _box(ax, 1.6, 4.8, "nonce (12 bytes,\nunique per key)", "public", w=2.2, h=0.8)
    _box(ax, 1.6, 2.8, "associated data\n(not encrypted)", "data", w=2.2, h=0.8)
    _arrow(ax, (2.7, 2.6), (5.3, 1.75))
    _box(ax, 6.2, 1.5, "GHASH_H(AD, C1 C2 C3, lengths)", "op", w=4.2)
    _box(ax, 9.4, 1.5, "⊕ AES_K(J0)", "op", w=1.6)
    _box(ax, 11.1, 1.5, "tag", "out", w=0.9)
    _arrow(ax, (8.3, 1.5), (8.6, 1.5))
    _arrow(ax, (10.2, 1.5), (10.65, 1.5))
    ax.text(0.3, 0.35, "J0 = nonce ‖ 00000001; H = AES_K(0¹²⁸). Same key + same nonce twice: the keystream and H repeat.",
            fontsize=8)
    return Diagram(title, figure)


def envelope() -> Diagram:
    """Envelope encryption and re-wrapping (chapter 04): one data key, wrapped once per reader."""
    title = "Envelope encryption: the data once, the data key wrapped per reader"
    figure, ax = _canvas(title, 8.5, 4.2, (12, 6.5))
    _box(ax, 1.6, 4.8, "dataset", "data", w=1.8)
    _box(ax, 1.6, 3.3, "data key DK\n(random, 32 bytes)", "key", w=2.2, h=0.8)
    _box(ax, 4.6, 4.8, "AES-GCM chunks", "op", w=2.2)
    _box(ax, 8.2, 4.8, "encrypted body\n(copied unchanged by re-wrapping)", "out", w=3.6, h=0.8)
    _arrow(ax, (2.5, 4.8), (3.5, 4.8))
    _arrow(ax, (2.1, 3.7), (4.0, 4.5), "encrypts")
    _arrow(ax, (5.7, 4.8), (6.4, 4.8))
    stanzas = [("KMS: wrap(DK) under KEK v2", 3.1), ("X25519 recipient: trainer", 2.2),
               ("added by re-wrap: collaborator", 1.3)]
    for text, y in stanzas:
        _box(ax, 8.2, y, text, "key", w=3.6)
        _arrow(ax, (2.7, 3.2), (6.4, y), None)
    ax.text(6.4, 3.75, "header: one stanza per reader", fontsize=8)
    ax.text(0.3, 0.4, "Re-wrap = add or drop stanzas (sharing, revoking access to future reads). Rotating the KEK "
                      "re-wraps DK only. Real revocation needs a new DK.", fontsize=8)
    return Diagram(title, figure)


def merkle_proof() -> Diagram:
    """A Merkle inclusion proof (chapter 02): the siblings on the path from leaf 2 to the root of 5 leaves."""
    title = "Inclusion proof for leaf 2 of 5: [leaf 3, n(0,1), leaf 4]"
    figure, ax = _canvas(title, 8.0, 4.2, (12, 6.5))
    nodes = {"root": (6, 5.2), "n(0..3)": (4, 4.0), "leaf 4": (9.5, 4.0), "n(0,1)": (2.4, 2.8), "n(2,3)": (5.6, 2.8),
             "leaf 0": (1.5, 1.5), "leaf 1": (3.3, 1.5), "leaf 2": (4.7, 1.5), "leaf 3": (6.5, 1.5)}
    edges = [("root", "n(0..3)"), ("root", "leaf 4"), ("n(0..3)", "n(0,1)"), ("n(0..3)", "n(2,3)"),
             ("n(0,1)", "leaf 0"), ("n(0,1)", "leaf 1"), ("n(2,3)", "leaf 2"), ("n(2,3)", "leaf 3")]
    for parent, child in edges:
        (x1, y1), (x2, y2) = nodes[parent], nodes[child]
        ax.plot([x1, x2], [y1 - 0.3, y2 + 0.3], color="#888888", lw=0.8)
    kinds = {"leaf 2": "data", "leaf 3": "key", "n(0,1)": "key", "leaf 4": "key", "n(2,3)": "op",
             "n(0..3)": "op", "root": "out"}
    for name, (x, y) in nodes.items():
        _box(ax, x, y, name, kinds.get(name, "public"), w=1.4)
    ax.text(0.3, 0.45, "orange: the proof, bottom to top · violet: recomputed by the verifier · green: must equal "
                      "the published root", fontsize=8)
    return Diagram(title, figure)


def hybrid() -> Diagram:
    """X25519 hybrid encryption (chapter 03): ephemeral key agreement, HKDF, AES-GCM."""
    title = "Hybrid encryption with X25519: agree, derive, encrypt"
    figure, ax = _canvas(title, 8.5, 4.0, (12, 6))
    _box(ax, 1.5, 4.6, "ephemeral key e\n(fresh, then deleted)", "secret", w=2.4, h=0.8)
    _box(ax, 1.5, 3.2, "recipient's public\nkey R (certified)", "public", w=2.4, h=0.8)
    _box(ax, 4.3, 3.9, "X25519(e, R)", "op", w=1.9)
    _box(ax, 6.6, 3.9, "HKDF-SHA256", "op", w=1.8)
    _box(ax, 8.9, 3.9, "AES-GCM", "op", w=1.5)
    _box(ax, 8.9, 5.1, "message", "data", w=1.5)
    _arrow(ax, (2.7, 4.5), (3.35, 4.05))
    _arrow(ax, (2.7, 3.3), (3.35, 3.75))
    _arrow(ax, (5.25, 3.9), (5.7, 3.9), "secret")
    _arrow(ax, (7.5, 3.9), (8.15, 3.9), "key")
    _arrow(ax, (8.9, 4.8), (8.9, 4.2))
    _box(ax, 6.0, 1.9, "sent: e·G (ephemeral public key) ‖ nonce ‖ ciphertext + tag", "out", w=7.5)
    _arrow(ax, (8.9, 3.6), (8.0, 2.2))
    ax.text(0.3, 0.6, "The recipient computes X25519(r, e·G) — the same secret — with its private key r, derives the "
                      "same key, and opens.", fontsize=8)
    return Diagram(title, figure)


def beaver() -> Diagram:
    """Beaver multiplication (chapter 07): the dealer's triple, one round of openings, local recombination."""
    title = "Beaver multiplication of shared x and y: one round"
    figure, ax = _canvas(title, 8.5, 4.4, (12, 6.6))
    _box(ax, 6, 5.5, "dealer: random a, b and c = a·b, as shares (never sees x or y)", "key", w=7.2)
    for i, x in enumerate((2.6, 9.4)):
        _box(ax, x, 4.2, f"party {i}: xᵢ, yᵢ, aᵢ, bᵢ, cᵢ", "secret", w=3.0)
        _box(ax, x, 2.9, "send eᵢ = xᵢ − aᵢ,\nfᵢ = yᵢ − bᵢ", "op", w=2.6, h=0.8)
        _arrow(ax, (6 + (x - 6) * 0.3, 5.2), (x, 4.5))
        _arrow(ax, (x, 3.9), (x, 3.3))
        formula = "zᵢ = cᵢ + e·bᵢ + f·aᵢ" + (" + e·f" if i == 0 else "")
        _box(ax, x, 1.3, formula, "out", w=3.3)
    _box(ax, 6, 2.1, "opened: e = x − a, f = y − b\n(uniformly random: they reveal nothing)", "public", w=4.2, h=0.8)
    _arrow(ax, (3.9, 2.8), (4.2, 2.3))
    _arrow(ax, (8.1, 2.8), (7.8, 2.3))
    _arrow(ax, (4.5, 1.8), (3.5, 1.5))
    _arrow(ax, (7.5, 1.8), (8.5, 1.5))
    ax.text(0.3, 0.35, "z₀ + z₁ = c + e·b + f·a + e·f = x·y. A triple is used once: reused, e − e′ = x − x′ leaks.",
            fontsize=8)
    return Diagram(title, figure)


def carry_circuit(bits: int = 4) -> Diagram:
    """The carry chain of comparison (chapter 07): generate and propagate bits, one AND layer per step."""
    title = f"Carry of x + y on {bits} bits: gᵢ = xᵢ ∧ yᵢ, pᵢ = xᵢ ⊕ yᵢ, cᵢ₊₁ = gᵢ ⊕ (pᵢ ∧ cᵢ)"
    figure, ax = _canvas(title, 8.5, 3.6, (12, 5.4))
    for i in range(bits):
        x = 10.5 - 2.6 * i
        _box(ax, x, 4.1, f"x{i}, y{i}", "secret", w=1.2)
        _box(ax, x - 0.55, 2.9, f"g{i} (AND)", "op", w=1.1, size=8)
        _box(ax, x + 0.6, 2.9, f"p{i} (XOR)", "public", w=1.1, size=8)
        _arrow(ax, (x, 3.8), (x - 0.5, 3.2))
        _arrow(ax, (x, 3.8), (x + 0.55, 3.2))
        _box(ax, x, 1.6, f"c{i + 1}", "out", w=0.9)
        _arrow(ax, (x - 0.5, 2.6), (x - 0.15, 1.9))
        _arrow(ax, (x + 0.55, 2.6), (x + 0.15, 1.9))
        if i:
            _arrow(ax, (x + 2.15, 1.6), (x + 0.45, 1.6), f"c{i}")
    ax.text(0.3, 0.45, "XOR is free on XOR shares; every AND needs a triple and a round. The course's adder computes "
                       "only the carries, bit-sliced over 64-bit words.", fontsize=8)
    return Diagram(title, figure)

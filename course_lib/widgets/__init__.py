"""The course's interactive widgets (ipywidgets), one module per part of the course.

* :mod:`.base` — the base class and figure helpers every widget uses;
* :mod:`.races` — throughput and DataLoader-epoch races (chapters 00, 01, 04);
* :mod:`.symmetric` — the ECB penguin and password-KDF costs (chapter 01);
* :mod:`.hashing` — the avalanche effect (chapter 02);
* :mod:`.public_key` — RSA against elliptic curves (chapter 03);
* :mod:`.mpc` — secret shares (chapter 07);
* :mod:`.attacks` — gradient inversion (chapter 09);
* :mod:`.federated` — secure aggregation with dropouts (chapter 10);
* :mod:`.he` — CKKS precision along the modulus chain (chapter 11).

Each widget is also available here (``cl.widgets.Avalanche``); its module is imported on first
use, so a chapter loads only what it shows. A new chapter adds one module and its names below.
"""
from importlib import import_module

_HOMES = {
    "CourseWidget": "base", "figure_png": "base", "new_figure": "base", "bar_chart_png": "base",
    "Contender": "races", "TimingRace": "races", "EpochRace": "races",
    "CiphertextViewer": "symmetric", "KdfCost": "symmetric",
    "Avalanche": "hashing", "flip_bit": "hashing", "differing_bits": "hashing",
    "PublicKeyTimings": "public_key",
    "ShareViewer": "mpc",
    "GradientInversionViewer": "attacks",
    "SecureAggregationViewer": "federated",
    "PrecisionViewer": "he",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'course_lib.widgets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_HOMES))

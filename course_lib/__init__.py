"""course_lib — the support library of the course *Cryptography for Deep Learning*.

Notebooks import it as ``import course_lib as cl``. Everything outside ``course_lib.toy`` is
safe by default (AEAD only, random nonces, constant-time comparisons, clear exceptions);
``course_lib.toy`` holds the deliberately insecure from-scratch versions the course dissects.
"""
from importlib import import_module

from .display import show_random, show_source
from .environment import environment_report, seed_all, asset_path
from .timing import Timing, measure, throughput

__version__ = "0.1.0"

# Submodules that pull in heavier dependencies (ipywidgets, torch, ...) load on first use.
_LAZY_SUBMODULES = {"check", "widgets", "toy", "bench", "executor", "symmetric", "images", "errors", "hashing",
                    "data", "pubkey", "pki", "release", "kms", "container",
                    "datasets", "models", "training", "mpc", "quiz", "diagrams"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


__all__ = [
    "show_random", "show_source", "environment_report", "seed_all", "asset_path",
    "Timing", "measure", "throughput", *sorted(_LAZY_SUBMODULES),
]

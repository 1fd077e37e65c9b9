"""course_lib — the support library of the course *Cryptography for Deep Learning*.

Notebooks import it as ``import course_lib as cl``. Everything outside ``course_lib.toy`` is
safe by default (AEAD only, random nonces, constant-time comparisons, clear exceptions);
``course_lib.toy`` holds the deliberately insecure from-scratch versions the course dissects.
The tools that build, run, grade and measure the course live apart, in ``course_tools``.

Module map (layers point down; ``tests/test_layers.py`` keeps them free of cycles):

* **Support** — ``errors`` (every exception), ``environment`` (check, seeds, assets),
  ``timing`` (measuring), ``display`` (random values, source, sizes and rates), ``images``,
  ``files`` (writing all or nothing).
* **Recipes** (safe by default) — ``symmetric`` (01), ``hashing`` (02), ``pubkey`` and ``pki``
  (03), ``container``, ``kms``, ``release`` and ``datasets`` (04), ``models`` (05),
  ``training`` and ``digits`` (the task of 04–08).
* **Toys** (INSECURE — for learning) — ``toy.aes``, ``toy.modes``, ``toy.otp``, ``toy.sha256``,
  ``toy.rsa``, ``toy.paillier``.
* **MPC** (07–08) — ``mpc``: bottom up, ``errors``, ``bits``, ``fixed_point``, ``prg``,
  ``sharing``, ``channel``; ``comm`` (the communicator), ``dealer``, ``opening``,
  ``authentication``, ``compare``, ``tensor`` (``SecretTensor``); ``runtime`` (``Context``,
  running parties); ``programs``, ``attacks``, ``baseline``; ``party`` (the command line).
* **Attacks** (09) — ``attacks``: gradient inversion, membership inference, model extraction.
* **Federated learning** (10) — ``shamir`` (t-of-n sharing over a prime field), ``secagg``
  (secure aggregation), ``privacy`` (DP-SGD, accounting, distributed noise), ``federated`` (FedAvg).
* **Homomorphic encryption** (11) — ``he`` (CKKS through TenSEAL: parameters, precision, encrypted
  inference); the from-scratch Paillier is a toy, ``toy.paillier``.
* **Teaching**, on top of everything else — ``widgets`` (one module per part), ``diagrams``
  (protocol pictures), ``quiz``, ``check`` (exercise checks, one module per chapter).
"""
from importlib import import_module

from .display import show_random, show_source
from .environment import environment_report, seed_all, asset_path
from .timing import Timing, measure, throughput

__version__ = "0.1.0"

# Submodules that pull in heavier dependencies (ipywidgets, torch, ...) load on first use.
_LAZY_SUBMODULES = {"attacks", "check", "widgets", "toy", "symmetric", "images", "errors", "hashing",
                    "digits", "pubkey", "pki", "release", "kms", "container",
                    "datasets", "models", "training", "mpc", "quiz", "diagrams",
                    "shamir", "secagg", "privacy", "federated", "he"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


__all__ = [
    "show_random", "show_source", "environment_report", "seed_all", "asset_path",
    "Timing", "measure", "throughput", "display", "environment", "timing", *sorted(_LAZY_SUBMODULES),
]

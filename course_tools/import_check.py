"""The doctor's import check, run in a fresh process: ``python -m course_tools.import_check NAME ...``.

Imports each named distribution's module and, for the chapter-specific packages, does the least
their chapter needs (tenseal: a CKKS encryption and decryption; opacus: a privacy engine; flwr:
Flower's SecAgg+ workflow and client mod), so that
a broken native library fails before the day, not in the middle of a lab. Prints one JSON object,
``{name: "ErrorType: message"}`` for each that failed (``{}`` when all work).
"""
from __future__ import annotations

import importlib
import json
import os
import sys

# Flower offline and quiet (the names as flwr 1.42.0 reads them: flwr/supercore/telemetry.py,
# flwr/supercore/update_check.py, flwr/common/constant.py)
FLOWER_OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
                  "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}

MODULE_OF = {"pycryptodome": "Crypto", "scikit-learn": "sklearn", "protobuf": "google.protobuf",
             "grpcio": "grpc"}                                       # else the name, with _ for -


def _tenseal() -> None:
    import tenseal as ts
    context = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    context.global_scale = 2 ** 40
    if abs(ts.ckks_vector(context, [1.5]).decrypt()[0] - 1.5) > 1e-3:
        raise ArithmeticError("a CKKS encryption of 1.5 did not decrypt to 1.5")


def _opacus() -> None:
    from opacus import PrivacyEngine
    PrivacyEngine()


def _flwr() -> None:
    for name, value in FLOWER_OFFLINE.items():
        os.environ.setdefault(name, value)
    from flwr.client.mod import secaggplus_mod
    from flwr.server.workflow import SecAggPlusWorkflow
    SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    if not callable(secaggplus_mod):
        raise TypeError("flwr.client.mod.secaggplus_mod is not a client mod")


SMOKE_TESTS = {"tenseal": _tenseal, "opacus": _opacus, "flwr": _flwr}


def failures(names) -> dict[str, str]:
    failed = {}
    for name in names:
        try:
            importlib.import_module(MODULE_OF.get(name, name.replace("-", "_")))
            if name in SMOKE_TESTS:
                SMOKE_TESTS[name]()
        except BaseException as error:  # noqa: BLE001 - a broken package may raise anything, even SystemExit
            failed[name] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return failed


if __name__ == "__main__":
    print(json.dumps(failures(sys.argv[1:])))

"""Benchmarks: ``python -m course_lib.bench [NAME ...]`` prints one JSON object per line.

Speed is measured here, never in timed unit tests. Each entry reports ratios against a
baseline measured in the same run, so figures from different machines stay comparable.
Run ``python -m course_lib.bench --list`` for the names.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from .timing import throughput

BENCHMARKS = {}


def benchmark(fn):
    """Register ``fn() -> dict`` under its name (without the ``bench_`` prefix)."""
    BENCHMARKS[fn.__name__.removeprefix("bench_")] = fn
    return fn


@benchmark
def bench_primitives() -> dict:
    """MB/s of the primitives chapter 00 races, on 1 MiB, relative to SHA-256 in the same run."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    data = os.urandom(1 << 20)
    aes, chacha, nonce = AESGCM(AESGCM.generate_key(256)), ChaCha20Poly1305(ChaCha20Poly1305.generate_key()), os.urandom(12)
    figures = {
        "sha256_mb_s": throughput(lambda d: hashlib.sha256(d).digest(), data),
        "blake2b_mb_s": throughput(lambda d: hashlib.blake2b(d).digest(), data),
        "aes256gcm_mb_s": throughput(lambda d: aes.encrypt(nonce, d, None), data),
        "chacha20poly1305_mb_s": throughput(lambda d: chacha.encrypt(nonce, d, None), data),
    }
    figures = {k: round(v, 1) for k, v in figures.items()}
    figures["aes256gcm_vs_sha256"] = round(figures["aes256gcm_mb_s"] / figures["sha256_mb_s"], 2)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmark names")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in BENCHMARKS.items():
            print(f"{name}: {fn.__doc__.splitlines()[0]}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        print(json.dumps({"name": name, **BENCHMARKS[name]()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Environment check, seeding and asset paths (introduced in chapter 00)."""
from __future__ import annotations

import os
import platform
import random
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


__all__ = ["REPO_ROOT", "ASSETS", "CPU_FEATURES", "asset_path", "seed_all", "cpu_flags", "pinned_requirements",
           "EnvironmentReport", "environment_report"]

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT / "assets"

# CPU flags (from /proc/cpuinfo) that decide how fast AES and hashing run.
CPU_FEATURES = {
    "aes": "AES-NI: hardware AES rounds",
    "vaes": "vector AES: several blocks per instruction",
    "pclmulqdq": "carry-less multiply: fast GHASH for AES-GCM",
    "vpclmulqdq": "vector carry-less multiply",
    "avx2": "256-bit vectors: fast ChaCha20 and BLAKE2",
    "avx512f": "512-bit vectors",
    "sha_ni": "SHA extensions: hardware SHA-256",
}

# Distributions the course depends on, as the environment report lists them (learners' packages only:
# the test tools of requirements-dev.txt are not needed to follow the course).
_PACKAGES = ("torch", "cryptography", "pycryptodome", "numpy", "scikit-learn", "ipywidgets", "matplotlib",
             "jupyterlab")


def asset_path(name: str) -> Path:
    """Absolute path of a file shipped in ``assets/`` (works from any working directory)."""
    path = ASSETS / name
    if not path.exists():
        raise FileNotFoundError(f"no asset named {name!r} in {ASSETS.name}/")
    return path


def seed_all(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's simulation RNGs (chapter 00).

    Only *simulation* randomness is seeded (data splits, model init, example values).
    Keys and nonces come from ``os.urandom``/``secrets`` and are never affected.
    """
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules or _installed("torch"):
        import torch
        torch.manual_seed(seed)


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where they cannot be read (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def pinned_requirements(path: Path | None = None) -> dict[str, str]:
    """``{distribution: version}`` for every ``name==version`` line of requirements.txt."""
    path = path or REPO_ROOT / "requirements.txt"
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if m:
            pins[_canonical(m.group(1))] = m.group(2)
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class EnvironmentReport:
    python: str
    platform: str
    cores: int
    torch_threads: int | None
    openssl: str
    versions: dict[str, str]
    cpu: dict[str, bool] | None      # None: unknown (no /proc/cpuinfo)
    mismatches: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __repr__(self) -> str:
        lines = [f"Python {self.python} on {self.platform}; {self.cores} CPU cores; "
                 f"torch threads: {self.torch_threads}", f"OpenSSL (via cryptography): {self.openssl}"]
        lines += [f"  {name:<13} {version}" for name, version in self.versions.items()]
        lines.append("CPU features:" if self.cpu is not None else
                     "CPU features: unknown on this system (no /proc/cpuinfo) — not the same as absent")
        lines += [f"  [{'x' if present else ' '}] {flag:<11} {CPU_FEATURES[flag]}"
                  for flag, present in (self.cpu or {}).items()]
        if self.mismatches:
            lines.append("Differs from requirements.txt (run: pip install -r requirements.txt):")
            lines += [f"  {name}: installed {have}, pinned {want}"
                      for name, (have, want) in self.mismatches.items()]
        else:
            lines.append("All packages match requirements.txt.")
        return "\n".join(lines)


def environment_report() -> EnvironmentReport:
    """Versions, CPU features relevant to AES, and threads — the chapter 00 environment check."""
    versions, mismatches = {}, {}
    pins = pinned_requirements() if (REPO_ROOT / "requirements.txt").exists() else {}
    for dist in _PACKAGES:
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = "missing"
        versions[dist] = have
        want = pins.get(_canonical(dist))
        if want and have.split("+")[0] != want:
            mismatches[dist] = (have, want)
    torch_threads = None
    if versions.get("torch", "missing") != "missing":
        import torch
        torch_threads = torch.get_num_threads()
    from cryptography.hazmat.backends.openssl import backend
    flags = cpu_flags()
    return EnvironmentReport(
        python=platform.python_version(), platform=f"{platform.system()} {platform.machine()}",
        cores=os.cpu_count() or 1, torch_threads=torch_threads,
        openssl=backend.openssl_version_text(), versions=versions,
        cpu=None if flags is None else {flag: flag in flags for flag in CPU_FEATURES}, mismatches=mismatches)

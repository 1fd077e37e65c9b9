"""Helpers to read the standards' test vectors shipped in the cryptography_vectors package."""
from pathlib import Path

import cryptography_vectors

ROOT = Path(cryptography_vectors.__file__).parent


def nist_records(relative: str, section: str | None = None):
    """Records of a NIST CAVP / RFC style ``KEY = value`` file, optionally within ``[SECTION]``."""
    records, current, in_section = [], {}, section is None
    for line in (ROOT / relative).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            if current:
                records.append(current) if in_section else None
                current = {}
            in_section = section is None or line.strip("[]").upper() == section.upper()
            continue
        if line.startswith("#"):
            continue
        if not line:
            if current and in_section:
                records.append(current)
            current = {}
            continue
        if "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            current[k.upper()] = v
    if current and in_section:
        records.append(current)
    return [r for r in records if r]

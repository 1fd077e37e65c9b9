"""Display helpers used in every chapter (introduced in chapter 00).

``show_random`` prints values that differ on every run (keys, nonces, ciphertexts, shares)
in one fixed format, ``name = value  [N bytes, random each run]``, which the nbval sanitizer
in ``tests/nbval_sanitize.cfg`` replaces, so notebooks stay regression-testable while keys
and nonces stay truly random. Known-answer values are printed normally and stay compared.
"""
from __future__ import annotations

import html
import inspect


__all__ = ["RANDOM_MARK", "format_random", "show_random", "human_bytes", "format_rate", "SourceView", "show_source"]

RANDOM_MARK = "random each run"
_MAX_SHOWN_BYTES = 32


def format_random(name: str, value) -> str:
    """One line ``name = value  [description, random each run]`` (chapter 00)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        shown = raw[:_MAX_SHOWN_BYTES].hex() + ("…" if len(raw) > _MAX_SHOWN_BYTES else "")
        what = f"{len(raw)} bytes"
    elif isinstance(value, bool):
        raise TypeError("show_random is for random values; a bool is not one")
    elif isinstance(value, int):
        shown, what = str(value), "int"
    else:
        shown, what = str(value), type(value).__name__
    return f"{name} = {shown}  [{what}, {RANDOM_MARK}]"


def show_random(**values) -> None:
    """Print random values (keys, nonces, ciphertexts...) in the sanitizer-matched format.

    >>> show_random(nonce=bytes(12))
    nonce = 000000000000000000000000  [12 bytes, random each run]
    """
    for name, value in values.items():
        print(format_random(name, value))


def human_bytes(n: int) -> str:
    """A size for people: '64 KiB' when it is a whole number of KiB, MiB or GiB, else bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def format_rate(mb_per_s: float) -> str:
    """A throughput for people: '10,512 MB/s', '3.5 MB/s', or '38.2 KB/s' (never '0.0 MB/s')."""
    if mb_per_s >= 100:
        return f"{mb_per_s:,.0f} MB/s"
    if mb_per_s >= 1:
        return f"{mb_per_s:.1f} MB/s"
    return f"{mb_per_s * 1000:.1f} KB/s"


class SourceView:
    """Source code of a library object: highlighted HTML in Jupyter, plain text elsewhere."""

    def __init__(self, obj):
        self.name = getattr(obj, "__qualname__", repr(obj))
        self.module = getattr(inspect.getmodule(obj), "__name__", "?")
        self.code = inspect.getsource(obj)

    def __repr__(self) -> str:
        return f"# {self.module}.{self.name}\n{self.code}"

    def _repr_html_(self) -> str:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:  # pragma: no cover - pygments ships with IPython
            return f"<pre>{html.escape(repr(self))}</pre>"
        formatter = HtmlFormatter(noclasses=True, style="friendly")
        header = f"<div style='font-size:smaller;color:#555'>{html.escape(self.module)}.{html.escape(self.name)}</div>"
        return header + highlight(self.code, PythonLexer(), formatter)


def show_source(obj) -> SourceView:
    """Show the source of a course_lib function or class (chapter 00).

    Notebooks use this instead of copying library code, so no logic is written twice.
    """
    return SourceView(obj)

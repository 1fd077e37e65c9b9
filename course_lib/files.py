"""Writing files all or nothing (chapters 04–06, and the course's tools).

A file is written to a temporary file next to its destination, flushed to disk, then renamed
over the destination: a reader sees the old file or the new one, never half of one, and a
failure leaves nothing behind. ``mkstemp`` creates the temporary file readable and writable by
its owner only (mode 0600), and the final file keeps that mode: a decrypted file is never
readable by other users of the machine.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["AtomicFile", "write_atomic"]


class AtomicFile:
    """A temporary file next to ``path`` that replaces it on :meth:`commit`, or vanishes on :meth:`abort`.

    As a context manager it commits when the block succeeds and aborts when it raises.
    """

    def __init__(self, path):
        self.path = Path(path)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self.file

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing."""
    with AtomicFile(path) as f:
        f.write(data)

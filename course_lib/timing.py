"""One timing helper for widgets, notebooks and the benchmark command (chapter 00).

Built on ``timeit.Timer``: it picks a call count so one measurement lasts at least
``min_time`` seconds, repeats, and keeps the best (least disturbed) run.
"""
from __future__ import annotations

import timeit
from dataclasses import dataclass


__all__ = ["Timing", "format_seconds", "measure", "throughput", "seconds_for"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: ``best`` over ``repeat`` runs of ``number`` calls each."""
    best: float
    mean: float
    number: int
    repeat: int

    @property
    def per_second(self) -> float:
        return 1.0 / self.best

    def __repr__(self) -> str:
        return f"Timing(best={format_seconds(self.best)}, mean={format_seconds(self.mean)}, " \
               f"{self.repeat}×{self.number} calls)"


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def measure(fn, *args, repeat: int = 5, min_time: float = 0.02, max_number: int = 1_000_000) -> Timing:
    """Time ``fn(*args)``; returns seconds per call (best and mean over ``repeat`` runs)."""
    timer = timeit.Timer(lambda: fn(*args))
    number = 1
    while True:  # grow the call count until one run takes min_time
        elapsed = timer.timeit(number)
        if elapsed >= min_time or number >= max_number:
            break
        number = min(max_number, number * 10 if elapsed < min_time / 10 else number * 2)
    runs = [elapsed] + timer.repeat(repeat=repeat - 1, number=number) if repeat > 1 else [elapsed]
    per_call = [r / number for r in runs]
    return Timing(best=min(per_call), mean=sum(per_call) / len(per_call), number=number, repeat=len(runs))


def throughput(fn, data: bytes, **kwargs) -> float:
    """Megabytes (10^6 bytes) per second that ``fn(data)`` processes."""
    return len(data) / measure(fn, data, **kwargs).best / 1e6


def seconds_for(nbytes: int, mb_per_s: float) -> float:
    """Seconds to process ``nbytes`` at ``mb_per_s`` megabytes (10^6 bytes) per second."""
    return nbytes / (mb_per_s * 1e6)

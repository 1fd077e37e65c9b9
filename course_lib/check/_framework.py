"""The exercise-check mechanism behind ``cl.check.<exercise>(fn)`` (introduced in chapter 00).

An exercise checker is a function ``body(fn, t, rng)`` that calls the learner's ``fn`` on known
answers and random inputs and records each comparison through ``t`` (a :class:`Tally`). The
``exercise`` decorator turns it into ``check(fn) -> CheckResult``: a clear pass, a failure that
names the first failing input, or "not yet solved" when ``fn`` still raises the student stub's
``NotImplementedError``.

Hint policy: an unsolved exercise restates its task and gives no hint. Hints come only after a
wrong attempt, or on request with ``cl.check.<exercise>.hint()``, and they are graded: each one
asked for (or earned by a failure) narrows down further than the last.

Until an exercise is solved, ``fn = cl.check.<exercise>.or_reference(fn)`` hands the cells that
use ``fn`` the course library's own implementation instead, and says so: *Run All* goes on.

What a check shows in the learner's kernel decides no grade. The grader (``python -m
course_tools.grade``, see ``docs/grading.md``) runs each exercise cell in a fresh process of its
own and calls the check there, with a seed derived from the instructor's secret. For it, each
check carries ``check.exercise`` (its name), ``check.checker`` (the body) and
``check.reference`` (the function returning the library's implementation, or None).

Language: what a check shows (results, hints, the task) is English unless ``COURSE_LANG=zh``
(``course_lib.i18n``); statuses and ``check.task`` stay English for the grader.
"""
from __future__ import annotations

import functools
import html
import random

from ..i18n import tr, translate

REGISTRY: dict[str, "callable"] = {}


class Mismatch(AssertionError):
    """A learner's answer differed from the expected one."""


class ExerciseFailed(AssertionError):
    """An exercise check did not pass (raised by :meth:`CheckResult.raise_if_failed`)."""


class Tally:
    """Counts and performs the comparisons an exercise checker makes."""

    def __init__(self):
        self.known = 0
        self.random = 0

    @property
    def total(self) -> int:
        return self.known + self.random

    def _count(self, kind: str) -> None:
        if kind not in ("known", "random"):
            raise ValueError("kind must be 'known' or 'random'")
        setattr(self, kind, getattr(self, kind) + 1)

    def equal(self, got, expected, what: str, kind: str = "known") -> None:
        """Record one test: ``got`` must equal ``expected``; ``what`` describes the call."""
        if got != expected or type(got) is not type(expected) and not _same_kind(got, expected):
            raise Mismatch(tr("{what}\n    expected: {expected}\n    got:      {got}", what=translate(what),
                              expected=_short(expected), got=_short(got)) + _first_difference(got, expected))
        self._count(kind)

    def true(self, condition: bool, what: str, kind: str = "known") -> None:
        """Record one test: ``condition`` must hold; ``what`` says what was expected."""
        if not condition:
            raise Mismatch(translate(what))
        self._count(kind)


def _same_kind(a, b) -> bool:
    numbers = (int, float)
    binary = (bytes, bytearray)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, binary) and isinstance(b, binary))


def _short(value, limit: int = 120) -> str:
    """A short display: bytes as hex (with their length), everything else as repr."""
    if isinstance(value, (bytes, bytearray)):
        text = f"{bytes(value).hex()} ({len(value)} bytes)"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_difference(got, expected) -> str:
    """For two byte strings: where they first differ (or that one is a prefix of the other)."""
    if not (isinstance(got, (bytes, bytearray)) and isinstance(expected, (bytes, bytearray))):
        return ""
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return tr("\n    first difference at byte {i}: expected 0x{e}, got 0x{g}", i=i, e=f"{e:02x}", g=f"{g:02x}")
    return tr("\n    the first {n} bytes agree; the lengths differ", n=min(len(got), len(expected)))


class Hint(str):
    """A hint, shown as plain text in Jupyter."""

    def __repr__(self) -> str:
        return str(self)


class CheckResult:
    """Outcome of an exercise check; true when passed. Renders as a coloured box in Jupyter."""

    SYMBOLS = {"passed": "✓", "failed": "✗", "not yet solved": "…"}

    def __init__(self, exercise: str, status: str, detail: str, hint: str = ""):
        self.exercise, self.status, self.detail, self.hint = exercise, status, detail, hint

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def raise_if_failed(self) -> "CheckResult":
        if not self.passed:
            raise ExerciseFailed(repr(self))
        return self

    def __repr__(self) -> str:
        text = f"{self.SYMBOLS[self.status]} {self.exercise}: {self.detail}"
        if not self.passed and self.hint:
            text += "\n" + tr("Hint: {hint}", hint=self.hint)
        return text

    def _repr_html_(self) -> str:
        colour = {"passed": "#e6f4ea", "failed": "#fce8e6", "not yet solved": "#fef7e0"}[self.status]
        body = html.escape(repr(self)).replace("\n", "<br>")
        return f"<div style='background:{colour};padding:6px 10px;border-radius:4px;font-family:monospace'>{body}</div>"


def _caused_by_stub(error: BaseException) -> bool:
    """True if a NotImplementedError is somewhere in the chain (e.g. raised inside an MPC party)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, NotImplementedError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def exercise(hint, task: str = "", reference=None):
    """Decorator: turn ``body(fn, t, rng)`` into the exercise check ``check(fn, ..., seed=None)``.

    ``hint`` is one hint or a list of graded hints (a nudge first); ``task`` restates the exercise
    (inputs, outputs, types, the cell to reread) for a learner who has not solved it yet;
    ``reference`` (a function returning the library's implementation) is what
    ``check.or_reference`` falls back to.
    """
    hints = [hint] if isinstance(hint, str) else list(hint)

    def decorate(body):
        name = body.__name__
        given = {"count": 0}

        def next_hint() -> Hint:
            """The next, more specific hint (graded: each call narrows down)."""
            if not hints or not any(hints):
                return Hint(tr("no hint for this exercise: reread the cell above it"))
            level = min(given["count"], len(hints) - 1)
            given["count"] += 1
            return Hint(tr("hint {level} of {count}: {hint}", level=level + 1, count=len(hints),
                           hint=translate(hints[level])))

        def unsolved() -> str:
            return tr("not yet solved. {task}Replace the NotImplementedError stub with your code; "
                      "cl.check.{name}.hint() gives a hint if you are stuck.",
                      task=translate(task) + " " if task else "", name=name)

        def outcome(fns, seed) -> tuple[str, str]:
            """(status, detail) of one run of the checker on the learner's functions."""
            tally = Tally()
            try:  # an exercise with several functions (e.g. seal and open) receives them as a tuple
                body(fns[0] if len(fns) == 1 else fns, tally, random.Random(seed))
            except NotImplementedError:
                return "not yet solved", unsolved()
            except Mismatch as failure:
                return "failed", tr("test {n} failed: {failure}", n=tally.total + 1, failure=failure)
            except Exception as error:  # the learner's code crashed: say so, keep the notebook running
                if _caused_by_stub(error):
                    return "not yet solved", unsolved()
                return "failed", tr("test {n}: your code raised {kind}: {error}", n=tally.total + 1,
                                    kind=type(error).__name__, error=error)
            if tally.total == 0:
                raise RuntimeError(f"exercise check {name!r} made no comparison")
            parts = [tr(one if n == 1 else many, n=n) for n, one, many in
                     ((tally.known, "{n} known answer", "{n} known answers"),
                      (tally.random, "{n} random test", "{n} random tests")) if n]
            tests = parts[0] if len(parts) == 1 else tr("{first} and {second}", first=parts[0], second=parts[1])
            return "passed", tr("{tests} passed.", tests=tests)

        @functools.wraps(body)
        def check(*fns, seed: int | None = None) -> CheckResult:
            status, detail = outcome(fns, seed)
            return CheckResult(name, status, detail, next_hint() if status == "failed" else "")  # no hint before an attempt

        def or_reference(fn):
            """``fn`` if it passes the check; until then the library's implementation, saying so."""
            if reference is None:
                raise TypeError(f"exercise {name!r} has no reference implementation")
            status, _ = outcome((fn,), 0)
            if status == "passed":
                return fn
            library = reference()
            state = tr("not solved yet") if status == "not yet solved" else tr("not passing yet")
            print(tr("{name}: {state}, so the cells below use the course's own {function} instead.", name=name,
                     state=state, function=f"{library.__module__}.{library.__qualname__}"))
            return library

        check.hint = next_hint
        check.task = task
        check.or_reference = or_reference
        check.exercise, check.checker, check.reference = name, body, reference   # for the grader
        REGISTRY[name] = check
        return check

    return decorate

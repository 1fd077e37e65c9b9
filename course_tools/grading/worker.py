"""The grading worker: ``python -m course_tools.grading.worker`` (started by the grader).

The worker imports ``course_lib``, its checks and the chapters' imports once, before it sees any
learner's code, and records what they hold (functions, classes, constants). For every exercise it
forks fresh copies of that pristine state:

* the **child** runs the chapter's imports, then the learner's exercise cell — alone, with builtins
  that lack ``open``, ``exec``, ``eval``, ``setattr`` and the like, and an ``import`` that allows
  only the screen's modules (:mod:`course_tools.grading.screen`) — refuses an answer that is not a
  function of the cell or is or wraps the course's own answer or an object of
  ``course_lib.check``, and then only answers calls (:mod:`course_tools.grading.rpc`), while a
  profiler notes any call into the course's answers; at the end it says whether a library changed.
  For an MPC exercise (:data:`RANKS`) there is one child per rank, each party and the dealer in its
  own process, with its own folder and no pipe to the others;
* the **judge** calls the check, imported before any learner's code ran, with the per-student
  seed, on proxies of the learner's functions, and reports the outcome to the worker through a pipe
  no child holds. The children's answers reach it as plain data only.

The hidden seed reaches the worker only after it has forked the children (it asks the grader for
it), so no child's memory ever holds it; the children's and the judge's global generators are
seeded from seeds of their own (:func:`course_tools.grading.seeds.process_seed`).

All run in their own session and the exercise's temporary folder with limits on address space,
CPU time and file size (and Landlock where the kernel has it); the worker kills them at the time
limit (``failed: timed out``). None outlives its exercise, so nothing one learner's code changes
reaches the next.
"""
from __future__ import annotations

import builtins
import functools
import importlib
import json
import os
import pkgutil
import random
import re
import resource
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import types

from . import rpc
from .screen import BLOCKED_BUILTINS, module_refusal

__all__ = ["REGION", "RANKS", "SYNC_RANDOM", "GENERATORS", "main"]

REGION = "<exercise cell>"          # the file name the learner's code is compiled under
_CORE = ("builtins", "numpy", "torch", "torch.nn", "torch.nn.functional", "torch.serialization", "torch.utils.data",
         "hashlib", "hmac", "secrets", "random", "os", "math", "struct", "io", "operator", "functools", "json",
         "scipy.stats", "tenseal", "cryptography.hazmat.primitives.ciphers.aead",
         "cryptography.hazmat.primitives.asymmetric.x25519", "cryptography.hazmat.primitives.kdf.hkdf")
SECRET_FIELDS = ("seed", "judge_seed")    # what only the judge receives, after the children are forked
_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
_DETAIL = 2000
# MPC checks: how many ranks (computing parties and the dealer) their runs use at most. Each rank's calls
# are served by a child of its own, so that no party's code shares memory with another's.
RANKS = {"secure_max": 3, "secure_mean": 5}
SYNC_RANDOM = frozenset({"additive_share"})           # checks that read the `random` module's state after a call
GENERATORS = frozenset({"noisy_clipped_gradient"})    # checks that hand the learner's function a torch.Generator


_Refusal = rpc.Refusal


def _describe(obj) -> str:
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and name:
        return f"{module}.{name}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


def _entry(value, constant: bool):
    """What the record keeps of one attribute: the identity of a function, class or module; the
    text of a constant (an upper-case name of the library); nothing of other data."""
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, types.ModuleType,
                          property, classmethod, staticmethod, functools.partial)) or callable(value):
        return ("id", id(value))
    if constant:
        try:
            return ("value", repr(value)[:20000])
        except Exception:  # noqa: BLE001 - an odd constant is simply not recorded
            return None
    return None


class _Record:
    """The functions, classes and constants of ``course_lib`` and the core modules, to compare later."""

    def __init__(self):
        self.entries = self._take()

    @staticmethod
    def _take() -> dict:
        entries = {}
        names = [n for n in list(sys.modules) if n == "course_lib" or n.startswith("course_lib.")]
        names += [n for n in _CORE if n in sys.modules]
        for name in names:
            module = sys.modules[name]
            entries[("sys.modules", name)] = ("id", id(module))
            ours = name.startswith("course_lib")
            constants = ours and not name.startswith("course_lib.check")    # a check's own state may change
            for key, value in list(vars(module).items()):
                public_constant = constants and not key.startswith("_") and bool(_CONSTANT.fullmatch(key))
                kept = _entry(value, public_constant)                      # caches are private: _CACHE
                if kept is not None:
                    entries[(name, key)] = kept
                if isinstance(value, type) and (ours and value.__module__ == name or (name, key) in (
                        ("torch", "Tensor"), ("torch.nn", "Module"))):
                    for attribute, inner in list(vars(value).items()):
                        kept = _entry(inner, False)
                        if kept is not None:
                            entries[(name, f"{key}.{attribute}")] = kept
        return entries

    def changed(self) -> str | None:
        """The first recorded name that now holds something else (or is gone), or None."""
        now = self._take()
        for key, value in self.entries.items():
            if now.get(key) != value:
                return key[1] if key[0] == "sys.modules" else f"{key[0]}.{key[1]}"
        return None


class _Watch:
    """A profiler: notes the first call into a watched function made while the learner's code runs."""

    def __init__(self, codes: dict):
        self.codes, self.depth, self.hit = codes, {}, None

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_filename == REGION:
                ident = threading.get_ident()
                self.depth[ident] = self.depth.get(ident, 0) + 1
            elif self.hit is None and code in self.codes and self.depth.get(threading.get_ident()):
                self.hit = self.codes[code]
        elif event == "return" and frame.f_code.co_filename == REGION:
            ident = threading.get_ident()
            self.depth[ident] = self.depth.get(ident, 1) - 1

    def __enter__(self):
        threading.setprofile(self)
        sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        threading.setprofile(None)


def _codes_of(obj) -> list:
    """The code objects that run when ``obj`` is called (a function, method, partial or class)."""
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, functools.partial):
        return _codes_of(obj.func)
    if isinstance(obj, types.FunctionType):
        return [obj.__code__]
    if isinstance(obj, type):
        return [code for value in vars(obj).values()
                for code in _codes_of(value.__func__ if isinstance(value, (classmethod, staticmethod)) else value)]
    return []


def _global_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _own(obj) -> bool:
    """True if calling ``obj`` runs code of the exercise cell."""
    if isinstance(obj, functools.partial):
        return _own(obj.func)
    if isinstance(obj, types.MethodType):
        return _own(obj.__func__)
    if isinstance(obj, types.FunctionType):
        return obj.__code__.co_filename == REGION
    call = getattr(type(obj), "__call__", None)
    return isinstance(call, types.FunctionType) and call.__code__.co_filename == REGION


class Pristine:
    """The worker's state: everything imported and recorded before any learner's code runs."""

    def __init__(self, init: dict):
        import torch
        torch.set_num_threads(1)
        import course_lib
        import course_lib.check
        names = [m.name for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.", onerror=lambda name: None)]
        for name in names:                    # every module now: none is imported after a learner's code ran
            if name != "course_lib.mpc.party":
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - a module that cannot load here is not one a check uses
                    pass
        scratch = {}
        for line in init.get("imports", []):
            try:
                exec(line, scratch)        # the chapters' own imports (trusted: the instructor notebooks)
            except Exception:  # noqa: BLE001
                pass
        self.checks = dict(course_lib.check.REGISTRY)
        self.check_ids = {id(c) for c in self.checks.values()}
        check_codes = {}
        for check in self.checks.values():
            for code in (check.__code__, check.or_reference.__code__, check.checker.__code__):
                check_codes[code] = f"the check code of course_lib.check ({_describe(check)})"
        self.answers, self.watched = {}, {}
        for name, check in self.checks.items():
            found = {}
            for dotted in init.get("answers", {}).get(name, ()):
                obj = self._resolve(dotted)
                if obj is not None:
                    found[dotted] = obj
            if check.reference is not None:
                reference = check.reference()
                found.setdefault(_describe(reference), reference)
            self.answers[name] = {id(o.__func__ if isinstance(o, types.MethodType) else o): d for d, o in found.items()}
            self.watched[name] = {**check_codes, **{code: f"{d}, the course's own answer to this exercise"
                                                    for d, o in found.items() for code in _codes_of(o)}}
        _install_forwarders()
        self._warm(init.get("warm", []))
        self.builtins = {k: v for k, v in vars(builtins).items() if k not in BLOCKED_BUILTINS}
        self.builtins["__import__"] = self._guarded_import
        self.builtins["__build_class__"] = builtins.__build_class__
        self.readable = readable_paths()
        self.record = _Record()

    def _warm(self, solutions: list) -> None:
        """Run every check once on the instructor's solution, before recording: what the libraries load or
        rebind on first use (datasets, torch's optimiser machinery, SEAL contexts) is then already there, in
        every child, and is not mistaken for a learner's change."""
        for solution in solutions:
            check = self.checks.get(solution["exercise"])
            namespace = {"__name__": "__exercise__", "__builtins__": builtins}
            try:
                exec(solution["preamble"], namespace)
                exec(solution["source"], namespace)
                if check is not None:
                    check(*(namespace[name] for name in solution["functions"]), seed=0)
            except Exception:  # noqa: BLE001 - warming up is best effort
                pass

    @staticmethod
    def _resolve(dotted: str):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    obj = getattr(obj, attribute)
            except AttributeError:
                return None
            return obj
        return None

    @staticmethod
    def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        reason = "uses a relative import" if level else module_refusal(name, [n for n in fromlist or () if n != "*"])
        if reason:
            raise _Refusal(f"the exercise cell {reason}")
        return builtins.__import__(name, globals, locals, fromlist, level)

    # ---- one exercise, in the child
    def _judge_answer(self, exercise: str, name: str, obj) -> str | None:
        answers = self.answers.get(exercise, {})
        stack, seen = [obj], set()
        while stack:
            item = stack.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if id(item) in answers:
                return f"`{name}` is (or wraps) {answers[id(item)]}, the course's own answer to this exercise"
            module = (getattr(item, "__module__", None) if isinstance(item, (types.FunctionType, type,
                      types.BuiltinFunctionType)) else type(item).__module__) or ""
            if id(item) in self.check_ids or module.startswith("course_lib.check"):
                return f"`{name}` is (or wraps) {_describe(item)}, an object of course_lib.check (the grader's)"
            if isinstance(item, functools.partial):
                stack += [item.func, *item.args, *item.keywords.values()]
            elif isinstance(item, types.MethodType):
                stack += [item.__func__, item.__self__]
            elif isinstance(item, types.FunctionType):
                stack += [c.cell_contents for c in item.__closure__ or () if _filled(c)]
                stack += [*(item.__defaults__ or ()), *(item.__kwdefaults__ or {}).values()]
                if "__wrapped__" in item.__dict__:
                    stack.append(item.__dict__["__wrapped__"])
                if item.__code__.co_filename == REGION:
                    stack += [item.__globals__[n] for n in _global_names(item.__code__) if n in item.__globals__]
        if not _own(obj):
            return f"`{name}` is {_describe(obj)}, not a function defined in the exercise cell"
        return None

    @staticmethod
    def _seed(seed) -> int:
        """Seed this process's global generators: the child's from its own seed, the judge's from a seed of its
        own, never from the check's (a fresh random one when the job brings none)."""
        import numpy as np
        import torch
        seed = int(seed) if seed is not None else int.from_bytes(os.urandom(8), "big")
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        return seed

    # ---- one exercise: the child runs the learner's cell and serves its functions
    def child(self, job: dict, sock) -> None:
        """In the child: run the cell, then call its functions when the judge asks (never the check)."""
        exercise = job["exercise"]
        self._seed(job.get("child_seed"))
        channel = rpc.Child(sock, [], lambda: self._final(watch))
        with _Watch(self.watched.get(exercise, {})) as watch:
            status, detail = self._setup(job, channel)
            channel.send({"m": "setup", "id": 0, "status": status, "detail": detail})
            if status is None:
                channel.serve()

    def _setup(self, job: dict, channel) -> tuple:
        """Run the chapter's imports and the exercise cell; (None, "") when its functions are ready."""
        exercise = job["exercise"]
        namespace = {"__name__": "__exercise__", "__builtins__": builtins}
        try:
            exec(compile(job["preamble"], "<chapter imports>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - the instructor notebook's imports, not the learner's fault
            return "not run", f"the chapter's imports failed: {type(error).__name__}: {error}"
        namespace["__builtins__"] = self.builtins
        try:
            code = compile(job["source"], REGION, "exec")
        except SyntaxError as error:
            return "failed", f"the exercise cell does not parse: {error.msg} (line {error.lineno})"
        try:
            exec(code, namespace)
            for name in job["functions"]:
                if name not in namespace:
                    return "failed", f"the exercise cell defines no {name}"
                reason = self._judge_answer(exercise, name, namespace[name])
                if reason:
                    return "refused", reason
                channel.functions.append(namespace[name])
        except _Refusal as refusal:
            return "refused", str(refusal)
        except NotImplementedError:
            return "not yet solved", "the exercise cell still raises NotImplementedError"
        except MemoryError:
            return "failed", "out of memory: the exercise ran over the grader's memory limit"
        except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: the learner's doing
            return "failed", f"the exercise cell raised {type(error).__name__}: {error}"[:_DETAIL]
        return None, ""

    def _final(self, watch) -> str | None:
        """What the child saw while the check ran: a call into the course's answers, a library changed."""
        if watch.hit:
            return f"while the check ran it, the exercise cell's code called {watch.hit}"
        changed = self.record.changed()
        if changed:
            return f"{changed} changed while the exercise ran: a solution may not change a library"
        return None

    # ---- one exercise: the judge runs the check, calling the child's functions through the pipe
    def judge(self, job: dict, socks, secret: dict) -> dict:
        """In the judge: the check on proxies of the learner's functions (one child per MPC rank), with the hidden
        seed; the judge's own generators are seeded independently. Returns {"status", "detail"}."""
        exercise = job["exercise"]
        seed = int(secret["seed"])
        own = self._seed(secret.get("judge_seed"))
        check = self.checks.get(exercise)
        if check is None:
            return _result("not run", f"the grader knows no check named {exercise}")
        channel = rpc.Judge(socks, seed=own ^ 0x5EED, sync_random=exercise in SYNC_RANDOM,
                            generators=exercise in GENERATORS)
        setup = channel.setup()
        status = setup.get("status")
        if status is not None:                    # the child can only claim a grade that is not a pass
            if status not in ("failed", "refused", "not yet solved", "not run"):
                return _result("failed", "the exercise's process claimed a grade of its own")
            return _result(status, str(setup.get("detail", "")))
        if channel.broken:
            return _result("failed", channel.broken)
        functions = [channel.function(i, name) for i, name in enumerate(job["functions"])]
        outcome = None
        try:
            result = check(*functions, seed=seed)
            outcome = _result(result.status, result.detail)
        except rpc.Stop:
            pass
        except MemoryError:
            outcome = _result("failed", "out of memory: the exercise ran over the grader's memory limit")
        except BaseException as error:  # noqa: BLE001 - SystemExit and the like, raised by the learner's code
            outcome = _result("failed", f"the exercise cell raised {type(error).__name__}: {error}")
        refusal = channel.finish()
        if channel.broken:
            return _result("failed", channel.broken)
        if channel.refused or refusal:
            return _result("refused", channel.refused or refusal)
        if channel.failure:
            return _result("failed", channel.failure)
        return outcome or _result("failed", "the grading of this exercise stopped")

    def run(self, job: dict, protocol_fd: int, secret=None) -> dict:
        """Fork the children (one per MPC rank, else one) and the judge for ``job``; wait for the judge's report
        (or the time limit). ``secret()`` returns the hidden seed (and the judge's seed): it is called only once
        the children exist, so that no child's memory ever held it."""
        timeout = float(job.get("timeout", 120))
        memory_mb = int(job.get("memory_mb", 2048))
        public = {k: v for k, v in job.items() if k not in SECRET_FIELDS}
        ranks = max(1, int(RANKS.get(job.get("exercise"), 1)))
        folders = [tempfile.mkdtemp(prefix="exercise-") for _ in range(ranks)]   # the judge shares the first
        pairs = [socket.socketpair() for _ in range(ranks)]
        started = time.monotonic()
        children = []
        for rank in range(ranks):
            child = os.fork()
            if child == 0:                                    # the learner's code runs here, and nothing else
                status = 0
                try:
                    for i, (judge_end, child_end) in enumerate(pairs):
                        judge_end.close()
                        if i != rank:
                            child_end.close()                 # no pipe to another rank's process
                    _isolate(protocol_fd, folders[rank], timeout, memory_mb, self.readable)
                    self.child(public, pairs[rank][1])
                except BaseException:  # noqa: BLE001
                    status = 70
                finally:
                    os._exit(status)
            children.append(child)
        for _, child_end in pairs:
            child_end.close()
        secret = dict(secret() if secret is not None else {k: job[k] for k in SECRET_FIELDS if k in job})
        reader, writer = os.pipe()                            # made after the children: they never hold this pipe
        judge = os.fork()
        if judge == 0:                                        # the check runs here, and no learner's code
            status = 0
            try:
                os.close(reader)
                _confine_judge(protocol_fd, folders[0], timeout, memory_mb, self.readable)
                report = json.dumps(self.judge(public, [judge_end for judge_end, _ in pairs], secret)).encode()
                while report:
                    report = report[os.write(writer, report):]
            except BaseException:  # noqa: BLE001
                status = 70
            finally:
                os._exit(status)
        secret.clear()
        for judge_end, _ in pairs:
            judge_end.close()
        os.close(writer)
        data, timed_out = b"", False
        ending = None
        try:
            while True:
                left = started + timeout - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                if select.select([reader], [], [], left)[0]:
                    chunk = os.read(reader, 1 << 16)
                    if not chunk or len(data) > 1 << 20:
                        break
                    data += chunk
        finally:
            os.close(reader)
            for child in children:                            # how the first child that ended on its own ended
                done, child_status = os.waitpid(child, os.WNOHANG)
                if done and ending is None:
                    ending = child_status
            for pid in (*children, judge):
                try:
                    os.killpg(pid, signal.SIGKILL)           # each and anything it started
                except (ProcessLookupError, PermissionError):
                    pass
            for pid in (*children, judge):
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        seconds = round(time.monotonic() - started, 3)
        if timed_out:
            return {**_result("failed", f"timed out after {timeout:g} s (an endless loop, or far too slow)"),
                    "seconds": seconds}
        try:
            result = json.loads(data)
        except ValueError:
            return {**_result("failed", "the grader's judge ended without a report (out of memory?)"),
                    "seconds": seconds}
        if result.get("detail", "").startswith(rpc.ENDED) and ending is not None:
            result = _result("failed", f"{rpc.ENDED} ({_ending(ending)})")
        return {**result, "seconds": seconds}


def _ending(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        why = {signal.SIGXCPU: "the CPU-time limit", signal.SIGXFSZ: "the file-size limit",
               signal.SIGKILL: "the memory limit or the system"}.get(number, "a crash")
        return f"it was stopped by signal {number}, {why}"
    return "it exited early"


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _result(status: str, detail: str) -> dict:
    return {"status": status, "detail": detail if len(detail) <= _DETAIL else detail[:_DETAIL - 1] + "…"}


# Landlock (Linux ≥ 5.13, unprivileged): the child may write only in its scratch folder, read only
# Python, its libraries, course_lib and the system's files (not the key, the submissions or other
# children's folders), execute no program, and, where the kernel's Landlock ABI allows, open no TCP
# connection and signal no process outside itself.
_EXECUTE, _READ_FILE, _READ_DIR, _WRITE_FILE, _TRUNCATE = 1, 1 << 2, 1 << 3, 1 << 1, 1 << 14
_LANDLOCK_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1}  # + refer (ABI 2), truncate (ABI 3)
_SYSCALLS = {"create": 444, "add_rule": 445, "restrict": 446}


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 without Landlock."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(_SYSCALLS["create"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(version, 0)


def readable_paths() -> list[str]:
    """What a child may read: the interpreter and its packages, course_lib and its assets, the system."""
    import site
    from course_lib.environment import REPO_ROOT
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(),
             str(REPO_ROOT / "course_lib"), str(REPO_ROOT / "assets"), "/usr", "/lib", "/lib64", "/etc", "/sys",
             "/dev"}                  # of /proc, only the child's own entry (not the grader's command line)
    return sorted(p for p in paths if os.path.isdir(p))


def _landlock(folder: str, readable: list[str]) -> int:
    """Confine the calling process (see above); returns the Landlock ABI used, 0 if there is none."""
    import ctypes
    abi = landlock_abi()
    if abi < 1:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    handled = _LANDLOCK_FS[min(abi, 3)]
    fields = [handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0]     # TCP bind/connect; signals, abstract sockets
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = (ctypes.c_uint64 * 3)(*fields)
    ruleset = libc.syscall(_SYSCALLS["create"], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0

    def allow(path: str, rights: int, directory: bool = True) -> bool:
        beneath = (ctypes.c_uint8 * 12)()
        ctypes.memmove(beneath, ctypes.byref(ctypes.c_uint64(rights)), 8)
        fd = os.open(path, os.O_PATH | (os.O_DIRECTORY if directory else 0))
        ctypes.memmove(ctypes.addressof(beneath) + 8, ctypes.byref(ctypes.c_int32(fd)), 4)
        done = libc.syscall(_SYSCALLS["add_rule"], ruleset, 1, ctypes.byref(beneath), ctypes.c_uint32(0)) == 0
        os.close(fd)
        return done

    ok = allow(folder, handled & ~_EXECUTE)
    for path in readable:
        ok = ok and allow(path, _READ_FILE | _READ_DIR)
    ok = ok and allow(os.path.realpath("/proc/self"), _READ_FILE | _READ_DIR)
    for path in ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat"):
        ok = ok and (not os.path.exists(path) or allow(path, _READ_FILE, directory=False))
    ok = ok and allow(os.devnull, _READ_FILE | _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0), directory=False)
    ok = ok and libc.prctl(38, 1, 0, 0, 0) == 0               # PR_SET_NO_NEW_PRIVS
    ok = ok and libc.syscall(_SYSCALLS["restrict"], ruleset, ctypes.c_uint32(0)) == 0
    os.close(ruleset)
    if not ok:
        raise OSError(ctypes.get_errno(), "Landlock refused the grader's rules")
    return abi


_CLONE_NEWNET, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x40000000, 0x08000000, 0x10000000


def _no_network() -> bool:
    """A network namespace of the child's own, with no interface up: no socket reaches another process —
    not another rank's child, not loopback (UDP included, which Landlock does not cover); and an IPC
    namespace of its own, so no SysV shared memory or message queue is shared either. As root
    directly; otherwise inside a new user namespace where the kernel allows one. False if neither."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for flags in (_CLONE_NEWNET | _CLONE_NEWIPC, _CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC):
        if libc.unshare(flags) == 0:
            return True
    return False


def _detach(protocol_fd: int, folder: str) -> None:
    """Own session, standard streams on /dev/null, no handle on the worker's protocol, cwd and
    temporary files in the scratch folder."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.close(protocol_fd)
    os.chdir(folder)
    tempfile.tempdir = folder
    os.environ["TMPDIR"] = folder


def _limit(timeout: float, memory_mb: int) -> None:
    """Address space (what is mapped now plus ``memory_mb``), CPU seconds and no core dumps."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    memory = size + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(timeout) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _isolate(protocol_fd: int, folder: str, timeout: float, memory_mb: int, readable: list[str]) -> None:
    """In the child: own session, no handle on the worker's pipes, no network, a scratch folder it
    alone may write to (with Landlock), and limits."""
    _detach(protocol_fd, folder)
    _no_network()
    _landlock(folder, readable)
    _limit(timeout, memory_mb)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**29, 2**29))


def _confine_judge(protocol_fd: int, folder: str, timeout: float, memory_mb: int, readable: list[str]) -> None:
    """In the judge: its own session, no handle on the worker's protocol, writes only to the scratch
    folder (Landlock; the check's files go there, for the child to read), not traceable (no ptrace,
    no /proc/<pid>/mem), and limits."""
    import ctypes
    _detach(protocol_fd, folder)
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)                    # PR_SET_DUMPABLE 0
    _landlock(folder, readable)
    _limit(timeout, memory_mb + 1024)


def _install_forwarders() -> None:
    """In every process of the worker: the library's class methods that take an MPC context forward to the
    judge when the child calls them with the judge's handles (and behave as before otherwise)."""
    try:
        from course_lib.mpc.tensor import SecretTensor
    except Exception:  # noqa: BLE001 - no MPC, nothing to forward
        return
    import inspect
    for module, cls, name in rpc.CLASS_CALLS:
        if cls != "SecretTensor" or not hasattr(SecretTensor, name):
            continue
        static = inspect.getattr_static(SecretTensor, name)
        original = getattr(SecretTensor, name)
        wrapped = rpc.forward_class_call(module, cls, name, original)
        setattr(SecretTensor, name, staticmethod(wrapped) if isinstance(static, (classmethod, staticmethod))
                else wrapped)


def main() -> int:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)                       # whatever a library prints goes to the log, not into the protocol
    protocol = os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")
    requests = sys.stdin
    pristine = Pristine(json.loads(requests.readline()))
    import gc
    gc.collect()
    gc.freeze()                         # children share these pages instead of copying them
    protocol.write(json.dumps({"ready": True, "landlock": landlock_abi()}) + "\n")
    def secret(job_id):
        def ask() -> dict:                      # the hidden seed comes only now that the children are forked
            protocol.write(json.dumps({"job": job_id, "secret?": True}) + "\n")
            return json.loads(requests.readline())
        return ask

    for line in requests:
        job = json.loads(line)
        protocol.write(json.dumps({"job": job.get("job"), **pristine.run(job, protocol_fd, secret(job.get("job")))})
                       + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

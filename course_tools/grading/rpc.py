"""The pipe between the check and the learner's code: the check never shares a process with it.

The worker forks, per exercise, a *child* that runs the learner's exercise cell and nothing else
(for an MPC exercise, one child per rank: each party and the dealer in a process of its own, so
that parties share no memory), and the *judge*, which runs the course's check and reports the
grade. The judge calls the learner's functions through proxies: every call sends its arguments to
the child (pickled: the child trusts the judge), the child calls the function and sends back the
result as **plain data** — None, bool, int, float, complex, str, bytes, lists, tuples, sets and
dicts of those, numpy arrays and scalars and torch tensors of numeric dtypes (dtype, shape and raw
bytes, size-checked), ``nn.Sequential`` models of a few parameter-free layers and ``nn.Linear`` (by
their weights) — or an exception (by the names of its classes and its message). Nothing the child
sends is unpickled, and no object of a type the child chose is built: a result of any other type
is ``failed`` ("returned a …, which cannot be graded").

What the check hands the learner's function that cannot be copied (a block cipher's
``encrypt_block``, a file opener, a label-only service, a dataset reader, an MPC context and its
secret tensors) stays in the judge: the child gets a *handle*, valid in that child only, and each
use of it is a request the judge serves with the real object — a call of a lent function, or one
of the names :data:`LENT` lists for its class (a secret tensor's operators, ``relu``, ``reveal``,
``shape``…; never its ``share`` or ``mac``). State the check reads after the call crosses back as
data, for the two checks that read it: the ``random`` module's state (``additive_share``), and the
state of the child's stand-in for a ``torch.Generator`` (``noisy_clipped_gradient``: seeded
independently of the check's generator, whose state never crosses); and, for a result that keeps
autograd's graph, its gradients on request (a vector–Jacobian product the child computes).

So the child can only choose its own answers: what it sends is decoded as data and judged by the
check, which runs where no learner's code runs.
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import math
import pickle
import random
import socket
import struct
import sys
import threading
import types

from course_lib.check._framework import _caused_by_stub

ENDED = "the exercise's process ended without a report"
__all__ = ["ENDED", "MAX_MESSAGE", "Judge", "Child", "CannotSend", "Stop", "send_frame", "recv_frame"]

MAX_MESSAGE = 64 << 20        # bytes of one message from the child: larger is a failure, never read
MAX_DEPTH = 64                # nesting of a result
MAX_DIMS = 32
MAX_THREADS = 64              # requests from the child the judge serves at once
_DETAIL = 500
_HEADER = struct.Struct(">Q")

# ------------------------------------------------------------------ framing


def send_frame(sock: socket.socket, data: bytes, lock: threading.Lock) -> None:
    with lock:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Garbage(Exception):
    """What the child sent is not a message of the protocol."""


def recv_frame(sock: socket.socket, limit: int | None = MAX_MESSAGE) -> bytes | None:
    """One message, or None at the end of the stream; ``Garbage`` for one over ``limit``."""
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if limit is not None and size > limit:
        raise Garbage(f"the exercise's process sent a message of {size} bytes; the grader reads at most {limit}")
    data = _read_exactly(sock, size)
    if data is None:
        return None
    return data


# ------------------------------------------------------------------ plain data (child → judge)


class CannotSend(TypeError):
    """A value that is not plain data: it cannot cross to the judge."""


_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
                 "complex64", "complex128")
_LAYERS = ("ReLU", "Tanh", "Sigmoid", "Identity", "Flatten", "GELU", "SiLU", "Softplus", "Dropout")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _describe(value) -> str:
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else f"a {kind.__qualname__}"


class Encoder:
    """Turns a child's value into JSON-ready plain data (``handle`` maps a judge object's proxy to its id,
    ``graph`` registers a tensor that keeps autograd's graph)."""

    def __init__(self, handle=None, graph=None):
        self.handle, self.graph = handle, graph

    def __call__(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise CannotSend(f"a result nested more than {MAX_DEPTH} levels deep cannot be graded")
        kind = type(value)
        if value is None or kind in (bool, str, int):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if kind is complex:
            return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
        if kind in (bytes, bytearray):
            return {"t": kind.__name__, "v": _b64(bytes(value))}
        if kind in (list, tuple, set, frozenset):
            return {"t": kind.__name__, "v": [self(item, depth + 1) for item in value]}
        if kind is dict:
            return {"t": "dict", "v": [[self(k, depth + 1), self(v, depth + 1)] for k, v in value.items()]}
        if self.handle is not None:
            ident = self.handle(value)
            if ident is not None:
                return {"t": "handle", "id": ident}
        numpy = sys.modules.get("numpy")
        if numpy is not None and kind is numpy.ndarray:
            if value.dtype.kind not in "biufc" or value.dtype.hasobject:
                raise CannotSend(f"returned a numpy array of dtype {value.dtype}, which cannot be graded")
            return {"t": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                    "v": _b64(numpy.ascontiguousarray(value).tobytes())}
        if numpy is not None and isinstance(value, numpy.generic) and kind.__module__ == "numpy":
            if value.dtype.kind not in "biufc":
                raise CannotSend(f"returned a numpy {value.dtype} scalar, which cannot be graded")
            return {"t": "npscalar", "dtype": value.dtype.str, "v": _b64(value.tobytes())}
        torch = sys.modules.get("torch")
        if torch is not None:
            if kind is torch.Tensor or kind is torch.nn.Parameter:
                return self._tensor(value, torch)
            if kind is torch.dtype:
                return {"t": "dtype", "v": str(value).removeprefix("torch.")}
            if kind is torch.Size:
                return {"t": "size", "v": [int(n) for n in value]}
            if isinstance(value, torch.nn.Module):
                return self._module(value, torch, depth)
        raise CannotSend(f"returned {_describe(value)}, which cannot be graded (the grader takes numbers, "
                         f"strings, bytes, lists, tuples, dicts, numpy arrays and torch tensors)")

    def _tensor(self, value, torch, parameter=False):
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise CannotSend("returned a sparse, quantised or non-CPU tensor, which cannot be graded")
        name = str(value.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise CannotSend(f"returned a tensor of dtype {name}, which cannot be graded")
        flat = value.detach().contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        encoded = {"t": "tensor", "dtype": name, "shape": list(value.shape), "v": _b64(raw)}
        if value.requires_grad and not parameter and self.graph is not None:
            ident = self.graph(value)
            if ident is not None:
                encoded["graph"] = ident
        return encoded

    def _module(self, module, torch, depth):
        nn = torch.nn
        kind = type(module)
        if kind is nn.Sequential:
            return {"t": "module", "kind": "Sequential", "training": module.training,
                    "children": [self._module(child, torch, depth + 1) for child in module]}
        if kind is nn.Linear:
            return {"t": "module", "kind": "Linear", "training": module.training,
                    "weight": self._tensor(module.weight, torch, True),
                    "bias": None if module.bias is None else self._tensor(module.bias, torch, True)}
        if kind.__module__.startswith("torch.nn") and kind.__name__ in _LAYERS and not list(module.children()):
            return {"t": "module", "kind": kind.__name__, "training": module.training}
        raise CannotSend(f"returned {_describe(module)}, which cannot be graded: the grader takes models built "
                         f"of nn.Sequential, nn.Linear and {', '.join(_LAYERS)} (as cl.training.mlp builds them)")


class Decoder:
    """Plain data back into values, in the judge; ``ValueError`` for anything malformed."""

    def __init__(self, handles: dict | None = None, graph=None):
        self.handles, self.graph = ({} if handles is None else handles), graph

    def __call__(self, data, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError("nested too deep")
        if data is None or type(data) in (bool, str, int, float):
            return data
        if type(data) is not dict or type(data.get("t")) is not str:
            raise ValueError("not a value of the protocol")
        kind, v = data["t"], data.get("v")
        if kind == "float":
            if v not in ("nan", "inf", "-inf"):
                raise ValueError("bad float")
            return float(v)
        if kind == "complex":
            return complex(float(v[0]), float(v[1]))
        if kind in ("bytes", "bytearray"):
            raw = base64.b64decode(v, validate=True)
            return raw if kind == "bytes" else bytearray(raw)
        if kind in ("list", "tuple", "set", "frozenset"):
            if type(v) is not list:
                raise ValueError("bad sequence")
            items = [self(item, depth + 1) for item in v]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
        if kind == "dict":
            if type(v) is not list or not all(type(p) is list and len(p) == 2 for p in v):
                raise ValueError("bad dict")
            return {self(k, depth + 1): self(item, depth + 1) for k, item in v}
        if kind == "handle":
            ident = data.get("id")
            if type(ident) is not int or ident not in self.handles:
                raise ValueError("an unknown handle")
            return self.handles[ident]
        if kind == "ndarray" or kind == "npscalar":
            import numpy
            dtype = numpy.dtype(str(data["dtype"]))
            if dtype.kind not in "biufc" or dtype.hasobject:
                raise ValueError("a non-numeric dtype")
            raw = base64.b64decode(v, validate=True)
            shape = [] if kind == "npscalar" else _shape(data.get("shape"))
            if len(raw) != dtype.itemsize * math.prod(shape):
                raise ValueError("size does not match dtype and shape")
            array = numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()
            return array[()] if kind == "npscalar" else array
        if kind == "tensor":
            return self.tensor(data)
        if kind == "dtype":
            import torch
            if v not in _TORCH_DTYPES:
                raise ValueError("a dtype the grader does not know")
            return getattr(torch, v)
        if kind == "size":
            import torch
            return torch.Size(_shape(v))
        if kind == "module":
            return self.module(data, depth)
        raise ValueError(f"an unknown kind {kind[:40]!r}")

    def tensor(self, data):
        import torch
        name = data.get("dtype")
        if name not in _TORCH_DTYPES:
            raise ValueError("a dtype the grader does not know")
        dtype = getattr(torch, name)
        shape = _shape(data.get("shape"))
        raw = base64.b64decode(data.get("v"), validate=True)
        size = torch.empty((), dtype=dtype).element_size()
        if len(raw) != size * math.prod(shape):
            raise ValueError("size does not match dtype and shape")
        tensor = (torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape) if raw
                  else torch.empty(shape, dtype=dtype))
        if "graph" in data and self.graph is not None:
            return self.graph(data["graph"], tensor)
        return tensor

    def module(self, data, depth):
        import torch
        nn = torch.nn
        kind = data.get("kind")
        if kind == "Sequential":
            children = data.get("children")
            if type(children) is not list:
                raise ValueError("bad model")
            module = nn.Sequential(*(self.module(child, depth + 1) for child in children))
        elif kind == "Linear":
            weight = self.tensor(data.get("weight") or {})
            bias = data.get("bias")
            if weight.dim() != 2 or not weight.is_floating_point():
                raise ValueError("bad linear layer")
            module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
            with torch.no_grad():
                module.weight.copy_(weight)
                if bias is not None:
                    bias = self.tensor(bias)
                    if bias.shape != (weight.shape[0],):
                        raise ValueError("bad linear bias")
                    module.bias.copy_(bias)
        elif kind in _LAYERS:
            module = getattr(nn, kind)()
        else:
            raise ValueError("a layer the grader does not know")
        module.train(bool(data.get("training")))
        return module


def _shape(shape) -> list[int]:
    if type(shape) is not list or len(shape) > MAX_DIMS or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise ValueError("bad shape")
    if math.prod(shape) > MAX_MESSAGE:
        raise ValueError("too many elements")
    return shape


def encode_exception(error: BaseException, stub: bool) -> dict:
    classes = [[c.__module__, c.__qualname__] for c in type(error).__mro__ if issubclass(c, BaseException)]
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - an exception whose str fails still has a type
        message = ""
    return {"classes": classes[:40], "name": type(error).__name__, "message": message[:_DETAIL * 4], "stub": stub}


_REBUILT: dict = {}


def rebuild_exception(info) -> BaseException:
    """An exception in the judge like the child's: the nearest class the judge itself has loaded (by
    module and name), under the learner's class name, with the learner's message."""
    if type(info) is not dict:
        raise ValueError("bad exception")
    message = str(info.get("message", ""))[:_DETAIL * 4]
    name = str(info.get("name", "Exception"))[:100]
    found = Exception
    for entry in info.get("classes", [])[:40]:
        if type(entry) is not list or len(entry) != 2 or not all(type(p) is str for p in entry):
            raise ValueError("bad exception class")
        module, qualname = entry
        if module.startswith("course_lib.check") or module not in sys.modules:
            continue
        obj = sys.modules[module]
        for part in qualname.split("."):
            obj = vars(obj).get(part) if isinstance(obj, (types.ModuleType, type)) else None
        if isinstance(obj, type) and issubclass(obj, BaseException):
            found = obj
            break
    if not name.isidentifier():
        name = found.__name__
    key = (found, name)
    if key not in _REBUILT:
        try:
            _REBUILT[key] = type(name, (found,), {"__str__": lambda self: self.args[0] if self.args else "",
                                                 "__module__": "exercise", "__init__": BaseException.__init__})
        except TypeError:
            _REBUILT[key] = type(name, (Exception,), {"__module__": "exercise"})
    error = _REBUILT[key].__new__(_REBUILT[key])
    BaseException.__init__(error, message)
    if info.get("stub"):
        error.__cause__ = NotImplementedError("the exercise cell still raises NotImplementedError")
    return error


def _valid_random_state(state) -> tuple:
    if (type(state) is not list or len(state) != 3 or state[0] != 3 or type(state[1]) is not list
            or len(state[1]) != 625 or not all(type(n) is int and 0 <= n < 2**32 for n in state[1])
            or not (state[2] is None or type(state[2]) is float)):
        raise ValueError("bad random state")
    return (3, tuple(state[1]), state[2])


# ------------------------------------------------------------------ the judge's side


class Refusal(BaseException):
    """Raised inside the child when the learner's code does what the grader refuses (not an Exception:
    a check's ``except Exception`` must not turn it into an ordinary failure)."""


class Stop(BaseException):
    """Raised in the judge when the child's answer ends the grading (not an Exception: a check's
    ``except Exception`` must not turn it into an ordinary failure)."""


OPERATORS = frozenset({"__call__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__matmul__",
                       "__rmatmul__", "__truediv__", "__rtruediv__", "__neg__", "__pos__", "__abs__", "__lt__",
                       "__le__", "__gt__", "__ge__", "__getitem__", "__len__", "__enter__", "__exit__"})
_SECRET_TENSOR = frozenset({"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__matmul__",
                            "__neg__", "__lt__", "__gt__", "__le__", "__ge__", "__getitem__", "__len__",
                            "relu", "lt_zero", "reveal", "sum", "reshape", "t", "shape", "frac_bits"})
# objects of these classes stay in the judge; the child uses them through handles, and only through the
# names listed (methods, operators, attributes): never a share, a MAC, a PRG or the communicator
LENT = {
    "course_lib.check.ch09._LabelsOnly": frozenset({"__call__", "asked", "model"}),
    "course_lib.container.ContainerReader": frozenset({"read_chunk", "read_all", "chunk_size", "__enter__",
                                                      "__exit__"}),
    "course_lib.mpc.runtime.Context": frozenset({"rank", "parties", "is_dealer"}),
    "course_lib.mpc.tensor.SecretTensor": _SECRET_TENSOR,
    "course_lib.mpc.authenticated.AuthenticatedTensor": _SECRET_TENSOR,
}
HANDLE_CLASSES = frozenset(LENT)
# class methods the child may ask the judge to call when their arguments hold handles
CLASS_CALLS = {("course_lib.mpc.tensor", "SecretTensor", "from_owner"), ("course_lib.mpc.tensor", "SecretTensor", "cat")}
_CONTEXT = "course_lib.mpc.runtime.Context"


def _qualified(kind) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _handle_class(kind) -> bool:
    return _qualified(kind) in LENT


def _lent(obj) -> bool:
    """True for what the judge lends the child as a handle instead of copying."""
    kind = type(obj)
    if kind is types.FunctionType:
        return "<" in obj.__qualname__                        # a closure or lambda: no name to pickle it by
    return kind in (types.MethodType, functools.partial) or _handle_class(kind)


def _refuse_name(target, name: str) -> None:
    """Raise unless the judge lends ``name`` of ``target`` (its class's list; a lent function: only a call)."""
    allowed = LENT.get(_qualified(type(target)))
    if allowed is None:
        if name != "__call__":
            raise AttributeError(f"the grader lends this object for calling only, not {name!r}")
        return
    if name not in allowed:
        shown = ", ".join(sorted(n for n in allowed if not n.startswith("_")))
        raise AttributeError(f"the grader does not lend {name!r} of a {type(target).__name__} (it lends {shown} and "
                             f"its operators)")


def _rank_of(args, kwargs) -> int | None:
    """The rank of the MPC context among a call's arguments, or None."""
    for value in (*args, *kwargs.values()):
        if _qualified(type(value)) == _CONTEXT:
            return int(value.rank)
    return None


def _x25519(kind: str, raw: bytes):
    from cryptography.hazmat.primitives.asymmetric import x25519
    return (x25519.X25519PrivateKey.from_private_bytes(raw) if kind == "private"
            else x25519.X25519PublicKey.from_public_bytes(raw))


_CALL = threading.local()          # in the child, while a message is unpickled: its generators and leaves


def _child_generator(state: bytes):
    import torch
    generator = torch.Generator()
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    _CALL.generators.append(generator)
    return generator


def _child_leaf(tensor):
    tensor.requires_grad_(True)
    _CALL.leaves.append(tensor)
    return tensor


def _remote(ident: int):
    return Remote(ident)


class _Pickler(pickle.Pickler):
    def __init__(self, file, judge, link, call):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.judge, self.link, self.call = judge, link, call

    def reducer_override(self, obj):
        torch = sys.modules.get("torch")
        if torch is not None and type(obj) is torch.Generator:
            self.call["generators"].append(obj)
            return _child_generator, (self.judge.shadow_state(obj),)
        if torch is not None and isinstance(obj, torch.Tensor) and obj.requires_grad:
            self.call["leaves"].append(obj)
            return _child_leaf, (obj.detach(),)
        if _lent(obj):
            return _remote, (self.link.lend(obj),)
        module = type(obj).__module__
        if module.startswith("cryptography.") and type(obj).__name__ in ("X25519PrivateKey", "X25519PublicKey"):
            from cryptography.hazmat.primitives import serialization as s
            if type(obj).__name__ == "X25519PrivateKey":
                return _x25519, ("private", obj.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption()))
            return _x25519, ("public", obj.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw))
        return NotImplemented


class _RemoteGrad:
    """Autograd across the pipe: the judge's tensor for a child's result that keeps the graph; its
    backward asks the child for the gradients with respect to the inputs it was given."""

    function = None

    @classmethod
    def apply(cls, judge, graph, value, leaves):
        import torch
        if cls.function is None:
            class Function(torch.autograd.Function):
                @staticmethod
                def forward(ctx, value, *inputs):
                    ctx.judge, ctx.graph, ctx.inputs = Function.current
                    return value.clone()

                @staticmethod
                def backward(ctx, grad):
                    return (None, *ctx.judge.vjp(ctx.graph, grad, ctx.inputs))
            cls.function = Function
        cls.function.current = (judge, graph, leaves)
        return cls.function.apply(value, *leaves)


class _Link:
    """The judge's end of one child's pipe: its socket, the handles lent to that child (a handle is valid
    only in the child it was lent to), its first message and whether it said its last word."""

    def __init__(self, index: int, sock: socket.socket):
        self.index, self.sock, self.lock = index, sock, threading.Lock()
        self.handles, self.handle_ids = {}, itertools.count(1)
        self.decode = Decoder(self.handles)
        self.setup = [threading.Event(), None]              # the child's first message: how its cell ran
        self.done = False

    def lend(self, obj) -> int:
        ident = next(self.handle_ids)
        self.handles[ident] = obj
        return ident


class Judge:
    """The judge's end of the pipes: proxies for the learner's functions, and the requests it serves.

    ``socks`` holds one socket per child. A call whose arguments hold an MPC context goes to the child of
    that context's rank (each party, and the dealer, in a process of its own); any other call to child 0.
    ``seed`` (independent of the check's) seeds what the judge itself draws for the child: the state of a
    generator the check hands over. ``sync_random``: the ``random`` module's state crosses between the
    processes (``additive_share``); ``generators``: the check may hand a ``torch.Generator``
    (``noisy_clipped_gradient``) — the child gets a stand-in of its own, seeded from ``seed``, that runs on
    from call to call, never the state of the check's generator.
    """

    def __init__(self, socks, *, seed: int | None = None, sync_random: bool = False, generators: bool = False):
        if isinstance(socks, socket.socket):
            socks = [socks]
        self.links = [_Link(i, s) for i, s in enumerate(socks)]
        self.ids = itertools.count(1)
        self.pending = {}
        self.broken = self.refused = self.failure = None
        self.sync_random, self.generators = sync_random, generators
        self.random_state = random.getstate() if sync_random else None   # what the child's `random` is taken to be
        self._draws = random.Random(seed)
        self.shadows = {}                                   # id(check's generator) -> (generator, child's state)
        for link in self.links:
            threading.Thread(target=self._read, args=(link,), daemon=True).start()

    # -- what the judge sends
    def shadow_state(self, generator) -> bytes:
        """The state the child's stand-in for ``generator`` has now (new ones seeded from the judge's seed)."""
        if not self.generators:
            raise TypeError("the grader hands no torch.Generator to this exercise")
        if id(generator) not in self.shadows:
            import torch
            fresh = torch.Generator().manual_seed(self._draws.randrange(2**63))
            self.shadows[id(generator)] = (generator, fresh.get_state().numpy().tobytes())
        return self.shadows[id(generator)][1]

    def _send(self, link, message, call=None) -> None:
        import io
        buffer = io.BytesIO()
        _Pickler(buffer, self, link, call if call is not None else {"generators": [], "leaves": []}).dump(message)
        send_frame(link.sock, buffer.getvalue(), link.lock)

    def _request(self, link, build, call=None) -> dict:
        ident = next(self.ids)
        slot = self.pending[ident] = [threading.Event(), None, link]
        self._send(link, build(ident), call)
        while not slot[0].wait(1.0):
            if self.broken:
                break
        self.pending.pop(ident, None)
        if slot[1] is None:
            raise Stop(self.broken or "the exercise's process did not answer")
        return slot[1]

    def setup(self) -> dict:
        """How the cell ran: {"m": "setup", "status": None or a status, "detail": ...}; a child that reports
        a status (failed, refused, …) decides for all."""
        replies = []
        for link in self.links:
            while not link.setup[0].wait(1.0):
                if self.broken:
                    break
            if link.setup[1] is None:
                return {"status": "failed", "detail": self.broken or "the exercise's process did not start"}
            replies.append(link.setup[1])
        return next((r for r in replies if r.get("status") is not None), replies[0])

    def function(self, index: int, name: str):
        judge = self

        def call(*args, **kwargs):
            return judge.call(index, args, kwargs)
        call.__name__ = call.__qualname__ = name
        return call

    def _route(self, args, kwargs):
        rank = _rank_of(args, kwargs)
        if rank is None:
            return self.links[0]
        if not 0 <= rank < len(self.links):
            self.failure = self.failure or (f"the grader runs each MPC party in a process of its own and has "
                                            f"{len(self.links)} for this exercise, none for rank {rank}")
            raise Stop(self.failure)
        return self.links[rank]

    def call(self, index, args, kwargs):
        link = self._route(args, kwargs)
        sent = None
        if self.sync_random:
            state = random.getstate()
            sent = state if state != self.random_state else None       # only what the check itself set
        call = {"generators": [], "leaves": []}
        reply = self._request(link, lambda ident: ("call", ident, index, args, kwargs, sent, self.sync_random), call)
        return self._result(link, reply, call)

    def _result(self, link, reply, call):
        kind = reply.get("m")
        try:
            if kind == "return":
                if self.sync_random:
                    if reply.get("random") is not None:
                        self.random_state = _valid_random_state(reply["random"])
                        random.setstate(self.random_state)
                    else:
                        self.random_state = random.getstate()
                self._generators(reply.get("generators") or [], call["generators"])
                decode = Decoder(link.handles, lambda graph, value: self._graph(link, graph, value, call["leaves"]))
                return decode(reply.get("value"))
            if kind == "raise":
                error = rebuild_exception(reply.get("error"))
            elif kind == "refused":
                self.refused = self.refused or str(reply.get("detail", ""))[:_DETAIL * 4]
                raise Stop(self.refused)
            elif kind == "unsendable":
                self.failure = self.failure or str(reply.get("detail", ""))[:_DETAIL * 4]
                raise Stop(self.failure)
            else:
                raise ValueError("not a reply of the protocol")
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError) as error:
            self.broken = self.broken or f"the exercise's process sent a malformed answer ({type(error).__name__})"
            raise Stop(self.broken) from None
        raise error

    def _generators(self, states, generators) -> None:
        """The child's stand-ins ran on: keep their new states for the next call (the check's own
        generators are left as they were)."""
        if type(states) is not list or len(states) != len(generators):
            raise ValueError("bad generator states")
        for generator, state in zip(generators, states):
            raw = base64.b64decode(state, validate=True)
            if id(generator) not in self.shadows or len(raw) != len(self.shadows[id(generator)][1]):
                raise ValueError("bad generator state")
            self.shadows[id(generator)] = (generator, raw)

    def _graph(self, link, graph, value, leaves):
        if type(graph) is not int or not leaves:
            return value
        return _RemoteGrad.apply(self, (link, graph), value, list(leaves))

    def vjp(self, graph, grad, inputs):
        link, number = graph
        reply = self._request(link, lambda ident: ("vjp", ident, number, grad.detach()))
        grads = self._result(link, reply, {"generators": [], "leaves": []})
        if type(grads) is not list or len(grads) != len(inputs):
            self.broken = self.broken or "the exercise's process sent malformed gradients"
            raise Stop(self.broken)
        for got, tensor in zip(grads, inputs):
            if got is not None and (not hasattr(got, "shape") or got.shape != tensor.shape):
                self.broken = self.broken or "the exercise's process sent gradients of the wrong shape"
                raise Stop(self.broken)
        return tuple(None if g is None else g.to(t.dtype) for g, t in zip(grads, inputs))

    def finish(self) -> str | None:
        """Ask every child what it saw while the check ran; returns the first refusal, or None."""
        refusal = None
        for link in self.links:
            if self.broken:
                return refusal
            try:
                reply = self._request(link, lambda ident: ("finish", ident))
            except Stop:
                return refusal
            if reply.get("m") == "final" and reply.get("refused"):
                refusal = refusal or str(reply["refused"])[:_DETAIL * 4]
        return refusal

    # -- what the judge receives
    def _read(self, link) -> None:
        while True:
            try:
                data = recv_frame(link.sock)
                if data is None:
                    if not link.done:
                        self._break(ENDED)
                    return
                message = json.loads(data)
                if type(message) is not dict or type(message.get("id")) is not int:
                    raise ValueError("not a message")
            except Garbage as error:
                self._break(str(error))
                return
            except (ValueError, RecursionError, UnicodeDecodeError, OSError):
                self._break("the exercise's process sent something that is not a message of the grader's protocol")
                return
            kind, ident = message.get("m"), message["id"]
            slot = self.pending.get(ident) if ident != 0 else None
            if kind in ("callback", "classcall"):
                if threading.active_count() > MAX_THREADS:
                    self._break("the exercise's process sent more requests at once than the grader serves")
                    return
                threading.Thread(target=self._serve, args=(link, message), daemon=True).start()
            elif kind == "setup" and ident == 0 and link.setup[1] is None:
                link.setup[1] = message
                link.setup[0].set()
            elif slot is not None and slot[2] is link and slot[1] is None:
                if kind == "final":
                    link.done = True                         # the end of this stream is expected now
                slot[1] = message
                slot[0].set()
            else:
                self._break("the exercise's process answered a question the grader did not ask")
                return

    def _break(self, reason: str) -> None:
        self.broken = self.broken or reason
        for slot in list(self.pending.values()):
            slot[0].set()
        for link in self.links:
            link.setup[0].set()

    def _serve(self, link, message) -> None:
        ident = message["id"]
        try:
            args = link.decode(message.get("args", {"t": "list", "v": []}))
            kwargs = link.decode(message.get("kwargs", {"t": "dict", "v": []}))
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise ValueError("bad arguments")
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError):
            self._break("the exercise's process sent a malformed request")
            return
        try:
            value = self._perform(link, message, args, kwargs)
            reply = ("reply", ident, value)
        except Exception as error:  # noqa: BLE001 - the judge's object raised: the learner's code sees it
            reply = ("raise", ident, error)
        try:
            self._send(link, reply)
        except Exception as error:  # noqa: BLE001 - a value or exception that cannot be pickled
            self._send(link, ("raise", ident, TypeError(f"the grader cannot hand this value to the exercise cell "
                                                        f"({type(error).__name__})")))

    def _perform(self, link, message, args, kwargs):
        name = message.get("name")
        if message["m"] == "classcall":
            key = (message.get("module"), message.get("cls"), name)
            if key not in CLASS_CALLS:
                raise AttributeError(f"the grader does not lend {key}")
            cls = getattr(sys.modules[key[0]], key[1])
            return getattr(cls, name)(*args, **kwargs)
        target = link.handles.get(message.get("target")) if type(message.get("target")) is int else None
        if target is None or type(name) is not str:
            raise AttributeError("no such object")
        _refuse_name(target, name)
        if message.get("op") == "getattr":
            return getattr(target, name)
        return getattr(target, name)(*args, **kwargs)


# ------------------------------------------------------------------ the child's side

CHILD: "Child | None" = None         # set in the child only


class Remote:
    """In the child: a handle on an object the judge keeps (a call, a public attribute or an operator is a
    request to the judge)."""

    __slots__ = ("_remote_id",)

    def __init__(self, ident: int):
        object.__setattr__(self, "_remote_id", ident)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return CHILD.request({"m": "callback", "op": "getattr", "target": self._remote_id, "name": name}, (), {})

    def __setattr__(self, name, value):
        raise AttributeError("an object the grader lends cannot be changed")

    def __repr__(self):
        return "<an object of the grader's>"

    def __reduce__(self):
        raise TypeError("an object the grader lends cannot be copied")


def _operator(name):
    def method(self, *args, **kwargs):
        return CHILD.request({"m": "callback", "op": "method", "target": self._remote_id, "name": name}, args, kwargs)
    method.__name__ = name
    return method


for _name in OPERATORS - {"__enter__", "__exit__"}:
    setattr(Remote, _name, _operator(_name))
Remote.__enter__ = lambda self: self
Remote.__exit__ = lambda self, *exc: None


def forward_class_call(module: str, cls: str, name: str, original):
    """Wrap a library class method so that, in the child, a call holding a handle goes to the judge."""

    def call(*args, **kwargs):
        if CHILD is not None and any(isinstance(a, Remote) for a in (*args, *kwargs.values(), *_items(args))):
            return CHILD.request({"m": "classcall", "module": module, "cls": cls, "name": name}, args, kwargs)
        return original(*args, **kwargs)
    return functools.wraps(original)(call)


def _items(args):
    return [item for a in args if type(a) in (list, tuple) for item in a]


class Child:
    """The child's end: runs the learner's functions when the judge asks, and nothing else."""

    def __init__(self, sock: socket.socket, functions: list, final):
        global CHILD
        CHILD = self
        self.sock, self.lock, self.functions, self.final = sock, threading.Lock(), functions, final
        self.ids, self.pending, self.graphs = itertools.count(1), {}, {}
        self.graph_ids = itertools.count(1)

    def send(self, message: dict) -> None:
        send_frame(self.sock, json.dumps(message).encode(), self.lock)

    def request(self, message: dict, args, kwargs):
        ident = next(self.ids)
        slot = self.pending[ident] = [threading.Event(), None]
        encode = Encoder(self._handle)
        try:
            message = {**message, "id": ident, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        except CannotSend as error:
            raise TypeError(f"an object of the grader's cannot take this argument: {error}") from None
        self.send(message)
        slot[0].wait()
        kind, value = slot[1]
        if kind == "raise":
            raise value
        return value

    @staticmethod
    def _handle(value):
        return object.__getattribute__(value, "_remote_id") if isinstance(value, Remote) else None

    def serve(self) -> None:
        while True:
            data = recv_frame(self.sock, None)
            if data is None:
                return
            _CALL.generators, _CALL.leaves = [], []
            message = pickle.loads(data)
            generators, leaves = _CALL.generators, _CALL.leaves
            kind, ident = message[0], message[1]
            if kind in ("reply", "raise"):
                slot = self.pending.pop(ident)
                slot[1] = (kind, message[2])
                slot[0].set()
            elif kind == "call":
                threading.Thread(target=self._call, args=(message, generators, leaves), daemon=True).start()
            elif kind == "vjp":
                threading.Thread(target=self._vjp, args=message[1:], daemon=True).start()
            elif kind == "finish":
                self.send({"m": "final", "id": ident, "refused": self.final()})
                return

    def _call(self, message, generators, leaves) -> None:
        _, ident, index, args, kwargs, state, sync = message
        if state is not None:
            random.setstate(state)
        before = random.getstate() if sync else None          # reported back only where the check reads it
        try:
            value = self.functions[index](*args, **kwargs)
        except Refusal as refusal:
            self.send({"m": "refused", "id": ident, "detail": str(refusal)})
            return
        except BaseException as error:  # noqa: BLE001 - every exception of the learner's code is an answer
            self.send({"m": "raise", "id": ident, "error": encode_exception(error, _caused_by_stub(error))})
            return
        self._reply(ident, value, leaves, generators, before)

    def _reply(self, ident, value, leaves, generators, before=None) -> None:
        def graph(tensor):
            if not leaves:
                return None
            number = next(self.graph_ids)
            self.graphs[number] = (tensor, leaves)
            return number
        try:
            encoded = Encoder(self._handle, graph)(value)
        except CannotSend as error:
            self.send({"m": "unsendable", "id": ident, "detail": f"the exercise's function {error}"})
            return
        except RecursionError:
            self.send({"m": "unsendable", "id": ident, "detail": "the exercise's function returned a value "
                                                                 "nested too deep to be graded"})
            return
        except Exception as error:  # noqa: BLE001 - a value whose parts refuse to be read
            self.send({"m": "unsendable", "id": ident, "detail": f"the exercise's function returned a value the "
                                                                 f"grader cannot read ({type(error).__name__})"})
            return
        now = random.getstate()
        self.send({"m": "return", "id": ident, "value": encoded,
                   "random": [now[0], list(now[1]), now[2]] if before is not None and now != before else None,
                   "generators": [_b64(g.get_state().numpy().tobytes()) for g in generators]})

    def _vjp(self, ident, graph, grad) -> None:
        import torch
        try:
            tensor, leaves = self.graphs[graph]
            grads = torch.autograd.grad(tensor, leaves, grad, allow_unused=True, retain_graph=True)
            value = [None if g is None else g.detach() for g in grads]
        except BaseException as error:  # noqa: BLE001
            self.send({"m": "raise", "id": ident, "error": encode_exception(error, _caused_by_stub(error))})
            return
        self._reply(ident, value, [], [])

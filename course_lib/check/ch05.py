"""Exercise checks for chapter 05 (protecting models)."""
import math
import tempfile
from pathlib import Path

import torch

from ._framework import exercise


__all__ = ["canonical_fingerprint", "load_untrusted", "check_layout"]


class _Marker:
    """Unpickling this runs code: it creates the file named in ``path`` (benign)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@exercise(hint=['Sort first; then make sure that no two different dictionaries can feed the same bytes into the hash.',
                "The name, the dtype, the shape and the values all matter. A separator character is not enough — a name may contain it: make every field's extent unambiguous.",
                'numpy has no bfloat16: take a tensor\'s raw bytes through torch (a tensor can be viewed as uint8) rather than through .numpy() of the tensor itself.'],
          task='canonical_fingerprint(state_dict) -> str (hex SHA-256), independent of name order, different for any change of name, dtype, shape or value (reread section 3).')
def canonical_fingerprint(fn, t, rng):
    torch.manual_seed(rng.randrange(1000))
    state = {"b.weight": torch.randn(3, 4), "a.bias": torch.randn(4), "step": torch.tensor(3)}
    base = fn(state)
    t.true(isinstance(base, str), "return a hex string")
    t.equal(fn(dict(reversed(list(state.items())))), base, "the order of the names must not matter")
    t.equal(fn({k: v.clone() for k, v in state.items()}), base, "equal weights, equal fingerprint")
    for label, changed in (
            ("one weight changed by 1e-6", {**state, "b.weight": state["b.weight"] + torch.nn.functional.one_hot(
                torch.tensor(0), 4) * 1e-6}),
            ("a different dtype", {**state, "a.bias": state["a.bias"].double()}),
            ("a renamed tensor", {"c.weight" if k == "b.weight" else k: v for k, v in state.items()}),
            ("a reshaped tensor", {**state, "b.weight": state["b.weight"].reshape(4, 3)})):
        t.true(fn(changed) != base, f"{label} must change the fingerprint")
    data = torch.arange(4, dtype=torch.float32)
    for dtype_text in ("float32", "torch.float32"):
        t.true(fn({f"a|{dtype_text}|(0,)|b": data}) != fn({"a": torch.zeros(0), "b": data}),
               "an unambiguous encoding: one tensor whose name contains separators must not collide with two "
               "tensors (length-prefix or escape each field)")
    t.true(fn({"x": torch.zeros(2, dtype=torch.int32)}) != fn({"x": torch.zeros(1, dtype=torch.int64)}),
           "same bytes, different dtype and shape: the fingerprint must differ")
    t.true(fn({"x": torch.zeros(4, dtype=torch.float32)}) != fn({"x": torch.zeros(4, dtype=torch.int32)}),
           "same bytes and shape, different dtype: the fingerprint must differ")
    half = torch.tensor([1.0, -2.5, 3.0], dtype=torch.bfloat16)            # as in many LLM checkpoints
    t.true(fn({"x": half}) != fn({"x": half.view(torch.float16)}),
           "bfloat16 must work (numpy has no bfloat16), and differ from float16 with the same bits")


@exercise(hint=['torch.load has a safe mode; what should happen when it refuses?',
                'When the safe mode refuses a file, that refusal is the answer: the file must not be loaded at all, by any other route.'],
          task='load_untrusted(path) -> the tensors of a benign .pt file; a malicious one must raise without running anything (reread section 2).')
def load_untrusted(fn, t, rng):
    with tempfile.TemporaryDirectory() as tmp:
        benign, evil, marker = Path(tmp) / "ok.pt", Path(tmp) / "evil.pt", Path(tmp) / "code-ran"
        state = {"w": torch.arange(6.0).reshape(2, 3)}
        torch.save(state, benign)
        loaded = fn(benign)
        t.true(isinstance(loaded, dict) and torch.equal(loaded["w"], state["w"]), "a benign checkpoint must load")
        torch.save({"w": torch.zeros(1), "payload": _Marker(marker)}, evil)
        try:
            fn(evil)
        except Exception:
            pass
        else:
            t.true(False, "loading the malicious checkpoint must raise")
        t.true(not marker.exists(), "loading the malicious checkpoint ran its code")
        # random checkpoints under random names: two benign, two malicious, in a random order
        gen = torch.Generator().manual_seed(rng.randrange(2**31))
        kinds = ["benign", "benign", "malicious", "malicious"]
        rng.shuffle(kinds)
        for k, kind in enumerate(kinds):
            path = Path(tmp) / _random_name(rng)
            state = _random_state(rng, gen)
            if kind == "benign":
                torch.save(state, path)
                loaded = fn(path)
                t.true(_same_state(loaded, state), f"the benign checkpoint {path.name} (tensors "
                       f"{', '.join(sorted(state))}) must load as it was saved: the same names, dtypes and values",
                       kind="random")
                continue
            ran = Path(tmp) / f"code-ran-{k}"
            where = rng.choice(["beside the tensors", "inside a list", "as the whole file"])
            payload = (_Marker(ran) if where == "as the whole file" else
                       {**state, rng.choice(["optimizer", "extra", "meta"]): [1, _Marker(ran)]}
                       if where == "inside a list" else {**state, "payload": _Marker(ran)})
            torch.save(payload, path)
            try:
                fn(path)
            except Exception:
                pass
            else:
                t.true(False, f"loading the malicious checkpoint {path.name} (code {where}) must raise", kind="random")
            t.true(not ran.exists(), f"loading the malicious checkpoint {path.name} (code {where}) ran its code",
                   kind="random")


def _random_name(rng) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    stem = "".join(rng.choice(letters) for _ in range(rng.randrange(5, 13)))
    return f"{stem}{rng.choice(['.pt', '.pth', '.bin', '.ckpt'])}"


def _random_state(rng, gen) -> dict:
    """A checkpoint of 1 to 4 tensors of random names, shapes, dtypes and values."""
    state = {}
    for k in range(rng.randrange(1, 5)):
        shape = tuple(rng.randrange(1, 6) for _ in range(rng.randrange(1, 3)))
        dtype = rng.choice([torch.float32, torch.float64, torch.int64, torch.bfloat16])
        values = torch.randn(shape, generator=gen) * 10
        name = f"{rng.choice(['encoder', 'head', 'layer', 'fc'])}{k}.{rng.choice(['weight', 'bias', 'scale'])}"
        state[name] = values.round().to(dtype) if dtype is torch.int64 else values.to(dtype)
    return state


def _same_state(loaded, state) -> bool:
    return (isinstance(loaded, dict) and set(loaded) == set(state)
            and all(torch.is_tensor(loaded[k]) and loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
                    for k, v in state.items()))


_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _entry(dtype, shape, begin):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + math.prod(shape) * _SIZES[dtype]]}


def _random_layout(rng):
    """A valid header: tensors of random dtypes and shapes laid end to end, listed in random order."""
    header, position = {}, 0
    for k in range(rng.randrange(1, 6)):
        dtype = rng.choice(sorted(_SIZES))
        shape = [rng.randrange(0, 5) for _ in range(rng.randrange(0, 3))]
        header[f"layer{k}.weight"] = _entry(dtype, shape, position)
        position = header[f"layer{k}.weight"]["data_offsets"][1]
    items = list(header.items())
    rng.shuffle(items)
    return dict(items), position


_CRAFTED = {   # label: (header, body length) that a strict parser must refuse with ValueError
    "a gap between two tensors": ({"a": _entry("F32", [2], 0), "b": _entry("F32", [2], 12)}, 20),
    "overlapping tensors": ({"a": _entry("F32", [2], 0), "b": _entry("F32", [2], 4)}, 12),
    "trailing bytes after the last tensor": ({"w": _entry("F32", [2, 3], 0)}, 32),
    "a body shorter than the tensors": ({"w": _entry("F32", [2, 3], 0)}, 16),
    "a byte range that does not match dtype and shape": ({"w": {"dtype": "F32", "shape": [2, 3],
                                                              "data_offsets": [0, 20]}}, 20),
    "an unknown dtype": ({"w": {"dtype": "F8", "shape": [4], "data_offsets": [0, 4]}}, 4),
    # a negative dimension balances an inverted range that walks the end back: tensor a would read past the body
    "inverted offsets with a negative dimension": ({"a": _entry("F32", [4], 0),
                                                    "w": {"dtype": "F32", "shape": [-2], "data_offsets": [16, 8]}}, 8),
    "a boolean used as a dimension": ({"w": {"dtype": "F32", "shape": [True, 3], "data_offsets": [0, 12]}}, 12),
    "offsets that are not integers": ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12.0]}}, 12),
    "three offsets": ({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4, 8]}}, 4),
    "a missing field": ({"w": {"dtype": "U8", "shape": [4]}}, 4),
    "an entry that is not an object": ({"w": ["U8", [4], [0, 4]]}, 4),
}


@exercise(hint=['Collect every tensor\'s byte range first, checking each entry on its own; then look at the ranges together.',
                'Sorted by where they begin, the ranges must tile the data exactly: each begins where the previous one '
                'ended, the first at 0, the last ending at body_length.',
                'Check every type before you use a value: JSON gives you booleans, floats, lists and missing keys, and '
                'each must become a ValueError — never a KeyError or TypeError, never acceptance.'],
          task="check_layout(header: dict, body_length: int) -> None: raise ValueError unless every entry has a "
               "known dtype, a shape of non-negative ints and [begin, end] offsets of the right size, and the ranges "
               "tile the body exactly (reread the crafted headers of section 3).")
def check_layout(fn, t, rng):
    known_good = [({}, 0), ({"w": _entry("F32", [2, 3], 0)}, 24),
                  ({"b": _entry("I64", [2], 0), "a": _entry("F16", [3], 16)}, 22),
                  ({"w": _entry("U8", [4], 0), "empty": _entry("F32", [0], 4)}, 4),
                  ({"mask": _entry("BOOL", [5], 6), "x": _entry("BF16", [3], 0)}, 11)]
    for header, length in known_good:
        try:
            fn(header, length)
        except ValueError as error:
            t.true(False, f"a valid layout was refused: {header} with {length} data bytes ({error})")
        t.true(True, "")
    for _ in range(30):
        header, length = _random_layout(rng)
        try:
            fn(header, length)
        except ValueError as error:
            t.true(False, f"a valid layout was refused: {header} with {length} data bytes ({error})", kind="random")
        t.true(True, "", kind="random")
    for label, (header, length) in _CRAFTED.items():
        try:
            fn(header, length)
        except ValueError:
            t.true(True, "")
        except Exception as error:  # noqa: BLE001 - a crash is not a refusal
            t.true(False, f"{label}: raise ValueError, not {type(error).__name__} ({header}, {length} data bytes)")
        else:
            t.true(False, f"{label} was accepted: {header} with {length} data bytes")

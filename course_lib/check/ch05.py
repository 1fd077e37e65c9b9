"""Exercise checks for chapter 05 (protecting models)."""
import tempfile
from pathlib import Path

from ._framework import exercise


class _Marker:
    """Unpickling this runs code: it creates the file named in ``path`` (benign)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@exercise(hint=['Sort first; then make sure that no two different dictionaries can feed the same bytes into the hash.',
                "The name, the dtype, the shape and the values all matter. A separator character is not enough — a name may contain it: make every field's extent unambiguous."],
          task='canonical_fingerprint(state_dict) -> str (hex SHA-256), independent of name order, different for any change of name, dtype, shape or value (reread section 3).')
def canonical_fingerprint(fn, t, rng):
    import torch
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


@exercise(hint=['torch.load has a safe mode; what should happen when it refuses?',
                'When the safe mode refuses a file, that refusal is the answer: the file must not be loaded at all, by any other route.'],
          task='load_untrusted(path) -> the tensors of a benign .pt file; a malicious one must raise without running anything (reread section 2).')
def load_untrusted(fn, t, rng):
    import torch
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

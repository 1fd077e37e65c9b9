"""CrypTen 0.4.1 on chapter 08's task, for ``python -m course_tools.bench mpc_inference --crypten PYTHON``.

Run by *another* interpreter, one that has CrypTen 0.4.1 installed (it does not import
course_lib): ``PYTHON crypten_baseline.py INPUTS.pt`` prints one JSON line. The inputs file holds
the MLP's weights and the test images and labels (written by the benchmark). CrypTen runs two
parties plus its TTP provider — a separate dealer, the model the course uses (its default TFP
provider makes the triples in party 0's process and gives no privacy against party 0) — one
torch thread each, gloo on loopback. Its communication log counts an all-reduce as sent *plus*
received; the figure is reported on that basis.
"""
import importlib
import json
import statistics
import sys
import time

import torch


__all__ = ["main"]


def _compatibility() -> None:
    """Two changes in torch ≥ 2.9 that CrypTen 0.4.1 predates (see the course's CrypTen notes)."""
    try:
        importlib.import_module("torch.onnx._internal.registration")
    except ImportError:
        sys.modules["torch.onnx._internal.registration"] = importlib.import_module(
            "torch.onnx._internal.torchscript_exporter.registration")


def main(path: str, batch: int = 100, passes: int = 3) -> dict:
    _compatibility()
    import crypten
    import crypten.communicator as comm
    inputs = torch.load(path, weights_only=True)
    crypten.cfg.mpc.provider = "TTP"
    crypten.cfg.communicator.verbose = True

    @crypten.mpc.run_multiprocess(world_size=2)
    def party():
        torch.set_num_threads(1)
        model = crypten.nn.Sequential(crypten.nn.Linear(64, 32), crypten.nn.ReLU(), crypten.nn.Linear(32, 10))
        for name, key in (("0", "1"), ("2", "2")):
            model._modules[name].set_parameter("weight", inputs[f"w{key}"])
            model._modules[name].set_parameter("bias", inputs[f"b{key}"])
        model.encrypt(src=0)                          # the model owner's weights
        images = inputs["images"]
        times, predictions, cost = [], [], None
        for repeat in range(passes + 1):              # the first pass warms up
            for start in range(0, len(images), batch):
                began = time.perf_counter()
                comm.get().reset_communication_stats()
                x = crypten.cryptensor(images[start:start + batch], src=1)     # the data owner's images
                logits = model(x).get_plain_text(dst=1)
                elapsed = time.perf_counter() - began
                if repeat:
                    if len(images[start:start + batch]) == batch:
                        times.append(elapsed)
                        cost = cost or comm.get().get_communication_stats()
                    if repeat == 1 and comm.get().get_rank() == 1:
                        predictions.append(logits.argmax(1))
        return {"ms_per_batch": 1e3 * statistics.median(times), "rounds": cost["rounds"], "bytes": cost["bytes"],
                "predictions": torch.cat(predictions).tolist() if predictions else None}   # plain data: see below

    results = (party() or [])[:2]                      # one value per rank, in rank order (then the TTP's)
    if len(results) != 2 or not all(isinstance(r, dict) for r in results):
        raise RuntimeError("a CrypTen party failed")
    owner = results[1]
    # (results cross process boundaries as plain lists: tensors would travel as shared memory that
    # vanishes with the child process)
    accuracy = (torch.tensor(owner["predictions"]) == inputs["labels"]).float().mean().item()
    return {"provider": "TTP", "ms_per_batch": round(max(r["ms_per_batch"] for r in results), 2),
            "rounds": owner["rounds"], "bytes_sent_plus_received_per_party": owner["bytes"],
            "accuracy_private": round(accuracy, 4)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))

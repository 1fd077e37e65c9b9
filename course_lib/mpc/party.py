"""Run one party of a secure computation on this machine: ``python -m course_lib.mpc.party``.

Every participant starts the same command with their own ``--rank``; rank 0 is the model owner,
rank 1 the data owner, and the last rank (world size − 1) the dealer. The master address is
the host and a free port of rank 0's machine, reachable by everyone::

    # machine A (model owner)      python -m course_lib.mpc.party --rank 0 --world-size 3 --master 10.0.0.5:29500
    # machine B (data owner)       python -m course_lib.mpc.party --rank 1 --world-size 3 --master 10.0.0.5:29500
    # machine C (dealer)           python -m course_lib.mpc.party --rank 2 --world-size 3 --master 10.0.0.5:29500

Programs: ``inference`` (private inference of the digits MLP: the model owner trains it
locally, the data owner holds the test images and prints the accuracy), and ``relu``, ``mul``,
``matmul`` (the cost of one operation on random data). Without ``--seed`` the parties agree on
fresh random seeds; with it, the run is reproducible (for teaching only). Set
``GLOO_SOCKET_IFNAME`` to the network interface to use if the machine has several.
"""
from __future__ import annotations

import argparse
import json
import sys

from .programs import DATA_OWNER, MODEL_OWNER, digits_task, model_layers, operation_cost, private_inference
from .runtime import run_party


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True, help="parties + 1 (the dealer)")
    parser.add_argument("--master", required=True, help="HOST:PORT of rank 0")
    parser.add_argument("--program", default="inference", choices=["inference", "relu", "mul", "matmul"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--size", type=int, default=100_000, help="elements (relu, mul) or matrix side (matmul)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    parties = args.world_size - 1
    if parties != 2:
        parser.error("these programs need exactly 2 parties plus the dealer (--world-size 3)")
    if not 0 <= args.rank < args.world_size:
        parser.error("rank must be in 0 .. world size - 1")
    role = {MODEL_OWNER: "model owner", DATA_OWNER: "data owner"}.get(args.rank, "dealer")
    if args.program == "inference":
        kwargs = {"batch": args.batch}
        model, _, _, test_x, test_y = digits_task()
        if args.rank == MODEL_OWNER:
            kwargs["layers"] = model_layers(model)
        elif args.rank == DATA_OWNER:
            kwargs["images"] = test_x.double()
        kwargs["n_samples"] = len(test_x)
        result, stats = run_party(args.rank, parties, args.master, private_inference, args.seed, args.timeout, **kwargs)
        report = {"role": role, "rounds": stats.rounds, "bytes_sent": stats.bytes_sent,
                  "ms_per_batch": round(result["ms_per_batch"], 2)}
        if args.rank == DATA_OWNER:
            report["accuracy_private"] = round((result["logits"].argmax(1) == test_y).float().mean().item(), 4)
    else:
        shape = (args.size, args.size) if args.program == "matmul" else (args.size,)
        result, stats = run_party(args.rank, parties, args.master, operation_cost, args.seed, args.timeout,
                                  operation=args.program, shape=shape)
        report = {"role": role, **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()}}
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

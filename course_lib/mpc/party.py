"""Run one party of a secure computation on this machine: ``python -m course_lib.mpc.party``.

Roles: rank 0 is the **model owner** (holds only its model file), rank 1 the **data owner**
(holds only its data file, and alone learns the predictions), rank 2 the **dealer** (holds
nothing). Every party has an identity key; everyone pins everyone's fingerprint, exchanged out
of band (read aloud, on paper, in a chat you trust). Then each runs one command::

    # once per party:  python -m course_lib.mpc.party new-identity --out me.pem    (prints a fingerprint)
    # once, for the example:  python -m course_lib.mpc.party prepare --out files/
    # once, the roster from the fingerprints read out ('NAME FINGERPRINT' lines in rank order):
    #                   python -m course_lib.mpc.party roster fingerprints.txt --out roster.json
    # model owner (A):  python -m course_lib.mpc.party run --rank 0 --master A:29500 --host A \\
    #                       --identity me.pem --roster roster.json --model files/digits-mlp.safetensors
    # data owner  (B):  python -m course_lib.mpc.party run --rank 1 --master A:29500 --host B \\
    #                       --identity me.pem --roster roster.json --data files/digits-test.safetensors
    # dealer      (C):  python -m course_lib.mpc.party run --rank 2 --master A:29500 --host C \\
    #                       --identity me.pem --roster roster.json

A room-wide lab: ``--program sum`` with ``--world-size N+1`` (N students and a dealer, the last
rank) and each student's own ``--value`` (or typed at the prompt); everyone learns the sum and
the mean, nothing else. The roster may name everyone: ``{"0": {"name": "Alice", "fingerprint":
…}, …}``. Rank 0 shows the lobby — who has joined, who is missing — and a second process that
claims a taken rank is refused at once. Claims are signed with the identity key: if a process that
is not on the roster claims a free rank in the rendezvous (anyone who reaches its port can), every
party stops with one line naming that rank (``RankClaimedError``) — the session is blocked, and
rank 0 must start a new one on a port only the parties reach. Rank 0 signs the session token and
any abort notice; one that is not signed by rank 0's pinned key stops a party with a one-line
``RendezvousTamperedError``, and no text from the rendezvous is ever printed.

``--master`` is the address and a free port of the model owner's machine (its rendezvous
listens on that address only); ``--host`` is the address of *this* machine that the others can
reach (gloo listens there only). Use addresses, not interface names: nothing depends on
whether the loopback interface is ``lo`` (Linux) or ``lo0`` (macOS). On a machine whose host
name resolves to 127.0.1.1 (common on Debian/Ubuntu), always give ``--host`` explicitly.
The roster file is JSON ``{"0": fingerprint, "1": …, "2": …}``; ``--peer RANK=FINGERPRINT``
works too. Public: the architecture 64-32-10, the batch size and the number of samples.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..digits import task
from ..errors import CourseCryptoError
from ..training import logits_accuracy
from .channel import Identity, Roster
from .programs import DATA_OWNER, MODEL_OWNER, classroom_sum, classroom_value, operation_cost, private_inference
from .runtime import run_party, split_address


__all__ = ["ROLES", "SIZES", "FIND_YOUR_ADDRESS", "own_address", "roster_from_lines", "prepare", "main"]

ROLES = {MODEL_OWNER: "model owner", DATA_OWNER: "data owner", 2: "dealer"}   # two-party programs
SIZES = (64, 32, 10)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.mpc.party", description=__doc__.splitlines()[0],
                                     epilog="See the module docstring or chapter 08 for a full example.")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new-identity", help="make this party's identity key and print its fingerprint")
    new.add_argument("--out", required=True, help="where to write the private key (PEM, mode 0600; never overwritten)")
    roster = commands.add_parser("roster", help="build the roster (roster.json) from the fingerprints the parties "
                                               "read out: one line each, in rank order, 'NAME FINGERPRINT'")
    roster.add_argument("fingerprints", help="a text file: one line per party in rank order (the dealer last for "
                                             "the room-wide sum), its name then its 64-hex-digit fingerprint; "
                                             "blank lines and lines starting with # are skipped")
    roster.add_argument("--out", required=True, help="the roster file to write (JSON)")
    prepare = commands.add_parser("prepare", help="write the example files: the model owner's model, the data owner's data")
    prepare.add_argument("--out", required=True, help="a directory")
    run = commands.add_parser("run", help="take part in the computation as one rank")
    run.add_argument("--rank", type=int, required=True,
                     help="two-party programs: 0 = model owner, 1 = data owner, 2 = dealer; sum: 0 … N−1 students, "
                          "N the dealer")
    run.add_argument("--world-size", type=int, default=3,
                     help="parties + the dealer: 3 for the two-party programs, N+1 for a sum of N students")
    run.add_argument("--master", required=True, help="HOST:PORT of the model owner's rendezvous (the same for everyone)")
    run.add_argument("--host", help="this machine's address the others reach (default: the master's host, right "
                                    "only on the master's own machine; every other party gives its own). Checked before the rank is "
                                    "claimed: an address this machine cannot listen on ends the command in one line")
    run.add_argument("--identity", required=True, help="this party's identity key (from new-identity)")
    run.add_argument("--roster", help="JSON file pinning every rank's fingerprint")
    run.add_argument("--peer", action="append", default=[], metavar="RANK=FINGERPRINT",
                     help="pin one rank's fingerprint (repeat for every rank, this one included)")
    run.add_argument("--model", help="model owner only: the model (safetensors, MLP 64-32-10)")
    run.add_argument("--data", help="data owner only: images and labels (safetensors)")
    run.add_argument("--program", default="inference", choices=["inference", "relu", "mul", "matmul", "sum"],
                     help="private inference (default), the cost of one operation on random data, or the "
                          "room-wide sum and mean of everyone's --value")
    run.add_argument("--value", help="sum only: your number, between −1,000,000,000 and 1,000,000,000 (asked at "
                                     "the prompt if not given; the dealer has none)")
    run.add_argument("--batch", type=int, default=100, help="batch size (public)")
    run.add_argument("--samples", type=int, default=450, help="number of samples the data owner holds (public)")
    run.add_argument("--size", type=int, default=100_000, help="elements (relu, mul) or matrix side (matmul)")
    run.add_argument("--authenticated", action="store_true",
                     help="SPDZ2k MACs (chapter 08): every value any party opens, the comparison's and ReLU's "
                          "included, is checked before any output is revealed; a party that changes one (its value: mod "
                          "2^64, or mod 2 for a bit) is caught except with probability at most 2^-57, and a change "
                          "above those bits changes no output. NOT covered: a cheating dealer, aborts (a cheater "
                          "can stop the run, and whether it aborts can depend on secret data), denial of service. All "
                          "three parties must give it; about twice the rounds and about ten times the bytes")
    run.add_argument("--insecure-seed", type=int, default=None,
                     help="derive all randomness from this PUBLIC number (reproducible, and readable by anyone)")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for any message")
    return parser


def roster_from_lines(text: str) -> Roster:
    """A named roster from 'NAME FINGERPRINT' lines in rank order (the party command's ``roster``).
    A fingerprint may be written in upper case or in groups (spaces, colons); each must be 64 hex
    digits, and no fingerprint or name may appear twice (a pasted line, or two laptops with one key)."""
    fingerprints, names, seen = {}, {}, {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        hex_digits, taken = "", 0                        # the fingerprint: the trailing words that are hex
        while taken < len(words) and len(hex_digits) < 64:
            word = words[-1 - taken].replace(":", "").lower()
            if not word or set(word) - set("0123456789abcdef"):
                break
            hex_digits, taken = word + hex_digits, taken + 1
        name = " ".join(words[:len(words) - taken]).strip()
        if len(hex_digits) != 64 or not name:
            raise ValueError(f"line {number}: {line[:60]!r} is not 'NAME FINGERPRINT' (a name, then the 64 hex "
                             f"digits that new-identity printed)")
        if hex_digits in seen:
            raise ValueError(f"line {number}: {name}'s fingerprint is also on line {seen[hex_digits]}: each party "
                             f"needs its own identity key (new-identity)")
        if name in names.values():
            raise ValueError(f"line {number}: the name {name!r} is taken: give each party its own name")
        rank = len(fingerprints)
        seen[hex_digits], fingerprints[rank], names[rank] = number, hex_digits, name
    if len(fingerprints) < 3:
        raise ValueError(f"a roster needs at least 3 parties (2 and the dealer); these lines name {len(fingerprints)}")
    return Roster(fingerprints, names)


def _write_roster(args) -> dict:
    roster = roster_from_lines(Path(args.fingerprints).read_text(encoding="utf-8"))
    out = Path(args.out)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(roster.to_json() + "\n", encoding="utf-8")
    partial.replace(out)                                 # a reader never sees half a roster
    world = len(roster.fingerprints)
    return {"roster": str(out), "world_size": world,
            "ranks": {str(rank): roster.label(rank, world - 1) for rank in sorted(roster.fingerprints)}}


def _roster(args) -> Roster:
    pins, names = {}, {}
    if args.roster:
        from_file = Roster.from_json(Path(args.roster).read_text())
        pins.update(from_file.fingerprints)
        names.update(from_file.names)
    for item in args.peer:
        rank, _, value = item.partition("=")
        pins[int(rank)] = value.strip().replace(" ", "").lower()
    if sorted(pins) != list(range(args.world_size)):
        raise ValueError(f"the roster must pin ranks 0..{args.world_size - 1}; it pins {sorted(pins)}")
    return Roster(pins, names)


def _load(path, names) -> dict[str, torch.Tensor]:
    tensors = load_file(path)
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    return tensors


def prepare(out) -> list[Path]:
    """The example files: the model owner's trained MLP and the data owner's test images and labels."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, _, _, test_x, test_y = task()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "digits-mlp.safetensors")
    save_file({"images": test_x.contiguous(), "labels": test_y.contiguous()}, out / "digits-test.safetensors")
    return [out / "digits-mlp.safetensors", out / "digits-test.safetensors"]


def _lobby_printer(rank: int):
    """Rank 0 shows who has joined and who is missing (on stderr; the result goes to stdout)."""
    def show(joined, missing):
        if rank == 0:
            waiting = f"; waiting for {', '.join(missing)}" if missing else "; everyone is here"
            print(f"lobby: {joined} joined{waiting}", file=sys.stderr, flush=True)
    return show


def _ask_value(attempts: int = 3) -> float:
    """The student's number, typed at the prompt: a number out of range is refused and asked again."""
    for attempt in range(1, attempts + 1):
        try:
            typed = input("your number (kept secret): ")
        except EOFError:
            raise ValueError("no number was typed: give one with --value") from None
        try:
            return classroom_value(typed)
        except ValueError as error:
            if attempt == attempts:                       # the last refusal ends the run, before a rank is claimed
                raise
            print(f"refused: {error}", file=sys.stderr, flush=True)


def _run_sum(args, common) -> dict:
    parties = args.world_size - 1
    if not 0 <= args.rank <= parties:
        raise ValueError(f"--rank must be 0 … {parties} for a world of {args.world_size} (rank {parties} is the dealer)")
    value = None
    if args.rank < parties:
        value = classroom_value(args.value) if args.value is not None else _ask_value()
    elif args.value is not None:
        raise ValueError("the dealer brings no --value")
    result, stats = run_party(args.rank, parties, args.master, classroom_sum, value=value,
                              on_lobby=_lobby_printer(args.rank), **common)
    role = "dealer" if args.rank == parties else f"party {args.rank}"
    return {"role": role, **(result or {}), "rounds": stats.rounds, "bytes_sent": stats.bytes_sent}


FIND_YOUR_ADDRESS = ("find this laptop's address with ipconfig (Windows), ipconfig getifaddr en0 (macOS) "
                     "or hostname -I (Linux)")


def own_address(host: str | None, master: str) -> str:
    """``--host`` (default: the master's host), checked before any rank is claimed: an address this
    machine can listen on. A mistyped or missing ``--host`` otherwise fails only after the rank is
    taken, with gloo's warnings. Binding a socket sends nothing."""
    try:
        master_host, _ = split_address(master)
    except ValueError as error:
        raise ValueError(f"--master: {error}") from None
    address = host if host is not None else master_host
    where = (f"--host {address}" if host is not None else
             f"without --host, this party listens on the master's host {address}, which")
    try:
        candidates = socket.getaddrinfo(address, 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"{where} is not an address this machine knows ({error}): {FIND_YOUR_ADDRESS}, "
                         f"and give it with --host") from None
    for family, kind, proto, _, sockaddr in candidates:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.bind(sockaddr)
            return address
        except OSError:
            continue
    raise ValueError(f"{where} is not an address of this machine: {FIND_YOUR_ADDRESS}, and give it with --host")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(args) -> dict:
    args.host = own_address(args.host, args.master)
    common = dict(host=args.host, on_wait=_say, identity=Identity.load(args.identity), roster=_roster(args),
                  insecure_seed=args.insecure_seed, timeout=args.timeout, authenticated=args.authenticated)
    if args.program == "sum":
        return _run_sum(args, common)
    if args.rank not in ROLES:
        raise ValueError("--rank is 0 (model owner), 1 (data owner) or 2 (dealer) for this program")
    if args.world_size != 3:
        raise ValueError("these programs need exactly 2 parties plus the dealer (--world-size 3)")
    own = {MODEL_OWNER: "model", DATA_OWNER: "data"}.get(args.rank)
    for flag in ("model", "data"):
        if getattr(args, flag) and flag != own:
            raise ValueError(f"--{flag} belongs to the {'model' if flag == 'model' else 'data'} owner, "
                             f"not the {ROLES[args.rank]}: each party holds only its own input")
    role = ROLES[args.rank]
    common["on_lobby"] = _lobby_printer(args.rank)
    if args.program != "inference":
        shape = (args.size, args.size) if args.program == "matmul" else (args.size,)
        result, _ = run_party(args.rank, 2, args.master, operation_cost, operation=args.program, shape=shape, **common)
        return {"role": role, **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()}}
    kwargs = {"sizes": SIZES, "batch": args.batch, "n_samples": args.samples}
    labels = None
    if args.rank == MODEL_OWNER:
        if not args.model:
            raise ValueError("the model owner needs --model")
        state = _load(args.model, ["0.weight", "0.bias", "2.weight", "2.bias"])
        kwargs["layers"] = [(state["0.weight"].double(), state["0.bias"].double()),
                            (state["2.weight"].double(), state["2.bias"].double())]
    elif args.rank == DATA_OWNER:
        if not args.data:
            raise ValueError("the data owner needs --data")
        data = _load(args.data, ["images", "labels"])
        kwargs["images"], labels = data["images"].double(), data["labels"]
        if len(labels) != args.samples:
            raise ValueError(f"--samples is {args.samples} but {args.data} holds {len(labels)}: agree on it first")
    result, stats = run_party(args.rank, 2, args.master, private_inference, **kwargs, **common)
    report = {"role": role, "rounds": stats.rounds, "bytes_sent": stats.bytes_sent,
              "ms_per_batch": round(result["ms_per_batch"], 2)}
    if labels is not None:
        report["accuracy_private"] = round(logits_accuracy(result["logits"], labels), 4)
    return report


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "new-identity":
            identity = Identity.generate()
            identity.save(args.out)
            print(json.dumps({"identity": str(args.out), "fingerprint": identity.fingerprint}))
        elif args.command == "roster":
            print(json.dumps(_write_roster(args), ensure_ascii=False))
        elif args.command == "prepare":
            print(json.dumps({"written": [str(p) for p in prepare(args.out)]}))
        else:
            print(json.dumps(_run(args)), flush=True)
    except (CourseCryptoError, ValueError, OSError) as error:   # readable, no traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

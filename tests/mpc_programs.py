"""Party programs used by the MPC tests (importable, so spawned processes can run them)."""
import os
import signal
import time

import torch

from course_lib.mpc import SecretTensor


def mixed_operations(ctx, x=None, y=None, shape=(4, 4)):
    """Every protocol once; returns this party's raw result shares and the revealed values."""
    X = SecretTensor.from_owner(ctx, x, 0, shape=shape)
    Y = SecretTensor.from_owner(ctx, y, 1, shape=shape)
    results = {"add": X + Y, "mul": X * Y, "matmul": X @ Y, "relu": X.relu(), "lt": X < Y, "scaled": X * 0.5}
    shares = {k: v.share.clone() for k, v in results.items()}
    revealed = {k: v.reveal() for k, v in results.items()}
    return {"shares": shares, "revealed": revealed, "rounds": ctx.stats.rounds, "bytes": ctx.stats.bytes_sent}


def dies_midway(ctx, victim=1):
    x = SecretTensor.from_owner(ctx, torch.ones(8) if ctx.rank == 0 else None, 0, shape=(8,))
    x = x * x
    if ctx.rank == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return (x * x).reveal()


def stalls(ctx, victim=1):
    x = SecretTensor.from_owner(ctx, torch.ones(8) if ctx.rank == 0 else None, 0, shape=(8,))
    if ctx.rank == victim:
        time.sleep(3600)
    return (x * x).reveal()


def listening_sockets(ctx):
    """The TCP addresses this process listens on (read with ss), taken mid-computation."""
    import subprocess
    x = SecretTensor.from_owner(ctx, torch.ones(4) if ctx.rank == 0 else None, 0, shape=(4,))
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    mine = [line.split()[3] for line in listing if f"pid={os.getpid()}," in line]
    (x * x).reveal()
    return mine


def one_side_in_clear(ctx, x=None):
    """Party 0 alone sends in clear (a deviation from the program): party 1 must refuse it."""
    X = SecretTensor.from_owner(ctx, x, 0, shape=(4,))
    if ctx.rank == 0:
        with ctx.comm.in_clear():
            return (X * X).reveal()
    return (X * X).reveal()


# ---------------------------------------------------------------------------------------------- chapter 08: cheating trials
TRIAL_SHAPE = (3,)
TRIAL_OUTPUTS = []          # (rank, what) for every output a trial program received (threads share it)


def _deviate(deviation, label, flat):
    """Apply one deviation (a dict the test drew) to a message or a local result (SPDZ2k layouts:
    arithmetic values as low then high limbs, then one word per bit)."""
    flat = flat.clone()
    kind, n = deviation["kind"], TRIAL_SHAPE[0]
    if kind in ("add", "add high"):           # an additive error at one bit of a value (its low limb), or above it
        values = n if label == "relu" else flat.numel() // 2
        index = deviation["index"] % values + (values if kind == "add high" else 0)
        flat[index] += (1 << deviation["bit"]) - (1 << 64 if deviation["bit"] == 63 else 0)
    elif kind == "flip":                      # one opened bit of the comparison flipped
        start = 2 * n if label == "relu" else 0
        flat[start + deviation["index"] % (flat.numel() - start)] ^= 1
    elif kind == "flip all":
        start = 2 * n if label == "relu" else 0
        flat[start:] ^= 1
    elif kind == "check":                     # a wrong share sent into the MAC check itself (bytes of z)
        flat[deviation["index"] % flat.numel()] ^= 1 << (deviation["bit"] % 8)
    return flat


def cheating_trial(ctx, x=None, y=None, deviation=None):
    """Every kind of authenticated opening once; party ``deviation['attacker']`` deviates at one chosen point.

    Returns each party's outputs; the test asserts that a deviation raises CheatingDetectedError
    before any output reaches a party (``TRIAL_OUTPUTS`` stays empty).
    """
    if deviation is not None and ctx.rank == deviation["attacker"]:
        seen = {}

        def tamper(label, flat):
            seen[label] = seen.get(label, 0) + 1
            if label == deviation["label"] and seen[label] == deviation.get("occurrence", 1):
                return _deviate(deviation, label, flat)
            return flat
        ctx.tamper = tamper
    X = SecretTensor.from_owner(ctx, x, 0, shape=TRIAL_SHAPE)
    Y = SecretTensor.from_owner(ctx, y, 1, shape=TRIAL_SHAPE)
    relu = (X * Y).relu()
    less = X < Y
    first = relu.reveal(to=1)
    if first is not None:
        TRIAL_OUTPUTS.append((ctx.rank, "relu"))
    second = less.reveal(to=0)
    if second is not None:
        TRIAL_OUTPUTS.append((ctx.rank, "lt"))
    return first if ctx.rank == 1 else second

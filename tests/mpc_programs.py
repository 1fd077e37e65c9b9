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

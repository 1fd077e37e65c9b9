"""Party programs: importable functions every party (and the dealer) runs (chapters 07–08).

They must live in a module, not in a notebook, so that ``run_distributed`` can start them in
fresh processes (spawn). Each takes the party's ``ctx`` plus keyword arguments; private
inputs are passed only to their owner's rank.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict

import torch

from .fixed_point import FRAC_BITS
from .tensor import SecretTensor


__all__ = ["MODEL_OWNER", "DATA_OWNER", "share_model", "mlp_forward", "private_inference", "channel_cost",
           "classroom_sum", "CLASSROOM_LIMIT", "classroom_value", "OPERATIONS", "operation_cost", "model_layers",
           "sigmoid_hat", "batches",
           "logistic_regression_step", "private_training", "plain_training", "private_inference_with_view"]

MODEL_OWNER, DATA_OWNER = 0, 1


def share_model(ctx, layers, sizes):
    """The model owner secret-shares (Wᵀ, b) of every linear layer; others know only the sizes."""
    shared = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = layers[i][0].t() if layers else None
        b = layers[i][1] if layers else None
        shared.append((SecretTensor.from_owner(ctx, w, MODEL_OWNER, shape=(fan_in, fan_out)),
                       SecretTensor.from_owner(ctx, b, MODEL_OWNER, shape=(fan_out,))))
    return shared


def mlp_forward(ctx, x: SecretTensor, shared_layers, per_layer=None) -> SecretTensor:
    """Linear layers with ReLU between them, on secret-shared input and weights."""
    for i, (w, b) in enumerate(shared_layers):
        before = ctx.stats.cost()
        x = x @ w + b
        if per_layer is not None:
            per_layer.append({"layer": f"linear {i + 1}", **asdict(ctx.stats.cost() - before)})
        if i < len(shared_layers) - 1:
            before = ctx.stats.cost()
            x = x.relu()
            if per_layer is not None:
                per_layer.append({"layer": f"relu {i + 1}", **asdict(ctx.stats.cost() - before)})
    return x


def private_inference(ctx, sizes=(64, 32, 10), batch=100, n_samples=None, layers=None, images=None, warmup=1,
                      timing_passes=1):
    """Private inference: party 0 owns the MLP, party 1 owns the images; only party 1 learns the logits.

    Returns, at every party, ``{"logits": tensor or None, "ms_per_batch": …, "per_layer": […], …}``;
    ``ms_per_batch`` is the median over the full batches of ``timing_passes`` passes.
    """
    shared_layers = share_model(ctx, layers, sizes)
    n = n_samples if images is None else len(images)
    for _ in range(warmup):  # connections, allocator and thread pools warm up on the first batch
        x = SecretTensor.from_owner(ctx, images[:batch] if images is not None else None, DATA_OWNER,
                                    shape=(min(batch, n), sizes[0]))
        mlp_forward(ctx, x, shared_layers).reveal(to=DATA_OWNER)
    outputs, times, per_layer, per_batch = [], [], [], []
    for start in list(range(0, n, batch)) * timing_passes:
        rows = min(batch, n - start)
        before = ctx.stats.cost()
        began = time.perf_counter()
        x = SecretTensor.from_owner(ctx, images[start:start + rows] if images is not None else None, DATA_OWNER,
                                    shape=(rows, sizes[0]))
        layers_cost = [] if start == 0 else None
        logits = mlp_forward(ctx, x, shared_layers, layers_cost).reveal(to=DATA_OWNER)
        elapsed = time.perf_counter() - began
        if layers_cost is not None:
            per_layer = layers_cost
        if rows == batch:
            times.append(elapsed)
            per_batch.append(ctx.stats.cost() - before)
        if len(outputs) * batch < n:
            outputs.append(logits)
    logits = torch.cat(outputs) if ctx.rank == DATA_OWNER else None
    times.sort()
    return {"logits": logits, "ms_per_batch": 1e3 * times[len(times) // 2] if times else None, "per_layer": per_layer,
            "rounds_per_batch": per_batch[0].rounds if per_batch else None,
            "bytes_per_batch": per_batch[0].bytes_sent if per_batch else None,
            "dealer_bytes_per_batch": per_batch[0].dealer_bytes if per_batch else None}


def channel_cost(ctx, sizes=(64, 32, 10), batch=100, pairs=60, layers=None, images=None):
    """What the secure channels cost, measured inside one run: batches alternate sealed and in clear.

    Both kinds of batch run in the same processes, placed on the same cores, so the comparison
    is paired; the order inside each pair alternates. Returns every pair's ratio (sealed ÷
    clear), the median milliseconds per batch of each kind, and the milliseconds this party
    spent sealing and opening per sealed batch.
    """
    shared_layers = share_model(ctx, layers, sizes)
    starts = list(range(0, (len(images) if images is not None else batch) - batch + 1, batch))

    def one_batch(start):
        began = time.perf_counter()
        x = SecretTensor.from_owner(ctx, images[start:start + batch] if images is not None else None, DATA_OWNER,
                                    shape=(batch, sizes[0]))
        mlp_forward(ctx, x, shared_layers).reveal(to=DATA_OWNER)
        return time.perf_counter() - began

    one_batch(0)  # warm-up
    channels = list((ctx.comm.channels or {}).values())
    crypto_before = sum(c.seconds for c in channels)
    sealed, clear = [], []
    for i in range(pairs):
        start = starts[i % len(starts)]
        for in_clear in ((False, True) if i % 2 else (True, False)):
            if in_clear:
                with ctx.comm.in_clear():
                    clear.append(one_batch(start))
            else:
                sealed.append(one_batch(start))
    crypto = sum(c.seconds for c in channels) - crypto_before
    ratios = [s / c for s, c in zip(sealed, clear)]
    sealed.sort()
    clear.sort()
    return {"ratios": ratios, "ms_sealed": 1e3 * sealed[pairs // 2], "ms_clear": 1e3 * clear[pairs // 2],
            "ms_crypto_per_sealed_batch": 1e3 * crypto / pairs}


CLASSROOM_LIMIT = 1e9        # |value| in the room-wide sum: 100,000 students stay within the fixed point's ±2^47


def classroom_value(value) -> float:
    """A student's number for :func:`classroom_sum`, as a float; ValueError (saying the range) for anything else.

    The sum is fixed point with 16 fractional bits in Z_2^64 (chapter 07): values beyond about ±1.4·10^14
    wrap around, and ``nan`` or ``inf`` have no encoding at all, so they are refused here, before any
    share is sent.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number: give one between −{CLASSROOM_LIMIT:,.0f} and "
                         f"{CLASSROOM_LIMIT:,.0f}") from None
    if not math.isfinite(number) or abs(number) > CLASSROOM_LIMIT:
        raise ValueError(f"{value!r} is outside the lab's range: give a number between −{CLASSROOM_LIMIT:,.0f} "
                         f"and {CLASSROOM_LIMIT:,.0f}")
    return number


def classroom_sum(ctx, value=None):
    """Every computing party brings one number; everyone learns the sum and the mean, nothing else.

    The room-wide lab (any number of parties): each party secret-shares its value, the shares are
    added locally, and one reveal opens the total. ``value`` is this party's number (None at the
    dealer, which has nothing to do here but takes part in the same steps).
    """
    began = time.perf_counter()
    mine = None if value is None else torch.tensor(classroom_value(value), dtype=torch.float64)
    total = None
    for owner in range(ctx.parties):
        shared = SecretTensor.from_owner(ctx, mine if ctx.rank == owner else None, owner, shape=())
        total = shared if total is None else total + shared
    opened = total.reveal()
    if opened is None or ctx.is_dealer:                   # the dealer holds no share of the total: it learns nothing
        return None
    return {"sum": round(float(opened), 4), "mean": round(float(opened) / ctx.parties, 4), "parties": ctx.parties,
            "rounds": ctx.stats.rounds, "bytes_sent": ctx.stats.bytes_sent, "seconds": time.perf_counter() - began}


def _random_input(ctx, owner, shape, scale=10.0, seed=0):
    if ctx.rank != owner:
        return None
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


OPERATIONS = {"add": lambda x, y: x + y, "truncate": lambda x, y: x.truncate(FRAC_BITS), "mul": lambda x, y: x * y,
              "matmul": lambda x, y: x @ y, "lt": lambda x, y: x < y, "relu": lambda x, y: x.relu()}


def operation_cost(ctx, operation="relu", shape=(100_000,), other_shape=None, repeat=3):
    """Time one secure operation on random x (party 0's) and y (party 1's); returns its cost.

    ``operation`` is a key of :data:`OPERATIONS`. y has x's shape, or ``other_shape`` (for
    ``matmul`` the default is square: ``(shape[-1], shape[-1])``). Returns the best time of
    ``repeat`` runs after a warm-up, in ms, with the rounds, bytes sent and dealer bytes of one run.
    """
    if other_shape is None:
        other_shape = (shape[-1], shape[-1]) if operation == "matmul" else shape
    x = SecretTensor.from_owner(ctx, _random_input(ctx, 0, shape, seed=1), 0, shape=shape)
    y = SecretTensor.from_owner(ctx, _random_input(ctx, 1, other_shape, seed=2), 1, shape=other_shape)
    run = OPERATIONS[operation]
    run(x, y)  # warm-up
    best, cost = float("inf"), None
    for _ in range(repeat):
        before = ctx.stats.cost()
        began = time.perf_counter()
        run(x, y)
        best = min(best, time.perf_counter() - began)
        cost = ctx.stats.cost() - before
    return {"ms": 1e3 * best, **asdict(cost)}


def model_layers(model) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every linear layer of a ``Sequential``, as float64 for encoding."""
    return [(m.weight.detach().double(), m.bias.detach().double()) for m in model if isinstance(m, torch.nn.Linear)]


def sigmoid_hat(z):
    """The piecewise-linear sigmoid of SecureML: 0 below −½, z + ½ in between, 1 above ½.

    Written with ReLU only — σ̂(z) = ReLU(z + ½) − ReLU(z − ½) — so it works on plain tensors and,
    unchanged, on secret-shared ones (there both ReLUs run in one batched call).
    """
    if isinstance(z, SecretTensor):
        both = SecretTensor.cat([z + 0.5, z - 0.5]).relu()
        half = z.shape[0]
        return both[:half] - both[half:]
    return torch.relu(z + 0.5) - torch.relu(z - 0.5)


def batches(n: int, batch: int, epochs: int, seed: int = 0):
    """The public order of mini-batches both owners agree on."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            yield order[start:start + batch]


def logistic_regression_step(x, y, w, b, lr):
    """One gradient step of one-vs-rest logistic regression with σ̂ — on plain or shared tensors."""
    error = sigmoid_hat(x @ w + b) - y
    scale = lr / x.shape[0]
    return w - (x.t() @ error) * scale, b - error.sum(0) * scale


def private_training(ctx, x=None, y=None, rows=(0, 0), features=64, classes=10, epochs=5, batch=32, lr=0.5, seed=0):
    """Two data owners train one model on the union of their rows; both learn only the weights.

    ``rows[i]`` is how many rows owner i holds (public); ``x``/``y`` are owner-private (one-hot y).
    """
    own = [(SecretTensor.from_owner(ctx, x if ctx.rank == i else None, i, shape=(rows[i], features)),
            SecretTensor.from_owner(ctx, y if ctx.rank == i else None, i, shape=(rows[i], classes)))
           for i in range(2)]
    X = SecretTensor.cat([own[0][0], own[1][0]])
    Y = SecretTensor.cat([own[0][1], own[1][1]])
    w = SecretTensor.zeros(ctx, (features, classes))
    b = SecretTensor.zeros(ctx, (classes,))
    for index in batches(sum(rows), batch, epochs, seed):
        w, b = logistic_regression_step(X[index], Y[index], w, b, lr)
    return w.reveal(), b.reveal(), ctx.stats.rounds, ctx.stats.bytes_sent


def plain_training(x, y, epochs=5, batch=32, lr=0.5, seed=0):
    """The plaintext twin of :func:`private_training`: same steps, same batches, float64."""
    w = torch.zeros((x.shape[1], y.shape[1]), dtype=torch.float64)
    b = torch.zeros(y.shape[1], dtype=torch.float64)
    for index in batches(len(x), batch, epochs, seed):
        w, b = logistic_regression_step(x[index], y[index], w, b, lr)
    return w, b


def private_inference_with_view(ctx, **kwargs):
    """:func:`private_inference`, also returning what this party saw opened (``ctx.view``)."""
    return {"result": private_inference(ctx, **kwargs), "view": ctx.view}

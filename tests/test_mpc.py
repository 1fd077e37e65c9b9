import json
import os
import select
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats as scipy_stats

from course_lib import digits, mpc
from course_lib.mpc import PRG, SecretTensor, decode, encode, reconstruct, share
from course_lib.mpc.bits import from_bit_plane, to_bit_planes
from course_lib.mpc.runtime import free_port

from . import mpc_programs

INT64 = st.integers(min_value=-2**63, max_value=2**63 - 1)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(INT64, min_size=1, max_size=20), parties=st.integers(2, 7))
def test_sharing_reconstructs_any_int64_for_any_party_count(values, parties):
    secret = torch.tensor(values, dtype=torch.int64)
    shares = share(secret, parties)
    assert len(shares) == parties
    assert torch.equal(reconstruct(shares), secret)
    assert torch.equal(reconstruct(shares[::-1]), secret)


def test_a_single_party_cannot_share():
    with pytest.raises(ValueError):
        share(torch.tensor([1]), 1)


def test_individual_shares_are_uniform():
    """Every share of a *fixed* secret is uniform on Z_2^64: chi-square on its top byte and per-bit balance."""
    prg = PRG(bytes(32))
    draws = torch.stack([torch.stack(share(torch.tensor(42), 3, prg)) for _ in range(20_000)])  # (20000, 3)
    for party in range(3):
        column = np.ascontiguousarray(draws[:, party].numpy())
        top = (column.view(np.uint64) >> np.uint64(56)).astype(np.int64)
        counts = np.bincount(top, minlength=256)
        assert scipy_stats.chisquare(counts).pvalue > 1e-4
        bits = np.unpackbits(column.view(np.uint8)).reshape(-1, 64).mean(axis=0)
        assert np.all(np.abs(bits - 0.5) < 0.02)
    # and independent of the secret: shares of 0 and of 2^62 have the same distribution
    zero = np.array([share(torch.tensor(0), 2, prg)[0].item() for _ in range(5000)])
    big = np.array([share(torch.tensor(2**62), 2, prg)[0].item() for _ in range(5000)])
    assert scipy_stats.ks_2samp(zero, big).pvalue > 1e-4


def test_prg_is_deterministic_per_seed_and_uniform():
    assert torch.equal(PRG(b"k" * 32).ring(100), PRG(b"k" * 32).ring(100))
    assert not torch.equal(PRG().ring(100), PRG().ring(100))
    with pytest.raises(ValueError):
        PRG(b"short")


@pytest.mark.parametrize("k", [1, 2, 3, 100, 12345])
def test_decode_is_exact_just_below_negative_integers(k):
    for x in (-k - 2**-16, -k + 2**-16, -k, k - 2**-16, -k - 0.5):
        value = torch.tensor([x], dtype=torch.float64)
        assert decode(encode(value)).item() == x


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-2**52, max_value=2**52))
def test_fixed_point_round_trip_is_exact_on_the_grid(n):
    x = torch.tensor([n / 2**16], dtype=torch.float64)
    assert decode(encode(x)).item() == n / 2**16
    assert encode(x).item() == n


def test_encode_refuses_values_that_do_not_fit():
    with pytest.raises(OverflowError):
        encode(torch.tensor([2.0 ** 47]))


@settings(max_examples=30, deadline=None)
@given(words=st.lists(INT64, min_size=1, max_size=200))
def test_bit_planes_transpose(words):
    t = torch.tensor(words, dtype=torch.int64)
    planes = to_bit_planes(t)
    for j in (0, 1, 31, 62, 63):
        expected = ((t >> j) & 1)
        assert torch.equal(from_bit_plane(planes[j], len(words)), expected)


def _arrays(shape, scale):
    finite = st.floats(min_value=-scale, max_value=scale, allow_nan=False, width=64)
    special = st.sampled_from([0.0, -0.0, 2**-16, -2**-16, -1 - 2**-16, -3 - 2**-16, 1.0, -1.0, scale, -scale])
    return st.lists(finite | special, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda v: torch.tensor(v, dtype=torch.float64).reshape(shape))


def _grid(x):
    return torch.round(x * 2**16) / 2**16  # the value actually encoded


# Products are truncated locally, which fails (a huge error) with probability ≈ |x·y|·2^32 / 2^64 per
# element: inputs up to 30 keep that below 2^-22, so the test is not flaky.
@settings(max_examples=12, deadline=None)
@given(x=_arrays((4, 4), 30.0), y=_arrays((4, 4), 30.0), seed=st.integers(0, 2**32))
def test_protocols_agree_with_plaintext(x, y, seed):
    results, _ = mpc.run_in_process(mpc_programs.mixed_operations, insecure_seed=seed, shape=(4, 4),
                                    private_inputs={0: {"x": x}, 1: {"y": y}})
    out = results[0]["revealed"]
    assert all(torch.equal(out[k], results[1]["revealed"][k]) for k in out)   # both parties see the same
    gx, gy = _grid(x), _grid(y)
    lsb = 2 ** -16
    assert torch.equal(out["add"], gx + gy)                                   # exact
    assert torch.allclose(out["mul"], gx * gy, rtol=0, atol=2 * lsb)          # one truncation: ≤ 1 LSB (+ rounding)
    assert torch.allclose(out["matmul"], gx @ gy, rtol=0, atol=5 * lsb)
    assert torch.allclose(out["scaled"], gx * 0.5, rtol=0, atol=2 * lsb)
    assert torch.equal(out["relu"], torch.clamp(gx, min=0))                   # exact, no approximation
    assert torch.equal(out["lt"], (gx < gy).long())


def test_comparison_on_large_magnitudes_and_neighbours_of_zero():
    values = torch.tensor([2.0 ** 45, -2.0 ** 45, 2.0 ** 45 - 2**-16, -(2.0 ** 45) + 1, 2**-16, -2**-16, 0.0,
                           -1 - 2**-16, -2 - 2**-16, 123456.789, -123456.789], dtype=torch.float64)
    def program(ctx, x=None):
        X = SecretTensor.from_owner(ctx, x, 0, shape=values.shape)
        return X.lt_zero().reveal(), X.relu().reveal()
    (lt, relu), _ = mpc.run_in_process(program, insecure_seed=7, private_inputs={0: {"x": values}})[0][1], None
    assert torch.equal(lt, (_grid(values) < 0).long())
    assert torch.equal(relu, torch.clamp(_grid(values), min=0))


def _opened_by_party_0(ctx, x=None, y=None, n=4096):
    X = SecretTensor.from_owner(ctx, x, 1, shape=(n,))
    Y = SecretTensor.from_owner(ctx, y, 0, shape=(n,))
    X * Y
    X.lt_zero()
    return ctx.view


def test_a_partys_view_does_not_depend_on_the_other_partys_input():
    """A curious model owner tries to tell two inputs of the data owner apart from everything it sees opened
    (Beaver products, the comparison's AND gates, the bit conversion): each opening is masked by fresh dealer
    randomness, so the two views have the same distribution, label by label."""
    n = 4096
    y = torch.linspace(-3, 3, n, dtype=torch.float64)

    def views():
        out = []
        for x in (torch.zeros(n, dtype=torch.float64), torch.full((n,), -2.0 ** 20, dtype=torch.float64)):
            results, _ = mpc.run_in_process(_opened_by_party_0, record_view=True, n=n,
                                            private_inputs={0: {"y": y}, 1: {"x": x}})
            out.append(results[0])
        return out

    def distinguished(first_view, second_view):
        """The labels whose openings a two-sample Kolmogorov–Smirnov test tells apart."""
        told = []
        for (label, first), (_, second) in zip(first_view, second_view):
            a, b = (t.reshape(-1).numpy().astype(np.float64) for t in (first, second))
            if scipy_stats.ks_2samp(a, b, method="asymp").pvalue < 1e-4:
                told.append(label)
        return told

    fresh = views()
    assert [label for label, _ in fresh[0]] == [label for label, _ in fresh[1]]
    assert {"mul", "compare", "bit conversion"} <= {label for label, _ in fresh[0]}
    assert distinguished(*fresh) == []
    # and the distinguisher has power: openings of x − a with a mask a of 40 bits only are told apart
    a = torch.randint(0, 2**40, (n,), dtype=torch.int64)
    weak = [[("mul", cl_encode - a)] for cl_encode in (encode(torch.zeros(n)), encode(torch.full((n,), -2.0 ** 20)))]
    assert distinguished(*weak) == ["mul"]


def test_the_dealer_receives_nothing_after_the_handshake():
    """Every message to the dealer is counted on the wire: only the two handshake messages from each party."""
    to_dealer, from_dealer = [], []

    def tap(src, dst, data):
        (to_dealer if dst == 2 else from_dealer if src == 2 else []).append(data.numel())
        return data

    x = torch.tensor([[1.5, -2.25], [0.0, 7.0]], dtype=torch.float64)
    results, _ = mpc.run_in_process(mpc_programs.mixed_operations, shape=(2, 2), tap=tap,
                                    private_inputs={0: {"x": x}, 1: {"y": x}})
    assert torch.equal(results[0]["revealed"]["relu"], torch.clamp(x, min=0))
    assert to_dealer == [64] * 4                  # a hello and a signature from each party: the handshake only
    assert len(from_dealer) > 4                                                        # it does deal


def test_secure_sum_with_three_parties_and_counted_messages():
    def program(ctx, count=None):
        shared = [SecretTensor.from_owner(ctx, count if ctx.rank == i else None, i, shape=(2,), frac_bits=0)
                  for i in range(ctx.parties)]
        total = shared[0] + shared[1] + shared[2]
        return total.reveal()
    counts = {0: torch.tensor([120, 7]), 1: torch.tensor([45, 3]), 2: torch.tensor([300, 11])}
    results, stats = mpc.run_in_process(program, parties=3, private_inputs={r: {"count": c} for r, c in counts.items()})
    assert all(torch.equal(r, torch.tensor([465, 21])) for r in results)
    assert [s.rounds for s in stats] == [1, 1, 1] and stats[0].bytes_sent == 2 * 16   # one reveal: 16 bytes to each of 2


def test_three_party_multiplication_of_integers():
    def program(ctx, v=None):
        a = SecretTensor.from_owner(ctx, v if ctx.rank == 0 else None, 0, shape=(3,), frac_bits=0)
        b = SecretTensor.from_owner(ctx, v if ctx.rank == 2 else None, 2, shape=(3,), frac_bits=0)
        return (a * b).reveal()
    v = torch.tensor([3, -4, 2**40])
    results, _ = mpc.run_in_process(program, parties=3, private_inputs={0: {"v": v}, 2: {"v": v}})
    assert torch.equal(results[1], v * v)


def test_comparison_needs_two_parties():
    def program(ctx):
        return SecretTensor.from_owner(ctx, torch.ones(2) if ctx.rank == 0 else None, 0, shape=(2,)).relu()
    with pytest.raises(mpc.MPCError, match="two computing parties"):
        mpc.run_in_process(program, parties=3, timeout=10)


def test_distributed_runtime_is_bit_identical_to_in_process():
    x = torch.tensor([[1.5, -2.25, 0.0, -1 - 2**-16]] * 4, dtype=torch.float64)
    y = torch.tensor([[2.0, 3.0, -1.0, 0.5]] * 4, dtype=torch.float64).t().contiguous()
    kwargs = dict(insecure_seed=11, shape=(4, 4), private_inputs={0: {"x": x}, 1: {"y": y}})
    local, local_stats = mpc.run_in_process(mpc_programs.mixed_operations, **kwargs)
    remote, remote_stats = mpc.run_distributed(mpc_programs.mixed_operations, timeout=60, **kwargs)
    for party in range(2):
        for name, tensor in local[party]["shares"].items():
            assert torch.equal(remote[party]["shares"][name], tensor), f"party {party}, {name}"
        assert local[party]["rounds"] == remote[party]["rounds"] and local[party]["bytes"] == remote[party]["bytes"]
    assert [s.dealer_bytes for s in local_stats] == [s.dealer_bytes for s in remote_stats]


def test_fresh_random_seeds_are_exchanged_when_no_seed_is_given():
    x = torch.tensor([[0.5, -2.0]], dtype=torch.float64).repeat(2, 1)
    results, _ = mpc.run_distributed(mpc_programs.mixed_operations, timeout=60, shape=(2, 2),
                                     private_inputs={0: {"x": x}, 1: {"y": x}})
    assert torch.equal(results[0]["revealed"]["relu"], torch.clamp(x, min=0))


def test_a_killed_party_gives_a_clear_error_quickly():
    start = time.monotonic()
    with pytest.raises(mpc.PartyFailedError, match="party 1 died"):
        mpc.run_distributed(mpc_programs.dies_midway, timeout=20)
    assert time.monotonic() - start < 60


def test_a_stuck_party_times_out_with_a_clear_error():
    start = time.monotonic()
    with pytest.raises(mpc.MPCError):
        mpc.run_distributed(mpc_programs.stalls, timeout=5)
    assert time.monotonic() - start < 60


def test_in_process_failure_does_not_hang():
    def program(ctx):
        if ctx.rank == 0:
            raise ValueError("model owner crashed")
        return SecretTensor.from_owner(ctx, None, 0, shape=(2,)).reveal()
    start = time.monotonic()
    with pytest.raises(mpc.MPCError, match="model owner crashed"):
        mpc.run_in_process(program, timeout=30)
    assert time.monotonic() - start < 10


@pytest.fixture(scope="module")
def commands_output(tmp_path_factory):
    """What the commands make, made once for this file: four identities (``id9.pem`` is on no roster), a
    roster of the first three's fingerprints and the example files. Run side by side, since each command is
    a process that imports torch."""
    made = tmp_path_factory.mktemp("party-commands")
    party = [sys.executable, "-m", "course_lib.mpc.party"]
    makers = {rank: subprocess.Popen(party + ["new-identity", "--out", str(made / f"id{rank}.pem")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1, 2, 9)}
    prepare = subprocess.Popen(party + ["prepare", "--out", str(made / "files")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        outputs = {rank: maker.communicate(timeout=120) for rank, maker in makers.items()}
        prepare.communicate(timeout=120)
    finally:
        for process in (*makers.values(), prepare):
            process.kill()                                   # a no-op for those that finished
    assert all(m.returncode == 0 for m in makers.values()) and prepare.returncode == 0, outputs
    fingerprints = {str(rank): json.loads(outputs[rank][0])["fingerprint"] for rank in range(3)}
    (made / "roster.json").write_text(json.dumps(fingerprints))
    return made


def _party_setup(tmp_path, made):
    """A test's own copy of what the commands made (``commands_output``): three identities, a roster of their
    fingerprints, a fourth identity on no roster, the example files."""
    shutil.copytree(made, tmp_path, dirs_exist_ok=True)
    return json.loads((tmp_path / "roster.json").read_text())


def _run_parties(tmp_path, extra_by_rank, identity_of=lambda rank: rank, timeout=60):
    master = f"127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--rank", str(rank),
                               "--master", master, "--identity", str(tmp_path / f"id{identity_of(rank)}.pem"),
                               "--roster", str(tmp_path / "roster.json"), "--timeout", str(timeout), *extra_by_rank[rank]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(3)]
    return [(p.returncode, out, err) for p, (out, err) in ((p, p.communicate(timeout=240)) for p in procs)]


@pytest.mark.parametrize("program", ["relu", "inference"])
def test_party_command_runs_each_party_as_its_own_process_holding_only_its_own_input(tmp_path, program, commands_output):
    _party_setup(tmp_path, commands_output)
    files = tmp_path / "files"
    extra = {0: ["--model", str(files / "digits-mlp.safetensors")], 1: ["--data", str(files / "digits-test.safetensors")],
             2: []} if program == "inference" else {r: ["--program", "relu", "--size", "1000"] for r in range(3)}
    runs = _run_parties(tmp_path, extra)
    for code, out, err in runs:
        assert code == 0, err
    outputs = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in runs]
    assert [o["role"] for o in outputs] == ["model owner", "data owner", "dealer"]
    if program == "relu":
        assert outputs[0]["rounds"] == 8 and outputs[0]["bytes_sent"] > 0
    else:   # fresh seeds from authenticated key agreement; the digits MLP keeps its plaintext accuracy
        model, _, _, test_x, test_y = digits.task()
        plain = round((model(test_x).argmax(1) == test_y).float().mean().item(), 4)
        assert outputs[1]["accuracy_private"] == plain
        assert "accuracy_private" not in outputs[0] and "accuracy_private" not in outputs[2]


def test_party_command_refuses_an_unpinned_party_without_a_traceback(tmp_path, commands_output):
    _party_setup(tmp_path, commands_output)
    extra = {r: ["--program", "mul", "--size", "10"] for r in range(3)}
    runs = _run_parties(tmp_path, extra, identity_of=lambda rank: 9 if rank == 1 else rank, timeout=10)  # impostor
    assert [code for code, _, _ in runs] == [1, 1, 1]
    for code, out, err in runs:
        assert err.splitlines()[-1].startswith("error: ") and "Traceback" not in err
    # the impostor's own command refuses before connecting; the others name who never joined
    assert "UnknownPeerError: your identity key" in runs[1][2] and "not in the roster at all" in runs[1][2]
    assert "still missing: party 1" in runs[0][2]              # rank 0 holds the lobby
    assert "party 1" in runs[2][2].splitlines()[-1]             # the dealer: missing, or rank 0 gave up first


def test_party_command_keeps_inputs_with_their_owners(tmp_path, commands_output, capsys):
    """The command's own entry point, in this process: it refuses before it connects anywhere."""
    from course_lib.mpc import party
    _party_setup(tmp_path, commands_output)
    code = party.main(["run", "--rank", "2", "--master", "127.0.0.1:1", "--identity", str(tmp_path / "id2.pem"),
                       "--roster", str(tmp_path / "roster.json"),
                       "--model", str(tmp_path / "files" / "digits-mlp.safetensors")])
    err = capsys.readouterr().err
    assert code == 1 and "each party holds only its own input" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        party.main(["run", "--help"])
    helped = capsys.readouterr().out
    for flag in ("--rank", "--master", "--host", "--identity", "--roster", "--peer", "--model", "--data", "--insecure-seed"):
        assert flag in helped


def test_rendezvous_and_data_sockets_listen_only_on_the_given_address():
    """While a computation runs, no socket of ours listens on a wildcard address."""
    import shutil
    if not shutil.which("ss"):
        pytest.skip("needs the ss command")
    results, _ = mpc.run_distributed(mpc_programs.listening_sockets, timeout=60)
    for sockets in results:
        assert sockets, "the program saw no listening socket of its own process"
        assert all(address.startswith("127.0.0.1:") for address in sockets), sockets


@pytest.fixture
def two_namespaces():
    """Two network namespaces joined by a veth pair (10.231.7.1 ↔ 10.231.7.2): no loopback shortcut between them."""
    import os
    import shutil
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to create network namespaces")
    a, b = f"clmpc{os.getpid()}a", f"clmpc{os.getpid()}b"
    setup = [["ip", "netns", "add", a], ["ip", "netns", "add", b],
             ["ip", "link", "add", f"v{os.getpid()}a", "type", "veth", "peer", "name", f"v{os.getpid()}b"],
             ["ip", "link", "set", f"v{os.getpid()}a", "netns", a], ["ip", "link", "set", f"v{os.getpid()}b", "netns", b],
             ["ip", "-n", a, "addr", "add", "10.231.7.1/24", "dev", f"v{os.getpid()}a"],
             ["ip", "-n", b, "addr", "add", "10.231.7.2/24", "dev", f"v{os.getpid()}b"],
             ["ip", "-n", a, "link", "set", f"v{os.getpid()}a", "up"], ["ip", "-n", b, "link", "set", f"v{os.getpid()}b", "up"],
             ["ip", "-n", a, "link", "set", "lo", "up"], ["ip", "-n", b, "link", "set", "lo", "up"]]
    try:
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                pytest.skip(f"cannot create network namespaces here: {' '.join(command)}: {done.stderr.strip()}")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_parties_in_separate_network_namespaces(tmp_path, two_namespaces, commands_output):
    """Model owner in one namespace, data owner and dealer in another: every socket must use the given address."""
    a, b = two_namespaces
    _party_setup(tmp_path, commands_output)
    port = 29000 + (os.getpid() % 1000)
    placement = {0: (a, "10.231.7.1"), 1: (b, "10.231.7.2"), 2: (b, "10.231.7.2")}
    procs = [subprocess.Popen(["ip", "netns", "exec", placement[rank][0], sys.executable, "-m", "course_lib.mpc.party",
                               "run", "--rank", str(rank), "--master", f"10.231.7.1:{port}", "--host", placement[rank][1],
                               "--identity", str(tmp_path / f"id{rank}.pem"), "--roster", str(tmp_path / "roster.json"),
                               "--program", "mul", "--size", "100", "--timeout", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(3)]
    runs = [(p.returncode, out, err) for p, (out, err) in ((p, p.communicate(timeout=180)) for p in procs)]
    for code, out, err in runs:
        assert code == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in runs]
    assert [r["role"] for r in reports] == ["model owner", "data owner", "dealer"]
    assert reports[0]["rounds"] == 1 and reports[1]["rounds"] == 1


def test_and_gates_of_one_round_take_one_message_from_the_dealer_and_are_right():
    from course_lib.mpc import compare
    shapes = [(3,), (2, 5), (7,)]

    def program(ctx):
        g = torch.Generator().manual_seed(10 + ctx.rank)
        pairs = [(torch.randint(-2**62, 2**62, s, generator=g), torch.randint(-2**62, 2**62, s, generator=g))
                 for s in shapes]
        return pairs, compare.and_gates(ctx, pairs)

    from_dealer = []
    tap = lambda src, dst, data: (from_dealer.append(data.numel()) if src == 2 else None) or data  # noqa: E731
    results, _ = mpc.run_in_process(program, tap=tap)
    (pairs0, z0), (pairs1, z1) = results
    for k in range(len(shapes)):
        x = pairs0[k][0] ^ pairs1[k][0]
        y = pairs0[k][1] ^ pairs1[k][1]
        assert torch.equal(z0[k] ^ z1[k], x & y)
    handshake = 2 * 2                     # hello and signature, to each party
    assert len(from_dealer) - handshake == 1, "one correction message for all the gates of the round"


def test_a_room_of_ten_parties_computes_its_sum_as_ten_processes():
    values = {i: float(3 * i + 1) for i in range(10)}
    results, stats = mpc.run_distributed(mpc.programs.classroom_sum, parties=10, timeout=120,
                                         private_inputs={i: {"value": v} for i, v in values.items()})
    assert all(r["sum"] == sum(values.values()) and r["mean"] == sum(values.values()) / 10 for r in results)
    assert max(s.rounds for s in stats) == 1          # one reveal; sharing the inputs costs no round


def _wait_for_claim(master, rank, limit=60.0):
    """Poll the rendezvous store (as an extra client) until ``rank`` has claimed its place."""
    import datetime
    import time as _time
    import torch.distributed as dist
    host, port = master.rsplit(":", 1)
    deadline = _time.monotonic() + limit
    while _time.monotonic() < deadline:
        try:
            store = dist.TCPStore(host, int(port), None, False, datetime.timedelta(seconds=5))
            if store.check([f"course/rank/{rank}"]):
                return
        except RuntimeError:
            pass                                   # rank 0 is not listening yet
        _time.sleep(0.3)
    raise AssertionError(f"rank {rank} never joined")


def test_a_taken_rank_is_refused_in_milliseconds_and_a_lobby_timeout_names_who_is_missing():
    import datetime
    import time as _time
    import torch.distributed as dist
    from course_lib.mpc.errors import MPCTimeoutError, RankTakenError
    from course_lib.mpc.runtime import _lobby
    port = free_port()
    store = dist.TCPStore("127.0.0.1", port, None, True, datetime.timedelta(seconds=5), wait_for_workers=False)
    roster = mpc.Roster.of(mpc.new_identities(2)[0], names={0: "Ada", 1: "Bo", 2: "Cy"})
    store.set("course/rank/1", "someone-else")
    began = _time.monotonic()
    with pytest.raises(RankTakenError, match=r"party 1 \(Bo\) has already joined"):
        _lobby(store, 1, 3, roster, timeout=30)
    assert _time.monotonic() - began < 5
    seen = []
    with pytest.raises(MPCTimeoutError, match=r"still missing: the dealer \(Cy\)"):
        _lobby(store, 0, 3, roster, timeout=1, on_lobby=lambda joined, missing: seen.append((joined, missing)))
    assert seen[0] == (2, ["the dealer (Cy)"])


def test_a_second_process_claiming_a_taken_rank_is_refused_at_once(tmp_path, commands_output):
    import time as _time
    _party_setup(tmp_path, commands_output)
    roster = json.loads((tmp_path / "roster.json").read_text())
    named = {rank: {"name": name, "fingerprint": fp} for (rank, fp), name in zip(roster.items(), ["Ada", "Bo", "Cy"])}
    (tmp_path / "roster.json").write_text(json.dumps(named))
    master = f"127.0.0.1:{free_port()}"

    def party(rank, *extra):
        return subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum", "--rank",
                                 str(rank), "--master", master, "--identity", str(tmp_path / f"id{rank}.pem"),
                                 "--roster", str(tmp_path / "roster.json"), "--timeout", "30", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = [party(0, "--value", "4"), party(1, "--value", "6")]
    try:
        _wait_for_claim(master, 1)
        began = _time.monotonic()
        second = party(1, "--value", "99")
        out, err = second.communicate(timeout=60)
        refused_in = _time.monotonic() - began
        assert second.returncode == 1 and "Traceback" not in err
        assert "RankTakenError: party 1 (Bo) has already joined this computation" in err
        dealer = party(2)
        outputs = [p.communicate(timeout=60) for p in (*first, dealer)]
        results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert [r.get("sum") for r in results[:2]] == [10.0, 10.0], outputs
        assert "lobby: 2 joined; waiting for the dealer (Cy)" in outputs[0][1]
        assert refused_in < 20          # a whole process: Python and torch start, then the claim fails at once
    finally:
        for p in first:
            if p.poll() is None:
                p.kill()


def test_a_claim_not_signed_by_the_pinned_key_is_named_at_once_by_the_other_ranks():
    """In-process lobby: a stranger's claim on rank 1 (garbage, or well formed under its own key) is refused."""
    import datetime
    import time as _time
    import torch.distributed as dist
    from course_lib.mpc import channel
    from course_lib.mpc.errors import RankClaimedError
    from course_lib.mpc.runtime import ABORT_CONTEXT, ABORT_KEY, SESSION_CONTEXT, SESSION_KEY, _lobby, _signed_notice, _verified_fields
    identities, roster = mpc.new_identities(2)
    stranger = mpc.Identity.generate()
    for claim in ("someone-else", channel.rank_claim(stranger, "session", 1, 3)):
        store = dist.TCPStore("127.0.0.1", free_port(), None, True, datetime.timedelta(seconds=5),
                              wait_for_workers=False)
        store.set(SESSION_KEY, _signed_notice(identities[0], SESSION_CONTEXT, 3, ["session"]))
        store.set("course/rank/1", claim)
        began = _time.monotonic()
        with pytest.raises(RankClaimedError, match=r"rank 1 \(party 1\) was claimed by a process that is not on "
                                                   r"the roster"):
            _lobby(store, 2, 3, roster, timeout=10, identity=identities[2])          # the dealer
        assert _time.monotonic() - began < 5 and store.check(["course/left/2"])
        with pytest.raises(RankClaimedError, match="not on the roster"):
            _lobby(store, 1, 3, roster, timeout=10, identity=identities[1])          # the genuine party 1
        assert store.check(["course/left/1"])
    # rank 0 posts the reason for latecomers and keeps the rendezvous open until the others have read it
    store = dist.TCPStore("127.0.0.1", free_port(), None, True, datetime.timedelta(seconds=5), wait_for_workers=False)
    store.set("course/rank/1", "someone-else")
    began = _time.monotonic()
    with pytest.raises(RankClaimedError, match="rank 1"):
        _lobby(store, 0, 3, roster, timeout=1, identity=identities[0])
    assert _verified_fields(store.get(ABORT_KEY), roster, ABORT_CONTEXT, 3, 2)[1] == "1" and _time.monotonic() - began >= 1


def test_a_stranger_squatting_a_free_rank_makes_every_party_fail_with_one_named_line(tmp_path, commands_output):
    """A process that is not on the roster connects to rank 0's unauthenticated rendezvous and claims rank 1
    before the data owner does (here with a well-formed claim under its own key). Rank 0, the dealer and the
    genuine party 1 each stop with one line naming the rank and the fix; the stranger never joins."""
    _party_setup(tmp_path, commands_output)
    master = f"127.0.0.1:{free_port()}"
    stranger_code = (
        "import datetime, sys, time\n"
        "import torch.distributed as dist\n"
        "from course_lib.mpc import Identity, channel\n"
        "from course_lib.mpc.runtime import SESSION_KEY\n"
        "host, port = sys.argv[1].rsplit(':', 1)\n"
        "deadline = time.monotonic() + 60\n"
        "while True:\n"
        "    try:\n"
        "        store = dist.TCPStore(host, int(port), None, False, datetime.timedelta(seconds=5))\n"
        "        if store.check([SESSION_KEY]):\n"
        "            break\n"
        "    except RuntimeError:\n"
        "        pass\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(2)\n"
        "    time.sleep(0.2)\n"
        "claim = channel.rank_claim(Identity.generate(), store.get(SESSION_KEY).decode(), 1, 3)\n"
        "print(store.compare_set('course/rank/1', '', claim).decode() == claim, flush=True)\n"
        "time.sleep(60)\n")

    def party(rank, *extra):
        return subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum", "--rank",
                                 str(rank), "--master", master, "--identity", str(tmp_path / f"id{rank}.pem"),
                                 "--roster", str(tmp_path / "roster.json"), "--timeout", "40", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    started = []
    try:
        started.append(party(0, "--value", "4"))
        stranger = subprocess.Popen([sys.executable, "-c", stranger_code, master], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        started.append(stranger)
        ready, _, _ = select.select([stranger.stdout], [], [], 90)
        assert ready and stranger.stdout.readline().strip() == "True", "the stranger did not get rank 1"
        dealer, genuine = party(2), party(1, "--value", "6")
        started += [dealer, genuine]
        runs = {name: (p.wait(timeout=120), *p.communicate(timeout=10))
                for name, p in (("rank 0", started[0]), ("dealer", dealer), ("party 1", genuine))}
        for name, (code, out, err) in runs.items():
            assert code == 1 and out == "" and "Traceback" not in err, (name, err)
            errors = [line for line in err.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and err.splitlines()[-1] == errors[0], (name, err)
            assert errors[0].startswith("error: RankClaimedError: rank 1 (party 1) was claimed by a process that is "
                                        "not on the roster"), (name, errors[0])
            assert "start a new session (rank 0 on a fresh --master port)" in errors[0]
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


def test_an_unreachable_rendezvous_and_a_group_that_never_forms_are_one_line_errors():
    """torch's rendezvous failures become MPCErrors that say what to do, never a C++ traceback."""
    import datetime
    import threading
    import torch.distributed as dist
    from course_lib.mpc.runtime import _process_group
    nobody = f"127.0.0.1:{free_port()}"
    with pytest.raises(mpc.MPCError, match=r"could not reach rank 0's rendezvous at 127\.0\.0\.1:\d+ within 2 s "
                                           r"\(Connection refused\)"):
        _process_group(1, 2, nobody, "127.0.0.1", timeout=2)
    # rank 1 claims its place in the lobby, then never connects to the group
    master = f"127.0.0.1:{free_port()}"
    claimed = threading.Event()

    def claim_and_vanish():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not claimed.is_set():
            try:
                client = dist.TCPStore("127.0.0.1", int(master.rsplit(":", 1)[1]), None, False,
                                       datetime.timedelta(seconds=2))
                client.set("course/rank/1", "a token")
                claimed.set()
            except RuntimeError:
                time.sleep(0.1)

    helper = threading.Thread(target=claim_and_vanish, daemon=True)
    helper.start()
    with pytest.raises(mpc.MPCError, match="the process group did not form within 3 s .*rank 0 must start a new session"):
        _process_group(0, 2, master, "127.0.0.1", timeout=3)
    helper.join(10)
    assert claimed.is_set()


def test_a_mistyped_master_says_why_the_party_waits_at_once_then_fails_in_one_line(tmp_path, commands_output):
    """A port nothing listens on (a typo in the instructor's address or port, or rank 0 not started):
    a line naming the address and the fix within seconds of the process starting, then one error
    line at --timeout; no C++ warning or stack frame (torch's client is not started before a plain
    connection succeeds)."""
    _party_setup(tmp_path, commands_output)
    master = f"127.0.0.1:{free_port()}"
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum", "--rank", "1",
                             "--master", master, "--host", "127.0.0.1", "--identity", str(tmp_path / "id1.pem"),
                             "--roster", str(tmp_path / "roster.json"), "--value", "3", "--timeout", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        told_in = time.monotonic() - began
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first.startswith(f"nothing answers at {master} yet (Connection refused)") and "check --master" in first
    assert told_in < 15                              # the target: 15 s from the fault to the message
    assert proc.returncode == 1 and rest.strip().splitlines() == [
        f"error: MPCError: could not reach rank 0's rendezvous at {master} within 6 s (Connection refused): "
        "start rank 0 first, and check --master and the firewall"]


def test_when_rank_0_gives_up_on_a_missing_party_every_waiting_party_says_so_in_one_line(tmp_path, commands_output):
    """The dealer never comes (a laptop that died in the lobby): rank 0 names who is missing at its
    --timeout and closes the rendezvous; party 1, still waiting, says in one line that rank 0 gave up:
    no C++ warning or stack frame from torch's client, whose connection rank 0 closed."""
    _party_setup(tmp_path, commands_output)
    master = f"127.0.0.1:{free_port()}"

    def party(rank, timeout):
        return subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum", "--rank",
                                 str(rank), "--master", master, "--host", "127.0.0.1", "--identity",
                                 str(tmp_path / f"id{rank}.pem"), "--roster", str(tmp_path / "roster.json"),
                                 "--value", str(rank + 1), "--timeout", str(timeout)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    began = time.monotonic()
    procs = [party(0, 8), party(1, 60)]
    try:
        errors = [p.communicate(timeout=90)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    seconds = time.monotonic() - began
    lines = [[line for line in err.splitlines() if not line.startswith(("lobby:", "nothing answers"))] for err in errors]
    assert lines[0] == ["error: MPCTimeoutError: waited 8 s for every party to join; still missing: the dealer"]
    assert lines[1] == ["error: MPCError: party 0's rendezvous closed while we waited for the dealer: rank 0 gave "
                        "up or stopped"], errors[1]
    assert [p.returncode for p in procs] == [1, 1] and seconds < 8 + 15


def test_a_party_killed_mid_run_is_named_in_one_line_by_every_other_party(tmp_path, commands_output):
    """The data owner is killed once the computation has started (450 batches of one image: seconds of
    rounds): the model owner and the dealer each print one line naming it, with no gloo traceback."""
    _party_setup(tmp_path, commands_output)
    files, master = tmp_path / "files", f"127.0.0.1:{free_port()}"
    extra = {0: ["--model", str(files / "digits-mlp.safetensors")], 1: ["--data", str(files / "digits-test.safetensors")],
             2: []}
    procs = [subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--rank", str(rank), "--master",
                               master, "--host", "127.0.0.1", "--identity", str(tmp_path / f"id{rank}.pem"), "--roster",
                               str(tmp_path / "roster.json"), "--timeout", "60", "--batch", "1", *extra[rank]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(3)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:                   # rank 0's lobby line: everyone is here
            line = procs[0].stderr.readline()
            if "everyone is here" in line or not line:
                break
        time.sleep(0.5)
        assert procs[1].poll() is None, "the run ended before the kill"
        procs[1].kill()
        killed = time.monotonic()
        errors = [procs[rank].communicate(timeout=60)[1] for rank in (0, 2)]
        told_in = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for err in errors:
        lines = [line for line in err.splitlines() if not line.startswith(("lobby:", "nothing answers"))]
        assert lines == ["error: PartyFailedError: party 1 stopped in the middle of the computation (its connection "
                         "closed): the others cannot finish without it; start again, rank 0 first"], err
    assert told_in < 15


def test_the_room_sum_on_one_machine_each_student_typing_at_their_own_prompt(tmp_path, commands_output):
    """The single-machine (JupyterHub) version of the lab: every party on 127.0.0.1, each student's
    number typed at its own prompt (no --value), and no number appears in another party's output."""
    _party_setup(tmp_path, commands_output)
    master, typed = f"127.0.0.1:{free_port()}", {0: "1234567", 1: "7654321.5"}
    procs = {rank: subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum",
                                     "--world-size", "3", "--rank", str(rank), "--master", master, "--host",
                                     "127.0.0.1", "--identity", str(tmp_path / f"id{rank}.pem"), "--roster",
                                     str(tmp_path / "roster.json"), "--timeout", "60"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(3)}
    try:
        for rank, p in procs.items():                  # each student types at once, then everyone runs
            p.stdin.write(typed[rank] + "\n" if rank in typed else "")
            p.stdin.close()
        outputs = {rank: (p.stdout.read(), p.stderr.read()) for rank, p in procs.items()}
        for p in procs.values():
            p.wait(timeout=120)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert [procs[r].returncode for r in range(3)] == [0, 0, 0], outputs
    results = {rank: json.loads(out.strip().splitlines()[-1].rpartition("your number (kept secret): ")[2])
               for rank, (out, _) in outputs.items()}
    assert results[0]["sum"] == results[1]["sum"] == 8888888.5 and results[0]["mean"] == 4444444.25
    assert "sum" not in results[2]                                   # the dealer learns nothing
    assert "7654321" not in "".join(outputs[0]) + "".join(outputs[2])
    assert "1234567" not in "".join(outputs[1]) + "".join(outputs[2])


def test_cost_records_subtract_field_by_field():
    from course_lib.mpc.comm import Cost
    assert Cost(9, 1000, 64) - Cost(1, 200, 8) == Cost(8, 800, 56)


def test_all_reduce_adds_or_xors_and_refuses_other_operations():
    def program(ctx, op="add"):
        mine = torch.tensor([ctx.rank + 1, 6], dtype=torch.int64)
        return ctx.comm.all_reduce(mine, op)
    added, _ = mpc.run_in_process(program, op="add")
    xored, _ = mpc.run_in_process(program, op="xor")
    assert added[0].tolist() == [3, 12] and xored[1].tolist() == [3, 0]
    with pytest.raises(mpc.MPCError, match="ValueError: op must be 'add' or 'xor', not 'max'"):
        mpc.run_in_process(program, op="max", timeout=10)


# ---------------------------------------------------------------- the room-wide sum: what a student may type
@pytest.mark.parametrize("typed", ["nan", "inf", "-inf", "1e15", "-1000000001", "twelve", ""])
def test_the_room_sum_refuses_a_number_it_cannot_add_and_says_the_range(typed):
    with pytest.raises(ValueError, match="between −1,000,000,000 and 1,000,000,000"):
        mpc.programs.classroom_value(typed)
    with pytest.raises(mpc.MPCError, match="party 0 failed: ValueError: .* between −1,000,000,000 and"):  # library
        mpc.run_in_process(mpc.programs.classroom_sum, parties=2, timeout=30,
                           private_inputs={0: {"value": typed}, 1: {"value": 1.0}})


def test_the_room_sum_takes_numbers_at_the_edge_of_its_range():
    assert mpc.programs.classroom_value("-1e9") == -1e9 and mpc.programs.classroom_value(" 12.5 ") == 12.5
    results, _ = mpc.run_in_process(mpc.programs.classroom_sum, parties=2, timeout=30,
                                    private_inputs={0: {"value": 1e9}, 1: {"value": 1e9}})
    assert results[0]["sum"] == 2e9


def test_a_refused_value_ends_the_command_in_one_line_before_any_rank_is_claimed(tmp_path, capsys):
    from course_lib.mpc import party
    identity = mpc.Identity.generate()
    identity.save(tmp_path / "me.pem")
    (tmp_path / "roster.json").write_text(json.dumps({"0": identity.fingerprint, "1": identity.fingerprint,
                                                      "2": identity.fingerprint}))
    port = free_port()                                # nothing listens there: the run must not get that far
    code = party.main(["run", "--program", "sum", "--rank", "0", "--master", f"127.0.0.1:{port}",
                       "--identity", str(tmp_path / "me.pem"), "--roster", str(tmp_path / "roster.json"),
                       "--value", "nan"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["error: ValueError: 'nan' is outside the lab's range: give a number between "
                                 "−1,000,000,000 and 1,000,000,000"]


@pytest.mark.parametrize("extra, words", [
    (["--host", "192.0.2.77"], "--host 192.0.2.77 is not an address of this machine: find this laptop's address"),
    (["--host", "no-such-laptop.invalid"], "--host no-such-laptop.invalid is not an address this machine knows"),
    ([], "without --host, this party listens on the master's host 192.0.2.1, which is not an address of this machine"),
])
def test_a_wrong_or_missing_host_ends_the_command_in_one_line_before_any_rank_is_claimed(tmp_path, capsys,
                                                                                       monkeypatch, extra, words):
    """192.0.2.0/24 is TEST-NET-1 (RFC 5737): no machine has it. Checking --host binds a socket and
    sends nothing; joining the rendezvous (run_party) is replaced by a failure, so nothing is sent."""
    from course_lib.mpc import party

    def claim(*args, **kwargs):
        raise AssertionError("run_party was reached: a rank would have been claimed")
    monkeypatch.setattr(party, "run_party", claim)
    identity = mpc.Identity.generate()
    identity.save(tmp_path / "me.pem")
    (tmp_path / "roster.json").write_text(json.dumps({"0": identity.fingerprint, "1": identity.fingerprint,
                                                      "2": identity.fingerprint}))
    address = "192.0.2.1:29500" if not extra else f"127.0.0.1:{free_port()}"
    began = time.monotonic()
    code = party.main(["run", "--program", "sum", "--rank", "1", "--master", address, *extra,
                       "--identity", str(tmp_path / "me.pem"), "--roster", str(tmp_path / "roster.json"),
                       "--value", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and words in err[0] and "hostname -I" in err[0], err
    assert time.monotonic() - began < 5


def test_the_right_host_passes_the_check():
    from course_lib.mpc import party
    assert party.own_address("127.0.0.1", "127.0.0.1:29500") == "127.0.0.1"
    assert party.own_address(None, "127.0.0.1:29500") == "127.0.0.1"
    with pytest.raises(ValueError, match="--master: expected HOST:PORT"):
        party.own_address(None, "29500")


def test_the_prompt_asks_again_after_a_refused_number(monkeypatch, capsys):
    from course_lib.mpc import party
    typed = iter(["nan", "1e15", "42"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    assert party._ask_value() == 42.0
    assert [line.split(":")[0] for line in capsys.readouterr().err.splitlines()] == ["refused", "refused"]
    typed = iter(["x", "y", "z"])
    with pytest.raises(ValueError, match="'z' is not a number"):
        party._ask_value()


def test_the_dealer_of_the_room_sum_reports_no_sum():
    seen = {}

    def program(ctx, value=None):
        result = mpc.programs.classroom_sum(ctx, value)
        seen[ctx.rank] = result
        return result
    mpc.run_in_process(program, parties=2, timeout=30, private_inputs={0: {"value": 3.0}, 1: {"value": 4.0}})
    assert seen[2] is None and seen[0]["sum"] == seen[1]["sum"] == 7.0


def test_the_roster_command_builds_a_named_roster_from_read_out_fingerprints(tmp_path, capsys):
    from course_lib.mpc import party
    keys = [mpc.Identity.generate().fingerprint for _ in range(4)]
    grouped = " ".join(keys[1][i:i + 4].upper() for i in range(0, 64, 4))          # read out in groups of four
    (tmp_path / "fingerprints.txt").write_text(f"# the room, in rank order; the dealer last\nAda Lovelace {keys[0]}\n"
                                               f"\nBo {grouped}\nCafe {keys[2]}\nthe instructor {keys[3]}\n")
    assert party.main(["roster", str(tmp_path / "fingerprints.txt"), "--out", str(tmp_path / "roster.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["world_size"] == 4 and printed["ranks"]["3"] == "the dealer (the instructor)"
    roster = mpc.Roster.from_json((tmp_path / "roster.json").read_text())
    assert roster.fingerprints == dict(enumerate(keys)) and roster.names[0] == "Ada Lovelace" and roster.names[2] == "Cafe"


@pytest.mark.parametrize("lines, words", [
    (["Ada {0}", "Bo {0}", "Cy {1}"], "line 2: Bo's fingerprint is also on line 1: each party needs its own identity key"),
    (["Ada {0}", "Ada {1}", "Cy {2}"], "line 2: the name 'Ada' is taken"),
    (["Ada {0}", "Bo {0_short}", "Cy {2}"], "line 2: 'Bo"),
    (["{0}", "Bo {1}", "Cy {2}"], "line 1: "),
    (["Ada {0}", "Bo {1}"], "a roster needs at least 3 parties"),
])
def test_the_roster_command_refuses_a_pasted_twice_mistyped_or_short_list_in_one_line(tmp_path, capsys, lines, words):
    from course_lib.mpc import party
    keys = [mpc.Identity.generate().fingerprint for _ in range(3)]
    text = "\n".join(line.replace("{0_short}", keys[0][:60]).format(*keys) for line in lines)
    (tmp_path / "fingerprints.txt").write_text(text)
    assert party.main(["roster", str(tmp_path / "fingerprints.txt"), "--out", str(tmp_path / "roster.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ValueError: ") and words in err[0], err
    assert not (tmp_path / "roster.json").exists()

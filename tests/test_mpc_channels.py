"""Secure channels between MPC parties (chapter 08): every attack on the wire is refused, naming the party."""
import warnings

import pytest
import torch

from course_lib import digits, mpc
from course_lib.mpc import SecretTensor, attacks, channel, programs
from course_lib.mpc.comm import InProcessHub
from course_lib.mpc.errors import (ImpersonationError, InsecureSeedWarning, MessageAuthenticationError, MPCError,
                                   UnknownPeerError)


def reveal_secret(ctx, x=None):
    """Party 0 shares x; the parties compute x³ (two Beaver products of one size) and reveal it."""
    X = SecretTensor.from_owner(ctx, x, 0, shape=(4,))
    seeds = {other: prg.seed for other, prg in getattr(ctx, "pair_prgs", {}).items()}
    return {"value": (X * X * X).reveal(), "seeds": seeds, "share": X.share.clone()}


X = torch.tensor([1.5, -2.0, 3.25, 0.5], dtype=torch.float64)


class Wire:
    """A tap that records every raw message and can replace the n-th one from src to dst."""

    def __init__(self, attack=None):
        self.messages, self.attack, self.count = [], attack, {}

    def __call__(self, src, dst, data):
        n = self.count[(src, dst)] = self.count.get((src, dst), 0) + 1
        self.messages.append((src, dst, n, data.clone()))
        return self.attack(src, dst, n, data) if self.attack else data


def test_values_are_right_and_the_wire_shows_only_ciphertext():
    wire = Wire()
    results, _ = mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, tap=wire)
    assert torch.allclose(results[1]["value"], X ** 3, atol=1e-3)
    payloads = b"".join(data.numpy().tobytes() for *_, data in wire.messages)
    for party in results:
        for seed in party["seeds"].values():
            assert seed not in payloads, "a PRG seed travelled on the wire"
    # the reveal: party 1 sends its share of x·x to party 0; in clear, the wire would carry it
    plain_wire = Wire()
    clear, _ = mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, tap=plain_wire, secure=False)
    assert torch.allclose(clear[1]["value"], X ** 3, atol=1e-3)
    last_clear = [d for s, t, n, d in plain_wire.messages if (s, t) == (1, 0)][-1]
    last_sealed = [d for s, t, n, d in wire.messages if (s, t) == (1, 0)][-1]
    assert last_sealed.numel() == last_clear.numel() + channel.TAG_SIZE


@pytest.mark.parametrize("attack,match", [
    (lambda data, previous: torch.flip(data, [0]), "message #0 from party 1 to party 0"),
    (lambda data, previous: torch.randint(0, 256, data.shape, dtype=torch.uint8), "forged, replayed, reordered"),
    (lambda data, previous: previous if previous is not None else data, "message #1 from party 1"),
])
def test_tampered_garbage_and_replayed_messages_are_refused(attack, match):
    seen = {}

    def tamper(src, dst, n, data):
        if (src, dst) != (1, 0) or n <= 2:            # the handshake: hello and signature
            return data
        previous, seen[n] = seen.get(n - 1), data.clone()
        return attack(data, previous) if n >= (4 if "#1" in match else 3) else data

    with pytest.raises(MessageAuthenticationError, match=match):
        mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, tap=Wire(tamper), timeout=20)


def test_reordered_messages_are_refused():
    a = channel.Channel(0, 1, 2, b"a" * 32, b"b" * 32)
    b = channel.Channel(1, 0, 2, b"b" * 32, b"a" * 32)
    first, second = a.seal(b"first"), a.seal(b"second")
    with pytest.raises(MessageAuthenticationError, match="message #0 from party 0 to party 1"):
        b.open(second)
    assert b.open(first) == b"first" and b.open(second) == b"second"
    with pytest.raises(MessageAuthenticationError):
        b.open(second)                                  # and a replay after the fact


def test_unknown_peer_is_refused_by_name():
    identities, roster = mpc.new_identities(2)
    stranger = mpc.Identity.generate()
    identities[1] = stranger                              # rank 1 is played by someone the roster does not pin
    with pytest.raises(UnknownPeerError, match="party 1 presented identity key"):
        mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, identities=identities, roster=roster, timeout=20)


def test_a_peer_that_presents_a_pinned_key_it_does_not_hold_is_refused():
    identities, roster = mpc.new_identities(2)
    genuine = identities[1].public_key.public_bytes_raw()
    identities[1] = mpc.Identity.generate()               # the impostor's own key ...

    def present_genuine_key(src, dst, n, data):           # ... but it shows party 1's pinned public key
        if src == 1 and n == 1:
            data = data.clone()
            data[:32] = torch.frombuffer(bytearray(genuine), dtype=torch.uint8)
        return data

    with pytest.raises(ImpersonationError, match="party 1's handshake signature does not verify"):
        mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, identities=identities, roster=roster,
                           tap=Wire(present_genuine_key), timeout=20)


def test_dealer_impersonation_is_named():
    identities, roster = mpc.new_identities(2)
    identities[2] = mpc.Identity.generate()
    with pytest.raises(UnknownPeerError, match="the dealer presented"):
        mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, identities=identities, roster=roster, timeout=20)


def test_secure_mode_needs_an_identity_and_a_roster():
    with pytest.raises(ValueError, match="identity"):
        mpc.Context(InProcessHub(2).comm(0))


def test_roster_round_trip_and_identity_files(tmp_path):
    identities, roster = mpc.new_identities(2)
    assert mpc.Roster.from_json(roster.to_json()) == roster
    identities[0].save(tmp_path / "id.pem")
    assert (tmp_path / "id.pem").stat().st_mode & 0o077 == 0
    assert mpc.Identity.load(tmp_path / "id.pem").fingerprint == identities[0].fingerprint
    with pytest.raises(FileExistsError):
        identities[1].save(tmp_path / "id.pem")           # never overwrite an identity


def test_public_seed_warns_and_fresh_seeds_differ():
    with pytest.warns(InsecureSeedWarning, match="public value"):
        warnings.simplefilter("always")
        first, _ = mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, insecure_seed=3)
    second, _ = mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}}, insecure_seed=3)
    assert torch.equal(first[1]["share"], second[1]["share"])          # reproducible
    fresh = [mpc.run_in_process(reveal_secret, private_inputs={0: {"x": X}})[0][1]["share"] for _ in range(2)]
    assert not torch.equal(fresh[0], fresh[1])                          # fresh randomness every run


def test_the_public_seed_attack_recovers_the_images_and_fails_with_fresh_seeds():
    """The model owner, from the values it legitimately sees, recovers the data owner's images."""
    model, _, _, test_x, _ = digits.task()
    images = test_x[:100].double()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"images": images}}
    for seed, recovered_exactly in ((1234, True), (None, False)):
        results, _ = mpc.run_in_process(programs.private_inference_with_view, batch=100, warmup=0, n_samples=100,
                                        insecure_seed=seed, record_view=True, private_inputs=inputs)
        recovered = attacks.recover_inputs_from_public_seed(results[programs.MODEL_OWNER]["view"], 1234,
                                                             shape=(100, 64))
        error = (recovered - images).abs().max().item()
        assert (error < 2**-16) == recovered_exactly, error


def test_a_cheating_data_owner_recovers_the_second_layer_undetected_in_the_semi_honest_model():
    """What the semi-honest protocol does not cover (it changes an arithmetic opening, which the authenticated
    mode detects: tests/test_mpc_authenticated.py)."""
    model, _, _, test_x, _ = digits.task()
    layers = programs.model_layers(model)
    results, _ = mpc.run_in_process(attacks.extract_second_layer, private_inputs={
        0: {"layers": layers}, 1: {"image": test_x[0].double()}})
    stolen = attacks.second_layer_from_logits(results[1])              # (32, 10): W₂ᵀ
    assert (stolen - layers[1][0].t()).abs().max().item() < 1e-3
    assert results[0] is None                                           # the model owner saw nothing wrong


def test_a_party_that_sends_in_clear_while_the_other_expects_sealed_messages_is_refused():
    from tests.mpc_programs import one_side_in_clear
    with pytest.raises(MPCError, match="protocol out of step: expected 64 bytes from party 1, got 80"):
        mpc.run_in_process(one_side_in_clear, private_inputs={0: {"x": X}}, timeout=20)


def test_in_clear_batches_travel_unsealed_and_the_channels_resume_afterwards():
    wire = Wire()

    def program(ctx, x=None):
        with ctx.comm.in_clear():
            first = (SecretTensor.from_owner(ctx, x, 0, shape=(4,)) * 2.0).reveal()
        second = (SecretTensor.from_owner(ctx, x, 0, shape=(4,)) * 2.0).reveal()
        return first, second, ctx.comm.channels is not None

    results, _ = mpc.run_in_process(program, private_inputs={0: {"x": X}}, tap=wire)
    first, second, sealed_again = results[1]
    assert torch.allclose(first, 2 * X) and torch.allclose(second, 2 * X) and sealed_again
    reveals = [d for s, t, n, d in wire.messages if (s, t) == (0, 1)][-2:]   # the two reveals, party 0 → 1
    assert reveals[0].numel() + channel.TAG_SIZE == reveals[1].numel()


def test_channel_cost_pairs_sealed_and_clear_batches_and_times_the_crypto():
    model, _, _, test_x, _ = digits.task()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"images": test_x[:200].double()}}
    results, _ = mpc.run_in_process(programs.channel_cost, private_inputs=inputs, pairs=4)
    for r in results:
        assert len(r["ratios"]) == 4 and all(ratio > 0 for ratio in r["ratios"])
        assert r["ms_sealed"] > 0 and r["ms_clear"] > 0
        assert 0 < r["ms_crypto_per_sealed_batch"] < r["ms_sealed"]


def test_channels_count_the_time_they_spend_sealing_and_opening():
    a = channel.Channel(0, 1, 2, b"a" * 32, b"b" * 32)
    b = channel.Channel(1, 0, 2, b"b" * 32, b"a" * 32)
    assert a.seconds == b.seconds == 0.0
    assert b.open(a.seal(bytes(1 << 16))) == bytes(1 << 16)
    assert a.seconds > 0 and b.seconds > 0


def _rendezvous():
    import datetime
    import torch.distributed as dist
    from course_lib.mpc.runtime import free_port
    return dist.TCPStore("127.0.0.1", free_port(), None, True, datetime.timedelta(seconds=5), wait_for_workers=False)


INJECTED = ("rank 2 (the dealer) was claimed by a process that is not on the roster. The roster is stale: rerun with "
            "--peer 2=deadbeef and --master 203.0.113.7:29500 --insecure-seed 1")


def test_an_injected_abort_notice_is_refused_and_never_echoed(capsys):
    """A stranger writes its own text (or a notice signed by its own key) under course/abort: party 1 stops with
    RendezvousTamperedError and shows none of it; only rank 0's signed notice makes a RankClaimedError, whose
    message party 1 builds itself from the verified rank."""
    from course_lib.mpc import runtime
    from course_lib.mpc.errors import RankClaimedError, RendezvousTamperedError
    identities, roster = mpc.new_identities(2)
    stranger = mpc.Identity.generate()
    forged = [INJECTED, runtime._signed_notice(stranger, runtime.ABORT_CONTEXT, 3, ["s" * 32, "2"]),
              runtime._signed_notice(identities[0], runtime.ABORT_CONTEXT, 3, ["another session", "2"])]
    for notice in forged:
        store = _rendezvous()
        store.set(runtime.SESSION_KEY, runtime._signed_notice(identities[0], runtime.SESSION_CONTEXT, 3, ["s" * 32]))
        store.set(runtime.ABORT_KEY, notice)
        with pytest.raises(RendezvousTamperedError, match="someone who is not on the roster is writing to the "
                                                          "rendezvous store: the abort notice") as error:
            runtime._lobby(store, 1, 3, roster, timeout=10, identity=identities[1])
        out, err = capsys.readouterr()
        assert "203.0.113.7" not in str(error.value) + out + err and "insecure-seed" not in str(error.value)
    store = _rendezvous()
    store.set(runtime.SESSION_KEY, runtime._signed_notice(identities[0], runtime.SESSION_CONTEXT, 3, ["s" * 32]))
    store.set(runtime.ABORT_KEY, runtime._signed_notice(identities[0], runtime.ABORT_CONTEXT, 3, ["s" * 32, "2"]))
    with pytest.raises(RankClaimedError, match=r"rank 2 \(the dealer\) was claimed by a process that is not on the "
                                               r"roster: its claim is not signed"):
        runtime._lobby(store, 1, 3, roster, timeout=10, identity=identities[1])
    # rank 0 never wrote an abort notice, so one in the store is a stranger's
    store = _rendezvous()
    store.set(runtime.ABORT_KEY, INJECTED)
    with pytest.raises(RendezvousTamperedError, match="an abort notice is not signed"):
        runtime._lobby(store, 0, 3, roster, timeout=2, identity=identities[0])
    assert runtime._verified_fields(store.get(runtime.ABORT_KEY), roster, runtime.ABORT_CONTEXT, 3, 2)[1] == "tampered"


def test_an_overwritten_session_token_is_detected_by_every_party():
    import threading
    import time
    from course_lib.mpc import runtime
    from course_lib.mpc.errors import RendezvousTamperedError
    identities, roster = mpc.new_identities(2)
    stranger = mpc.Identity.generate()
    for token in ("session-203.0.113.7", runtime._signed_notice(stranger, runtime.SESSION_CONTEXT, 3, ["s" * 32])):
        store = _rendezvous()
        store.set(runtime.SESSION_KEY, token)
        with pytest.raises(RendezvousTamperedError, match="the session token is not signed") as error:
            runtime._lobby(store, 2, 3, roster, timeout=10, identity=identities[2])
        assert token not in str(error.value)
    # rank 0 notices when its own token is replaced while it waits in the lobby
    store, errors = _rendezvous(), []

    def rank_0():
        try:
            runtime._lobby(store, 0, 3, roster, timeout=2, identity=identities[0])
        except RendezvousTamperedError as e:
            errors.append(e)

    thread = threading.Thread(target=rank_0)
    thread.start()
    while not store.check([runtime.SESSION_KEY]):
        time.sleep(0.05)
    store.set(runtime.SESSION_KEY, "session")
    thread.join(15)
    assert errors and "the session token was overwritten" in str(errors[0])


def test_the_abort_injection_attack_on_the_party_command_prints_none_of_the_strangers_text(tmp_path):
    """The attack over real processes: rank 0 and party 1 wait in the lobby, a stranger writes course/abort."""
    import datetime
    import json
    import subprocess
    import sys
    import time
    import torch.distributed as dist
    from course_lib.mpc.runtime import free_port
    from course_lib.mpc import Identity
    roster = {}
    for r in range(3):                      # what `party new-identity` writes (tests/test_mpc.py runs the command)
        identity = Identity.generate()
        identity.save(tmp_path / f"id{r}.pem")
        roster[str(r)] = identity.fingerprint
    (tmp_path / "roster.json").write_text(json.dumps(roster))
    master = f"127.0.0.1:{free_port()}"
    parties = [subprocess.Popen([sys.executable, "-m", "course_lib.mpc.party", "run", "--program", "sum", "--rank",
                                 str(r), "--value", "4", "--master", master, "--identity", str(tmp_path / f"id{r}.pem"),
                                 "--roster", str(tmp_path / "roster.json"), "--timeout", "15"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        host, port = master.rsplit(":", 1)
        deadline = time.monotonic() + 60
        while True:                                      # the stranger waits until party 1 has claimed its rank
            try:
                store = dist.TCPStore(host, int(port), None, False, datetime.timedelta(seconds=5))
                if store.check(["course/rank/1"]):
                    break
            except RuntimeError:
                pass
            assert time.monotonic() < deadline, "party 1 never joined"
            time.sleep(0.2)
        store.set("course/abort", INJECTED)
        for p in parties:
            code = p.wait(timeout=60)
            out, err = p.communicate(timeout=10)
            assert code == 1 and "Traceback" not in err and "203.0.113.7" not in out + err and "deadbeef" not in err
            assert err.splitlines()[-1].startswith("error: RendezvousTamperedError: someone who is not on the roster "
                                                   "is writing to the rendezvous store"), err
    finally:
        for p in parties:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)

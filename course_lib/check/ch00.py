"""Exercise checks for chapter 00 (welcome and threat model)."""
import hashlib

from .. import timing
from ._framework import exercise


__all__ = ["tool_for_threat", "seconds_to_process"]

THREATS = (
    "a stolen backup disk holding the training images",
    "an eavesdropper on the network between data owner and trainer",
    "an attacker who swaps a few training samples in the shared bucket",
    "a model file replaced on the model hub by a backdoored one",
    "two hospitals that want to train on their joint data without showing it to each other",
    "a cloud provider that must run inference without seeing the patient's input",
    "membership inference: the released model reveals who was in the training set",
)
TOOLS = ("aead", "tls", "signature", "mpc", "dp")
# The accepted answers, kept as truncated SHA-256 digests of "threat\ntool" so that this file is no
# answer key to read. The swapped-samples threat accepts two tools: AEAD with the sample's index as
# associated data also catches swapped samples, if the attacker lacks the key.
_ACCEPTED = {
    THREATS[0]: {"3fd11ba42ed08aaf"},
    THREATS[1]: {"4e018478ae75cb95"},
    THREATS[2]: {"152db25e24d9662d", "cd7971094c67fde6"},
    THREATS[3]: {"fdc0fddccef461c7"},
    THREATS[4]: {"fa3d1d4ef99439ff"},
    THREATS[5]: {"23731d0ff4589832"},
    THREATS[6]: {"23975f50f06b9ef2"},
}


def _digest(threat: str, tool) -> str:
    return hashlib.sha256(f"{threat}\n{tool}".encode()).hexdigest()[:16]


@exercise(hint=['Where is the data when the threat happens — at rest, in transit, in use, or in what the trained model reveals?',
                'Then ask whether the worry is that someone reads the data (secrecy) or changes it unseen (integrity). The tool-per-threat table pairs each case with one tool.',
                'Two threats are about who is in the training set or about computing on data nobody may see: those are not answered by encryption at rest or in transit.'],
          task="tool_for_threat(threat: str) -> str, one of 'aead', 'tls', 'signature', 'mpc', 'dp' (reread the tool-per-threat table).")
def tool_for_threat(fn, t, rng):
    for threat in THREATS:
        answer = fn(threat)
        t.true(answer in TOOLS, f"tool_for_threat({threat!r}) returned {answer!r}: answer one of {', '.join(TOOLS)}")
        t.true(_digest(threat, answer) in _ACCEPTED[threat],
               f"tool_for_threat({threat!r}) returned {answer!r}, which does not answer this threat")


@exercise(hint=["Check your units: how many bytes are in one of the MB of 'MB/s'?",
                'Turn the speed into bytes per second first; the rest is one division. Test your function on 10**6 bytes at 1 MB/s: that must take exactly 1 second.'],
          task='seconds_to_process(nbytes: int, mb_per_s: float) -> float, the seconds to process nbytes at that speed (reread the timing race).',
          reference=lambda: timing.seconds_for)
def seconds_to_process(fn, t, rng):
    known = [(150 * 10**9, 1000.0, 150.0), (10**6, 1.0, 1.0), (0, 5.0, 0.0)]
    for nbytes, mb_s, expected in known:
        got = fn(nbytes, mb_s)
        t.true(abs(got - expected) <= 1e-9 * max(1.0, expected),
               f"seconds_to_process({nbytes}, {mb_s}) should be {expected}, got {got!r}")
    for _ in range(50):
        nbytes, mb_s = rng.randrange(0, 10**12), rng.uniform(0.01, 20_000)
        expected = nbytes / (mb_s * 1e6)
        got = fn(nbytes, mb_s)
        t.true(abs(got - expected) <= 1e-9 * max(1.0, expected),
               f"seconds_to_process({nbytes}, {mb_s}) should be {expected}, got {got!r}", kind="random")

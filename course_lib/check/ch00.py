"""Exercise checks for chapter 00 (welcome and threat model)."""
from ._framework import exercise

# Threat -> the tool that answers it; the chapter's table explains each row. Where two tools both
# answer a threat, either is accepted (see ACCEPTED_ALTERNATIVES).
THREAT_TOOLS = {
    "a stolen backup disk holding the training images": "aead",
    "an eavesdropper on the network between data owner and trainer": "tls",
    "an attacker who swaps a few training samples in the shared bucket": "signature",
    "a model file replaced on the model hub by a backdoored one": "signature",
    "two hospitals that want to train on their joint data without showing it to each other": "mpc",
    "a cloud provider that must run inference without seeing the patient's input": "mpc",
    "membership inference: the released model reveals who was in the training set": "dp",
}
TOOLS = ("aead", "tls", "signature", "mpc", "dp")
# AEAD with the sample's index as associated data also catches swapped samples, if the attacker lacks the key.
ACCEPTED_ALTERNATIVES = {"an attacker who swaps a few training samples in the shared bucket": ("aead",)}


@exercise(hint=['Where is the data when the threat happens — at rest, in transit, in use, or in what the trained model reveals?',
                "Ask where the data is (at rest, in transit, in use, or in what the model reveals) and "
               "whether the worry is secrecy or integrity. Answers are one of: " + ", ".join(TOOLS) + "."],
          task="tool_for_threat(threat: str) -> str, one of 'aead', 'tls', 'signature', 'mpc', 'dp' (reread the tool-per-threat table).")
def tool_for_threat(fn, t, rng):
    for threat, tool in THREAT_TOOLS.items():
        answer = fn(threat)
        if answer in ACCEPTED_ALTERNATIVES.get(threat, ()):
            t.true(True, "")
            continue
        t.equal(answer, tool, f"tool_for_threat({threat!r})")


@exercise(hint=["Check your units: how many bytes are in one of the MB of 'MB/s'?",
                "seconds = bytes / (megabytes_per_second × 10**6); a MB here is 10**6 bytes."],
          task='seconds_to_process(nbytes: int, mb_per_s: float) -> float, the seconds to process nbytes at that speed (reread the timing race).')
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

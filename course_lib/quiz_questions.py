"""The questions of the end-of-chapter quizzes (``course_lib.quiz``); misconception questions first."""

__all__ = ["QUIZZES"]

QUIZZES = {
    "00": [
        dict(prompt="“Symmetric encryption is also called public-key encryption.” Is it?",
             options=("Yes, the two names mean the same", "No: symmetric means one shared secret key; public-key means "
                      "a key pair", "Only when AES is used"),
             answer=1, misconception=True,
             explanation="Symmetric ciphers (AES, ChaCha20) use one secret key to encrypt and decrypt. Public-key "
                         "cryptography uses a public key anyone may hold and a private key that never leaves its owner."),
        dict(prompt="A backup disk with the training images is stolen. Which tool answers this threat?",
             options=("TLS", "Authenticated encryption at rest (AEAD)", "Differential privacy", "MPC"),
             answer=1,
             explanation="The data is at rest: encrypting it (with an AEAD, which also detects tampering) makes the "
                         "stolen disk useless without the key. TLS protects data in transit."),
        dict(prompt="Two hospitals want to train on their joint data without showing it to each other. Which tool?",
             options=("Encrypt each dataset with AES and exchange the keys", "Secure multi-party computation",
                      "Hash the patient records", "Sign the datasets"),
             answer=1,
             explanation="MPC computes on secret shares, so neither hospital (nor any single party) sees the other's "
                         "data. Exchanging keys would simply show the data; hashing and signing give no computation."),
        dict(prompt="What does a threat model say?",
             options=("Which encryption algorithm to use", "Who may attack which asset, at which stage, with what "
                      "abilities — and what is not protected", "How fast the encryption is"),
             answer=1,
             explanation="A protection is only meaningful against a stated attacker; every chapter opens with its "
                         "threat model and says what it does not protect."),
    ],
    "01": [
        dict(prompt="A 150 GB dataset must be encrypted at rest. Why not as one AES-GCM message?",
             options=("AES-GCM is too slow for 150 GB", "One GCM message holds at most about 64 GiB (NIST SP 800-38D)",
                      "GCM cannot encrypt binary data"),
             answer=1, misconception=True,
             explanation="GCM's 32-bit block counter limits one message to 2³⁹ − 256 bits ≈ 64 GiB; large data is "
                         "encrypted as a stream of authenticated chunks (chapter 04). Speed is not the issue."),
        dict(prompt="What goes wrong if two messages are encrypted with AES-GCM under the same key and nonce?",
             options=("Nothing, the nonce is public", "The XOR of the two plaintexts leaks, and forgeries become possible",
                      "Decryption fails"),
             answer=1,
             explanation="The same key and nonce give the same keystream, so c1 ⊕ c2 = m1 ⊕ m2; GCM's authentication "
                         "key also leaks. A nonce must be unique per key."),
        dict(prompt="Why does the ECB penguin stay recognisable?",
             options=("AES is weak", "ECB encrypts equal blocks to equal ciphertext blocks",
                      "The key was too short"),
             answer=1,
             explanation="ECB has no IV or counter: each 16-byte block is encrypted alone, so patterns of equal blocks "
                         "survive. Never use ECB."),
        dict(prompt="How should a key be made from a password?",
             options=("SHA-256 of the password", "A slow, salted password-based KDF such as Argon2id",
                      "Pad the password to 32 bytes"),
             answer=1,
             explanation="Passwords are guessable; a fast hash lets an attacker try billions per second. Argon2id "
                         "(or scrypt, PBKDF2) with a random salt makes every guess expensive."),
    ],
    "02": [
        dict(prompt="A dataset's patient IDs were replaced by their SHA-256. Is it anonymous?",
             options=("Yes: a hash cannot be reversed", "No: IDs from a small domain are found by hashing every "
                      "candidate", "Only if SHA-3 is used"),
             answer=1, misconception=True,
             explanation="A hash has no inverse, but an attacker who can list the possible IDs hashes them all and "
                         "compares — the chapter re-identified 2,000 patients in a fraction of a second."),
        dict(prompt="Why is sha256(key ‖ message) a bad MAC?",
             options=("SHA-256 is broken", "Length extension: from the tag anyone can compute the tag of message ‖ "
                      "padding ‖ suffix", "It is too slow"),
             answer=1,
             explanation="SHA-256's digest is its internal state; hashing can continue from it without the key. "
                         "HMAC hashes the key twice around the message and is immune."),
        dict(prompt="What does a Merkle root let a collaborator check with only one sample and a few hashes?",
             options=("That the sample belongs to the published dataset", "Who created the dataset",
                      "That the dataset is encrypted"),
             answer=0,
             explanation="An inclusion proof — the siblings on the path to the root, ⌈log₂ n⌉ hashes — proves "
                         "membership. Who published the root is a question for signatures (chapter 03)."),
        dict(prompt="Why compare MAC tags with hmac.compare_digest rather than ==?",
             options=("It is faster", "Its time does not depend on where the tags differ, so timing leaks nothing",
                      "== does not work on bytes"),
             answer=1,
             explanation="== stops at the first different byte; an attacker who can time the check can guess a tag "
                         "byte by byte (a timing attack)."),
    ],
    "03": [
        dict(prompt="“Use PyCrypto for asymmetric encryption.” Good advice?",
             options=("Yes, it is the standard library", "No: PyCrypto is unmaintained since 2013 (CVE-2013-7459); "
                      "use cryptography or PyCryptodome", "Only on Linux"),
             answer=1, misconception=True,
             explanation="PyCrypto has known unfixed vulnerabilities. PyCryptodome is its maintained successor; the "
                         "course uses pyca/cryptography and checks interoperability with PyCryptodome."),
        dict(prompt="Why must textbook RSA never encrypt data as is?",
             options=("It is too slow", "It is deterministic and malleable: equal labels give equal ciphertexts",
                      "Its keys are too long"),
             answer=1,
             explanation="Without OAEP's randomness, anyone can encrypt the few possible labels and compare. Use "
                         "RSA-OAEP, or better, hybrid encryption."),
        dict(prompt="Mallory replaces Alice's public key in transit. What stops the attack?",
             options=("A longer key", "Checking the key's fingerprint out of band, or a certificate from a pinned CA",
                      "Encrypting twice"),
             answer=1,
             explanation="Public-key encryption assumes the right public key. Authenticate it: fingerprint, pinning, "
                         "or a certificate signed by a CA you already trust."),
        dict(prompt="In X25519 hybrid encryption, what carries the message's data?",
             options=("RSA", "An AEAD (AES-GCM) under a key derived with HKDF from the shared secret",
                      "The X25519 public key itself"),
             answer=1,
             explanation="Public-key agreement produces a shared secret; HKDF turns it into a symmetric key; the "
                         "AEAD encrypts any amount of data."),
    ],
    "04": [
        dict(prompt="Each sample is encrypted separately with AES-GCM and a random nonce. What can an attacker "
                    "still do without the key?",
             options=("Nothing", "Swap, reorder or drop samples unnoticed, unless their position is bound as "
                      "associated data and the end is marked", "Read the samples"),
             answer=1, misconception=True,
             explanation="Each ciphertext verifies on its own. Binding the index (associated data) catches swaps; "
                         "the container's chunk counter and last-chunk flag also catch truncation."),
        dict(prompt="What does rotating the key-encryption key (KEK) in a KMS change?",
             options=("It re-encrypts all the data", "Only the wrapped data keys; the data stays encrypted under the "
                      "same data key", "Nothing at all"),
             answer=1,
             explanation="Envelope encryption: the data is encrypted once with a data key; the KEK wraps that key. "
                         "Real revocation of someone who saw the data key needs re-encryption."),
        dict(prompt="Why does a signed statement bind the exact file, not only the dataset's name?",
             options=("To make the signature shorter", "So that a different file — forged or older — cannot pass "
                      "as the release", "Because names are secret"),
             answer=1,
             explanation="A reader pins the signer, the name and a minimum version, and checks the file's digests "
                         "against the statement before trusting a byte of it."),
    ],
    "05": [
        dict(prompt="Is torch.load(path, weights_only=True) a proof that a file is safe?",
             options=("Yes, it refuses all code", "No: it is a restricted unpickler, a mitigation whose safety "
                      "depends on the version (CVE-2025-32434)", "Only for .pt files"),
             answer=1, misconception=True,
             explanation="Use it, never turn it off for files you did not make, but prefer a format that cannot "
                         "carry code (safetensors) and a strict parser."),
        dict(prompt="torch.load suggests add_safe_globals([getattr]) to load a refused file. Should you?",
             options=("Yes, it is the documented fix", "No: allow-listing getattr lets the file reach any function, "
                      "and the payload runs", "Only with weights_only=False"),
             answer=1,
             explanation="The refusal is the answer: ask for the weights in a format without code."),
        dict(prompt="What does a weights fingerprint identify?",
             options=("The model's architecture", "Exactly these weights: any change of a value, name, dtype or "
                      "shape changes it", "Who trained the model"),
             answer=1,
             explanation="It is a hash of a canonical encoding. Who made the weights is what a signed statement adds."),
        dict(prompt="A validly signed older model (version 1) replaces version 2. What refuses it?",
             options=("The signature check alone", "A pinned minimum version (and name) in the reader",
                      "Encryption"),
             answer=1,
             explanation="Version 1's signature is genuine; only a pinned minimum version turns the rollback into an "
                         "error."),
    ],
    "06": [
        dict(prompt="Once data and model are encrypted at rest and in transit, is training private?",
             options=("Yes", "No: the training machine holds the plaintext data, the gradients and the model in memory",
                      "Only without GPUs"),
             answer=1, misconception=True,
             explanation="Whoever runs the trainer can read them; gradients can even reveal training images. MPC, "
                         "homomorphic encryption or a TEE address data in use."),
        dict(prompt="The trainer checks the file's SHA-256, then opens the path again to train. What is wrong?",
             options=("Nothing", "An attacker can swap the file between the check and the use (TOCTOU)",
                      "SHA-256 is too weak"),
             answer=1,
             explanation="Verify what you use: read once, check those bytes (or the descriptor you decrypt from), "
                         "and use exactly them."),
        dict(prompt="How does the encrypted pipeline's accuracy compare with its plaintext twin?",
             options=("Lower, encryption adds noise", "Identical: the same weights, since encryption is exact and "
                      "undone before training", "Higher"),
             answer=1,
             explanation="Encryption at rest changes where and how data is stored, not the numbers the model sees."),
    ],
    "07": [
        dict(prompt="In MPC, do the parties send their encrypted data to a middleman who decrypts and computes?",
             options=("Yes, that is MPC", "No: no single party ever sees the inputs; they compute on random-looking "
                      "shares", "Only in the malicious model"),
             answer=1, misconception=True,
             explanation="A dealer may hand out correlated randomness (Beaver triples), never data. MPC replaces one "
                         "trusted middleman with several parties that must not collude."),
        dict(prompt="Which operation on additive shares needs communication?",
             options=("Adding two shared values", "Multiplying two shared values",
                      "Multiplying a shared value by a public constant"),
             answer=1,
             explanation="Additions and public scalings are local. A product of two secrets needs a Beaver triple and "
                         "one round of openings."),
        dict(prompt="Why may a Beaver triple never be used twice?",
             options=("It wears out", "The openings e = x − a and e′ = x′ − a reveal x − x′", "It slows down"),
             answer=1,
             explanation="The mask a hides x only once, like a one-time pad."),
        dict(prompt="What does the dealer receive in the course's runtime?",
             options=("Shares of the inputs", "Nothing that depends on the data: it runs the same program and "
                      "receives zeros", "The outputs"),
             answer=1,
             explanation="It only derives and sends correlated randomness; it must not collude with a computing party."),
    ],
    "08": [
        dict(prompt="Private inference with MPC: what does the model owner learn?",
             options=("The images", "Nothing but what is revealed to it — sizes, the architecture, the timing",
                      "The predictions"),
             answer=1, misconception=True,
             explanation="Only the agreed output is opened, here to the data owner; shapes and timing are public in "
                         "MPC anyway."),
        dict(prompt="Why are the course's MPC runs never seeded with a public number outside tests?",
             options=("It would be slower", "Every party's PRG would be derivable, so anyone who knows the seed "
                      "recovers every input", "Seeds are not allowed in Python"),
             answer=1,
             explanation="Chapter 08 recovers the images from a public seed exactly; fresh seeds come from "
                         "authenticated key agreement."),
        dict(prompt="A party adds a constant to what it opens in a Beaver product. What detects this?",
             options=("Secure channels", "SPDZ-style MACs: the MAC check before any output fails and the run aborts",
                      "Nothing can"),
             answer=1,
             explanation="Channels keep outsiders out; MACs catch a cheating insider's change to an arithmetic opening "
                         "such as this one, at roughly twice the rounds. In Z_2^64 an error in a high bit escapes more "
                         "often (one in the top bit 3 times in 4), and the comparison's XOR openings carry no MAC at "
                         "all (chapter 08 §4)."),
        dict(prompt="Differential privacy bounds what?",
             options=("The accuracy loss", "How much any one person's data can change the probability of any output "
                      "(a factor e^ε)", "The size of the model"),
             answer=1,
             explanation="DP is a property of a randomised mechanism; it limits membership inference to a bound "
                         "that depends on ε."),
    ],
    "09": [
        dict(prompt="A model is trained inside MPC and answers queries through private inference. Is it private?",
             options=("Yes: nobody sees the data", "Its inputs are, but its outputs still reveal membership and let "
                      "clients copy it", "Only if the dealer is honest"),
             answer=1, misconception=True,
             explanation="Section 3 measures the same membership advantage through MPC as in plaintext; section 4 "
                         "copies the model through the service."),
        dict(prompt="An honest server sees only the sum of 32 clients' one-image gradients. What can inversion recover?",
             options=("Nothing: a sum hides every image", "The sum is the gradient of a batch of 32: inverted as a batch, "
                      "some images may come back, fewer as the batch grows", "Every client's exact image"),
             answer=1,
             explanation="A sum of k one-image gradients is the gradient of a batch of k, and section 2 inverts it as "
                         "one. Aggregation makes inversion harder as k and the local steps grow, but bounds nothing; "
                         "differential privacy (chapter 10) does."),
        dict(prompt="A server running secure aggregation sends a model with an 'imprint' first layer. What happens?",
             options=("Nothing: aggregation hides every update", "Images whose brightness bin holds one image come "
                      "back exactly from the sum", "The clients' training fails"),
             answer=1,
             explanation="Robbing the Fed: aggregation protects against an honest server, not one that crafts the "
                         "model."),
        dict(prompt="The service returns only labels. Can a client still copy the model?",
             options=("No, labels carry no information", "Yes: labels of its own inputs are a training set",
                      "Only with the model's weights"),
             answer=1,
             explanation="Exercise 3 trains a copy from labels alone; confidences only make it cheaper."),
    ],
    "10": [
        dict(prompt="In federated learning the data never leaves the hospitals. Is the training private?",
             options=("Yes: only model updates are sent", "No: the server can turn one update back into training "
                      "data, and the model still reveals members", "Only with IID data"),
             answer=1, misconception=True,
             explanation="Section 1 inverts one client's update and section 2.4 a sum of them, as a batch; secure "
                         "aggregation hides each update, and only DP bounds what the sum and the model reveal."),
        dict(prompt="Why does each client add a self-mask on top of the pairwise masks?",
             options=("To make the sum more random", "So that a client wrongly declared dropped (its mask key "
                      "rebuilt) still has its update hidden", "To save bandwidth"),
             answer=1,
             explanation="The server asks for one secret per client: the mask key of a dropped one, the self-mask "
                         "seed of one that sent its input. Never both."),
        dict(prompt="Ten clients each send 16-bit values, summed in a ring of 16 bits. What happens?",
             options=("A clear error", "The sum wraps around modulo 2^16 and is silently wrong",
                      "The values are rounded"),
             answer=1,
             explanation="The ring needs 16 + ⌈log₂ 10⌉ = 20 bits; secagg.Config refuses fewer."),
        dict(prompt="An audit measures a membership advantage of 0.12 against a model trained with ε = 1. "
                    "What does it show?",
             options=("That the model's true ε is about 0.12", "That the implementation did not break the bound; "
                      "not that ε is tight", "That DP failed"),
             answer=1,
             explanation="An attack gives a lower bound on leakage; ε is an upper bound. Beating the bound would "
                         "reveal a bug."),
    ],
    "11": [
        dict(prompt="A hospital's images are classified by a server under homomorphic encryption. Is the model's "
                    "use private?",
             options=("Yes: everything is encrypted", "The images are hidden from the server, but the scores the "
                      "client decrypts still leak the model and its training data", "Only with bootstrapping"),
             answer=1, misconception=True,
             explanation="Section 5 copies the model through the encrypted service, as chapter 09 did in plaintext."),
        dict(prompt="With Paillier, what does multiplying two ciphertexts E(a)·E(b) mod n² give?",
             options=("E(a·b)", "E(a + b)", "Nothing meaningful"),
             answer=1,
             explanation="Paillier is additively homomorphic; no operation gives E(a·b) from the two ciphertexts."),
        dict(prompt="TenSEAL raises \"scale out of bounds\" on the fourth multiplication. Why?",
             options=("The values grew too large", "The modulus chain had three levels: each multiplication "
                      "consumed one prime when rescaling", "The key expired"),
             answer=1,
             explanation="A circuit of depth d needs d middle primes; derive the chain from the depth."),
        dict(prompt="Why does column packing make encrypted inference of 450 images much cheaper per image?",
             options=("It uses a smaller key", "Each ciphertext holds one pixel of every image, so one operation "
                      "serves all images and no rotations are needed", "It skips the activation"),
             answer=1,
             explanation="The cost of a batch is about the same for 1 or 4096 images: it amortises."),
    ],
}

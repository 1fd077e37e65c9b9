"""Exercise checks for chapter 03 (public-key cryptography)."""
import os

from cryptography.hazmat.primitives.asymmetric import x25519

from ..toy import rsa
from ._framework import exercise


__all__ = ["rsa_from_primes", "guess_the_label", "hybrid_encryption"]


@exercise(hint=["d must undo e modulo λ(n); Python's pow can compute a modular inverse.",
                'λ(n) for n = p·q is the least common multiple of p − 1 and q − 1 (math.lcm). pow(x, -1, m) inverts x modulo m.'],
          task='rsa_from_primes(p, q, e) -> (n, d) with d the inverse of e modulo λ(n) = lcm(p − 1, q − 1) (reread section 2).')
def rsa_from_primes(fn, t, rng):
    n, d = fn(61, 53, 17)
    t.equal(n, 3233, "n for p=61, q=53")
    t.true(17 * d % 780 == 1, f"d={d} is not an inverse of e=17 modulo lcm(60, 52) = 780")
    for _ in range(8):
        p, q = rsa.random_prime(64), rsa.random_prime(64)
        while q == p:
            q = rsa.random_prime(64)
        n, d = fn(p, q, 65537)
        t.equal(n, p * q, "n = p·q for random 64-bit primes", kind="random")
        m = rng.randrange(2, n)
        t.true(pow(pow(m, 65537, n), d, n) == m, "decrypt(encrypt(m)) must give m back", kind="random")


@exercise(hint=['Textbook RSA is deterministic: the same label always encrypts to the same number.',
                'You hold the public key and the list of possible labels: what can you compute for each candidate, and compare with what you intercepted?'],
          task='guess_the_label(n, e, ciphertext, candidates) -> the candidate label whose textbook-RSA encryption equals ciphertext (reread section 3).')
def guess_the_label(fn, t, rng):
    key = rsa.generate(512)
    labels = ["cat", "dog", "malignant", "benign", "approved", "denied"]
    for label in labels:
        c = rsa.encrypt(key.public, int.from_bytes(label.encode(), "big"))
        t.equal(fn(key.public.n, key.public.e, c, labels), label, f"ciphertext of {label!r}")
    for _ in range(5):
        candidates = [f"patient-{i:04d}" for i in rng.sample(range(10_000), 50)]
        secret = rng.choice(candidates)
        c = rsa.encrypt(key.public, int.from_bytes(secret.encode(), "big"))
        t.equal(fn(key.public.n, key.public.e, c, candidates), secret, "one of 50 patient IDs", kind="random")


class _PublicKeyOnly:
    """Looks like the recipient's private key but only knows the public key: opening must fail."""

    def __init__(self, public):
        self._public = public

    def public_key(self):
        return self._public

    def exchange(self, peer):
        return os.urandom(32)


@exercise(hint=['One fresh X25519 key per message; the shared secret is not yet a key — what turns it into one?',
                'A key-derivation function: HKDF with SHA-256 (reread the X25519 cell), 32 bytes out for AES-256-GCM. Its input is the X25519 shared secret, not a private or public key.',
                "The recipient needs three things to open: the sender's ephemeral public key, the nonce and the ciphertext. Put them in one byte string in a fixed layout."],
          task='seal(recipient_public_key, message: bytes) -> bytes and open_sealed(private_key, sealed) -> bytes with X25519 + HKDF + AES-GCM; opening must fail for any other key or changed bytes (reread section 6).')
def hybrid_encryption(fns, t, rng):
    seal, open_ = fns
    alice, mallory = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    for size in (0, 1, 100, 100_000):
        message = os.urandom(size)
        sealed = seal(alice.public_key(), message)
        t.true(isinstance(sealed, bytes), "seal must return bytes")
        t.true(open_(alice, sealed) == message, f"open(seal({size} bytes)) must give the message back", kind="random")
        t.true(seal(alice.public_key(), message) != sealed, "two seals of the same message must differ")
        if size >= 16:
            t.true(message not in sealed, "the plaintext must not appear in the sealed output")
        for label, args in (("the wrong private key", (mallory, sealed)),
                            ("only the public key (an impostor object without the private key)",
                             (_PublicKeyOnly(alice.public_key()), sealed)),
                            ("a flipped last byte", (alice, sealed[:-1] + bytes([sealed[-1] ^ 1]))),
                            ("a flipped first byte", (alice, bytes([sealed[0] ^ 1]) + sealed[1:]))):
            try:
                open_(*args)
            except ValueError:  # InvalidTag is not a ValueError; accept both below
                t.true(True, "")
                continue
            except Exception as error:
                t.true(type(error).__name__ in ("InvalidTag", "DecryptionError", "WrongRecipientError"),
                       f"opening with {label} raised {type(error).__name__}, expected an authentication error")
                continue
            t.true(False, f"opening with {label} must raise")

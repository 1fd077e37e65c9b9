"""Homomorphic encryption (chapter 11): toy Paillier, CKKS parameters, precision and encrypted inference."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import course_lib as cl
from course_lib import he
from course_lib.errors import ChainTooShortError
from course_lib.toy import paillier

KEY = paillier.generate(512)
HALF = KEY.public.n // 2


@given(st.integers(-HALF, HALF))
@settings(max_examples=60, deadline=None)
def test_paillier_round_trips_and_is_randomised(m):
    first, second = paillier.encrypt(KEY.public, m), paillier.encrypt(KEY.public, m)
    assert paillier.decrypt(KEY, first) == m == paillier.decrypt(KEY, second)
    assert first != second                                   # a fresh r each time: equal messages do not show


@given(st.integers(-HALF // 4, HALF // 4), st.integers(-HALF // 4, HALF // 4), st.integers(-1000, 1000))
@settings(max_examples=60, deadline=None)
def test_paillier_adds_ciphertexts_and_multiplies_by_constants(a, b, k):
    ca, cb = paillier.encrypt(KEY.public, a), paillier.encrypt(KEY.public, b)
    assert paillier.decrypt(KEY, paillier.add(KEY.public, ca, cb)) == a + b
    assert paillier.decrypt(KEY, paillier.add_plain(KEY.public, ca, k)) == a + k
    if abs(a * k) <= HALF:
        assert paillier.decrypt(KEY, paillier.multiply_plain(KEY.public, ca, k)) == a * k


def test_paillier_cannot_multiply_two_ciphertexts_and_refuses_oversized_messages():
    ca, cb = paillier.encrypt(KEY.public, 6), paillier.encrypt(KEY.public, 7)
    assert paillier.decrypt(KEY, ca * cb % KEY.public.n_squared) == 13            # the product of ciphertexts adds
    assert paillier.ciphertext_bytes(KEY.public) == 128
    with pytest.raises(ValueError, match="must lie in"):
        paillier.encrypt(KEY.public, KEY.public.n)


def test_chain_and_ring_dimension_follow_the_depth():
    assert he.chain_for_depth(3) == [50, 30, 30, 30, 50]
    assert he.parameters_for_depth(1, 20, 40) == (4096, [40, 20, 40])
    assert he.parameters_for_depth(3) == (8192, [50, 30, 30, 30, 50])
    assert he.parameters_for_depth(7, 40, 60) == (16384, [60] + [40] * 7 + [60])
    assert he.parameters_for_depth(8, 40, 60)[0] == 32768                  # 440 bits > 438
    with pytest.raises(ValueError, match="exceeds every supported ring dimension"):
        he.parameters_for_depth(30, 40, 60)


def test_a_context_has_as_many_levels_as_middle_primes_and_then_refuses():
    for depth in (1, 2, 3):
        assert he.levels(he.context(depth)) == depth


def test_precision_falls_with_each_multiplication_and_rises_with_the_scale():
    bits = he.precision_bits(he.context(3), 5)
    assert len(bits) == 4                                     # fresh, then three squarings; the fourth is refused
    assert bits[0] > bits[-1] > 5
    assert he.precision_bits(he.context(3, scale_bits=40, outer_bits=60), 3)[-1] > bits[-1] + 3


@pytest.fixture(scope="module")
def trained():
    data = cl.digits.split(0)
    model = he.train_square_mlp(data.train_set(), epochs=15)
    return data, model


def test_encrypted_inference_agrees_with_plaintext(trained):
    data, model = trained
    ctx = he.context(he.multiplicative_depth(model))
    images = data.test_x[:200]
    scores = he.decrypt_columns(he.evaluate_columns(he.encrypt_columns(ctx, images), model, he.levels(ctx)))
    with torch.no_grad():
        plain = model(images).numpy()
    assert np.abs(scores - plain).max() < 0.05                           # the stated tolerance
    assert (scores.argmax(1) == plain.argmax(1)).mean() >= 0.99


def test_the_baseline_pattern_gives_the_same_scores(trained):
    data, model = trained
    ctx = he.context(3, galois=True)
    with torch.no_grad():
        plain = model(data.test_x[:2]).numpy()
    for i in range(2):                  # rotations add error: a looser tolerance, the same decision
        scores = he.infer_one_per_ciphertext(ctx, data.test_x[i], model)
        assert np.abs(scores - plain[i]).max() < 0.5 and scores.argmax() == plain[i].argmax()


def test_a_circuit_deeper_than_the_chain_is_refused_never_wrong(trained):
    data, model = trained
    short = he.context(2)
    columns = he.encrypt_columns(short, data.test_x[:4])
    with pytest.raises(ChainTooShortError, match="needs 3 multiplications, the chain has 2 levels"):
        he.evaluate_columns(columns, model, he.levels(short))
    with pytest.raises(ChainTooShortError, match="scale out of bounds"):
        he.evaluate_columns(columns, model, 3)              # a caller that lies about the levels: SEAL refuses
    with pytest.raises(ValueError, match="ReLU"):
        he.multiplicative_depth(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()))


def test_too_many_images_for_the_slots_are_refused():
    ctx = he.context(1)
    with pytest.raises(ValueError, match="4097 images do not fit in 4096 slots"):
        he.encrypt_columns(ctx, torch.zeros(4097, 3))


def test_key_sizes_name_each_key():
    sizes = he.key_sizes(he.context(3))
    assert set(sizes) == {"public_key", "relinearisation_keys"} and sizes["relinearisation_keys"] > sizes["public_key"]
    assert "galois_keys" in he.key_sizes(he.context(1, galois=True))


def test_the_inference_service_answers_like_the_model_and_can_be_copied(trained):
    from course_lib import attacks
    data, model = trained
    query = he.inference_service(model)
    with torch.no_grad():
        assert torch.allclose(query(data.test_x[:50]), model(data.test_x[:50]), atol=0.05)
    copy = attacks.extract_model(query, data.train_x[:300], epochs=100)
    assert attacks.agreement(copy, model, data.test_x) > 0.8


def test_the_servers_context_cannot_decrypt():
    import tenseal as ts
    client = he.context(1)
    server = ts.context_from(client.serialize(save_secret_key=False))
    assert client.is_private() and not server.is_private()
    sent = ts.ckks_vector_from(server, ts.ckks_vector(client, [0.25, 0.5]).serialize())
    with pytest.raises(ValueError, match="secret"):
        sent.decrypt()
    doubled = ts.ckks_vector_from(client, (sent + sent).serialize())
    assert np.allclose(doubled.decrypt(), [0.5, 1.0], atol=1e-3)


def test_what_the_server_receives_holds_no_secret_key_and_equal_images_do_not_show():
    """The honest-but-curious server's strongest move with what it receives: look for the secret key,
    decrypt, or compare ciphertexts. It holds no secret key, cannot decrypt, and equal inputs encrypt to
    different ciphertexts (encryption is randomised, as IND-CPA security requires)."""
    import tenseal as ts
    client = he.context(3)
    received = client.serialize(save_secret_key=False)
    server = ts.context_from(received)
    assert not server.is_private() and server.has_relin_keys() and not server.has_galois_keys()
    with pytest.raises(ValueError, match="doesn't hold a Secret key"):
        server.secret_key()
    image = torch.linspace(0, 1, 64, dtype=torch.float64)
    columns = [he.encrypt_columns(client, image.repeat(3, 1)) for _ in range(2)]
    first, again = ([c.serialize() for c in batch] for batch in columns)
    assert all(a != b for a, b in zip(first, again))       # the same pixels, sent twice: unrelated bytes
    on_server = ts.ckks_vector_from(server, first[0])
    with pytest.raises(ValueError, match="secret_key"):
        on_server.decrypt()


def test_a_model_whose_scores_would_wrap_the_last_prime_is_refused_with_both_numbers():
    """Within the depth, but its first layer scaled ×2000: the scores would exceed 2^19 and wrap the last prime.
    Refused before any work, also when the caller overstates the chain's levels (they are read from the ciphertexts)."""
    from course_lib.errors import MagnitudeOverflowError
    model = he.square_mlp((8, 4, 2))
    with torch.no_grad():
        model[0].weight.mul_(2000)
        model[0].bias.mul_(2000)
    ctx = he.context(he.multiplicative_depth(model))
    columns = he.encrypt_columns(ctx, torch.rand(4, 8, generator=torch.Generator().manual_seed(0)))
    for claimed in (3, 5):
        with pytest.raises(MagnitudeOverflowError, match=r"layer 2 \(Linear\) can output values up to .* only \|x\| < 5\.243e\+05 \(2\^19\)"):
            he.evaluate_columns(columns, model, claimed)
    assert he.chain_of(columns) == (3, 30, 50)
    assert he.magnitude_limits(3, 3) == [2.0 ** 79, 2.0 ** 49, 2.0 ** 19]


def test_layer_bounds_hold_every_input_in_the_range(trained):
    data, model = trained
    x = torch.cat([data.test_x, torch.rand(500, 64, generator=torch.Generator().manual_seed(0)),
                   torch.ones(1, 64), torch.zeros(1, 64)])
    bounds = he.layer_bounds(model)
    with torch.no_grad():
        for k, bound in enumerate(bounds):
            assert float(model[:k + 1](x).abs().max()) <= bound + 1e-6
    assert he.check_magnitudes(model, 3) == bounds and bounds[-1] < 2 ** 19     # the chapter's model fits

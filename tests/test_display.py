import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

import course_lib as cl
from course_lib.display import format_random

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_format_random_bytes_int_and_truncation():
    assert format_random("nonce", bytes(range(12))) == "nonce = 000102030405060708090a0b  [12 bytes, random each run]"
    assert format_random("share", -5) == "share = -5  [int, random each run]"
    long = format_random("ct", bytes(40))
    assert long == "ct = " + "00" * 32 + "…  [40 bytes, random each run]"
    with pytest.raises(TypeError):
        format_random("flag", True)


def test_sanitizer_hides_labelled_random_values_but_keeps_names_and_sizes(capsys):
    cl.show_random(key=bytes.fromhex("aa" * 32), nonce=b"\x01" * 12, share=123456789)
    out = capsys.readouterr().out
    clean = sanitize(out)
    assert "aa" * 32 not in clean and "0101" not in clean and "123456789" not in clean
    assert clean.splitlines() == [
        "key = <random>  [32 bytes, random each run]",
        "nonce = <random>  [12 bytes, random each run]",
        "share = <random>  [int, random each run]",
    ]
    # two runs with different random values sanitize to the same text
    cl.show_random(key=bytes.fromhex("bb" * 32), nonce=b"\x02" * 12, share=7)
    assert sanitize(capsys.readouterr().out) == clean


def test_sanitizer_keeps_known_answer_hex_compared():
    known = "ciphertext: 69c4e0d86a7b0430d8cdb78070b4c55a\n" \
            "digest = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sanitize(known) == known


def test_show_source_plain_and_html():
    view = cl.show_source(cl.seed_all)
    assert repr(view).startswith("# course_lib.environment.seed_all\ndef seed_all(")
    html = view._repr_html_()
    assert "seed_all" in html and "<span" in html


def test_sanitizer_hides_random_key_ids_in_error_messages_only():
    message = "sealed for key id 2871b531b2feda9f, but this private key has key id 04d446639f53c796"
    assert sanitize(message) == "sealed for key id <random>, but this private key has key id <random>"
    known = "Bob's public key: de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    assert sanitize(known) == known

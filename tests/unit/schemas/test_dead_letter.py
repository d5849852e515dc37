"""Dead letters keep the original bytes faithfully and stay small enough for Kafka."""

from __future__ import annotations

import base64

import orjson
import pytest

from schemas import (
    MAX_ORIGINAL_BYTES,
    CartEvent,
    DeadLetter,
    InvalidEvent,
    decode_event,
    encode,
    make_dead_letter,
)

NOW = 1763740800123


def _dead_letter(raw: bytes | None, key: bytes | None = b"s-42") -> DeadLetter:
    try:
        decode_event(CartEvent, raw)
    except InvalidEvent as error:
        return make_dead_letter(raw, key, "shop.carts", 3, 1234, error, NOW, processor="bl-1")
    raise AssertionError("expected the message to be rejected")


def test_utf8_original_is_kept_as_text() -> None:
    raw = '{"event_id": "c-1", "note": "café"}'.encode()
    letter = _dead_letter(raw)
    assert letter.original == raw.decode()
    assert letter.original_encoding == "utf-8"
    assert letter.original_size == len(raw)
    assert not letter.original_truncated
    assert letter.reason == "missing_field"
    assert "ts" in letter.error
    assert (letter.source_topic, letter.partition, letter.offset) == ("shop.carts", 3, 1234)
    assert (letter.key, letter.key_encoding, letter.key_truncated) == ("s-42", "utf-8", False)
    assert (letter.ts, letter.processor) == (NOW, "bl-1")


def test_non_utf8_original_is_base64() -> None:
    raw = '{"event_id": "c-1", "note": "café"}'.encode("latin-1")
    letter = _dead_letter(raw, key=b"\xff\x00")
    assert letter.reason == "not_utf8"
    assert letter.original_encoding == "base64"
    assert base64.b64decode(letter.original) == raw
    assert letter.original_bytes() == raw
    assert letter.key_encoding == "base64"
    assert letter.key_bytes() == b"\xff\x00"


def test_tombstone_and_missing_key() -> None:
    letter = _dead_letter(None, key=None)
    assert letter.reason == "empty"
    assert (letter.original, letter.original_size, letter.original_truncated) == ("", 0, False)
    assert letter.key is None and letter.key_bytes() is None


def test_large_original_is_truncated_to_64_kib() -> None:
    raw = b'{"pad": "' + b"x" * (200 * 1024) + b'"}'
    letter = _dead_letter(raw)
    assert letter.original_truncated
    assert letter.original_size == len(raw)
    assert letter.original_encoding == "utf-8"
    assert letter.original_bytes() == raw[:MAX_ORIGINAL_BYTES]


def test_truncation_inside_a_character_keeps_utf8() -> None:
    # "€" is 3 bytes; the 64 KiB cut falls inside one of them.
    raw = b"{" + "€".encode() * (MAX_ORIGINAL_BYTES // 3 + 10)
    letter = _dead_letter(raw)
    assert letter.original_truncated and letter.original_encoding == "utf-8"
    stored = letter.original_bytes()
    assert raw.startswith(stored)
    assert MAX_ORIGINAL_BYTES - 3 < len(stored) <= MAX_ORIGINAL_BYTES


def test_large_binary_original_is_truncated_base64() -> None:
    raw = bytes(range(256)) * 1024
    letter = _dead_letter(raw)
    assert letter.original_truncated and letter.original_encoding == "base64"
    assert letter.original_bytes() == raw[:MAX_ORIGINAL_BYTES]


def test_exactly_64_kib_is_not_truncated() -> None:
    raw = b"x" * MAX_ORIGINAL_BYTES
    letter = _dead_letter(raw)
    assert not letter.original_truncated and letter.original_bytes() == raw


def test_huge_key_is_truncated() -> None:
    key = b"k" * (MAX_ORIGINAL_BYTES + 1)
    letter = _dead_letter(b"{}", key=key)
    assert letter.key_truncated and letter.key_bytes() == key[:MAX_ORIGINAL_BYTES]


@pytest.mark.parametrize(
    "raw",
    [b"not json", "naïve ✓".encode(), b"\x00\xff\xfe", b"x" * (MAX_ORIGINAL_BYTES + 7), b""],
)
def test_encoding_round_trip(raw: bytes) -> None:
    letter = _dead_letter(raw)
    wire = encode(letter)
    assert len(wire) < 1024 * 1024
    again = decode_event(DeadLetter, wire)
    assert again == letter
    assert again.original_bytes() == raw[:MAX_ORIGINAL_BYTES]
    assert orjson.loads(wire)["original_encoding"] == letter.original_encoding


def test_worst_case_dead_letter_fits_in_a_kafka_message() -> None:
    # Control characters are escaped as \u00XX: six output bytes per input byte.
    raw = b"\x01" * (1024 * 1024)
    letter = make_dead_letter(raw, b"k" * 200_000, "shop.carts", 0, 0, "x" * 5000, NOW)
    assert len(encode(letter)) < 1024 * 1024 - 1024
    assert letter.reason == "unprocessable"
    assert len(letter.error) <= 1000


def test_plain_string_error_is_unprocessable() -> None:
    letter = make_dead_letter(b"{}", None, "shop.orders", 0, 7, "handler failed: boom", NOW)
    assert letter.reason == "unprocessable"
    assert letter.error == "handler failed: boom"
    assert letter.processor == "basketlift"

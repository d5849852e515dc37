"""The decoded-value cache: reuse only for equal bytes, bounded, forgettable."""

from __future__ import annotations

import pytest

from streams.runtime.decodedcache import DecodedCache


def counting_decoder() -> tuple[list[bytes], DecodedCache[str]]:
    calls: list[bytes] = []

    def decode(raw: bytes) -> str:
        calls.append(raw)
        return raw.decode().upper()

    return calls, DecodedCache(decode, capacity=2)


def test_equal_bytes_are_decoded_once_and_changed_bytes_again() -> None:
    calls, cache = counting_decoder()
    assert cache.get("a", b"x1") == "X1"
    assert cache.get("a", b"x" + b"1") == "X1"  # equal bytes, another object
    assert calls == [b"x1"]
    assert cache.get("a", b"x2") == "X2"  # the table changed: never the stale value
    assert calls == [b"x1", b"x2"]
    assert (cache.hits, cache.misses) == (1, 2)


def test_least_recently_used_key_is_evicted_at_capacity() -> None:
    calls, cache = counting_decoder()
    cache.get("a", b"a")
    cache.get("b", b"b")
    cache.get("a", b"a")  # a is now the most recent
    cache.get("c", b"c")  # evicts b
    assert len(cache) == 2
    cache.get("a", b"a")
    cache.get("b", b"b")
    assert calls == [b"a", b"b", b"c", b"b"]


def test_remembered_writes_are_reused_and_forgotten_keys_decoded_again() -> None:
    calls, cache = counting_decoder()
    cache.remember("a", b"w", "WRITTEN")
    assert cache.get("a", b"w") == "WRITTEN"
    assert calls == []
    cache.forget("a")
    assert cache.get("a", b"w") == "W"
    assert calls == [b"w"]


def test_capacity_zero_keeps_nothing_and_negative_is_refused() -> None:
    calls: list[bytes] = []
    cache = DecodedCache(lambda raw: calls.append(raw) or raw, capacity=0)
    cache.get("a", b"1")
    cache.get("a", b"1")
    assert len(cache) == 0 and len(calls) == 2
    with pytest.raises(ValueError, match="capacity"):
        DecodedCache(lambda raw: raw, capacity=-1)

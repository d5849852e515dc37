"""Decoded table values kept between batches, valid only while the stored bytes are unchanged.

Tables store JSON bytes; decoding a shopper profile (orjson plus building the dataclass) on
every cart repeats the same work for the same few active shoppers, a noticeable share of a
busy worker's CPU. The cache
keeps the last decoded value of recently read keys together with the bytes it came from and
reuses it only if the table still holds equal bytes, so a write from anywhere (this worker,
a recovery, a rebalance) can never be served stale. Values must be immutable. No Faust here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class DecodedCache(Generic[V]):
    """An LRU of key -> (raw bytes, decoded value), at most `capacity` keys."""

    def __init__(self, decode: Callable[[bytes], V], capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.decode = decode
        self.capacity = capacity
        self.entries: OrderedDict[str, tuple[bytes, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, raw: bytes) -> V:
        """The decoded value of `raw`, stored under `key` (decoded again if the bytes differ)."""
        entry = self.entries.get(key)
        if entry is not None and entry[0] == raw:
            self.hits += 1
            self.entries.move_to_end(key)
            return entry[1]
        self.misses += 1
        value = self.decode(raw)
        self.remember(key, raw, value)
        return value

    def remember(self, key: str, raw: bytes, value: V) -> None:
        """Store a value just written as `raw` (the next read of those bytes reuses it)."""
        if self.capacity:
            self.entries[key] = (raw, value)
            self.entries.move_to_end(key)
            if len(self.entries) > self.capacity:
                self.entries.popitem(last=False)

    def forget(self, key: str) -> None:
        """Drop a key (for example when it is erased)."""
        self.entries.pop(key, None)

    def __len__(self) -> int:
        return len(self.entries)

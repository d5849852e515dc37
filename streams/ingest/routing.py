"""Which partition an event belongs on, so per-shopper state is consistent whatever the key."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives `key`, as Java and aiokafka do."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions

"""Reading topics: whole, for the command-line tools (the lift report), and a partition's
tail, for the worker's decision recovery (``streams.offers.published``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.faustcompat import force_metadata_update
from streams.kafka.security import KafkaAccess

Record = tuple[bytes | None, bytes | None, int, int]
"""(key, value, partition, offset) of one record."""


async def read_topic_records(
    access: KafkaAccess,
    topic: str,
    *,
    committed: bool = True,
    timeout_s: float = 120.0,
    metadata_wait_s: float = 10.0,
) -> list[Record]:
    """Every record of `topic` up to the end offsets seen at the start, in offset order per
    partition. With `committed` only records of committed transactions (as a worker under
    exactly-once reads them). LookupError if the topic does not exist, TimeoutError if it
    cannot be read to the end in time."""
    consumer = AIOKafkaConsumer(
        **access.client_options(),
        enable_auto_commit=False,
        isolation_level="read_committed" if committed else "read_uncommitted",
        max_partition_fetch_bytes=MAX_KAFKA_MESSAGE_BYTES,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + metadata_wait_s
        while not partitions and time.monotonic() < deadline:
            await force_metadata_update(consumer)
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await asyncio.sleep(0.2)
        if not partitions:
            raise LookupError(f"topic {topic} does not exist on {access.bootstrap_servers}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        read = await _read_to_ends(consumer, ends, topic, timeout_s)
        return [(m.key, m.value, m.partition, m.offset) for tp in tps for m in read[tp]]
    finally:
        await consumer.stop()


async def read_topic_values(
    access: KafkaAccess, topic: str, timeout_s: float = 120.0
) -> list[bytes]:
    """Every committed record value of `topic` (tombstones left out)."""
    records = await read_topic_records(access, topic, timeout_s=timeout_s)
    return [value for _key, value, _partition, _offset in records if value is not None]


async def read_partition_tails(
    access: KafkaAccess,
    topic: str,
    starts: Mapping[int, int | None],
    *,
    since_ms: int,
    timeout_s: float = 30.0,
) -> dict[int, list[bytes]]:
    """The record values of each partition of `topic` from its start offset to its end now.

    A partition whose start is None is read from its first record of time `since_ms` or
    later (the broker's time index). Records are read as they are, committed or not (the
    callers read topics nothing writes to in a transaction). TimeoutError if a partition
    cannot be read to its end within `timeout_s`.
    """
    consumer = AIOKafkaConsumer(
        **access.client_options(),
        enable_auto_commit=False,
        isolation_level="read_uncommitted",
        max_partition_fetch_bytes=MAX_KAFKA_MESSAGE_BYTES,
    )
    await consumer.start()
    try:
        tps = {partition: TopicPartition(topic, partition) for partition in starts}
        consumer.assign(list(tps.values()))
        ends = await consumer.end_offsets(list(tps.values()))
        by_time = [tps[p] for p, start in starts.items() if start is None]
        found = (
            await consumer.offsets_for_times({tp: since_ms for tp in by_time}) if by_time else {}
        )
        for partition, tp in tps.items():
            start = starts[partition]
            if start is None:
                stamp = found.get(tp)
                start = stamp.offset if stamp is not None else ends[tp]
            consumer.seek(tp, min(start, ends[tp]))
        read = await _read_to_ends(consumer, ends, topic, timeout_s)
        return {
            partition: [m.value for m in read[tp] if m.value is not None]
            for partition, tp in tps.items()
        }
    finally:
        await consumer.stop()


async def _read_to_ends(
    consumer: AIOKafkaConsumer,
    ends: Mapping[TopicPartition, int],
    topic: str,
    timeout_s: float,
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """The records of each assigned partition from its position up to (not including) its
    end offset in `ends`, in offset order; TimeoutError if not all are read in `timeout_s`."""
    read: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {tp: [] for tp in ends}
    deadline = time.monotonic() + timeout_s
    while True:
        behind = [tp for tp in ends if await consumer.position(tp) < ends[tp]]
        if not behind:
            return read
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: could not read up to {dict(ends)} in {timeout_s}s")
        batch = await consumer.getmany(*behind, timeout_ms=500)
        for tp, messages in batch.items():
            read[tp].extend(m for m in messages if m.offset < ends[tp])

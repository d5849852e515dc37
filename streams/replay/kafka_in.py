"""Reading whole topics for the command-line tools (the lift report); not used by workers."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.app import MAX_MESSAGE_BYTES


async def read_topic_values(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[bytes]:
    """Every committed record value of `topic`, up to the end offsets seen at the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"topic {topic} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                return values
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read up to {ends} in {timeout_s}s")
            batch = await consumer.getmany(*behind, timeout_ms=500)
            for tp, messages in batch.items():
                values.extend(
                    m.value for m in messages if m.value is not None and m.offset < ends[tp]
                )
    finally:
        await consumer.stop()

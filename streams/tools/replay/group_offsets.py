"""Whether a worker group has processed what a tool sent: its committed offsets in Kafka.

A worker's /metrics counters belong to its process: they start at 0 after a restart and
cover only that worker's partitions. The consumer group's committed offsets survive
restarts and cover every worker of the group. The group (the Faust app id) has processed
a record once its committed offset on the record's partition is past it.

The target per partition is the offset after the last record sent there, taken from the
producer's acknowledgements, not the partition's end offset: an end offset can sit past a
transaction's commit marker (written by another, transactional producer) that a consumer
never commits past, and would then never be reached.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from streams.kafka.admin import admin_client
from streams.kafka.security import KafkaAccess

Partition = tuple[str, int]

POLL_SECONDS = 0.5


@dataclass
class SentRecords:
    """Records a tool sent: per topic, and per partition their count and the offset after."""

    by_topic: Counter[str] = field(default_factory=Counter)
    by_partition: Counter[Partition] = field(default_factory=Counter)
    next_offsets: dict[Partition, int] = field(default_factory=dict)
    """Per partition, the offset after the last record sent there (Kafka's next offset)."""

    def add(self, acknowledged: Iterable[RecordMetadata]) -> None:
        """Count records the broker acknowledged."""
        for record in acknowledged:
            where = (record.topic, record.partition)
            self.by_topic[record.topic] += 1
            self.by_partition[where] += 1
            self.next_offsets[where] = max(self.next_offsets.get(where, 0), record.offset + 1)

    def total(self) -> int:
        """Records sent in all."""
        return sum(self.by_topic.values())

    def uncommitted(self, committed: Mapping[Partition, int]) -> int:
        """Records sent that the group has not committed past yet.

        Per partition the distance from the committed offset to the target, at most the
        records sent there (other producers' records may lie in between).
        """
        left = 0
        for where, target in self.next_offsets.items():
            done = committed.get(where)
            behind = target - done if done is not None else target
            left += min(self.by_partition[where], max(0, behind))
        return left


async def committed_offsets(
    admin: AIOKafkaAdminClient, group_id: str, partitions: Iterable[Partition]
) -> dict[Partition, int]:
    """The group's committed offsets on `partitions` (those it never committed are left out)."""
    found = await admin.list_consumer_group_offsets(
        group_id, partitions=[TopicPartition(topic, p) for topic, p in partitions]
    )
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}


async def wait_for_commits(
    access: KafkaAccess,
    group_id: str,
    sent: SentRecords,
    timeout: float,
    on_progress: Callable[[int], None] = lambda done: None,
) -> str | None:
    """Poll until the group committed past every record sent; None then, else what is left.

    `on_progress` gets the records processed so far after each poll. A failing poll (the
    group's coordinator moving, say) is retried until the deadline; the last failure is
    part of the answer.
    """
    deadline = time.monotonic() + timeout
    left, failure = sent.total(), ""
    admin = admin_client(access)
    await admin.start()
    try:
        while True:
            try:
                committed = await committed_offsets(admin, group_id, sent.next_offsets)
            except KafkaError as error:
                failure = f" (last poll failed: {error})"
            else:
                failure = ""
                left = sent.uncommitted(committed)
                on_progress(sent.total() - left)
                if left == 0:
                    return None
            if time.monotonic() >= deadline:
                return (
                    f"consumer group {group_id} has not committed {left:,} of the"
                    f" {sent.total():,} records sent after {timeout:g}s{failure}"
                )
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await admin.close()

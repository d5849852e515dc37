"""A compacted topic read in full by every worker and kept in memory: a global table.

Used for the catalog (`shop.catalog`) and for the co-purchase graph (the product table's
changelog), so that every worker that makes decisions has every product's facts and top
neighbours locally: a decision never needs a remote call. Unlike Faust's GlobalTable it
joins no consumer group: each worker assigns itself every partition, reads from the start
with `read_committed` (only committed transactions) and keeps following. It is ready once
it has read up to the end offsets it saw at start.

It holds each value packed (`decode` makes the packed form, `unpack` the value `get`
returns): the views hold a record per product of the catalog on every worker, and a packed
form made of plain tuples, strings, numbers and bytes is not tracked by the cyclic garbage
collector, whose full collections would otherwise visit the whole catalog and stop the
event loop for as long (``bench/results/gc_pauses.md``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.admin import topic_partition_counts
from streams.kafka.security import KafkaAccess

log = logging.getLogger(__name__)

P = TypeVar("P")
V = TypeVar("V")


class ReplicatedTopicView(Service, Generic[P, V]):
    """Every key's latest value of a compacted topic, in memory on this worker: packed
    (``P``) in `data`, unpacked (``V``) by `get`."""

    def __init__(
        self,
        topic: str,
        access: KafkaAccess,
        decode: Callable[[bytes], P | None],
        unpack: Callable[[P], V],
        declare: Callable[[], Awaitable[Any]] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.topic = topic
        self.access = access
        self.decode = decode
        self.unpack = unpack
        self.declare = declare
        self.data: dict[str, P] = {}
        """Every key's latest value, packed. A changed key gets a new object, so a reader
        that kept an earlier copy of `data` tells what changed by identity."""
        self.ready = asyncio.Event()
        self.records_read = 0
        self.undecodable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._start_ends: dict[TopicPartition, int] = {}

    def get(self, key: str) -> V | None:
        """The latest value for `key` (unpacked), or None."""
        packed = self.data.get(key)
        return None if packed is None else self.unpack(packed)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record: a value replaces, a tombstone (None) deletes."""
        if key is None:
            return
        name = key.decode("utf-8", "replace")
        if value is None:
            self.data.pop(name, None)
            return
        decoded = self.decode(value)
        if decoded is None:
            self.undecodable += 1
            return
        self.data[name] = decoded

    async def on_start(self) -> None:
        """Assign every partition and seek to the beginning."""
        if self.declare is not None:
            await self.declare()
        consumer = AIOKafkaConsumer(
            **self.access.client_options(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=MAX_KAFKA_MESSAGE_BYTES,
        )
        await consumer.start()
        self._consumer = consumer
        count = 0
        for _attempt in range(100):
            count = (await topic_partition_counts(self.access, [self.topic])).get(self.topic, 0)
            if count:
                break
            await asyncio.sleep(0.2)
        if not count:
            raise RuntimeError(f"topic {self.topic} does not exist")
        tps = [TopicPartition(self.topic, p) for p in range(count)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._start_ends = await consumer.end_offsets(tps)
        self.add_future(self._follow())

    async def on_stop(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()

    async def _caught_up(self) -> bool:
        assert self._consumer is not None
        for tp, end in self._start_ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self.should_stop:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.apply(record.key, record.value)
                self.records_read += len(records)
            if not self.ready.is_set() and await self._caught_up():
                log.info("view of %s ready: %d keys", self.topic, len(self.data))
                self.ready.set()

"""Records sent outside the worker's transactions: visible to readers as soon as they land.

Faust sends an agent's records inside the exactly-once transaction of the source partition,
and a `read_committed` reader sees them only when the transaction commits (every
`BASKETLIFT_COMMIT_INTERVAL_SECONDS`). Offer decisions are wanted within milliseconds, so
the worker sends them with this publisher instead: an idempotent producer (no duplicates
from its own retries, order kept per partition) that takes part in no transaction.

Such a record is not rolled back with a batch that a crash or a rebalance throws away, so
two things keep it consistent with the state (``streams.offers.recovery`` uses both):

- `delivered()` waits until every record handed over so far has been acknowledged by the
  broker, and raises `PublishFailed` if one was not. The worker's commit calls it first
  (``streams.runtime.gate.CommitGate.before_commit``): no input offset is committed before
  the records made from it are on the broker.
- `delivered_end(topic, partition)` is the offset after the last record of that partition
  acknowledged so far; every record not yet acknowledged lands at or after it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.security import KafkaAccess

__all__ = ["DirectPublisher", "PublishFailed"]

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """A record handed to the publisher was not acknowledged by the broker."""


class DirectPublisher:
    """An idempotent, non-transactional producer that tracks what the broker acknowledged.

    Started on the first `publish` (the worker's event loop), stopped by `stop`.
    """

    def __init__(self, access: KafkaAccess, *, linger_ms: int = 0) -> None:
        self.access = access
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Lock | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._failure: BaseException | None = None
        self._ends: dict[tuple[str, int], int] = {}

    async def publish(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        """Hand a record to the producer (it is sent in the background; see `delivered`)."""
        if self._failure is not None:
            raise PublishFailed(f"an earlier record was not delivered: {self._failure!r}")
        producer = await self._started()
        future = await producer.send(topic, value=value, key=key, partition=partition)
        self._pending.add(future)
        future.add_done_callback(self._on_done)

    def delivered_end(self, topic: str, partition: int) -> int | None:
        """The offset after the last acknowledged record of this publisher in the partition
        (None before the first one)."""
        return self._ends.get((topic, partition))

    @property
    def pending(self) -> int:
        """Records handed over and not acknowledged yet."""
        return len(self._pending)

    async def delivered(self) -> None:
        """Wait until every record handed over before the call is acknowledged; PublishFailed
        if one was not (the worker must then not commit: see the module docstring).

        Records handed over meanwhile are not waited for: under a steady load the set of
        pending records is never empty, and a commit waiting for it would never happen.
        """
        handed_over = list(self._pending)
        if handed_over:
            await asyncio.wait(handed_over)
        if self._failure is not None:
            raise PublishFailed(f"a record was not delivered: {self._failure!r}")

    async def stop(self) -> None:
        """Deliver what is pending, then stop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.flush()
            finally:
                await producer.stop()

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            self._failure = self._failure or asyncio.CancelledError("send cancelled")
            return
        error = future.exception()
        if error is not None:
            log.error("a record sent outside the transaction was not delivered: %r", error)
            self._failure = self._failure or error
            return
        metadata = future.result()
        slot = (metadata.topic, metadata.partition)
        self._ends[slot] = max(self._ends.get(slot, 0), metadata.offset + 1)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self.access.client_options(),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self.linger_ms,
                    max_request_size=MAX_KAFKA_MESSAGE_BYTES,
                )
                await producer.start()
                self._producer = producer
        return self._producer

"""Adjustments to Faust's Kafka transport: faster delivery, and correct transactions.

1. A faster hand-off from Faust's consumer to its streams, without changing its semantics.

For every consumed message Faust 0.15.3 runs `await self.wait_first(deliver(message),
self.suspend_flow.wait())`, which creates four tasks and an `asyncio.wait` per message so
that delivery can be abandoned when a rebalance suspends the flow. Delivery almost never
waits (it puts into a queue without blocking), and those tasks were half of a worker's CPU
(see bench/). `FastDeliveryConsumer.wait_first` first runs the delivery coroutine one step
inline: if it finishes there, nothing could have been abandoned and no task is needed; if it
has to wait, the rest of it runs under Faust's own `wait_first`, exactly as before.

2. Under exactly-once, Faust 0.15.3 sends each output record in the transaction named after
the record's *destination* partition. That only exists on the worker that owns that
partition, so a record keyed for another worker's partition (a co-purchase delta for another
product, a re-keyed event, a dead letter) fails with "No transaction producer found" as soon
as there are two workers. `SourcePartitionTransactions` sends it in the transaction of the
*source* partition of the event being processed instead: the one whose consumed offset
commits in that same transaction, which is what exactly-once means. Sends made outside of
any event keep Faust's rule.

3. Before each commit, every buffered table write is handed to the Kafka client
(`DrainableProducer.drain_buffer`), so that it belongs to the transaction that commits the
offsets of the event that made it (Faust's own flush can return with writes still queued).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Generator
from typing import Any, cast

import faust
from faust.streams import current_event
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.producer import ProducerBuffer
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

from streams.eventcontext import commit_gate

log = logging.getLogger(__name__)


class ResumedCoroutine:
    """Awaitable that finishes a coroutine already stepped once, which yielded `pending`."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        pending = self.pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # cancellation or an error thrown in by the task
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = self.coro.send(None)
                except StopIteration as stop:
                    return stop.value


def step_inline(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run a coroutine until it first suspends: (True, result) or (False, what it yielded)."""
    try:
        pending = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, pending


class FastDeliveryConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with an inline fast path for message delivery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sensors_on_message_in = self._on_message_in

        def on_message_in(tp: Any, offset: int, message: Any) -> None:
            # Faust stamps time_in only with its (costly, opt-in) monitor sensor: the
            # decision latency metric measures from this moment.
            message.time_in = time.monotonic()
            sensors_on_message_in(tp, offset, message)

        self._on_message_in = on_message_in

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        """Like `Service.wait_first`, but a first coroutine that never suspends runs inline."""
        first = coros[0] if coros else None
        if (
            timeout is None
            and asyncio.iscoroutine(first)
            and not self._stopped.is_set()
            and not self._crashed.is_set()
        ):
            done, value = step_inline(first)
            if done:
                for other in coros[1:]:
                    if asyncio.iscoroutine(other):
                        other.close()  # never started; closing avoids a "never awaited" warning
                return WaitResults([first], [value], False)
            coros = (ResumedCoroutine(first, value), *coros[1:])
        return await super().wait_first(*coros, timeout=timeout)  # type: ignore[arg-type]


PRE_DRAIN_SECONDS = 2.0
"""Longest a commit sends buffered table writes before it holds new batches off."""


class GatedCommitConsumer(FastDeliveryConsumer):
    """Commits only between batches (see `streams.eventcontext.CommitGate`)."""

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        """Wait until no batch is in flight, then commit as Faust does.

        The buffered table writes are sent before the gate closes (for at most
        `PRE_DRAIN_SECONDS`), so that batches are held off only for the few written since.
        """
        producer = self.transactions.producer
        if isinstance(producer, DrainableProducer):
            await producer.drain_buffer(max_seconds=PRE_DRAIN_SECONDS)
        async with commit_gate.committing():
            return bool(await super().commit(*args, **kwargs))


class SourcePartitionTransactions(TransactionManager):
    """Faust's transaction manager, sending in the source partition's transaction."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> Any:
        """Send within the transaction of the current event's source partition."""
        event = current_event()
        if event is None:
            return await super().send(
                topic, key, value, partition, timestamp, headers, transactional_id=transactional_id
            )
        source = event.message.tp
        group = self.app.assignor.group_for_topic(source.topic)
        source_transaction = f"{self.app.conf.id}-{group}-{source.partition}"
        destination = self.consumer.key_partition(topic, key, partition)
        return await self.producer.send(
            topic,
            key,
            value,
            destination,
            timestamp,
            headers,
            transactional_id=source_transaction,
        )

    async def commit(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Flush buffered records (table changelog writes) into the transactions, then commit.

        Faust 0.15.3 flushes its producer buffer before a commit only without transactions;
        with them, buffered changelog records were sent after the commit had ended the
        transaction and crashed the worker ("Can't send messages while not in transaction").
        """
        producer = self.producer
        if isinstance(producer, DrainableProducer):
            await producer.drain_buffer()
        await producer.flush()
        return bool(await super().commit(offsets, start_new_transaction=start_new_transaction))


class DrainableProducer(aiokafka_driver.Producer):
    """Faust's producer whose buffer can be drained completely (see `drain_buffer`).

    Table changelog writes go through the producer's buffer, sent by a background task.
    Faust's `buffer.flush()` gives up as soon as one message takes more than 0.1 s (under
    load it returns with messages still queued), and it never waits for the message the
    task has taken but not yet handed to the Kafka client. Under exactly-once either one
    lands in the *next* transaction, after the offsets of the event that wrote it were
    committed: a kill -9 then loses that write for good. The crash-recovery test caught
    exactly this (product states short of their committed deltas).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        buffer = cast(ProducerBuffer, self.buffer)
        send_pending = buffer._send_pending
        self.in_flight = 0

        async def tracked_send_pending(fut: Any) -> None:
            self.in_flight += 1
            try:
                await send_pending(fut)
            finally:
                self.in_flight -= 1

        # Set before the buffer's task starts (it binds the method when it starts).
        buffer._send_pending = tracked_send_pending  # type: ignore[method-assign]

    async def commit_transactions(
        self,
        tid_to_offset_map: Any,
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        """Faust's commit, but a transaction already ended gets a new one for its offsets.

        At shutdown Faust commits and ends every transaction, and then may commit again
        (the consumer's last commit): aiokafka refused ("Not in the middle of a
        transaction") and the remaining partitions' offsets were not committed. No output
        is sent after the transactions end, so the offsets alone commit safely.
        """
        await asyncio.gather(
            *(
                self._commit_one(transactional_id, offsets, group_id, start_new_transaction)
                for transactional_id, offsets in tid_to_offset_map.items()
            )
        )

    async def _commit_one(
        self, transactional_id: str, offsets: Any, group_id: str, start_new_transaction: bool
    ) -> None:
        """Commit one partition's transaction with its offsets (Faust's steps, per tid).

        The transactions are independent (one producer each), so they commit concurrently:
        Faust committed them one after the other, 16 round trips in a row, while every
        batch waited behind the commit.
        """
        async with self._trn_locks[transactional_id]:
            producer = self._transaction_producers.get(transactional_id)
            if producer is None:
                log.warning("Commit invoked for unknown transaction %s", transactional_id)
                return
            if not producer._txn_manager.is_in_transaction():
                await producer.begin_transaction()
            await producer.send_offsets_to_transaction(offsets, group_id)
            await producer.commit_transaction()
            if start_new_transaction:
                await producer.begin_transaction()

    async def drain_buffer(self, max_seconds: float | None = None) -> None:
        """Wait until every buffered message has been handed to the Kafka client.

        With `max_seconds`, give up after that long (a pre-drain while batches still write).
        """
        buffer = cast(ProducerBuffer, self.buffer)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while buffer.size or self.in_flight:
            buffer.message_sent.clear()
            if not (buffer.size or self.in_flight):
                break
            if deadline is None:
                await buffer.message_sent.wait()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(buffer.message_sent.wait(), timeout=left)
            except TimeoutError:
                return


class FastDeliveryTransport(aiokafka_driver.Transport):
    """The aiokafka transport with `FastDeliveryConsumer` and `SourcePartitionTransactions`."""

    Consumer = GatedCommitConsumer
    Producer = DrainableProducer
    TransactionManager = SourcePartitionTransactions


def install_fast_delivery(app: faust.App) -> None:
    """Make `app` consume through `FastDeliveryConsumer` (call before the worker starts)."""
    app.transport = FastDeliveryTransport(app.conf.broker_consumer, app)

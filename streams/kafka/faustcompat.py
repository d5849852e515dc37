"""The only module that touches Faust's, mode's and aiokafka's internals.

Basketlift runs on faust-streaming 0.15.3 and aiokafka 0.14.0 (pinned in pyproject.toml).
It reads some of their private state (for `/metrics`, `/health`, `/live` and the stall
warning) and replaces some of their behaviour (for exactly-once and for speed). All of it is
here, in three parts:

- Accessors: named functions for every private attribute read (`kafka_consumer`,
  `partition_state`, `committed_offsets`, ...). Other modules call these, never `obj._name`.
- `take_available_events`: Faust's `Stream.take_events` with one change (a batch is handed
  over as soon as nothing more is queued), built on the stream's buffering machinery.
- Patches: subclasses of Faust's transport classes, installed by
  `install_exactly_once_fixes` (correctness) and `install_inline_delivery` (speed). Each
  patched method's docstring says what Faust does wrong, the upstream issue, and when the
  patch can go.
- `check_supported`: run by `basketlift worker` before anything starts. It verifies the
  installed versions and that every name assumed here exists with the assumed signature
  (instance attributes on throwaway objects that are never started), and names what is
  missing in one line. With the check passed, the accessors need no fallbacks: a fallback
  value (an empty mapping of committed offsets, say) would make every busy partition look
  stalled and have the worker restarted in a loop.

This module imports nothing from Basketlift, so that it can move as it is.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, cast

import faust
import faust.stores as faust_stores
import rocksdict
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer.fetcher import Fetcher as AiokafkaFetcher
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust import streams as faust_streams
from faust.sensors.monitor import Monitor as FaustMonitor
from faust.stores import rocksdb as rocksdb_store
from faust.streams import current_event
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.producer import ProducerBuffer
from faust.types import ChannelT, EventT, StreamT, TableT, TopicT
from mode.services import WaitArgT, WaitResults
from mode.utils.futures import notify
from mode.utils.times import Seconds

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
"""The versions every accessor and patch here is written against (pyproject.toml pins them)."""


# --- accessors -----------------------------------------------------------------------------


def current_event_var() -> ContextVar[Any]:
    """Faust's "current event" context variable (`faust.streams._current_event`).

    Faust places a table write (store and changelog partition) and a send's transaction by
    the current event, which it sets only while a stream yields one event at a time. With
    `stream.take_events` there is none, and Faust refuses table writes ("Cannot modify table
    key from outside of stream iteration", faust-streaming/faust#497, open): the batch code
    sets it per event (`streams.runtime.acting.acting_for`). Faust has no public setter; the
    variable holds a weak reference to the event.
    """
    var: ContextVar[Any] = faust_streams._current_event
    return var


def leader_topic(app: faust.App) -> TopicT | None:
    """The single-partition topic Faust's leader assignor declares and every worker joins
    (`App._leader_assignor._leader_topic`, `<app id>-__assignor-__leader`), or None when
    `topic_disable_leader` turns it off. Faust creates it at start-up like the changelogs;
    a cluster where the application may not create topics needs it created beforehand."""
    if app.conf.topic_disable_leader:
        return None
    topic: TopicT = app._leader_assignor._leader_topic  # type: ignore[attr-defined]
    return topic


def kafka_consumer(consumer: Any) -> AIOKafkaConsumer:
    """The aiokafka consumer inside Faust's consumer thread (`Consumer._thread`).

    Raises Faust's ConsumerNotStarted until the thread has created it.
    """
    kafka: AIOKafkaConsumer = consumer._thread._ensure_consumer()
    return kafka


def consumer_thread_loop(consumer: Any) -> asyncio.AbstractEventLoop:
    """The event loop of Faust's consumer thread, where the aiokafka consumer runs."""
    loop: asyncio.AbstractEventLoop = consumer._thread.thread_loop
    return loop


def partition_state(kafka: AIOKafkaConsumer, tp: Any) -> TopicPartitionState | None:
    """aiokafka's state of an assigned partition (None: no assignment yet, or `tp` not in it).

    It holds the fetch `position` and `timestamp`, the Unix time in milliseconds of the last
    successful fetch response for the partition (empty responses included).
    """
    subscription = kafka._subscription.subscription
    if subscription is None or subscription.assignment is None:
        return None
    state: TopicPartitionState | None = subscription.assignment.state_value(tp)
    return state


def fetch_position(kafka: AIOKafkaConsumer, tp: Any) -> int | None:
    """The consumer's fetch position in `tp` (None: not assigned, or no position yet).

    Faust 0.15.3 only offers an async `position()`, which waits for a position and so can
    hang on a paused partition; aiokafka keeps it in the partition's state.
    """
    state = partition_state(kafka, tp)
    if state is None or not state.has_valid_position:
        return None
    return int(state.position)


def fetch_max_wait_ms(kafka: AIOKafkaConsumer) -> int:
    """How long the broker may hold this consumer's fetch requests (`fetch_max_wait_ms`).

    aiokafka keeps the constructor's value (`AIOKafkaConsumer._fetch_max_wait_ms`) and hands
    it to the fetcher it creates at `start()`.
    """
    wait_ms: int = kafka._fetch_max_wait_ms
    return wait_ms


def set_fetch_max_wait_ms(kafka: AIOKafkaConsumer, wait_ms: int) -> None:
    """Change `fetch_max_wait_ms` of a consumer that is not started yet (see the getter)."""
    if kafka._fetcher is not None:
        raise RuntimeError("the consumer has started: its fetcher keeps the old wait")
    kafka._fetch_max_wait_ms = wait_ms


def metadata_cluster(kafka: AIOKafkaConsumer) -> ClusterMetadata:
    """The ClusterMetadata of the consumer's own client (`AIOKafkaConsumer._client`).

    `ClusterMetadata.add_listener` is public: listeners are called after every successful
    metadata response, never after a failed one.
    """
    cluster: ClusterMetadata = kafka._client.cluster
    return cluster


async def force_metadata_update(kafka: AIOKafkaConsumer) -> None:
    """Ask the broker for fresh metadata now (`AIOKafkaConsumer._client`), e.g. for a topic
    created a moment ago; aiokafka's public API only refreshes on its own schedule."""
    await kafka._client.force_metadata_update()


def committed_offsets(consumer: Any) -> Mapping[Any, int | None]:
    """What Faust last committed per partition (`Consumer._committed_offset`, next offsets)."""
    committed: Mapping[Any, int | None] = consumer._committed_offset
    return committed


def unacked_messages(consumer: Any) -> list[Any]:
    """Messages handed to a stream and not acknowledged yet (`Consumer._unacked_messages`).

    A copy: Faust's is a WeakSet that changes while it is read.
    """
    return list(consumer._unacked_messages)


def records_not_streamed(consumer: Any, tp: Any, committed: int) -> int:
    """Offsets of records Faust took from aiokafka for `tp` that no stream has taken yet,
    counted from the committed offset (`CommitGatedConsumer.taken_up_to`, `streamed_up_to`).

    They are in Faust's delivery or a stream's queue, or were dropped after aiokafka moved
    its fetch position past them (then they never arrive, and only this count shows them:
    the fetch position is at the partition's end and nothing is unacknowledged).
    """
    taken = consumer.taken_up_to.get(tp)
    if taken is None:
        return 0
    streamed = consumer.streamed_up_to.get(tp, 0)
    return max(0, taken - max(streamed, committed))


def paused_partitions(consumer: Any) -> set[Any]:
    """Partitions Faust has paused (`Consumer._paused_partitions`; standby changelogs too)."""
    return set(consumer._paused_partitions)


def new_changelog_topic(table: TableT) -> TopicT:
    """A changelog topic built from the table's current settings (`_new_changelog_topic`).

    faust-streaming 0.15.3 tables take no `key_serializer`/`value_serializer` arguments
    (faust-streaming/faust#556, open; PR #659 would add them): they are set after
    `app.Table` has already built the changelog topic with the type-derived (JSON)
    serializers, so the topic is rebuilt. Can go once tables accept serializer arguments.
    """
    topic: TopicT = table._new_changelog_topic()  # type: ignore[attr-defined]
    return topic


ESTIMATED_KEYS = "rocksdb.estimate-num-keys"
"""RocksDB's property: its estimate of the keys in a database."""


def estimated_table_keys(table: TableT) -> int:
    """The keys a table holds for this worker's active partitions, without walking them.

    Faust's `len(table)` on a RocksDB store (`Store._size`) walks every key of every active
    partition's database, on the event loop: about half a second per million keys held in
    memory and far longer when they must be read from disk, while the worker neither takes
    events nor answers HTTP (no upstream issue found). For a RocksDB store this sums each
    active database's `rocksdb.estimate-num-keys` property instead (`Store._dbs_for_actives`;
    constant time; an estimate that counts keys overwritten or deleted since the last
    compaction, and Faust's stored changelog offset). Other stores are counted.
    """
    store = table.data
    if isinstance(store, rocksdb_store.Store) and store.use_rocksdict:
        return sum(db.property_int_value(ESTIMATED_KEYS) or 0 for db in store._dbs_for_actives())
    return len(store)


def transaction_producer(producer: Any, transactional_id: str) -> AIOKafkaProducer | None:
    """Faust's aiokafka producer of one transaction (`Producer._transaction_producers`)."""
    found: AIOKafkaProducer | None = producer._transaction_producers.get(transactional_id)
    return found


def transactional_ids(producer: Any) -> list[str]:
    """The transactions Faust's producer has a producer for (`Producer._transaction_producers`)."""
    return list(producer._transaction_producers)


def transaction_lock(producer: Any, transactional_id: str) -> asyncio.Lock:
    """Faust's lock around one transaction's begin and commit (`Producer._trn_locks`)."""
    lock: asyncio.Lock = producer._trn_locks[transactional_id]
    return lock


def in_transaction(kafka_producer: AIOKafkaProducer) -> bool:
    """Whether an aiokafka transactional producer has begun a transaction (`_txn_manager`)."""
    return bool(kafka_producer._txn_manager.is_in_transaction())


# --- taking batches ------------------------------------------------------------------------


def stream_queue(stream: StreamT) -> Any:
    """The queue a stream reads its events from (`stream.channel.queue`, a ThrowableQueue).

    `app.stream` and agents iterate the channel (`aiter(channel)`), so the stream's channel
    is the iterator whose queue the consumer delivers into and the stream's iterator takes
    from (`_CStreamIterator.chan_queue`). Empty means no further event can be taken without
    waiting for the consumer.
    """
    return cast(ChannelT, stream.channel).queue


def take_available_events(
    stream: StreamT, max_: int, within: float
) -> AsyncGenerator[list[EventT], None]:
    """Batches of at most `max_` events, each handed over as soon as it is full or nothing
    more is queued; `within` seconds bound the wait of a batch whose readiness is missed.

    Faust's `Stream.take_events(max_, within)` (faust-streaming 0.15.3) hands a batch over
    only when it is full or when `within` has passed since the last one, so a lone event
    waits up to `within` for company that is not coming. This is the same machinery (a
    processor fills the buffer while the stream is drained in the background; the buffer
    never holds more than `max_`; acknowledgement is turned off for the stream and each event
    is acked only when the consumer of the batch asks for the next one, or closes this
    generator, exactly as `take_events` does) with one change: after adding an event, the
    batch is ready if the stream's queue (`stream_queue`) is empty. Under load the consumer
    keeps the queue filled while a batch is processed, so the next one fills up to `max_`;
    when idle a batch of one goes at once. An event that never reaches the buffer (skipped
    or filtered by an earlier processor) marks nothing ready; `within` bounds that wait,
    counted from the batch's first event. While the batch is empty the generator waits for
    that first event without a timeout: an idle stream costs no wake-ups (Faust's waits out
    `within` again and again, twenty times a second per agent at 50 ms).

    The generator is registered with the stream (`Stream._active_agens`) like Faust's own,
    so that stopping the stream closes it and acks what it holds.
    """
    batches = _take_available_events(stream, max_, within)
    stream._active_agens.add(batches)  # type: ignore[attr-defined]
    return batches


async def _take_available_events(
    stream: Any, max_: int, within: float
) -> AsyncGenerator[list[EventT], None]:
    events: list[EventT] = []
    batch_started = asyncio.Event()
    batch_ready = asyncio.Event()
    batch_taken = asyncio.Event()
    taking: asyncio.Future[None] | None = None
    queue = stream_queue(stream)

    async def add_to_batch(value: Any) -> Any:
        """The stream's last processor: put the current event into the batch."""
        nonlocal taking
        try:
            event = stream.current_event
            if event is None:
                raise RuntimeError("Take buffer found current_event is None")
            if taking is not None:  # the batch is being processed: this event is the next's
                try:
                    await taking
                finally:
                    taking = None
            events.append(event)
            batch_started.set()
            if len(events) >= max_:
                batch_ready.set()
                batch_taken.clear()
                await stream.wait(batch_taken)  # never more than max_ events in a batch
            elif queue.empty():
                batch_ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks: bool = stream.enable_acks
    stream.enable_acks = False  # acked below, once the batch has been processed
    stream.add_processor(add_to_batch)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if not events:
                await stream.wait_for_stopped(batch_started)
            await stream.wait_for_stopped(batch_ready, timeout=within)
            if events:
                taking = stream.loop.create_future()
                try:
                    yield list(events)
                finally:
                    for event in events:
                        await stream.ack(event)
                    events.clear()
                    notify(taking)
                    batch_started.clear()
                    batch_ready.clear()
                    batch_taken.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_batch)


# --- patches -------------------------------------------------------------------------------


class CommitHold(Protocol):
    """A commit's hold on new batches (`streams.runtime.gate.CommitHold`)."""

    def release(self) -> None:
        """Let new batches start before the commit has ended."""
        ...


class CommitGate(Protocol):
    """What a commit waits for (`streams.runtime.gate.CommitGate`): no batch in flight, and
    the checks that must pass before offsets are committed."""

    def committing(self) -> AbstractAsyncContextManager[CommitHold]:
        """Hold new batches off and wait for the running ones, until the commit releases
        the hold or ends."""
        ...

    async def before_commit(self) -> None:
        """Raise if the commit must not happen (records not yet delivered)."""
        ...


PRE_DRAIN_SECONDS = 2.0
"""Longest a commit sends buffered table writes before it holds new batches off."""

_commit_hold: ContextVar[CommitHold | None] = ContextVar("basketlift_commit_hold", default=None)
"""The hold of the commit the current task runs (`CommitGatedConsumer.commit` sets it):
Faust's commit path down to `DrainableProducer.commit_transactions` passes no argument
through that could carry it."""


def release_commit_hold() -> None:
    """Release the hold of the commit the calling task runs, if any (see `_commit_hold`)."""
    hold = _commit_hold.get()
    if hold is not None:
        hold.release()


class ActivePartitionsView:
    """The partitions a fetch may take records of: those in Faust's active set at the moment
    aiokafka looks, and none when that set is empty.

    aiokafka's `Fetcher.fetched_records(partitions)` reads an empty `partitions` as "every
    assigned partition" (`if partitions and tp not in partitions`). This view is never
    empty to that test, and asks the live set for each partition.
    """

    __slots__ = ("active",)

    def __init__(self, active: Any) -> None:
        self.active = active

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.active


class BrokerEndOffsetsConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, asking the broker where changelogs end, taking
    fetched records only of the partitions active when they are taken, and whose consumer
    fetches with the transport's `fetch_max_wait_ms`."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        """Faust's worker consumer, with the broker's hold on a fetch request bounded by the
        transport's `fetch_max_wait_ms` (None: Faust's value).

        Faust 0.15.3 passes a fixed `fetch_max_wait_ms=1500`. aiokafka sends one fetch
        request at a time to a broker and leaves out the partitions whose fetched records
        are still waiting to be taken; under load every partition with new events can be in
        that state when the next request is built, so it names only quiet partitions, the
        broker holds it for the whole wait, and the events that arrive meanwhile are fetched
        only after it returns. On one worker at 300 carts/s this stalled the worker for about
        a second at a time, with a third of a core idle, and decisions fell seconds behind
        (`bench/results/issue12_fetch_wait.md`). No upstream issue; the Java consumer's
        default is 500 ms. Can go when Faust takes the value from its settings.
        """
        kafka = cast(AIOKafkaConsumer, super()._create_worker_consumer(transport))
        wait_ms = getattr(transport, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            set_fetch_max_wait_ms(kafka, wait_ms)
        return kafka

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """Faust's fetch, with the active set seen through `ActivePartitionsView`.

        Faust 0.15.3 hands its live set of active partitions to aiokafka's
        `fetched_records`, which waits up to a second for records and reads an empty set as
        "all partitions". When everything is paused during that wait (table recovery pauses
        the changelogs once read, while the source partitions are still held back for the
        seek, see `CommitGatedConsumer.perform_seek`), the wait returns the records of the
        paused source partitions; Faust's `getmany` then drops them as inactive, but aiokafka
        has already moved its fetch position past them, so they are never fetched again: a
        restarted worker left a source partition unprocessed for good, its lag reading 0.
        Seen in the crash-recovery test whenever fetches return often (a 100 ms fetch wait).
        Upstream: robinhood/faust#69 fixed this race with a lock that faust-streaming no
        longer has; faust-streaming/faust#629 (open) reports partitions never fetched after
        a start. Can go when Faust passes aiokafka a stable, non-empty set.
        """
        view = None if active_partitions is None else ActivePartitionsView(active_partitions)
        records = await super()._fetch_records(
            consumer, cast(Any, view), timeout=timeout, max_records=max_records
        )
        taken_up_to = cast(CommitGatedConsumer, self.consumer).taken_up_to
        for tp, batch in records.items():
            if batch:
                taken_up_to[tp] = batch[-1].offset + 1
        return records

    async def _highwaters(self, partitions: list[Any]) -> Mapping[Any, int]:
        """The partitions' end offsets from the broker (ListOffsets, with the consumer's
        isolation level: under exactly-once, read_committed, so the last stable offsets).

        Faust 0.15.3 answers from the consumer's cached `last_stable_offset` under
        exactly-once. aiokafka knows it only after a fetch from the partition, so right after
        an assignment it is None, which table recovery turns into highwater -1. A worker
        given a changelog partition whose local store it already holds (it kept a standby
        copy, or owned the partition before a rebalance) then crashes with
        `ConsistencyError: The persisted offset ... is higher than the last offset in that
        topic (highwater) (N > -1)`: with more than one worker, at nearly every rebalance.
        Upstream: faust-streaming/faust#158 (open). Can go when Faust asks the broker.
        """
        consumer = self._ensure_consumer()
        return cast(Mapping[Any, int], await consumer.end_offsets(partitions))


class CommitGatedConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer whose commits wait until no batch is in flight, whose
    table recovery reads changelog ends from the broker (`BrokerEndOffsetsConsumerThread`),
    and whose source partitions are sought to their committed offsets before they are
    fetched again after an assignment (`perform_seek`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seek_pending = False
        """An assignment arrived and its source partitions are not sought yet."""
        self.held_resumes: set[Any] = set()
        """Source partitions recovery resumed while `seek_pending`: resumed after the seek."""
        self.taken_up_to: dict[Any, int] = {}
        """Per partition, the offset after the last record Faust took from aiokafka since the
        assignment (written by the consumer thread, `BrokerEndOffsetsConsumerThread`)."""

    @property
    def streamed_up_to(self) -> dict[Any, int]:
        """Per partition, the offset after the last message a stream took since the
        assignment (the transport's `StreamTakes` sensor)."""
        return cast(ExactlyOnceTransport, self.transport).stream_takes.up_to

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return BrokerEndOffsetsConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        """Commit what was processed and end every transaction, then let Faust forget the
        revoked partitions (and drop a seek still pending: the next assignment seeks).

        Faust 0.15.3 (`Consumer.on_partitions_revoked`) forgets the acknowledged offsets of
        the revoked partitions (`_acked`; with aiokafka's eager protocol, all of them) and
        only then calls the app's handler, whose `wait_empty` commits: it finds nothing to
        commit. The events processed since the last commit keep their outputs in the
        partition's open transaction while their offsets stay uncommitted. For a partition
        the worker keeps, that transaction survives the rebalance (Faust's
        `begin_transaction` then fails with aiokafka's "Invalid state transition
        IN_TRANSACTION -> IN_TRANSACTION" and carries on), recovery replays the committed
        changelog records onto the tables (which takes back the uncommitted changes of the
        keys they touch: an event id remembered, a profile updated), and consumption
        restarts at the committed offsets: the same events are processed again as new, and
        both copies of their outputs commit together (in the three-worker test: an order's
        co-purchase deltas applied twice). No upstream issue names the cause; the symptom
        is faust-streaming/faust#502 (open: messages processed twice after a rebalance).
        Can go when Faust commits before it forgets the offsets.

        Here the flow is stopped and the stream buffers are cleared as Faust's handler does
        next, the batches in flight finish (`wait_empty`), everything acknowledged is
        committed with its transaction, and every transaction still open is committed too
        (`DrainableProducer.end_transactions`), so the next assignment begins clean ones.
        """
        self.seek_pending = False
        self.held_resumes.clear()
        if revoked and not self.app.should_stop:
            try:
                await self.commit_before_revocation()
            except Exception as exc:  # exactly-once cannot be kept: stop as Faust would
                await self.app.crash(exc)
        await super().on_partitions_revoked(revoked)

    async def commit_before_revocation(self) -> None:
        """Stop taking events, let the batches in flight finish, commit everything they
        acknowledged, and end every transaction (see `on_partitions_revoked`)."""
        self.stop_flow()
        self.app.flow_control.suspend()
        self.app.flow_control.clear()
        if self.app.conf.stream_wait_empty:
            await self.wait_empty()
        # wait_empty's last commit gives way to a commit already running, which began new
        # transactions: commit (and end) once more.
        await self.commit(start_new_transaction=False)
        producer = self.transactions.producer
        if self.in_transaction and isinstance(producer, DrainableProducer):
            ended = await producer.end_transactions()
            if ended:
                log.info("ended %d transactions before the rebalance", len(ended))

    async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0) -> None:
        """Hold the source partitions back until recovery has sought them (`perform_seek`),
        and start counting taken and streamed records afresh (every partition restarts at
        its committed offset)."""
        self.seek_pending = True
        self.held_resumes.clear()
        self.taken_up_to.clear()
        self.streamed_up_to.clear()
        await super().on_partitions_assigned(assigned, generation_id)

    def resume_partitions(self, tps: Any) -> None:
        """Resume fetching; a source partition resumed before the pending seek waits for it.

        Changelog partitions are resumed at once (recovery reads them before it seeks).
        """
        partitions = set(tps)
        if self.seek_pending:
            held = {tp for tp in partitions if not self._is_changelog_tp(tp)}
            self.held_resumes |= held
            partitions -= held
        if partitions:
            super().resume_partitions(partitions)

    async def perform_seek(self) -> None:
        """Seek the source partitions to their committed offsets before fetching them, and
        only after an assignment.

        Faust 0.15.3 seeks in two places, both while its fetcher runs. Table recovery
        (`Recovery._resume_streams`, `on_recovery_completed`) resumes the source partitions
        and then seeks them, one committed-offset request per partition: meanwhile the
        fetcher fetches and delivers records, the seek moves the position back under them,
        and Faust resets its read offsets to the committed ones. Records fetched before the
        seek and delivered after it then jump ahead of the read offset, and Faust takes the
        jump for offsets that do not exist (`Consumer._add_gap`, meant for transaction
        markers): the records in between count as acknowledged and their offsets are
        committed without their being processed (a cart or order left without a decision
        and its co-purchase deltas lost), while the records delivered twice are processed
        twice. The fetcher's own seek (`Consumer.getmany` with the flow stopped, during a
        rebalance) runs on while the next assignment arrives: it fails half-way ("No
        current assignment for partition") or moves positions of the new assignment.
        Upstream: faust-streaming/faust#216 (closed; PR #217 reordered the table-less path
        only; the same race remains with tables) and #264 (the half-way failure is only
        logged); related open report #629 (partitions never fetched after a start).

        Here the seek runs once per assignment, while the source partitions are still held
        back (`resume_partitions`), and they are resumed after it, seek failed or not.
        Without an assignment pending there is nothing to seek: a stopped flow means a
        rebalance, and aiokafka starts every partition of the next assignment at its
        committed offset (eager protocol). Can go when Faust seeks before it resumes the
        source partitions and stops seeking from the fetcher.
        """
        if not self.seek_pending:
            log.debug("no seek: no assignment waits for one")
            return
        try:
            await super().perform_seek()
        finally:
            self.seek_pending = False
            held, self.held_resumes = self.held_resumes, set()
            if held:
                super().resume_partitions(held)

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        """Wait until no batch is in flight, then commit as Faust does.

        Faust 0.15.3 commits on a timer (`Consumer._commit_handler`) whatever the agents are
        doing. Under exactly-once a commit between a batch's writes and its acks commits some
        of the batch's outputs without its input offsets, and a crash then applies the batch
        twice. No upstream issue found: Faust's own streams ack each event right after its
        processing, so only agents that process batches (`take_events`) are exposed. Stays
        as long as the agents process batches.

        The buffered table writes are sent before the gate closes (for at most
        `PRE_DRAIN_SECONDS`), so that batches are held off only for the few written since.
        Then the gate's `before_commit` checks run, once before it closes (most of the
        waiting) and once inside; if one raises, nothing is committed and the app crashes
        (Faust's `App.crash`, as for a fenced producer): the uncommitted batches are
        re-processed by whichever worker takes their partitions. The gate holds new batches
        off until the transactions can take no further record
        (`DrainableProducer.commit_transactions` releases the hold), not until they ended.
        """
        producer = self.transactions.producer
        if isinstance(producer, DrainableProducer):
            await producer.drain_buffer(max_seconds=PRE_DRAIN_SECONDS)
        gate = cast(ExactlyOnceTransport, self.transport).commit_gate
        if not await self._may_commit(gate):
            return False
        async with gate.committing() as hold:
            if not await self._may_commit(gate):
                return False
            token = _commit_hold.set(hold)
            try:
                return bool(await super().commit(*args, **kwargs))
            finally:
                _commit_hold.reset(token)

    async def _may_commit(self, gate: CommitGate) -> bool:
        """Whether the gate's `before_commit` checks pass; if one raises, the app crashes."""
        try:
            await gate.before_commit()
        except Exception as exc:
            await self.app.crash(exc)
            return False
        return True


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
        """Send within the transaction of the current event's source partition.

        Faust 0.15.3 (`TransactionManager.send`) sends each record in the transaction named
        after the record's *destination* partition. That transaction only exists on the
        worker that owns that partition, so a record keyed for another worker's partition
        (a co-purchase delta for another product, a re-keyed event, a dead letter) fails
        with "No transaction producer found" as soon as there are two workers. The source
        partition's transaction is the one whose consumed offset commits with the record,
        which is what exactly-once means. Sends made outside of any event keep Faust's rule.
        No upstream issue found. Can go when Faust picks the transaction by the source
        partition (check the two-worker integration tests under exactly-once).
        """
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

    async def on_rebalance(
        self, assigned: set[Any], revoked: set[Any], newly_assigned: set[Any]
    ) -> None:
        """Stop the producer of every transaction whose partition this worker no longer owns,
        then let Faust stop and start producers as usual.

        Faust 0.15.3 (`TransactionManager.on_rebalance`) maps the revoked partitions to
        transactions through `_tps_to_active_tpgs`, which leaves out every partition the new
        assignment makes a standby of this worker. With standby replicas (Faust's default)
        that is most revoked partitions: their producers are never stopped, the new owner's
        producer fences them, and when the partition comes back (the other worker left) Faust
        reuses the fenced producer, whose next send fails with `ProducerFenced` and crashes
        the worker. No upstream issue found. Can go when Faust stops a revoked partition's
        producer whether or not the partition becomes a standby.
        """
        keep = self._tps_to_transactional_ids(assigned)
        stale = sorted(set(transactional_ids(self.producer)) - keep)
        if stale:
            log.info("stopping %d transactional producers of partitions given up", len(stale))
            await self._stop_transactions(stale)
        await super().on_rebalance(assigned, revoked, newly_assigned)

    async def commit(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Hand buffered records (table changelog writes) to their transactions, then commit.

        Faust 0.15.3 (`Consumer.commit`) flushes its producer buffer before a commit only
        without transactions (added by faust-streaming/faust#273); with them, buffered
        changelog records are sent after the commit has ended the transaction, and the
        worker crashes ("Can't send messages while not in transaction"). Related open report:
        faust-streaming/faust#177 (records sent outside a transaction). Can go when Faust
        drains the buffer into the transactions before it commits them.

        Only the buffer is drained here: aiokafka's `commit_transaction` sends every record
        of the transaction before it ends it (`flush_for_commit`), so a flush of the Kafka
        clients would only make the commit hold batches off for their linger time.
        """
        producer = self.producer
        if isinstance(producer, DrainableProducer):
            await producer.drain_buffer()
        return bool(await super().commit(offsets, start_new_transaction=start_new_transaction))


class DrainableProducer(aiokafka_driver.Producer):
    """Faust's producer whose buffer can be drained completely, committing transactions
    concurrently and safely after they ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Count the buffered message the buffer's task has taken but not handed over yet.

        Table changelog writes go through the producer's buffer, sent by a background task.
        Faust 0.15.3's `ProducerBuffer.flush()` gives up as soon as one message takes more
        than 0.1 s (under load it returns with messages still queued), and it never waits
        for the message the task has taken (`_send_pending`) but not yet handed to the Kafka
        client. Under exactly-once either one lands in the *next* transaction, after the
        offsets of the event that wrote it have been committed: a crash in between loses
        that write for good (a product state short of its committed deltas; the same
        symptom as robinhood/faust#340, open; the crash-recovery integration test covers
        it). No faust-streaming issue found. Can go when Faust's flush waits for every
        buffered message.
        """
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
        """Faust's commit, concurrent, releasing the commit's hold on batches early, and a
        transaction already ended gets a new one.

        At shutdown Faust 0.15.3 commits and ends every transaction, and then may commit
        again (the consumer's last commit): aiokafka refuses that ("Not in the middle of a
        transaction"), and the remaining partitions' offsets would stay uncommitted. No output
        is sent after the transactions end, so the offsets alone commit safely. And the
        transactions are independent (one producer each), so they commit concurrently:
        Faust's `Producer.commit_transactions` commits them one after the other, 16 round
        trips in a row while every batch waits behind the commit. No upstream issue found
        for either. Can go when Faust begins a transaction that has ended before committing
        offsets into it.

        Every transaction's send lock (`transaction_lock`, which Faust's `Producer.send`
        takes) is held from before the first commit step until the next transaction has
        begun. Once all are held, the records of the batches being committed are in their
        transactions (the buffer was drained) and any later record waits for the next one,
        so the commit's hold on new batches is released then (`release_commit_hold`): new
        batches decide, write their tables and publish while the transactions commit. Not
        at a last commit (`start_new_transaction` false), after which nothing may be sent.
        """
        async with AsyncExitStack() as locks:
            committing = []
            for transactional_id in sorted(tid_to_offset_map):
                producer = transaction_producer(self, transactional_id)
                if producer is None:
                    log.warning("Commit invoked for unknown transaction %s", transactional_id)
                    continue
                await locks.enter_async_context(transaction_lock(self, transactional_id))
                committing.append((producer, tid_to_offset_map[transactional_id]))
            if start_new_transaction:
                release_commit_hold()
            # Every commit ends before the locks are let go, also when one of them fails.
            outcomes = await asyncio.gather(
                *(
                    self._commit_one(producer, offsets, group_id, start_new_transaction)
                    for producer, offsets in committing
                ),
                return_exceptions=True,
            )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    @staticmethod
    async def _commit_one(
        producer: AIOKafkaProducer, offsets: Any, group_id: str, start_new_transaction: bool
    ) -> None:
        """Commit one partition's transaction with its offsets (Faust's steps; the caller
        holds the transaction's lock)."""
        if not in_transaction(producer):
            await producer.begin_transaction()
        await producer.send_offsets_to_transaction(offsets, group_id)
        await producer.commit_transaction()
        if start_new_transaction:
            await producer.begin_transaction()

    async def end_transactions(self) -> list[str]:
        """Commit every transaction still open, with the records sent in it (the buffered
        ones first) and no offsets; return the ids of those ended.

        Called before a rebalance once every acknowledged offset has been committed
        (`CommitGatedConsumer.on_partitions_revoked`). What an open transaction can still
        hold then came from events whose offsets Faust could not commit yet (an offset it
        waits for before them); their state changes commit with it, so when the events come
        again the tables recognise them (event ids, applied delta positions). Aborting
        instead would discard the changes from the changelogs but not from the local
        stores, where a key that no later committed record touches keeps them: an event
        could then be taken for a duplicate and lost.
        """
        await self.drain_buffer()
        await self.flush()
        ended = []
        for transactional_id in transactional_ids(self):
            async with transaction_lock(self, transactional_id):
                producer = transaction_producer(self, transactional_id)
                if producer is not None and in_transaction(producer):
                    await producer.commit_transaction()
                    ended.append(transactional_id)
        return ended

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


class InlineDeliveryConsumer(CommitGatedConsumer):
    """The commit-gated consumer with an inline fast path for message delivery."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        """Like `Service.wait_first`, but a first coroutine that never suspends runs inline.

        For every consumed message Faust 0.15.3 (`Consumer._drain_messages`) runs
        `await self.wait_first(deliver(message), self.suspend_flow.wait())`, which creates
        four tasks and an `asyncio.wait` per message so that delivery can be abandoned when a
        rebalance suspends the flow. Delivery almost never waits (it puts into a queue
        without blocking), and those tasks take a large share of a busy worker's CPU
        (profiles of bench/ingest_throughput.py). If the delivery coroutine finishes in its
        first step, nothing could have been abandoned and no task is needed; if it has to
        wait, the rest of it runs under Faust's own `wait_first`, unchanged. A speed-up,
        not a fix; no upstream issue found.
        Can go when Faust delivers without a task per message.
        """
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


class StreamTakes(faust.Sensor):
    """Per partition, the offset after the last message a stream took (`up_to`).

    Faust's streams report each message they take to the app's sensors
    (`Sensor.on_message_in`, public API), not to the consumer. With the offsets of the
    records the consumer took from aiokafka (`CommitGatedConsumer.taken_up_to`), this tells
    records on their way to a stream, or lost on it, from records processed
    (`records_not_streamed`). One dict write per message.
    """

    def __init__(self) -> None:
        super().__init__()
        self.up_to: dict[Any, int] = {}

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.up_to[tp] = offset + 1


class ExactlyOnceTransport(aiokafka_driver.Transport):
    """The aiokafka transport with the exactly-once fixes (see `install_exactly_once_fixes`)."""

    Consumer = CommitGatedConsumer
    Producer = DrainableProducer
    TransactionManager = SourcePartitionTransactions

    def __init__(
        self,
        url: Any,
        app: faust.App,
        commit_gate: CommitGate,
        stream_takes: StreamTakes,
        fetch_max_wait_ms: int | None = None,
    ) -> None:
        super().__init__(url, app)
        self.commit_gate = commit_gate
        """What the consumer's commits wait for (`CommitGatedConsumer.commit`)."""
        self.fetch_max_wait_ms = fetch_max_wait_ms
        """The worker consumer's `fetch_max_wait_ms` (None: Faust's;
        `BrokerEndOffsetsConsumerThread._create_worker_consumer`)."""
        self.stream_takes = stream_takes
        """The sensor counting what streams took (`CommitGatedConsumer.streamed_up_to`);
        `install_exactly_once_fixes` adds it to the app's sensors (one not added would count
        nothing, and every record taken would look lost)."""


class InlineDeliveryTransport(ExactlyOnceTransport):
    """The exactly-once transport whose consumer delivers inline (`InlineDeliveryConsumer`)."""

    Consumer = InlineDeliveryConsumer


def install_exactly_once_fixes(
    app: faust.App, commit_gate: CommitGate, *, fetch_max_wait_ms: int | None = None
) -> None:
    """Make `app` use `ExactlyOnceTransport` (call before the worker starts).

    Commits wait for `commit_gate` (no batch in flight) and send buffered table writes into
    the transaction first (`CommitGatedConsumer`, `SourcePartitionTransactions.commit`);
    records are sent in their source partition's transaction
    (`SourcePartitionTransactions.send`); the producer's buffer drains completely and
    transactions commit concurrently, also after they ended (`DrainableProducer`); before a
    rebalance everything processed is committed and every transaction ended, and after it
    the source partitions are fetched only once sought to their committed offsets
    (`CommitGatedConsumer.on_partitions_revoked`, `CommitGatedConsumer.perform_seek`).
    The worker consumer's fetches are held by the broker for at most `fetch_max_wait_ms`
    (`BrokerEndOffsetsConsumerThread._create_worker_consumer`; None keeps Faust's 1,500 ms),
    and what its streams take is counted by a sensor (`StreamTakes`), for
    `records_not_streamed`.
    """
    stream_takes = StreamTakes()
    app.sensors.add(stream_takes)
    app.transport = ExactlyOnceTransport(
        app.conf.broker_consumer, app, commit_gate, stream_takes, fetch_max_wait_ms
    )


def install_inline_delivery(app: faust.App) -> None:
    """Make `app`'s consumer deliver messages inline (`InlineDeliveryConsumer.wait_first`).

    A speed-up on top of the exactly-once fixes, which must be installed first.
    """
    installed = app.transport
    if not isinstance(installed, ExactlyOnceTransport):
        raise RuntimeError("install_exactly_once_fixes(app, ...) comes first")
    app.transport = InlineDeliveryTransport(
        app.conf.broker_consumer,
        app,
        installed.commit_gate,
        installed.stream_takes,
        installed.fetch_max_wait_ms,
    )


class SharedMemory:
    """The block cache and memtable budget every table database of this process shares
    (`install_shared_rocksdb_memory`); unset until then."""

    cache: Any = None
    write_buffers: Any = None


class SharedMemoryRocksDBOptions(rocksdb_store.RocksDBOptions):
    """Faust's RocksDB options for rocksdict, with the databases' memory shared.

    Faust opens one database per table and partition, each with its own 2 GiB block cache
    and three 64 MiB memtables (`RocksDBOptions.as_options`), and keeps index and filter
    blocks outside any cache; a worker's memory then grows with the tables and partitions
    it holds. Here every database draws on one block cache (`SharedMemory.cache`, index and
    filter blocks included) and one memtable budget (`SharedMemory.write_buffers`, a
    RocksDB WriteBufferManager). Faust has no setting for either (no upstream issue found);
    can go when `RocksDBOptions` accepts a cache and a write buffer manager.
    """

    def as_options(self) -> Any:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        if self.max_open_files is not None:
            options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(SharedMemory.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(SharedMemory.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class SharedMemoryRocksDBStore(rocksdb_store.Store):
    """Faust's RocksDB table store, its databases opened with `SharedMemoryRocksDBOptions`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise RuntimeError("the shared RocksDB memory needs Faust's rocksdict driver")
        own = self.rocksdb_options
        self.rocksdb_options = SharedMemoryRocksDBOptions(
            max_open_files=own.max_open_files,
            write_buffer_size=own.write_buffer_size,
            max_write_buffer_number=own.max_write_buffer_number,
            target_file_size_base=own.target_file_size_base,
            bloom_filter_size=own.bloom_filter_size,
            use_rocksdict=True,
            ttl=own.ttl,
        )


SHARED_MEMORY_STORE = f"{__name__}:SharedMemoryRocksDBStore"


def install_shared_rocksdb_memory(block_cache_bytes: int, memtable_bytes: int) -> None:
    """Make `rocksdb://` table stores share one block cache of `block_cache_bytes` and one
    memtable budget of `memtable_bytes` (`SharedMemoryRocksDBOptions`); once per process,
    before any table opens its store. Faust finds stores by URL scheme in its registry
    (`faust.stores.STORES`): `rocksdb` is pointed at `SharedMemoryRocksDBStore`.
    """
    if SharedMemory.cache is None:
        SharedMemory.cache = rocksdict.Cache(block_cache_bytes)
        SharedMemory.write_buffers = rocksdict.WriteBufferManager(memtable_bytes, False)
    faust_stores.STORES.aliases["rocksdb"] = SHARED_MEMORY_STORE


# --- start-up check ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assumption:
    """One name this module relies on, who needs it, and how to tell that it exists."""

    package: str
    """The distribution that defines it (faust-streaming, aiokafka, mode-streaming)."""
    name: str
    """What is assumed, e.g. `AIOKafkaConsumerThread._ensure_consumer()`."""
    needed_by: str
    """The accessor or patch here that relies on it."""
    holds: Callable[[Samples], bool]
    """True when it exists (as assumed) on the installed version."""


@dataclass(frozen=True, slots=True)
class Samples:
    """Throwaway objects of the installed versions, built but never started (no connection)."""

    consumer: Any
    """A Faust aiokafka-driver Consumer."""
    producer: Any
    """A Faust aiokafka-driver Producer."""
    table: Any
    """A Faust Table."""
    kafka_consumer: AIOKafkaConsumer
    kafka_producer: AIOKafkaProducer
    """A transactional aiokafka producer."""
    stream: Any
    """A Faust Stream over an in-memory channel."""


def parameters(function: Any) -> list[str]:
    """The parameter names of `function` (with `self`), in order."""
    return list(inspect.signature(function).parameters)


def _callable_with(owner: Any, name: str, *expected: str) -> bool:
    function = getattr(owner, name, None)
    return callable(function) and parameters(function) == list(expected)


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "faust-streaming",
        "App._leader_assignor._leader_topic (a Topic)",
        "leader_topic (the topics a worker needs: BASKETLIFT_CREATE_TOPICS=false, topics plan)",
        lambda s: isinstance(leader_topic(s.table.app), faust.Topic),
    ),
    Assumption(
        "faust-streaming",
        "faust.streams._current_event (a ContextVar)",
        "current_event_var (table writes of batched events)",
        lambda s: isinstance(getattr(faust_streams, "_current_event", None), ContextVar),
    ),
    Assumption(
        "faust-streaming",
        "Consumer._thread",
        "kafka_consumer, consumer_thread_loop",
        lambda s: hasattr(s.consumer, "_thread"),
    ),
    Assumption(
        "faust-streaming",
        "AIOKafkaConsumerThread._ensure_consumer()",
        "kafka_consumer",
        lambda s: _callable_with(type(s.consumer._thread), "_ensure_consumer", "self"),
    ),
    Assumption(
        "faust-streaming",
        "Consumer._new_consumer_thread(), AIOKafkaConsumerThread._highwaters(partitions)",
        "BrokerEndOffsetsConsumerThread (changelog ends for table recovery)",
        lambda s: (
            _callable_with(aiokafka_driver.Consumer, "_new_consumer_thread", "self")
            and _callable_with(
                aiokafka_driver.AIOKafkaConsumerThread, "_highwaters", "self", "partitions"
            )
        ),
    ),
    Assumption(
        "faust-streaming",
        "AIOKafkaConsumerThread._fetch_records(consumer, active_partitions, timeout, max_records)",
        "BrokerEndOffsetsConsumerThread._fetch_records (ActivePartitionsView)",
        lambda s: _callable_with(
            aiokafka_driver.AIOKafkaConsumerThread,
            "_fetch_records",
            "self",
            "consumer",
            "active_partitions",
            "timeout",
            "max_records",
        ),
    ),
    Assumption(
        "aiokafka",
        "Fetcher.fetched_records(partitions, timeout, max_records), partitions read by"
        " truth and membership only",
        "ActivePartitionsView",
        lambda s: (
            _callable_with(
                AiokafkaFetcher, "fetched_records", "self", "partitions", "timeout", "max_records"
            )
            and "if partitions and tp not in partitions"
            in inspect.getsource(AiokafkaFetcher.fetched_records)
        ),
    ),
    Assumption(
        "faust-streaming",
        "TransactionManager.on_rebalance(assigned, revoked, newly_assigned),"
        " _tps_to_transactional_ids(tps), _stop_transactions(tids)",
        "SourcePartitionTransactions.on_rebalance",
        lambda s: (
            _callable_with(
                TransactionManager, "on_rebalance", "self", "assigned", "revoked", "newly_assigned"
            )
            and _callable_with(TransactionManager, "_tps_to_transactional_ids", "self", "tps")
            and _callable_with(TransactionManager, "_stop_transactions", "self", "tids")
        ),
    ),
    Assumption(
        "mode-streaming",
        "ServiceThread.thread_loop",
        "consumer_thread_loop (the broker-contact listener)",
        lambda s: hasattr(s.consumer._thread, "thread_loop"),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.app, App.crash(reason)",
        "CommitGatedConsumer.commit (no commit when decisions were not delivered)",
        lambda s: (
            hasattr(s.consumer, "app") and _callable_with(faust.App, "crash", "self", "reason")
        ),
    ),
    Assumption(
        "faust-streaming",
        "Consumer._committed_offset",
        "committed_offsets (the progress watch, consumer lag)",
        lambda s: isinstance(getattr(s.consumer, "_committed_offset", None), Mapping),
    ),
    Assumption(
        "faust-streaming",
        "Consumer._unacked_messages",
        "unacked_messages (the progress watch, consumer lag)",
        lambda s: hasattr(s.consumer, "_unacked_messages"),
    ),
    Assumption(
        "faust-streaming",
        "Consumer._paused_partitions",
        "paused_partitions (the stall warning)",
        lambda s: isinstance(getattr(s.consumer, "_paused_partitions", None), set),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.flow_active",
        "the stall warning",
        lambda s: isinstance(getattr(s.consumer, "flow_active", None), bool),
    ),
    Assumption(
        "faust-streaming",
        "Sensor.on_message_in(tp, offset, message), App.sensors.add(sensor)",
        "StreamTakes (records_not_streamed)",
        lambda s: (
            _callable_with(faust.Sensor, "on_message_in", "self", "tp", "offset", "message")
            and callable(getattr(s.table.app.sensors, "add", None))
        ),
    ),
    Assumption(
        "faust-streaming",
        "Monitor.on_message_in stamps Message.time_in with its monotonic clock (the app's"
        " monitor is always one of its sensors)",
        "the decision latency metric (streams/offers/agents.py reads time_in)",
        lambda s: (
            "message.time_in = self.time()" in inspect.getsource(FaustMonitor.on_message_in)
            and inspect.signature(FaustMonitor).parameters["time"].default is time.monotonic
        ),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.commit(topics, start_new_transaction)",
        "CommitGatedConsumer.commit",
        lambda s: _callable_with(
            aiokafka_driver.Consumer, "commit", "self", "topics", "start_new_transaction"
        ),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.transactions",
        "CommitGatedConsumer.commit",
        lambda s: hasattr(s.consumer, "transactions"),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.on_partitions_revoked(revoked), on_partitions_assigned(assigned,"
        " generation_id), resume_partitions(tps), perform_seek(), _is_changelog_tp(tp)",
        "CommitGatedConsumer.perform_seek (source partitions sought before they are fetched)",
        lambda s: (
            _callable_with(aiokafka_driver.Consumer, "on_partitions_revoked", "self", "revoked")
            and _callable_with(
                aiokafka_driver.Consumer,
                "on_partitions_assigned",
                *("self", "assigned", "generation_id"),
            )
            and _callable_with(aiokafka_driver.Consumer, "resume_partitions", "self", "tps")
            and _callable_with(aiokafka_driver.Consumer, "perform_seek", "self")
            and _callable_with(aiokafka_driver.Consumer, "_is_changelog_tp", "self", "tp")
        ),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.stop_flow(), wait_empty(), in_transaction, App.flow_control.suspend()/"
        "clear(), conf.stream_wait_empty",
        "CommitGatedConsumer.commit_before_revocation",
        lambda s: (
            _callable_with(aiokafka_driver.Consumer, "stop_flow", "self")
            and _callable_with(aiokafka_driver.Consumer, "wait_empty", "self")
            and isinstance(s.consumer.in_transaction, bool)
            and callable(getattr(s.consumer.app.flow_control, "suspend", None))
            and callable(getattr(s.consumer.app.flow_control, "clear", None))
            and isinstance(s.consumer.app.conf.stream_wait_empty, bool)
        ),
    ),
    Assumption(
        "faust-streaming",
        "Consumer.key_partition(topic, key, partition)",
        "SourcePartitionTransactions.send",
        lambda s: _callable_with(
            aiokafka_driver.Consumer, "key_partition", "self", "topic", "key", "partition"
        ),
    ),
    Assumption(
        "mode-streaming",
        "Service.wait_first(*coros, timeout)",
        "InlineDeliveryConsumer.wait_first",
        lambda s: _callable_with(
            aiokafka_driver.Consumer, "wait_first", "self", "coros", "timeout"
        ),
    ),
    Assumption(
        "mode-streaming",
        "Service._stopped, Service._crashed",
        "InlineDeliveryConsumer.wait_first",
        lambda s: all(
            callable(getattr(getattr(s.consumer, name, None), "is_set", None))
            for name in ("_stopped", "_crashed")
        ),
    ),
    Assumption(
        "faust-streaming",
        "TransactionManager.send(topic, key, value, partition, timestamp, headers, *,"
        " transactional_id)",
        "SourcePartitionTransactions.send",
        lambda s: _callable_with(
            TransactionManager,
            "send",
            *("self", "topic", "key", "value", "partition", "timestamp", "headers"),
            "transactional_id",
        ),
    ),
    Assumption(
        "faust-streaming",
        "TransactionManager.commit(offsets, start_new_transaction)",
        "SourcePartitionTransactions.commit",
        lambda s: _callable_with(
            TransactionManager, "commit", "self", "offsets", "start_new_transaction"
        ),
    ),
    Assumption(
        "faust-streaming",
        "Producer.commit_transactions(tid_to_offset_map, group_id, start_new_transaction)",
        "DrainableProducer.commit_transactions",
        lambda s: _callable_with(
            aiokafka_driver.Producer,
            "commit_transactions",
            *("self", "tid_to_offset_map", "group_id", "start_new_transaction"),
        ),
    ),
    Assumption(
        "faust-streaming",
        "Producer._transaction_producers, Producer._trn_locks",
        "transaction_producer, transaction_lock (DrainableProducer), transactional_ids"
        " (SourcePartitionTransactions.on_rebalance)",
        lambda s: (
            isinstance(getattr(s.producer, "_transaction_producers", None), Mapping)
            and isinstance(getattr(s.producer, "_trn_locks", None), Mapping)
        ),
    ),
    Assumption(
        "faust-streaming",
        "ProducerBuffer._send_pending(fut)",
        "DrainableProducer (buffered messages in flight)",
        lambda s: (
            _callable_with(ProducerBuffer, "_send_pending", "self", "fut")
            and isinstance(s.producer.buffer, ProducerBuffer)
        ),
    ),
    Assumption(
        "faust-streaming",
        "ProducerBuffer.size, ProducerBuffer.message_sent",
        "DrainableProducer.drain_buffer",
        lambda s: (
            isinstance(getattr(s.producer.buffer, "size", None), int)
            and isinstance(getattr(s.producer.buffer, "message_sent", None), asyncio.Event)
        ),
    ),
    Assumption(
        "faust-streaming",
        "Collection._new_changelog_topic()",
        "new_changelog_topic (tables with raw keys and values)",
        lambda s: (
            callable(getattr(s.table, "_new_changelog_topic", None))
            and all(
                p.kind is p.KEYWORD_ONLY
                for p in inspect.signature(s.table._new_changelog_topic).parameters.values()
            )
        ),
    ),
    Assumption(
        "faust-streaming",
        "Stream.channel.queue (the queue the stream's iterator takes from)",
        "stream_queue (take_available_events)",
        lambda s: callable(getattr(s.stream.channel.queue, "empty", None)),
    ),
    Assumption(
        "faust-streaming",
        "Stream._processors, Stream._active_agens, Stream.current_event, Stream.enable_acks",
        "take_available_events",
        lambda s: (
            isinstance(s.stream._processors, list)
            and isinstance(s.stream._active_agens, weakref.WeakSet)
            and hasattr(s.stream, "current_event")
            and isinstance(s.stream.enable_acks, bool)
        ),
    ),
    Assumption(
        "faust-streaming",
        "Stream._enable_passive(channel, *, declare), Stream.add_processor(processor),"
        " Stream.ack(event)",
        "take_available_events",
        lambda s: (
            _callable_with(faust.Stream, "_enable_passive", "self", "channel", "declare")
            and _callable_with(faust.Stream, "add_processor", "self", "processor")
            and _callable_with(faust.Stream, "ack", "self", "event")
        ),
    ),
    Assumption(
        "mode-streaming",
        "Service.wait(*coros, timeout), Service.wait_for_stopped(*coros, timeout)",
        "take_available_events",
        lambda s: (
            _callable_with(faust.Stream, "wait", "self", "coros", "timeout")
            and _callable_with(faust.Stream, "wait_for_stopped", "self", "coros", "timeout")
        ),
    ),
    Assumption(
        "faust-streaming",
        "App.in_recovery, App.rebalancing_count",
        "/health, /live, basketlift_rebalances_total",
        lambda s: hasattr(faust.App, "in_recovery") and hasattr(faust.App, "rebalancing_count"),
    ),
    Assumption(
        "aiokafka",
        "AIOKafkaConsumer._client.cluster (ClusterMetadata)",
        "metadata_cluster (the broker-contact listener)",
        lambda s: isinstance(getattr(s.kafka_consumer._client, "cluster", None), ClusterMetadata),
    ),
    Assumption(
        "aiokafka",
        "ClusterMetadata.add_listener(listener)",
        "the broker-contact listener",
        lambda s: _callable_with(ClusterMetadata, "add_listener", "self", "listener"),
    ),
    Assumption(
        "aiokafka",
        "AIOKafkaClient.force_metadata_update()",
        "force_metadata_update (reading whole topics)",
        lambda s: _callable_with(type(s.kafka_consumer._client), "force_metadata_update", "self"),
    ),
    Assumption(
        "aiokafka",
        "AIOKafkaConsumer._subscription.subscription.assignment.state_value(tp)",
        "partition_state (fetch positions and times)",
        lambda s: _subscription_state_reads(s.kafka_consumer),
    ),
    Assumption(
        "aiokafka",
        "TopicPartitionState.timestamp, .position, .has_valid_position",
        "fetch_position, the broker-contact watch",
        lambda s: _partition_state_fields(),
    ),
    Assumption(
        "faust-streaming",
        "AIOKafkaConsumerThread._create_worker_consumer(transport)",
        "BrokerEndOffsetsConsumerThread (the worker consumer's fetch wait)",
        lambda s: _callable_with(
            aiokafka_driver.AIOKafkaConsumerThread, "_create_worker_consumer", "self", "transport"
        ),
    ),
    Assumption(
        "aiokafka",
        "AIOKafkaConsumer._fetch_max_wait_ms (an int), ._fetcher (None until started)",
        "fetch_max_wait_ms, set_fetch_max_wait_ms",
        lambda s: (
            isinstance(getattr(s.kafka_consumer, "_fetch_max_wait_ms", None), int)
            and hasattr(s.kafka_consumer, "_fetcher")
            and s.kafka_consumer._fetcher is None
        ),
    ),
    Assumption(
        "aiokafka",
        "AIOKafkaProducer._txn_manager.is_in_transaction()",
        "in_transaction (DrainableProducer.commit_transactions)",
        lambda s: callable(getattr(s.kafka_producer._txn_manager, "is_in_transaction", None)),
    ),
    Assumption(
        "faust-streaming",
        "rocksdb Store._dbs_for_actives(), rocksdict Rdict.property_int_value()",
        "estimated_table_keys",
        lambda s: (
            _callable_with(rocksdb_store.Store, "_dbs_for_actives", "self")
            and callable(getattr(rocksdict.Rdict, "property_int_value", None))
        ),
    ),
    Assumption(
        "faust-streaming",
        "faust.stores.STORES.aliases['rocksdb'], rocksdb Store.rocksdb_options/.use_rocksdict",
        "install_shared_rocksdb_memory, SharedMemoryRocksDBStore",
        lambda s: _rocksdb_store_hooks(),
    ),
)
"""Everything the accessors and patches above assume, checked by `check_supported`."""


def _rocksdb_store_hooks() -> bool:
    aliases = getattr(faust_stores.STORES, "aliases", None)
    options = set(inspect.signature(rocksdb_store.RocksDBOptions).parameters)
    wanted = {"max_open_files", "write_buffer_size", "max_write_buffer_number"}
    wanted |= {"target_file_size_base", "bloom_filter_size", "use_rocksdict", "ttl"}
    table_options = rocksdict.BlockBasedOptions()
    return (
        isinstance(aliases, dict)
        and "rocksdb" in aliases
        and wanted <= options
        and callable(getattr(table_options, "set_cache_index_and_filter_blocks", None))
        and callable(getattr(rocksdict.Options, "set_write_buffer_manager", None))
    )


def _subscription_state_reads(kafka: AIOKafkaConsumer) -> bool:
    """Whether `partition_state` finds an assigned partition's state on a real consumer."""
    from aiokafka import TopicPartition

    tp = TopicPartition("faustcompat-check", 0)
    kafka.assign([tp])
    return isinstance(partition_state(kafka, tp), TopicPartitionState)


def _partition_state_fields() -> bool:
    state = TopicPartitionState(assignment=None)
    return (
        hasattr(state, "timestamp")
        and isinstance(getattr(TopicPartitionState, "position", None), property)
        and isinstance(getattr(TopicPartitionState, "has_valid_position", None), property)
    )


def unstarted_app(app_id: str) -> faust.App:
    """A Faust app to build throwaway objects from; never started (it connects nowhere)."""
    return faust.App(
        app_id,
        broker="kafka://127.0.0.1:9",
        store="memory://",
        processing_guarantee="exactly_once",
        autodiscover=False,
    )


def _faust_samples() -> tuple[Any, Any, Any, Any]:
    app = unstarted_app("basketlift-faustcompat-check")
    transport = aiokafka_driver.Transport(app.conf.broker_consumer, app)

    async def on_partitions(*_: Any) -> None:
        """Never called: the consumer is never started."""

    consumer = transport.create_consumer(
        callback=on_partitions,
        on_partitions_revoked=on_partitions,
        on_partitions_assigned=on_partitions,
    )
    producer = transport.create_producer()
    table = app.Table("check", key_type=str, value_type=bytes, partitions=1, default=None)
    stream = app.stream(app.channel())
    return consumer, producer, table, stream


def installed_version(package: str) -> str:
    """The installed version of a distribution ("not installed" if absent)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def unsupported(assumptions: tuple[Assumption, ...] = ASSUMPTIONS) -> str | None:
    """One line saying why the installed Faust/aiokafka are not supported (None: they are).

    Call outside of an event loop: the aiokafka samples are built (and closed) in their own.
    """
    wrong = [
        f"{package} {installed_version(package)}"
        for package, version in SUPPORTED_VERSIONS.items()
        if installed_version(package) != version
    ]
    missing: dict[str, list[str]] = {}

    async def evaluate() -> None:
        kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", transactional_id="check")
        try:
            try:
                consumer, faust_producer, table, stream = _faust_samples()
            except Exception as error:  # an __init__ that changed: nothing else can be probed
                missing["faust-streaming"] = [
                    "a never-started Consumer, Producer, Table and Stream as built here"
                    f" ({error!r})"
                ]
                return
            samples = Samples(consumer, faust_producer, table, kafka, producer, stream)
            for assumption in assumptions:
                try:
                    holds = assumption.holds(samples)
                except (AttributeError, TypeError, ValueError):
                    holds = False
                if not holds:
                    missing.setdefault(assumption.package, []).append(
                        f"{assumption.name} (needed by {assumption.needed_by})"
                    )
        finally:
            await kafka.stop()
            await producer.stop()

    asyncio.run(evaluate())
    lacks = "; ".join(
        f"{package} {installed_version(package)} lacks {', '.join(names)}"
        for package, names in missing.items()
    )
    if wrong:
        supported = " and ".join(f"{p} {v}" for p, v in SUPPORTED_VERSIONS.items())
        return f"unsupported {', '.join(wrong)}: " + (
            lacks or f"Basketlift supports {supported} (pinned in pyproject.toml)"
        )
    return lacks or None


class UnsupportedFaust(RuntimeError):
    """The installed Faust/aiokafka are not the versions this module is written against."""


def check_supported() -> None:
    """Raise UnsupportedFaust with one line unless the installed versions are supported."""
    problem = unsupported()
    if problem is not None:
        raise UnsupportedFaust(problem)

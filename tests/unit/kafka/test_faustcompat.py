"""streams/kafka/faustcompat.py: the start-up check of the assumed Faust/aiokafka internals, the
accessors on real objects, the installed transport, taking batches as soon as nothing more is
queued (over an in-memory channel), and the inline delivery fast path (it keeps wait_first's
results and its abandon-on-suspend rule)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.consumer.fetcher import Fetcher, FetchResult
from aiokafka.consumer.subscription_state import SubscriptionState
from click.testing import CliRunner
from faust.exceptions import ConsumerNotStarted
from faust.streams import current_event
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams import cli
from streams.kafka import faustcompat
from streams.kafka.faustcompat import (
    ASSUMPTIONS,
    BrokerEndOffsetsConsumerThread,
    CommitGatedConsumer,
    DrainableProducer,
    ExactlyOnceTransport,
    InlineDeliveryConsumer,
    ResumedCoroutine,
    SourcePartitionTransactions,
    UnsupportedFaust,
    check_supported,
    committed_offsets,
    consumer_thread_loop,
    current_event_var,
    fetch_max_wait_ms,
    fetch_position,
    force_metadata_update,
    in_transaction,
    install_exactly_once_fixes,
    install_inline_delivery,
    kafka_consumer,
    metadata_cluster,
    new_changelog_topic,
    partition_state,
    paused_partitions,
    records_not_streamed,
    step_inline,
    stream_queue,
    take_available_events,
    transaction_lock,
    transaction_producer,
    unacked_messages,
    unstarted_app,
    unsupported,
)
from streams.runtime.gate import CommitGate
from streams.settings import Settings

# --- the start-up check ----------------------------------------------------------------------


def test_the_installed_versions_have_every_assumed_attribute_and_signature() -> None:
    assert unsupported() is None
    check_supported()  # does not raise
    # Every accessor's private reads are among the checked assumptions.
    accessors = [
        current_event_var,
        kafka_consumer,
        consumer_thread_loop,
        partition_state,
        fetch_position,
        metadata_cluster,
        force_metadata_update,
        committed_offsets,
        unacked_messages,
        paused_partitions,
        new_changelog_topic,
        transaction_producer,
        transaction_lock,
        in_transaction,
        stream_queue,
        take_available_events,
    ]
    unchecked = [
        accessor.__name__
        for accessor in accessors
        if not any(accessor.__name__ in assumption.needed_by for assumption in ASSUMPTIONS)
    ]
    assert unchecked == []


def test_a_method_removed_upstream_is_named_with_what_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(AIOKafkaConsumerThread, "_ensure_consumer")
    with pytest.raises(UnsupportedFaust) as refused:
        check_supported()
    assert str(refused.value) == (
        "faust-streaming 0.15.3 lacks AIOKafkaConsumerThread._ensure_consumer()"
        " (needed by kafka_consumer)"
    )


def test_a_changed_signature_and_a_missing_instance_attribute_are_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def send_without_transactional_id(self: Any, topic: str, key: Any, value: Any) -> None:
        """A `send` with another signature."""

    monkeypatch.setattr(TransactionManager, "send", send_without_transactional_id)
    original_init = aiokafka_driver.Consumer.__init__

    def init_without_committed_offsets(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        del self._committed_offset

    monkeypatch.setattr(aiokafka_driver.Consumer, "__init__", init_without_committed_offsets)
    problem = unsupported()
    assert problem is not None and "\n" not in problem
    assert problem == (
        "faust-streaming 0.15.3 lacks Consumer._committed_offset (needed by committed_offsets"
        " (the progress watch, consumer lag)), TransactionManager.send(topic, key, value,"
        " partition, timestamp, headers, *, transactional_id) (needed by"
        " SourcePartitionTransactions.send)"
    )


def test_a_constructor_that_changed_is_reported_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def init_with_a_new_required_argument(self: Any, *args: Any, required: int, **kw: Any) -> None:
        """A Producer.__init__ that wants an argument the check does not pass."""

    monkeypatch.setattr(aiokafka_driver.Producer, "__init__", init_with_a_new_required_argument)
    problem = unsupported()
    assert problem is not None and "\n" not in problem
    assert problem.startswith(
        "faust-streaming 0.15.3 lacks a never-started Consumer, Producer, Table and Stream as built"
        " here (TypeError("
    )


def test_another_version_is_refused_even_with_every_name_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = faustcompat.installed_version
    monkeypatch.setattr(
        faustcompat,
        "installed_version",
        lambda package: "0.16.0" if package == "faust-streaming" else installed(package),
    )
    assert unsupported() == (
        "unsupported faust-streaming 0.16.0: Basketlift supports faust-streaming 0.15.3 and"
        " aiokafka 0.14.0 (pinned in pyproject.toml)"
    )


def test_the_worker_exits_2_with_one_line_when_the_check_fails(
    monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    monkeypatch.delattr(AIOKafkaConsumerThread, "_ensure_consumer")
    # A broker that does not answer: without the check the worker stops there instead.
    broker = Settings(broker=f"kafka://127.0.0.1:{dead_port}")
    monkeypatch.setattr(cli, "get_settings", lambda: broker)
    result = CliRunner().invoke(cli.main, ["worker"])
    assert result.exit_code == 2
    assert result.output == (
        "error: faust-streaming 0.15.3 lacks AIOKafkaConsumerThread._ensure_consumer()"
        " (needed by kafka_consumer)\n"
    )


# --- accessors on real objects (never started) -----------------------------------------------


@pytest.fixture
def throwaway_app() -> Iterator[faust.App]:
    """A Faust app that is never started, with Basketlift's transport installed."""
    app = unstarted_app("unit-faustcompat")
    install_exactly_once_fixes(app, CommitGate())
    install_inline_delivery(app)
    yield app


def test_the_installed_transport_has_the_fixes_and_the_inline_consumer(
    throwaway_app: faust.App,
) -> None:
    transport = throwaway_app.transport
    assert transport.Consumer is InlineDeliveryConsumer
    assert issubclass(InlineDeliveryConsumer, CommitGatedConsumer)
    assert transport.Producer is DrainableProducer
    assert transport.TransactionManager is SourcePartitionTransactions
    assert isinstance(transport, ExactlyOnceTransport)
    assert isinstance(transport.commit_gate, CommitGate)


def test_inline_delivery_needs_the_exactly_once_fixes_first() -> None:
    app = faust.App("unit-faustcompat-bare", broker="kafka://127.0.0.1:9", autodiscover=False)
    with pytest.raises(RuntimeError, match="install_exactly_once_fixes"):
        install_inline_delivery(app)


async def test_a_commit_whose_before_commit_check_fails_crashes_the_app_and_commits_nothing(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = throwaway_app.transport.commit_gate
    committed: list[Any] = []
    crashed: list[BaseException] = []

    async def commit_as_faust_does(self: Any, *args: Any, **kwargs: Any) -> bool:
        committed.append(args)
        return True

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)

    async def not_delivered() -> None:
        raise RuntimeError("a decision was not delivered")

    monkeypatch.setattr(aiokafka_driver.Consumer, "commit", commit_as_faust_does)
    monkeypatch.setattr(throwaway_app, "crash", crash)
    consumer = throwaway_app.consumer
    assert await consumer.commit() is True and len(committed) == 1  # no check: commits
    gate.add_before_commit(not_delivered)
    assert await consumer.commit() is False
    assert len(committed) == 1 and [str(r) for r in crashed] == ["a decision was not delivered"]
    assert not gate.commit_waiting, "the gate is open again for batches"


async def test_consumer_accessors_read_a_real_faust_consumer(throwaway_app: faust.App) -> None:
    consumer = throwaway_app.consumer
    assert isinstance(consumer, InlineDeliveryConsumer)
    assert dict(committed_offsets(consumer)) == {}
    assert unacked_messages(consumer) == []
    assert paused_partitions(consumer) == set()
    with pytest.raises(ConsumerNotStarted):
        kafka_consumer(consumer)


async def test_the_worker_consumer_fetches_with_the_installed_wait_instead_of_fausts() -> None:
    """Faust builds the worker consumer with fetch_max_wait_ms=1500 whatever its settings; the
    installed transport's value replaces it before the consumer starts."""
    waits: dict[int | None, int] = {}
    for wait in (None, 100):
        app = unstarted_app(f"unit-faustcompat-wait-{wait}")
        install_exactly_once_fixes(app, CommitGate(), fetch_max_wait_ms=wait)
        install_inline_delivery(app)
        assert app.transport.fetch_max_wait_ms == wait
        kafka = app.consumer._thread._create_worker_consumer(app.transport)
        waits[wait] = fetch_max_wait_ms(kafka)
        await kafka.stop()
    assert waits == {None: 1500, 100: 100}


async def test_recovery_highwaters_come_from_the_broker_not_the_unfetched_cache(
    throwaway_app: faust.App,
) -> None:
    """Right after an assignment aiokafka has fetched nothing, so its cached last stable
    offset is None; Faust's own answer would make recovery see highwater -1 and crash a
    worker holding a standby copy (ConsistencyError, persisted offset > -1)."""
    consumer = throwaway_app.consumer
    consumer.in_transaction = True  # as under exactly-once: Faust reads the cached LSO
    thread = consumer._thread
    assert isinstance(thread, BrokerEndOffsetsConsumerThread)
    changelog = TopicPartition("app-table-changelog", 3)
    asked: list[list[TopicPartition]] = []

    class FetchedNothingYet:
        def last_stable_offset(self, tp: TopicPartition) -> int | None:
            return None

        async def end_offsets(self, partitions: list[TopicPartition]) -> dict[Any, int]:
            asked.append(list(partitions))
            return dict.fromkeys(partitions, 42)

    thread._consumer = FetchedNothingYet()
    assert await thread._highwaters([changelog]) == {changelog: 42}
    assert asked == [[changelog]]


async def test_a_rebalance_stops_the_producers_of_partitions_no_longer_owned(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust leaves the producer of a revoked partition running when the partition becomes
    a standby here; the new owner fences it, and reusing it later crashes the worker."""
    transactions = throwaway_app.consumer.transactions
    assert isinstance(transactions, SourcePartitionTransactions)
    monkeypatch.setattr(
        transactions.producer, "_transaction_producers", {"app-1-0": object(), "app-1-4": object()}
    )
    kept = TopicPartition("shop.carts", 4)
    monkeypatch.setattr(
        transactions,
        "_tps_to_transactional_ids",
        lambda tps: {"app-1-4"} if tps == {kept} else set(),
    )
    stopped: list[str] = []
    faust_calls: list[tuple[Any, ...]] = []

    async def stop_transactions(tids: list[str]) -> None:
        stopped.extend(tids)

    async def faust_on_rebalance(self: Any, *args: Any) -> None:
        faust_calls.append(args)

    monkeypatch.setattr(transactions, "_stop_transactions", stop_transactions)
    monkeypatch.setattr(TransactionManager, "on_rebalance", faust_on_rebalance)
    revoked = {TopicPartition("shop.carts", 0)}  # a standby here now: Faust skips it
    await transactions.on_rebalance({kept}, revoked, set())
    assert stopped == ["app-1-0"]
    assert faust_calls == [({kept}, revoked, set())]


SOURCE = TP("shop.carts", 2)
CHANGELOG = TP("app-table-changelog", 2)


@pytest.fixture
def rebalancing_consumer(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[CommitGatedConsumer, list[dict[str, Any]]]]:
    """The transport's consumer with Faust's rebalance callbacks reduced to what they do to
    the fetched partitions, and a seek that records which partitions could be fetched while
    it ran (committed offset 7 for the source partition, none for the changelog)."""
    consumer = throwaway_app.consumer
    assert isinstance(consumer, CommitGatedConsumer)
    seeks: list[dict[str, Any]] = []

    async def faust_assigned(self: Any, assigned: set[Any], generation_id: int = 0) -> None:
        self._set_active_tps(assigned)
        self.pause_partitions(assigned)  # as the app does before recovery starts

    async def faust_revoked(self: Any, revoked: set[Any]) -> None:
        self._get_active_partitions().difference_update(revoked)

    async def seek_to_committed() -> dict[Any, int | None]:
        seeks.append({"fetchable": set(consumer._get_active_partitions())})
        return {SOURCE: 7, CHANGELOG: None}

    monkeypatch.setattr(aiokafka_driver.Consumer, "on_partitions_assigned", faust_assigned)
    monkeypatch.setattr(aiokafka_driver.Consumer, "on_partitions_revoked", faust_revoked)
    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp.topic.endswith("-changelog"))
    yield consumer, seeks


async def test_source_partitions_resumed_by_recovery_are_fetched_only_once_sought(
    rebalancing_consumer: tuple[CommitGatedConsumer, list[dict[str, Any]]],
) -> None:
    """Faust's recovery resumes the source partitions and then seeks them while the fetcher
    runs: records fetched before the seek and delivered after it count as a gap, and the
    records in between are committed unprocessed. Here they wait for the seek."""
    consumer, seeks = rebalancing_consumer
    await consumer.on_partitions_assigned({SOURCE, CHANGELOG})
    consumer.resume_partitions({CHANGELOG})  # recovery reads the changelog first
    assert consumer._get_active_partitions() == {CHANGELOG}
    consumer.resume_partitions({SOURCE})  # recovery done: Faust resumes, then seeks
    assert SOURCE not in consumer._get_active_partitions()
    await consumer.perform_seek()
    assert seeks == [{"fetchable": {CHANGELOG}}], "the source partition waited for the seek"
    assert consumer._get_active_partitions() == {CHANGELOG, SOURCE}
    assert committed_offsets(consumer)[SOURCE] == 7 and consumer._read_offset[SOURCE] == 7
    consumer.resume_partitions({SOURCE})  # after the seek: resumed at once
    await consumer.perform_seek()
    assert len(seeks) == 1, "one seek per assignment"


async def test_a_seek_asked_for_while_a_rebalance_stopped_the_flow_seeks_nothing(
    rebalancing_consumer: tuple[CommitGatedConsumer, list[dict[str, Any]]],
) -> None:
    """Faust's fetcher seeks when it finds the flow stopped, which runs on into the next
    assignment ("No current assignment for partition"); that assignment seeks once."""
    consumer, seeks = rebalancing_consumer
    await consumer.on_partitions_assigned({SOURCE})
    consumer.resume_partitions({SOURCE})
    await consumer.perform_seek()
    await consumer.on_partitions_revoked({SOURCE})
    await consumer.perform_seek()  # the fetcher, flow stopped
    assert len(seeks) == 1
    await consumer.on_partitions_assigned({SOURCE})
    consumer.resume_partitions({SOURCE})
    await consumer.perform_seek()
    assert len(seeks) == 2 and SOURCE in consumer._get_active_partitions()


async def test_a_failed_seek_still_resumes_the_held_source_partitions(
    rebalancing_consumer: tuple[CommitGatedConsumer, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held back until a seek that then fails, the source partition is fetched after all:
    aiokafka started it at its committed offset, so it is not lost to the worker."""
    consumer, _seeks = rebalancing_consumer
    fetchable_during_seek: list[bool] = []

    async def seek_fails() -> dict[Any, int | None]:
        fetchable_during_seek.append(SOURCE in consumer._get_active_partitions())
        raise TimeoutError("no committed offsets")

    monkeypatch.setattr(consumer, "seek_to_committed", seek_fails)
    await consumer.on_partitions_assigned({SOURCE})
    consumer.resume_partitions({SOURCE})
    with pytest.raises(TimeoutError):
        await consumer.perform_seek()
    assert fetchable_during_seek == [False]
    assert SOURCE in consumer._get_active_partitions()


class OpenTransaction:
    """An aiokafka transactional producer in the middle of a transaction (what the revoke
    path touches of it)."""

    def __init__(self) -> None:
        self.committed = 0
        self._txn_manager = self

    def is_in_transaction(self) -> bool:
        return self.committed == 0

    async def commit_transaction(self) -> None:
        self.committed += 1

    async def flush(self) -> None:
        """Nothing is buffered."""


async def test_a_revocation_commits_what_was_processed_before_faust_forgets_it(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust forgets the acknowledged offsets of revoked partitions before its handler
    commits, so the events processed since the last commit are processed again after the
    rebalance while their outputs wait in the still open transaction: both copies commit."""
    consumer = throwaway_app.consumer
    assert isinstance(consumer, CommitGatedConsumer)
    orders = TP("shop.orders", 7)
    consumer._acked[orders] = [17, 18]  # processed since the last commit (offset 17)
    consumer._acked_index[orders] = {17, 18}
    consumer._committed_offset[orders] = 17
    committed: list[dict[Any, int]] = []
    faust_handler_saw: list[Any] = []

    async def commit_offsets(offsets: Any, start_new_transaction: bool = True) -> bool:
        committed.append(dict(offsets))
        return True

    async def app_handler(revoked: set[Any]) -> None:
        faust_handler_saw.append((list(committed), dict(consumer._acked)))

    open_transaction = OpenTransaction()
    producer = consumer.transactions.producer
    monkeypatch.setattr(consumer, "in_transaction", True)  # as in a worker under exactly-once
    monkeypatch.setattr(consumer, "_commit_offsets", commit_offsets)
    monkeypatch.setattr(consumer, "_on_partitions_revoked", app_handler)
    monkeypatch.setattr(producer, "_transaction_producers", {"app-1-7": open_transaction})
    monkeypatch.setattr(producer, "_trn_locks", {"app-1-7": asyncio.Lock()})
    await consumer.on_partitions_revoked({orders})
    assert committed == [{orders: 19}], "committed before the offsets were forgotten"
    assert open_transaction.committed == 1, "no transaction outlives the rebalance"
    assert faust_handler_saw == [([{orders: 19}], {})]
    assert consumer.flow_active is False


class CommittingTransaction:
    """An aiokafka transactional producer whose commit waits until `ended` is set; it
    records its transaction steps."""

    def __init__(self, ended: asyncio.Event) -> None:
        self.ended = ended
        self.steps: list[Any] = []
        self.open = True
        self._txn_manager = self

    def is_in_transaction(self) -> bool:
        return self.open

    async def begin_transaction(self) -> None:
        self.steps.append("begin")
        self.open = True

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        self.steps.append(("offsets", dict(offsets), group_id))

    async def commit_transaction(self) -> None:
        await self.ended.wait()
        self.steps.append("commit")
        self.open = False


def committing_transactions(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch, *, start_new_transaction: bool
) -> tuple[dict[str, CommittingTransaction], asyncio.Event]:
    """Two partitions' transactions on the app's producer, and Faust's commit replaced by
    the call it ends in (`Producer.commit_transactions`) with offsets for both."""
    ended = asyncio.Event()
    transactions = {tid: CommittingTransaction(ended) for tid in ("app-1-0", "app-1-3")}
    producer = throwaway_app.producer
    monkeypatch.setattr(producer, "_transaction_producers", transactions)
    monkeypatch.setattr(producer, "_trn_locks", {tid: asyncio.Lock() for tid in transactions})

    async def commit_as_faust_does(self: Any, *args: Any, **kwargs: Any) -> bool:
        offsets = {tid: {TP("shop.carts", int(tid[-1])): 5} for tid in transactions}
        await producer.commit_transactions(
            offsets, "app", start_new_transaction=start_new_transaction
        )
        return True

    monkeypatch.setattr(aiokafka_driver.Consumer, "commit", commit_as_faust_does)
    return transactions, ended


async def test_new_batches_start_once_the_commit_holds_every_transaction_lock(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records sent after the hold is released wait for the next transactions, so batches
    need not wait for the transactions to end."""
    transactions, ended = committing_transactions(
        throwaway_app, monkeypatch, start_new_transaction=True
    )
    gate = throwaway_app.transport.commit_gate
    producer = throwaway_app.producer
    commit = asyncio.create_task(throwaway_app.consumer.commit())
    for _ in range(100):
        if all(t.steps for t in transactions.values()):
            break
        await asyncio.sleep(0.001)
    assert all(len(t.steps) == 1 for t in transactions.values()), "offsets sent, commit waits"
    assert not gate.commit_waiting, "the hold was released before the transactions ended"
    await asyncio.wait_for(gate.start_batch(), 1)

    async def send_into(tid: str) -> list[Any]:
        async with transaction_lock(producer, tid):
            return list(transactions[tid].steps)

    sending = asyncio.create_task(send_into("app-1-3"))
    await asyncio.sleep(0.01)
    assert not sending.done(), "a send waits while its transaction commits"
    ended.set()
    assert await asyncio.wait_for(commit, 1) is True
    offsets = ("offsets", {TP("shop.carts", 3): 5}, "app")
    assert await asyncio.wait_for(sending, 1) == [offsets, "commit", "begin"]
    gate.end_batch()


async def test_a_last_commit_holds_batches_off_until_the_transactions_ended(
    throwaway_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a commit that begins no new transactions nothing may be sent: no early release."""
    transactions, ended = committing_transactions(
        throwaway_app, monkeypatch, start_new_transaction=False
    )
    gate = throwaway_app.transport.commit_gate
    commit = asyncio.create_task(throwaway_app.consumer.commit())
    await asyncio.sleep(0.01)
    assert gate.commit_waiting and not commit.done()
    ended.set()
    assert await asyncio.wait_for(commit, 1) is True
    assert not gate.commit_waiting
    assert all(t.steps[-1] == "commit" for t in transactions.values())


async def test_producer_accessors_read_real_producers(throwaway_app: faust.App) -> None:
    producer = throwaway_app.producer
    assert isinstance(producer, DrainableProducer)
    assert transaction_producer(producer, "unit-faustcompat-group-0") is None
    kafka = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", transactional_id="unit")
    try:
        assert in_transaction(kafka) is False
    finally:
        await kafka.stop()


async def test_the_current_event_var_is_the_one_faust_reads() -> None:
    event: Any = object.__new__(faust.Event)  # any weak-referenceable object will do
    var = current_event_var()
    token = var.set(weakref.ref(event))
    try:
        assert current_event() is event
    finally:
        var.reset(token)
    assert current_event() is None


async def test_fetch_position_reads_the_partition_state_of_a_real_consumer() -> None:
    kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
    try:
        carts0, carts1 = TopicPartition("shop.carts", 0), TopicPartition("shop.carts", 1)
        assert fetch_position(kafka, carts0) is None  # nothing assigned yet
        kafka.assign([carts0])
        assert fetch_position(kafka, carts0) is None  # assigned, no position yet
        state = partition_state(kafka, carts0)
        assert state is not None
        state.seek(42)  # as aiokafka's fetcher does once it knows where to fetch from
        assert fetch_position(kafka, carts0) == 42
        assert fetch_position(kafka, carts1) is None  # not assigned
    finally:
        await kafka.stop()


def test_a_rebuilt_changelog_topic_takes_the_tables_raw_serializers(
    throwaway_app: faust.App,
) -> None:
    table = throwaway_app.Table("raw", key_type=str, value_type=bytes, partitions=1, default=None)
    table.key_serializer = "raw"  # type: ignore[attr-defined]
    table.value_serializer = "raw"  # type: ignore[attr-defined]
    assert table.changelog_topic.key_serializer != "raw"  # built before: type-derived (JSON)
    topic = new_changelog_topic(table)
    assert (topic.key_serializer, topic.value_serializer) == ("raw", "raw")


# --- taking batches as soon as nothing more is queued ----------------------------------------

HANG_GUARD_SECONDS = 10.0
"""How long a test waits for a batch before failing; far below the `within` the tests pass."""

NEVER = 3600.0
"""A `within` no test waits for: a batch handed over before it was ready by the queue."""


@pytest.fixture
async def memory_stream() -> AsyncIterator[faust.Stream]:
    """A started Faust stream over an in-memory channel, its flow active (as after a
    rebalance), on an app that connects nowhere."""
    app = unstarted_app("unit-faustcompat-take")
    app.flow_control.resume()
    stream = app.stream(app.channel(maxsize=100))
    async with stream:
        yield stream


async def send(stream: faust.Stream, *values: int) -> None:
    for value in values:
        await stream.channel.send(value=value)  # type: ignore[attr-defined]


async def next_batch(batches: AsyncGenerator[list[Any], None]) -> list[Any]:
    return await asyncio.wait_for(anext(batches), HANG_GUARD_SECONDS)


def values(batch: list[Any]) -> list[Any]:
    return [event.value for event in batch]


def acked(batch: list[Any]) -> list[bool]:
    return [event.message.acked for event in batch]


async def one_event_taken(
    stream: faust.Stream,
) -> tuple[AsyncGenerator[list[Any], None], list[Any]]:
    """Batches taken from `stream` (at most 500), and the first: one event, handed over."""
    batches = take_available_events(stream, 500, within=NEVER)
    await send(stream, 0)
    return batches, await next_batch(batches)


async def test_a_lone_event_is_handed_over_without_waiting_for_the_batch_to_fill(
    memory_stream: faust.Stream,
) -> None:
    batches = take_available_events(memory_stream, 500, within=NEVER)
    await send(memory_stream, 1)
    assert values(await next_batch(batches)) == [1]
    await send(memory_stream, 2)  # and again once the worker has been idle
    assert values(await next_batch(batches)) == [2]
    await batches.aclose()


async def test_an_idle_stream_waits_for_its_next_event_without_waking_up(
    memory_stream: faust.Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to hand over, nothing to time: Faust's take_events waits out `within` again
    and again while idle (twenty wake-ups a second per agent at 50 ms)."""
    timed_waits: list[float] = []
    wait_for_stopped = memory_stream.wait_for_stopped

    async def counted(*coros: Any, timeout: float | None = None) -> Any:
        if timeout is not None:
            timed_waits.append(timeout)
        return await wait_for_stopped(*coros, timeout=timeout)

    monkeypatch.setattr(memory_stream, "wait_for_stopped", counted)
    batches = take_available_events(memory_stream, 500, within=0.01)
    taking = asyncio.ensure_future(next_batch(batches))
    await asyncio.sleep(0.2)  # idle for twenty times `within`
    assert timed_waits == [] and not taking.done()
    await send(memory_stream, 1)
    assert values(await taking) == [1]
    assert timed_waits == [0.01]  # the batch's wait for company, once it has an event
    await batches.aclose()


async def test_a_burst_is_taken_in_full_batches_and_the_rest_at_once(
    memory_stream: faust.Stream,
) -> None:
    await send(memory_stream, *range(7))  # queued before the first batch is taken
    assert stream_queue(memory_stream).qsize() == 7
    batches = take_available_events(memory_stream, 3, within=NEVER)
    taken = [values(await next_batch(batches)) for _ in range(3)]
    assert taken == [[0, 1, 2], [3, 4, 5], [6]]
    await batches.aclose()


async def test_events_are_acked_only_once_their_batch_was_processed(
    memory_stream: faust.Stream,
) -> None:
    batches, first = await one_event_taken(memory_stream)
    assert memory_stream.enable_acks is False  # the stream does not ack what it hands over
    await send(memory_stream, 1, 2)  # arrive while the first batch is being processed
    await asyncio.sleep(0.01)  # let the stream take them
    assert acked(first) == [False]
    second = await next_batch(batches)  # asking for the next batch: the first was processed
    assert values(second) == [1, 2]  # the later events wait for the next batch, all of them
    assert acked(first) == [True]
    assert acked(second) == [False, False]
    await batches.aclose()  # closing acks the batch handed over last, as Faust does
    assert acked(second) == [True, True]
    assert memory_stream.enable_acks is True  # the stream is as it was
    assert memory_stream._processors == []  # type: ignore[attr-defined]


async def test_stopping_the_stream_closes_the_batches_and_acks_the_last_one(
    memory_stream: faust.Stream,
) -> None:
    batches, batch = await one_event_taken(memory_stream)
    assert acked(batch) == [False]
    await memory_stream.stop()
    assert acked(batch) == [True]
    assert memory_stream.enable_acks is True
    with pytest.raises(StopAsyncIteration):  # closed by the stream
        await anext(batches)


# --- the inline delivery fast path -----------------------------------------------------------


async def returns_at_once(value: int) -> int:
    return value * 2


async def waits_for(future: asyncio.Future[int]) -> int:
    return await future + 1


async def test_step_inline_finishes_a_coroutine_that_never_suspends() -> None:
    assert step_inline(returns_at_once(21)) == (True, 42)


async def resumed_waiter() -> tuple[asyncio.Future[int], asyncio.Future[int]]:
    """A coroutine waiting for a future, stepped inline once and resumed under a task."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    coro = waits_for(future)
    done, pending = step_inline(coro)
    assert not done
    task = asyncio.ensure_future(ResumedCoroutine(coro, pending))
    await asyncio.sleep(0)
    return future, task


async def test_a_suspended_coroutine_resumes_under_a_task_and_returns_its_value() -> None:
    future, task = await resumed_waiter()
    assert not task.done()
    future.set_result(9)
    assert await task == 10


async def test_cancelling_the_resumed_coroutine_cancels_the_original() -> None:
    future, task = await resumed_waiter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled()


async def test_resumed_coroutine_propagates_errors() -> None:
    future, task = await resumed_waiter()
    future.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await task


class _Flags:
    """Stand-ins for the Service events wait_first consults."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()


async def test_fast_wait_first_returns_inline_result_without_touching_other_awaitables() -> None:
    flags = _Flags()
    suspend = asyncio.Event()
    other = suspend.wait()
    results = await InlineDeliveryConsumer.wait_first(flags, returns_at_once(5), other)  # type: ignore[arg-type]
    assert results.results == [10]
    assert not results.stopped
    assert other.cr_frame is None  # closed, never run: no "never awaited" warning


async def test_fast_wait_first_abandons_a_waiting_delivery_when_the_flow_is_suspended() -> None:
    consumer = InlineDeliveryConsumer.__new__(InlineDeliveryConsumer)
    consumer._stopped = asyncio.Event()  # type: ignore[misc]
    consumer._crashed = asyncio.Event()  # type: ignore[misc]
    consumer.loop = asyncio.get_running_loop()  # type: ignore[misc]
    never: asyncio.Future[int] = consumer.loop.create_future()
    suspend = asyncio.Event()
    waiting = asyncio.ensure_future(consumer.wait_first(waits_for(never), suspend.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    suspend.set()
    results = await asyncio.wait_for(waiting, 2)
    assert results.results == [True]  # the suspend event won
    await asyncio.sleep(0)
    assert never.cancelled()  # the delivery was abandoned, as Faust does


class FetcherState:
    """The state aiokafka's `Fetcher.fetched_records` reads, around its real methods, without
    the background task that sends fetch requests."""

    fetched_records = Fetcher.fetched_records
    _notify = Fetcher._notify
    _create_fetch_waiter = Fetcher._create_fetch_waiter

    def __init__(self, subscriptions: SubscriptionState) -> None:
        self._subscriptions = subscriptions
        self._records: dict[TopicPartition, Any] = {}
        self._loop = asyncio.get_running_loop()
        self._fetch_waiters: set[asyncio.Future[None]] = set()
        self._wait_consume_future = None
        self._closed = False


class BufferedRecords:
    """Fetched records of one partition as aiokafka's `FetchResult` iterates them."""

    def __init__(self, offsets: list[int]) -> None:
        self.records = [SimpleNamespace(offset=offset) for offset in offsets]
        self.next_fetch_offset = offsets[0]

    def __iter__(self) -> Iterator[Any]:
        while self.records:
            record = self.records.pop(0)
            self.next_fetch_offset = record.offset + 1
            yield record


async def test_a_fetch_takes_no_records_of_partitions_paused_while_it_waits(
    throwaway_app: faust.App,
) -> None:
    """Faust hands aiokafka its live set of active partitions, and aiokafka reads an empty
    set as "all partitions": with everything paused during the fetch's wait (recovery done,
    source partitions held for the seek) it took the held partition's records, Faust dropped
    them as inactive and aiokafka's position had moved past them for good."""
    source, changelog = TopicPartition("shop.orders", 2), TopicPartition("app-t-changelog", 2)
    subscriptions = SubscriptionState()
    subscriptions.assign_from_user({source, changelog})
    subscriptions.seek(source, 24)
    subscriptions.seek(changelog, 0)
    fetcher = FetcherState(subscriptions)
    kafka = SimpleNamespace(_fetcher=fetcher, _closed=False)
    thread = throwaway_app.consumer._thread
    assert isinstance(thread, BrokerEndOffsetsConsumerThread)
    active = {changelog}  # recovery reads the changelog; the source partition is held back

    fetching = asyncio.ensure_future(thread._fetch_records(kafka, active, timeout=0.3))
    await asyncio.sleep(0.05)  # the fetch waits for records
    active.clear()  # recovery pauses the changelog it has read
    assignment = subscriptions.subscription.assignment
    fetcher._records[source] = FetchResult(
        source, assignment=assignment, partition_records=BufferedRecords([24, 25]), backoff=0
    )
    for waiter in list(fetcher._fetch_waiters):
        waiter.set_result(None)  # records arrived

    assert await fetching == {}
    assert subscriptions.subscription.assignment.state_value(source).position == 24
    assert source in fetcher._records, "the held partition's records wait for its resume"

    active.add(source)  # resumed after the seek
    taken = await thread._fetch_records(kafka, active, timeout=0.3)
    assert [record.offset for record in taken[source]] == [24, 25]
    assert subscriptions.subscription.assignment.state_value(source).position == 26


async def test_records_taken_from_aiokafka_that_no_stream_took_are_counted(
    throwaway_app: faust.App,
) -> None:
    """Records fetched and then lost before a stream took them leave aiokafka's position at
    the partition's end and nothing unacknowledged; only this count still shows them."""
    consumer = throwaway_app.consumer
    thread = consumer._thread
    orders = TopicPartition("shop.orders", 2)
    records = {orders: [SimpleNamespace(offset=o) for o in range(26, 64)]}

    async def fetched(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        return records

    kafka = SimpleNamespace(
        _fetcher=SimpleNamespace(
            fetched_records=fetched, _subscriptions=SubscriptionState(), _closed=False
        ),
        _closed=False,
    )
    assert await thread._fetch_records(kafka, {orders}, timeout=0.1) == records
    assert records_not_streamed(consumer, orders, committed=26) == 38
    # Faust's streams report each message they take to the app's sensors.
    throwaway_app.sensors.on_message_in(orders, 40, SimpleNamespace())  # took 26-40
    assert records_not_streamed(consumer, orders, committed=26) == 23
    assert records_not_streamed(consumer, orders, committed=50) == 14  # processed to 50
    throwaway_app.sensors.on_message_in(orders, 63, SimpleNamespace())
    assert records_not_streamed(consumer, orders, committed=26) == 0
    assert records_not_streamed(consumer, TopicPartition("shop.orders", 0), committed=9) == 0

    await consumer.on_partitions_assigned(set())  # every partition restarts at its commit
    assert consumer.taken_up_to == {} and consumer.streamed_up_to == {}

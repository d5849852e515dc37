"""streams/ops/consumer.py: worker internals as metrics, from fakes of Faust's app and the views."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from streams.ops import metrics
from streams.ops.consumer import (
    PartitionOffsets,
    WorkerCollector,
    consumer_lag,
    partition_offsets,
    stalled_partitions,
)


class TP(NamedTuple):
    topic: str
    partition: int


def tp(topic: str, partition: int) -> TP:
    return TP(topic, partition)


def test_pending_counts_unprocessed_and_unfetched_records_not_markers() -> None:
    # 20 records in Faust's buffers, unacknowledged; everything fetched.
    assert PartitionOffsets(100, 20, 120, 120).pending() == 20
    # And 20 more not fetched yet.
    assert PartitionOffsets(100, 20, 130, 150).pending() == 40
    # Idle after transactions: the fetch position went past 3 commit markers that are
    # never delivered; end - committed would say 3, nothing is pending.
    assert PartitionOffsets(57, 0, 60, 60).pending() == 0
    # Fetch position unknown (fresh group): everything after the committed offset.
    assert PartitionOffsets(0, 0, None, 42).pending() == 42
    assert PartitionOffsets(0, 0, None, None).pending() is None
    assert PartitionOffsets(0, 0, None, -1).pending() is None
    # Fetched to the end, nothing unacknowledged, but 38 records taken from the consumer
    # that no stream took (lost on the way): pending, not caught up.
    assert PartitionOffsets(26, 0, 64, 64).pending() == 0
    assert PartitionOffsets(26, 0, 64, 64, not_streamed=38).pending() == 38


def test_consumer_lag_leaves_out_unknown_ends() -> None:
    offsets = {
        ("shop.carts", 0): PartitionOffsets(100, 0, 100, 120),
        ("shop.carts", 1): PartitionOffsets(3, 0, None, None),
    }
    assert consumer_lag(offsets) == {("shop.carts", 0): 20}


def test_stalled_partitions_had_records_pending_at_both_checks_and_the_same_committed_offset() -> (
    None
):
    carts0, carts1, orders0, deltas0, woke, new = (
        ("shop.carts", 0),
        ("shop.carts", 1),
        ("shop.orders", 0),
        ("app-copurchase-deltas", 0),
        ("shop.privacy", 0),
        ("shop.clicks", 0),
    )
    previous = {
        carts0: PartitionOffsets(10, 5, 15, 15),
        carts1: PartitionOffsets(10, 2, 12, 12),
        orders0: PartitionOffsets(5, 0, 5, 5),
        deltas0: PartitionOffsets(8, 0, 12, 12),
        woke: PartitionOffsets(20, 0, 20, 20),  # idle: nothing pending
    }
    offsets = {
        carts0: PartitionOffsets(10, 5, 15, 17),  # stood still with 7 pending
        carts1: PartitionOffsets(12, 2, 30, 30),  # moved on
        orders0: PartitionOffsets(5, 0, 5, 5),  # caught up
        deltas0: PartitionOffsets(8, 0, 12, 12),  # idle; 4 commit markers after the last record
        woke: PartitionOffsets(20, 0, 20, 26),  # was idle, 6 records just arrived
        new: PartitionOffsets(0, 0, None, 4),  # not assigned at the previous check
    }
    assert stalled_partitions(previous, offsets) == {carts0: 7}
    assert stalled_partitions({}, offsets) == {}


class FakeTable:
    def __init__(self, topic: str, keys: int) -> None:
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: topic)
        self.data = dict.fromkeys(range(keys))


@pytest.fixture
async def kafka() -> AsyncIterator[AIOKafkaConsumer]:
    """A real aiokafka consumer, never started: nothing assigned, no fetch positions."""
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    yield consumer
    await consumer.stop()


def fake_app(kafka: AIOKafkaConsumer) -> Any:
    carts0, carts1 = tp("shop.carts", 0), tp("shop.carts", 1)
    tables = {"profiles": FakeTable("app-profiles-changelog", 7)}
    recovery = SimpleNamespace(
        active_remaining=lambda: Counter({tp("app-profiles-changelog", 0): 5})
    )
    manager = SimpleNamespace(items=tables.items, recovery=recovery)
    consumer = SimpleNamespace(
        _thread=SimpleNamespace(_ensure_consumer=lambda: kafka),
        assignment=lambda: {carts0, carts1},
        highwater={carts0: 10, carts1: 4}.get,
        # carts0: 3 records handed to a stream and not acknowledged yet (fetch position
        # unknown here, so counted from the committed offset: 10 - 7).
        _unacked_messages=[SimpleNamespace(tp=carts0, offset=o) for o in (7, 8, 9)],
        _committed_offset={carts0: 7, carts1: 4},
        # carts0: records up to offset 11 taken from aiokafka, a stream took up to 8.
        taken_up_to={carts0: 12},
        streamed_up_to={carts0: 9},
    )
    return SimpleNamespace(consumer=consumer, tables=manager, rebalancing_count=3)


async def test_collector_reports_lag_rebalances_recovery_keys_and_readiness(
    kafka: AIOKafkaConsumer,
) -> None:
    registry = CollectorRegistry()
    views = {"products": SimpleNamespace(data={"p": 1, "q": 2})}
    registry.register(WorkerCollector(fake_app(kafka), views, ready=lambda: False))
    value = registry.get_sample_value
    assert value("basketlift_consumer_lag", {"topic": "shop.carts", "partition": "0"}) == 3
    assert value("basketlift_consumer_lag", {"topic": "shop.carts", "partition": "1"}) == 0
    assert value("basketlift_rebalances_total") == 3
    assert value("basketlift_recovery_remaining", {"table": "profiles"}) == 5
    assert value("basketlift_table_keys", {"table": "profiles"}) == 7
    assert value("basketlift_table_keys", {"table": "view:products"}) == 2
    assert value("basketlift_worker_ready") == 0


async def test_one_failing_source_does_not_hide_the_others(kafka: AIOKafkaConsumer) -> None:
    app = fake_app(kafka)
    app.consumer.assignment = lambda: (_ for _ in ()).throw(RuntimeError("not started"))
    registry = CollectorRegistry()
    registry.register(WorkerCollector(app, {}, ready=lambda: True))
    assert registry.get_sample_value("basketlift_rebalances_total") == 3
    assert registry.get_sample_value("basketlift_worker_ready") == 1


async def test_offsets_without_fausts_committed_offsets_raise_rather_than_look_stalled(
    kafka: AIOKafkaConsumer,
) -> None:
    # A Faust whose consumer lost `_committed_offset` (the start-up check refuses it): an
    # empty fallback would say "nothing committed" and every busy partition would stall.
    app = fake_app(kafka)
    del app.consumer._committed_offset
    with pytest.raises(AttributeError):
        partition_offsets(app.consumer)


async def test_unacknowledged_messages_below_the_committed_offset_are_not_pending(
    kafka: AIOKafkaConsumer,
) -> None:
    # carts1 is committed up to 4 (its end): message objects of offsets 1-3 still in Faust's
    # unacknowledged set (a batch given up at a rebalance) are processed, not pending.
    app = fake_app(kafka)
    carts1 = tp("shop.carts", 1)
    app.consumer._unacked_messages += [SimpleNamespace(tp=carts1, offset=o) for o in (1, 2, 3)]
    offsets = partition_offsets(app.consumer)
    assert offsets[("shop.carts", 1)].unprocessed == 0
    assert offsets[("shop.carts", 1)].pending() == 0
    assert offsets[("shop.carts", 0)].unprocessed == 3


async def test_records_taken_but_not_streamed_come_from_the_consumers_own_counts(
    kafka: AIOKafkaConsumer,
) -> None:
    app = fake_app(kafka)
    offsets = partition_offsets(app.consumer)
    assert offsets[("shop.carts", 0)].not_streamed == 3  # offsets 9-11
    assert offsets[("shop.carts", 1)].not_streamed == 0
    del app.consumer.taken_up_to  # not our consumer: no made-up zero
    with pytest.raises(AttributeError):
        partition_offsets(app.consumer)


def read_errors(source: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "basketlift_worker_read_errors_total", {"source": source}
    )
    return value or 0.0


async def test_an_unexpected_read_error_is_logged_and_counted_not_reported_as_a_value(
    kafka: AIOKafkaConsumer, caplog: pytest.LogCaptureFixture
) -> None:
    app = fake_app(kafka)
    del app.consumer._unacked_messages
    registry = CollectorRegistry()
    registry.register(WorkerCollector(app, {}, ready=lambda: True))
    before = read_errors("metrics")
    with caplog.at_level(logging.ERROR, logger="streams.ops.consumer"):
        lag = registry.get_sample_value(
            "basketlift_consumer_lag", {"topic": "shop.carts", "partition": "0"}
        )
    assert lag is None
    assert read_errors("metrics") == before + 1
    assert "cannot read consumer lag" in caplog.text

    starting = fake_app(kafka)
    starting.consumer.assignment = lambda: (_ for _ in ()).throw(RuntimeError("not started"))
    registry = CollectorRegistry()
    registry.register(WorkerCollector(starting, {}, ready=lambda: True))
    assert registry.get_sample_value("basketlift_rebalances_total") == 3
    assert read_errors("metrics") == before + 1  # a consumer starting up is not an error

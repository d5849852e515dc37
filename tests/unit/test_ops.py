"""streams/ops.py: worker internals as metrics, from fakes of Faust's app and the views."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from streams.ops import WorkerCollector, consumer_lag, stalled_partitions


class TP(NamedTuple):
    topic: str
    partition: int


def tp(topic: str, partition: int) -> TP:
    return TP(topic, partition)


def test_consumer_lag_skips_changelogs_and_unknown_ends() -> None:
    a0, a1, log0 = tp("shop.carts", 0), tp("shop.carts", 1), tp("x-changelog", 0)
    ends = {a0: 120, a1: None, log0: 50}
    lag = consumer_lag({a0, a1, log0}, ends.get, {a0: 100, a1: 3, log0: 0}.get)
    assert lag == {("shop.carts", 0): 20}


def test_stalled_partitions_are_behind_and_did_not_move() -> None:
    carts0, carts1, orders0, orders1, new = (
        ("shop.carts", 0),
        ("shop.carts", 1),
        ("shop.orders", 0),
        ("shop.orders", 1),
        ("shop.clicks", 0),
    )
    marker = ("copurchase-deltas", 0)
    previous = {carts0: 10, carts1: 10, orders0: 5, orders1: None, marker: 8}
    positions = {carts0: 10, carts1: 12, orders0: 5, orders1: None, new: 0, marker: 8}
    ends = {carts0: 17, carts1: 30, orders0: 5, orders1: 9, new: 4, marker: 9}
    # carts0 stood still with 7 waiting; carts1 moved; orders0 is caught up; orders1 has no
    # position yet; clicks0 was not assigned at the previous check; the one offset left on
    # the deltas partition can be a commit marker.
    assert stalled_partitions(previous, positions, ends) == {carts0: 7}
    assert stalled_partitions({}, positions, ends) == {}
    assert stalled_partitions(previous, positions, {carts0: None}) == {}


class FakeTable:
    def __init__(self, topic: str, keys: int) -> None:
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: topic)
        self.data = dict.fromkeys(range(keys))


def fake_app() -> Any:
    carts0, carts1 = tp("shop.carts", 0), tp("shop.carts", 1)
    tables = {"profiles": FakeTable("app-profiles-changelog", 7)}
    recovery = SimpleNamespace(
        active_remaining=lambda: Counter({tp("app-profiles-changelog", 0): 5})
    )
    manager = SimpleNamespace(items=tables.items, recovery=recovery)
    consumer = SimpleNamespace(
        assignment=lambda: {carts0, carts1},
        highwater={carts0: 10, carts1: 4}.get,
        # Read (fetched) up to 9 but committed only up to 7: 3 events still to process.
        _read_offset={carts0: 9},
        _committed_offset={carts0: 7, carts1: 4},
    )
    return SimpleNamespace(consumer=consumer, tables=manager, rebalancing_count=3)


def test_collector_reports_lag_rebalances_recovery_keys_and_readiness() -> None:
    registry = CollectorRegistry()
    views = {"products": SimpleNamespace(data={"p": 1, "q": 2})}
    registry.register(WorkerCollector(fake_app(), views, ready=lambda: False))
    value = registry.get_sample_value
    assert value("basketlift_consumer_lag", {"topic": "shop.carts", "partition": "0"}) == 3
    assert value("basketlift_consumer_lag", {"topic": "shop.carts", "partition": "1"}) == 0
    assert value("basketlift_rebalances_total") == 3
    assert value("basketlift_recovery_remaining", {"table": "profiles"}) == 5
    assert value("basketlift_table_keys", {"table": "profiles"}) == 7
    assert value("basketlift_table_keys", {"table": "view:products"}) == 2
    assert value("basketlift_worker_ready") == 0


def test_one_failing_source_does_not_hide_the_others() -> None:
    app = fake_app()
    app.consumer.assignment = lambda: (_ for _ in ()).throw(RuntimeError("not started"))
    registry = CollectorRegistry()
    registry.register(WorkerCollector(app, {}, ready=lambda: True))
    assert registry.get_sample_value("basketlift_rebalances_total") == 3
    assert registry.get_sample_value("basketlift_worker_ready") == 1

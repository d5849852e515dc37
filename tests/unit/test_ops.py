"""streams/ops.py: worker internals as metrics, from fakes of Faust's app and the views."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from streams.ops import WorkerCollector, consumer_lag


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
        _read_offset={carts0: 6},
        _committed_offset={carts1: 4},
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

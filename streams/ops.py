"""Worker internals as Prometheus metrics, computed when `/metrics` is scraped.

Consumer lag per source partition, rebalances, changelog records left to recover per table,
keys per table and view, and readiness. Computed from what Faust and the views already
know (no broker round trip), so a scrape stays cheap. Labels are bounded: topic and
partition, table name; never a shopper or product id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

TABLE_KEYS_EVERY_S = 60.0
"""Counting a RocksDB table's keys walks it: at most once a minute."""


def consumer_lag(
    assigned: Iterator[Any] | set[Any],
    highwater: Callable[[Any], int | None],
    next_offset: Callable[[Any], int | None],
) -> dict[tuple[str, int], int]:
    """Offsets behind the end (last stable offset under exactly-once) per source partition.

    Changelog partitions are left out: they are read for recovery, not consumed.
    """
    lag: dict[tuple[str, int], int] = {}
    for tp in assigned:
        if tp.topic.endswith("-changelog"):
            continue
        end = highwater(tp)
        position = next_offset(tp)
        if end is None or end < 0:
            continue
        lag[(tp.topic, tp.partition)] = max(0, end - (position or 0))
    return lag


def committed_offsets(consumer: Any) -> Callable[[Any], int]:
    """Offset up to which a partition is processed and committed (0 before the first commit).

    Lag counts from here, not from what Faust has fetched: fetched events wait in its
    buffers (a whole batch of them) and are not processed yet. A group without a commit
    starts from the beginning (offset reset "earliest").
    """
    committed = getattr(consumer, "_committed_offset", {})

    def offset(tp: Any) -> int:
        value = committed.get(tp)
        return int(value) if value is not None else 0

    return offset


def stalled_partitions(
    previous: Mapping[tuple[str, int], int | None],
    positions: Mapping[tuple[str, int], int | None],
    ends: Mapping[tuple[str, int], int | None],
) -> dict[tuple[str, int], int]:
    """Partitions with records waiting whose position equals the previous one.

    Returns each such partition's offsets waiting (end - position). A single waiting offset
    is not judged: under exactly-once the offset after the last record of an idle partition
    is the transaction's commit marker, which is never delivered. A partition not in
    `previous` (newly assigned) or without a known position or end is not judged either.
    """
    stalled: dict[tuple[str, int], int] = {}
    for tp, position in positions.items():
        end = ends.get(tp)
        if position is None or end is None or tp not in previous:
            continue
        if end - position > 1 and previous[tp] == position:
            stalled[tp] = end - position
    return stalled


def labelled_gauge(
    name: str,
    documentation: str,
    labels: list[str],
    rows: Callable[[], Iterable[tuple[list[str], float]]],
    what: str,
) -> GaugeMetricFamily:
    """A gauge family of `rows()`; empty (and logged at debug) when its source fails."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    try:
        for values, value in rows():
            family.add_metric(values, value)
    except Exception:
        log.debug("%s unavailable", what, exc_info=True)
    return family


class WorkerCollector(Collector):
    """Collects the worker's internals from the Faust app and the replicated views."""

    def __init__(
        self,
        app: Any,
        views: Mapping[str, Any],
        ready: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.views = views
        self.ready = ready
        self.clock = clock
        self._table_keys: dict[str, int] = {}
        self._table_keys_at: float | None = None

    def _lag(self) -> dict[tuple[str, int], int]:
        consumer = self.app.consumer
        return consumer_lag(consumer.assignment(), consumer.highwater, committed_offsets(consumer))

    def _recovery_remaining(self) -> dict[str, int]:
        by_topic = {
            table.changelog_topic.get_topic_name(): name for name, table in self.app.tables.items()
        }
        remaining = dict.fromkeys(by_topic.values(), 0)
        for tp, left in self.app.tables.recovery.active_remaining().items():
            name = by_topic.get(tp.topic)
            if name is not None:
                remaining[name] += max(0, int(left))
        return remaining

    def _keys(self) -> dict[str, int]:
        now = self.clock()
        if self._table_keys_at is None or now - self._table_keys_at >= TABLE_KEYS_EVERY_S:
            counts = {}
            for name, table in self.app.tables.items():
                try:
                    counts[name] = len(table.data)
                except Exception:  # a store that cannot count right now
                    log.debug("cannot count keys of table %s", name, exc_info=True)
            self._table_keys, self._table_keys_at = counts, now
        keys = dict(self._table_keys)
        for name, view in self.views.items():
            keys[f"view:{name}"] = len(view.data)
        return keys

    def describe(self) -> Iterator[Any]:
        """The families' names only (registration must not read a worker still starting)."""
        yield GaugeMetricFamily("basketlift_consumer_lag", "", labels=["topic", "partition"])
        yield CounterMetricFamily("basketlift_rebalances", "")
        yield GaugeMetricFamily("basketlift_recovery_remaining", "", labels=["table"])
        yield GaugeMetricFamily("basketlift_table_keys", "", labels=["table"])
        yield GaugeMetricFamily("basketlift_worker_ready", "")

    def collect(self) -> Iterator[Any]:
        """The metric families, each from its own source; one failing does not stop the rest."""
        yield labelled_gauge(
            "basketlift_consumer_lag",
            "Records behind the partition's end (last stable offset), per assigned partition.",
            ["topic", "partition"],
            lambda: (([t, str(p)], n) for (t, p), n in sorted(self._lag().items())),
            "consumer lag",
        )
        yield CounterMetricFamily(
            "basketlift_rebalances",
            "Consumer group rebalances this worker took part in.",
            value=float(getattr(self.app, "rebalancing_count", 0)),
        )
        yield labelled_gauge(
            "basketlift_recovery_remaining",
            "Changelog records this worker still has to read to recover each table.",
            ["table"],
            lambda: (([name], n) for name, n in sorted(self._recovery_remaining().items())),
            "recovery progress",
        )
        yield labelled_gauge(
            "basketlift_table_keys",
            "Keys in each local table (this worker's partitions) and each replicated view.",
            ["table"],
            lambda: (([name], n) for name, n in sorted(self._keys().items())),
            "table sizes",
        )
        try:
            is_ready = 1.0 if self.ready() else 0.0
        except Exception:
            is_ready = 0.0
        yield GaugeMetricFamily(
            "basketlift_worker_ready",
            "1 when /health answers 200 (partitions assigned, tables recovered, views loaded).",
            value=is_ready,
        )

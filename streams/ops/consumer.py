"""Worker internals as Prometheus metrics, computed when `/metrics` is scraped.

Consumer lag per source partition, rebalances, changelog records left to recover per table,
keys per table and view, and readiness. Computed from what Faust and the views already
know (no broker round trip), so a scrape stays cheap. Labels are bounded: topic and
partition, table name; never a shopper or product id.

Faust's and aiokafka's private state is read through the accessors of `streams.kafka.faustcompat`,
which `basketlift worker` checks at start-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from faust.exceptions import ConsumerNotStarted
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.kafka.faustcompat import (
    committed_offsets,
    estimated_table_keys,
    fetch_position,
    kafka_consumer,
    partition_state,
    records_not_streamed,
    unacked_messages,
)
from streams.ops import metrics

log = logging.getLogger(__name__)

TABLE_KEYS_EVERY_S = 60.0
"""Tables' key counts are estimated at most once a minute (RocksDB: a property per database,
``faustcompat.estimated_table_keys``; never a walk of the keys)."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Where a source partition stands (offsets are next offsets, Kafka's convention)."""

    committed: int
    """Processed and committed up to here (0 before the group's first commit: it starts at
    the beginning, offset reset "earliest")."""
    unprocessed: int
    """Records handed to a stream and not yet acknowledged (in buffers or a running batch),
    at or after the committed offset."""
    fetched: int | None
    """The consumer's fetch position (None: unknown). It moves past transaction markers."""
    end: int | None
    """The partition's end: its last stable offset under exactly-once (None: not known yet)."""
    not_streamed: int = 0
    """Offsets of records fetched (the fetch position is past them) that no stream has
    taken: in Faust's delivery or a stream's queue, or dropped on the way
    (`faustcompat.records_not_streamed`)."""

    def pending(self) -> int | None:
        """Records not processed yet: not fetched, fetched but not taken by a stream, or
        taken and unacknowledged.

        Counting from the fetch position, not from `committed` to `end`, leaves out the
        commit markers that follow an idle partition's last record (one per producer that
        wrote to it): they are never delivered, and lag would never reach 0. Records
        fetched and then lost before a stream took them count until they are processed, so
        a partition they hold back shows lag and, unmoved, a stall.
        """
        if self.end is None or self.end < 0:
            return None
        if self.fetched is None:
            return max(self.end - self.committed, self.unprocessed)
        return self.unprocessed + self.not_streamed + max(0, self.end - self.fetched)


def consumer_lag(offsets: Mapping[tuple[str, int], PartitionOffsets]) -> dict[tuple[str, int], int]:
    """Records not processed yet per source partition (those with a known end)."""
    lag: dict[tuple[str, int], int] = {}
    for tp, where in offsets.items():
        pending = where.pending()
        if pending is not None:
            lag[tp] = pending
    return lag


def fetch_response_times(kafka: Any) -> list[float]:
    """Unix times of the last successful fetch response of each assigned partition that has one.

    An idle partition gets an empty response every fetch wait (1.5 s under Faust), so a
    connected worker with any partition being fetched renews these continually.
    """
    times = []
    for tp in kafka.assignment():
        state = partition_state(kafka, tp)
        if state is not None and state.timestamp is not None:
            times.append(state.timestamp / 1000.0)
    return times


def partition_offsets(consumer: Any) -> dict[tuple[str, int], PartitionOffsets]:
    """Offsets of the consumer's assigned source partitions (changelogs are left out).

    Changelog partitions are read for recovery, not consumed.
    """
    kafka = kafka_consumer(consumer)
    committed = committed_offsets(consumer)
    # A message object below its partition's committed offset is processed, whatever Faust's
    # set of unacknowledged messages still holds (one from a batch given up at a rebalance
    # stays there while anything refers to it): counting it would report a stall forever.
    unprocessed: Counter[Any] = Counter(
        message.tp
        for message in unacked_messages(consumer)
        if message.offset >= (committed.get(message.tp) or 0)
    )
    offsets: dict[tuple[str, int], PartitionOffsets] = {}
    for tp in consumer.assignment():
        if tp.topic.endswith("-changelog"):
            continue
        done = committed.get(tp)
        committed_offset = int(done) if done is not None else 0
        offsets[(tp.topic, tp.partition)] = PartitionOffsets(
            committed=committed_offset,
            unprocessed=unprocessed[tp],
            fetched=fetch_position(kafka, tp),
            end=consumer.highwater(tp),
            not_streamed=records_not_streamed(consumer, tp, committed_offset),
        )
    return offsets


TRANSIENT_READ_ERRORS: tuple[type[BaseException], ...] = (
    ConsumerNotStarted,
    AssertionError,
    RuntimeError,
)
"""What reading the consumer raises while it starts or while its assignment changes under the
read: Faust's consumer thread not started yet; aiokafka's `highwater` asserts that a partition
revoked a moment ago is assigned; a set changed size while it was iterated (the consumer
thread updates it). Anything else is unexpected (see `read_failed`)."""


def read_failed(source: str, what: str) -> None:
    """Log and count an unexpected error of a consumer-state read (call in an `except`).

    The caller reports no value rather than a made-up one: a fallback such as "nothing
    committed" would make every busy partition look stalled.
    """
    metrics.WORKER_READ_ERRORS.labels(source=source).inc()
    log.error("cannot read %s", what, exc_info=True)


class BrokerContact:
    """When this worker last heard from the broker: a successful fetch or metadata response.

    Times are Unix seconds, because aiokafka stamps fetch responses with the wall clock.
    Until the first response the time the watch was created counts as contact, so that a
    worker that is still connecting is not declared cut off before it had the chance.
    `heard` may be called from Faust's consumer thread (the metadata listener) and from the
    main thread (fetch times) at once: the latest time wins under a lock.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.last = clock()
        self._lock = threading.Lock()

    def heard(self, at: float | None = None) -> None:
        """A response arrived at `at` (Unix seconds; default now). Older times change nothing."""
        when = self.clock() if at is None else at
        with self._lock:
            if when > self.last:
                self.last = when

    def metadata_updated(self, cluster: Any) -> None:
        """A `ClusterMetadata` listener: a metadata response arrived just now."""
        self.heard()

    def age(self) -> float:
        """Seconds since the last contact (0 if the clock went back past it)."""
        return max(0.0, self.clock() - self.last)

    def unreachable_problem(self, threshold: float) -> str | None:
        """`broker_unreachable: ...` once no contact for more than `threshold` seconds."""
        age = self.age()
        if age <= threshold:
            return None
        return (
            f"broker_unreachable: no fetch or metadata response from Kafka for {age:.0f}s"
            f" (limit {threshold:g}s)"
        )


def stalled_partitions(
    previous: Mapping[tuple[str, int], PartitionOffsets],
    offsets: Mapping[tuple[str, int], PartitionOffsets],
) -> dict[tuple[str, int], int]:
    """Partitions with records pending now and at the previous check, committed offset unmoved.

    `previous` holds the offsets seen at the last check. Returns each stalled partition's
    pending records. Records must have been pending at both checks: a partition idle at the
    previous check that has just received records has not had a check interval to process
    them. A partition not in `previous` (newly assigned) or whose end is not known is not
    judged.
    """
    stalled: dict[tuple[str, int], int] = {}
    for tp, where in offsets.items():
        before = previous.get(tp)
        if before is None or not before.pending() or before.committed != where.committed:
            continue
        pending = where.pending()
        if pending:
            stalled[tp] = pending
    return stalled


def labelled_gauge(
    name: str,
    documentation: str,
    labels: list[str],
    rows: Callable[[], Iterable[tuple[list[str], float]]],
    what: str,
) -> GaugeMetricFamily:
    """A gauge family of `rows()`; empty when its source fails (logged at debug while the
    consumer starts or rebalances, else as an error and counted)."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    try:
        for values, value in rows():
            family.add_metric(values, value)
    except TRANSIENT_READ_ERRORS:
        log.debug("%s unavailable", what, exc_info=True)
    except Exception:
        read_failed("metrics", what)
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
        return consumer_lag(partition_offsets(self.app.consumer))

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
                    counts[name] = estimated_table_keys(table)
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
            value=float(self.app.rebalancing_count),
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
            "1 when /health answers 200 (partitions assigned, tables recovered, views loaded,"
            " broker in contact).",
            value=is_ready,
        )

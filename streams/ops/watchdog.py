"""A worker that stops making progress says so: its log and `basketlift_stalled_partitions`.

Every `BASKETLIFT_STALL_CHECK_SECONDS` the worker compares the committed offsets of its
assigned source partitions (what has been processed, not merely fetched) with the previous
check. A partition that had records waiting at the previous check and still has, with its
committed offset unmoved, is stalled (records that arrived on an idle partition since the
previous check are not a stall yet): its agent is stuck, or the partition is paused, or
the records are in a transaction that never ends, or they were fetched and lost before a
stream took them (the fetch position is then past them and only the consumer's own count of
records taken but not streamed shows them). The warning carries what tells these apart
(paused partitions, batches in flight, a commit waiting). Without it such a worker stays
healthy and silent while its lag grows. After `BASKETLIFT_STALL_LIVENESS_CHECKS` stalled
checks in a row `/live` answers 503, so that an orchestrator restarts the worker (under
exactly-once its successor resumes from the last commit).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.app import app, commit_gate, settings
from streams.kafka.faustcompat import paused_partitions
from streams.ops import metrics
from streams.ops.consumer import (
    TRANSIENT_READ_ERRORS,
    PartitionOffsets,
    partition_offsets,
    read_failed,
    stalled_partitions,
)

log = logging.getLogger(__name__)


class ProgressWatch:
    """The offsets seen at the previous check (forgotten across rebalances)."""

    def __init__(self) -> None:
        self.previous: dict[tuple[str, int], PartitionOffsets] = {}
        self.stalled: dict[tuple[str, int], int] = {}
        self.stalled_checks = 0
        """Consecutive checks that found stalled partitions."""

    def reset(self) -> None:
        """Forget the previous offsets (the next check only records)."""
        self.previous = {}
        self.stalled = {}
        self.stalled_checks = 0

    def liveness_problem(self, limit: int) -> str | None:
        """Why the worker is not live: stalled at `limit` or more consecutive checks."""
        if self.stalled_checks < limit:
            return None
        names = ", ".join(f"{topic}[{p}]" for topic, p in sorted(self.stalled))
        return f"no progress at {self.stalled_checks} consecutive checks on {names}"

    def check(
        self, offsets: Mapping[tuple[str, int], PartitionOffsets]
    ) -> dict[tuple[str, int], int]:
        """Stalled partitions since the previous check; remember the offsets for the next."""
        stalled = stalled_partitions(self.previous, offsets)
        self.previous = dict(offsets)
        self.stalled = stalled
        self.stalled_checks = self.stalled_checks + 1 if stalled else 0
        return stalled


progress_watch = ProgressWatch()


def describe_stall(
    stalled: dict[tuple[str, int], int],
    consumer: Any,
    offsets: Mapping[tuple[str, int], PartitionOffsets] | None = None,
) -> str:
    """One line: the stalled partitions and what may hold them.

    With `offsets`, a partition whose pending records include fetched ones no stream has
    taken says how many: records lost between the fetch and the streams show that way.
    """

    def pending(tp: tuple[str, int], waiting: int) -> str:
        where = (offsets or {}).get(tp)
        if where is None or not where.not_streamed:
            return f"{waiting} pending"
        return f"{waiting} pending, {where.not_streamed} fetched but not taken by a stream"

    parts = ", ".join(
        f"{topic}[{p}] ({pending((topic, p), waiting)})" for (topic, p), waiting in stalled.items()
    )
    paused = sorted(
        f"{tp.topic}[{tp.partition}]"
        for tp in paused_partitions(consumer)
        if not tp.topic.endswith("-changelog")  # standby changelogs are always paused
    )
    return (
        f"no progress for {settings.stall_check_seconds:g}s on {parts}; "
        f"paused partitions: {paused or 'none'}; "
        f"consumer flow active: {consumer.flow_active}; "
        f"batches in flight: {commit_gate.batches_in_flight}; "
        f"commit waiting for them: {commit_gate.commit_waiting}"
    )


async def watch_progress() -> None:
    """Compare source positions with the last check; warn about partitions that stand still."""
    if app.rebalancing or app.in_recovery:
        progress_watch.reset()
        metrics.STALLED_PARTITIONS.set(0)
        return
    consumer = app.consumer
    try:
        offsets = partition_offsets(consumer)
    except TRANSIENT_READ_ERRORS:  # starting, or mid-rebalance: try again next time
        log.debug("cannot read consumer offsets", exc_info=True)
        progress_watch.reset()
        return
    except Exception:
        read_failed("progress_watch", "consumer offsets for the progress watch")
        progress_watch.reset()
        return
    stalled = progress_watch.check(offsets)
    metrics.STALLED_PARTITIONS.set(len(stalled))
    if stalled:
        log.warning(describe_stall(stalled, consumer, offsets))

"""streams/ops/watchdog.py: the progress watch remembers positions and names what may hold them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

from streams.app import commit_gate
from streams.ops.consumer import PartitionOffsets
from streams.ops.watchdog import ProgressWatch, describe_stall


class TP(NamedTuple):
    topic: str
    partition: int


def test_a_partition_is_stalled_only_after_two_checks_at_the_same_committed_offset() -> None:
    watch = ProgressWatch()
    orders0 = ("shop.orders", 0)

    def at(committed: int) -> dict[tuple[str, int], PartitionOffsets]:
        return {orders0: PartitionOffsets(committed, 0, committed, 40)}

    assert watch.check(at(25)) == {}  # first sight only records
    assert watch.check(at(25)) == {orders0: 15}
    assert watch.check(at(30)) == {}
    watch.reset()
    assert watch.check(at(30)) == {}
    assert watch.check(at(30)) == {orders0: 10}


def test_records_arriving_on_an_idle_partition_are_not_a_stall_until_the_next_check() -> None:
    watch = ProgressWatch()
    carts0 = ("shop.carts", 0)

    def at(committed: int, end: int) -> dict[tuple[str, int], PartitionOffsets]:
        return {carts0: PartitionOffsets(committed, 0, committed, end)}

    assert watch.check(at(50, 50)) == {}
    assert watch.check(at(50, 50)) == {}  # idle, nothing pending
    assert watch.check(at(50, 80)) == {}  # traffic arrived since the previous check
    assert watch.check(at(50, 90)) == {carts0: 40}  # pending at two checks, unmoved


async def test_the_warning_names_partitions_paused_ones_and_the_commit_gate() -> None:
    consumer = SimpleNamespace(
        _paused_partitions={TP("shop.orders", 1), TP("app-profiles-changelog", 1)},
        flow_active=False,
    )
    await commit_gate.start_batch()
    try:
        line = describe_stall({("shop.orders", 0): 15}, consumer)
    finally:
        commit_gate.end_batch()
    assert "shop.orders[0] (15 pending)" in line
    assert "paused partitions: ['shop.orders[1]']" in line
    assert "consumer flow active: False" in line
    assert "batches in flight: 1" in line
    assert "commit waiting for them: False" in line
    assert commit_gate.batches_in_flight == 0


def test_records_lost_between_fetch_and_stream_are_a_stall_and_the_warning_says_so() -> None:
    """The fetch position at the end and nothing unacknowledged looked caught up; the
    records taken from the consumer that no stream took keep the partition pending."""
    watch = ProgressWatch()
    orders2 = ("shop.orders", 2)
    offsets = {orders2: PartitionOffsets(28, 0, 72, 72, not_streamed=44)}
    assert watch.check(offsets) == {}
    assert watch.check(offsets) == {orders2: 44}
    consumer = SimpleNamespace(_paused_partitions=set(), flow_active=True)
    line = describe_stall(watch.stalled, consumer, offsets)
    assert "shop.orders[2] (44 pending, 44 fetched but not taken by a stream)" in line
    assert "shop.orders[2] (44 pending)" in describe_stall(watch.stalled, consumer)


def test_liveness_fails_only_after_the_limit_of_consecutive_stalled_checks() -> None:
    watch = ProgressWatch()
    carts1 = ("shop.carts", 1)

    def at(committed: int) -> dict[tuple[str, int], PartitionOffsets]:
        return {carts1: PartitionOffsets(committed, 3, committed, committed + 9)}

    watch.check(at(5))
    watch.check(at(5))
    watch.check(at(5))
    assert watch.liveness_problem(3) is None  # 2 stalled checks so far
    watch.check(at(5))
    assert watch.liveness_problem(3) == "no progress at 3 consecutive checks on shop.carts[1]"
    watch.check(at(6))  # progress clears it
    assert watch.liveness_problem(1) is None
    watch.check(at(6))
    assert watch.liveness_problem(1) is not None
    watch.reset()  # a rebalance or recovery starts over
    assert watch.liveness_problem(1) is None

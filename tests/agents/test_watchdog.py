"""streams/watchdog.py: the progress watch remembers positions and names what may hold them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

from streams.eventcontext import commit_gate
from streams.watchdog import ProgressWatch, describe_stall


class TP(NamedTuple):
    topic: str
    partition: int


def test_a_partition_is_stalled_only_after_two_checks_at_the_same_position() -> None:
    watch = ProgressWatch()
    ends = {("shop.orders", 0): 40}
    assert watch.check({("shop.orders", 0): 25}, ends) == {}  # first sight only records
    assert watch.check({("shop.orders", 0): 25}, ends) == {("shop.orders", 0): 15}
    assert watch.check({("shop.orders", 0): 30}, ends) == {}
    watch.reset()
    assert watch.check({("shop.orders", 0): 30}, ends) == {}
    assert watch.check({("shop.orders", 0): 30}, ends) == {("shop.orders", 0): 10}


async def test_the_warning_names_partitions_paused_ones_and_the_commit_gate() -> None:
    consumer = SimpleNamespace(
        _paused_partitions={TP("shop.orders", 1), TP("app-profiles-changelog", 1)}
    )
    await commit_gate.start_batch()
    try:
        line = describe_stall({("shop.orders", 0): 15}, consumer)
    finally:
        commit_gate.end_batch()
    assert "shop.orders[0] (15 waiting)" in line
    assert "paused partitions: ['shop.orders[1]']" in line
    assert "batches in flight: 1" in line
    assert "commit waiting for them: False" in line
    assert commit_gate.batches_in_flight == 0

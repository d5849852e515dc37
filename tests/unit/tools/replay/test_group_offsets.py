"""streams/tools/replay/group_offsets.py: what a replay sent, how much of it a group committed."""

from __future__ import annotations

from aiokafka.structs import RecordMetadata, TopicPartition

from streams.tools.replay.group_offsets import SentRecords


def acked(topic: str, partition: int, offset: int) -> RecordMetadata:
    return RecordMetadata(topic, partition, TopicPartition(topic, partition), offset, -1, -1, 0)


def test_sent_records_count_per_topic_and_partition_and_target_the_offset_after_the_last() -> None:
    sent = SentRecords()
    sent.add([acked("shop.carts", 0, 40), acked("shop.carts", 0, 41), acked("shop.carts", 1, 7)])
    sent.add([acked("shop.orders", 0, 3), acked("shop.carts", 0, 45)])  # 42-44: others' records
    assert sent.by_topic == {"shop.carts": 4, "shop.orders": 1}
    assert sent.by_partition == {("shop.carts", 0): 3, ("shop.carts", 1): 1, ("shop.orders", 0): 1}
    assert sent.next_offsets == {("shop.carts", 0): 46, ("shop.carts", 1): 8, ("shop.orders", 0): 4}
    assert sent.total() == 5


def test_uncommitted_counts_records_the_group_has_not_committed_past() -> None:
    sent = SentRecords()
    sent.add([acked("shop.carts", 0, o) for o in (40, 41, 45)])
    sent.add([acked("shop.orders", 0, 3)])
    carts0, orders0 = ("shop.carts", 0), ("shop.orders", 0)
    assert sent.uncommitted({}) == 4  # nothing committed yet
    assert sent.uncommitted({carts0: 10, orders0: 0}) == 4  # far behind: at most what was sent
    assert sent.uncommitted({carts0: 44, orders0: 4}) == 2
    assert sent.uncommitted({carts0: 46, orders0: 4}) == 0
    # Committed past the target (others' records and commit markers after ours): done.
    assert sent.uncommitted({carts0: 60, orders0: 9}) == 0

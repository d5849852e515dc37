"""streams.runtime.batch: staged reads, writes, sends and effects of one batch (no Kafka)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.runtime.batch import BatchContext, MessageTooLarge


@dataclass
class CountingTable:
    """A dict-backed stand-in for a Faust table that counts its reads."""

    data: dict[str, bytes] = field(default_factory=dict)
    reads: int = 0

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return self.data.get(key)

    def __setitem__(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]


@dataclass
class RecordingTopic:
    """A stand-in for a Faust topic that records what is sent."""

    sent: list[tuple[bytes | None, bytes, int | None]] = field(default_factory=list)

    def get_topic_name(self) -> str:
        return "t"

    async def send(self, *, key: bytes | None, value: bytes, partition: int | None) -> None:
        self.sent.append((key, value, partition))


async def test_nothing_reaches_a_table_or_topic_before_apply() -> None:
    table, topic = CountingTable({"gone": b"x"}), RecordingTopic()
    batch = BatchContext(max_message_bytes=100)
    batch.put(table, "a", b"1", None)
    batch.delete(table, "gone", None)
    batch.send(topic, key=b"k", value=b"v", source=None, partition=3)
    effects: list[str] = []
    batch.after_apply(lambda: effects.append("counted"))

    assert table.data == {"gone": b"x"}
    assert topic.sent == [] and effects == []
    assert (batch.staged_writes, batch.staged_sends) == (2, 1)

    await batch.apply()
    assert table.data == {"a": b"1"}
    assert topic.sent == [(b"k", b"v", 3)]
    assert effects == ["counted"]


async def test_a_discarded_batch_leaves_no_trace() -> None:
    """What a failing handler relies on: dropping the context drops every staged effect."""
    table, topic = CountingTable({"seen": b"[]"}), RecordingTopic()
    batch = BatchContext(max_message_bytes=100)
    batch.put(table, "seen", b'["e-1"]', None)
    batch.send(topic, key=None, value=b"delta", source=None)
    del batch
    assert table.data == {"seen": b"[]"}
    assert topic.sent == []


def test_reads_see_the_batchs_own_writes_and_hit_the_table_once_per_key() -> None:
    table = CountingTable({"a": b"old"})
    batch = BatchContext(max_message_bytes=100)
    assert batch.get(table, "a", None) == b"old"
    assert batch.get(table, "a", None) == b"old"
    assert table.reads == 1
    batch.put(table, "a", b"new", None)
    assert batch.get(table, "a", None) == b"new"
    batch.delete(table, "a", None)
    assert batch.get(table, "a", None) is None
    assert batch.get(table, "never", None) is None
    assert table.reads == 2


def test_tables_are_kept_apart() -> None:
    first, second = CountingTable({"k": b"1"}), CountingTable({"k": b"2"})
    batch = BatchContext(max_message_bytes=100)
    batch.put(first, "k", b"changed", None)
    assert batch.get(second, "k", None) == b"2"


async def test_last_write_of_a_key_wins_and_deleting_an_absent_key_is_harmless() -> None:
    table = CountingTable()
    batch = BatchContext(max_message_bytes=100)
    batch.put(table, "k", b"1", None)
    batch.put(table, "k", b"2", None)
    batch.delete(table, "absent", None)
    await batch.apply()
    assert table.data == {"k": b"2"}


def test_a_message_over_the_limit_fails_when_staged_not_when_applied() -> None:
    batch = BatchContext(max_message_bytes=10)
    batch.send(RecordingTopic(), key=None, value=b"x" * 10, source=None)
    with pytest.raises(MessageTooLarge, match="11-byte message"):
        batch.send(RecordingTopic(), key=None, value=b"x" * 11, source=None)


async def test_a_context_is_applied_once() -> None:
    batch = BatchContext(max_message_bytes=10)
    await batch.apply()
    with pytest.raises(RuntimeError):
        await batch.apply()
    with pytest.raises(RuntimeError):
        batch.put(CountingTable(), "k", b"v", None)


async def test_writes_name_their_source_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write and send runs with its own event as Faust's current event."""
    import streams.runtime.batch as batch_module

    current: list[Any] = []

    class Recording:
        def __init__(self, event: Any) -> None:
            self.event = event

        def __enter__(self) -> None:
            current.append(self.event)

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(batch_module, "acting_for", Recording)
    table, topic = CountingTable(), RecordingTopic()
    batch = BatchContext(max_message_bytes=100)
    batch.put(table, "a", b"1", "event-a")
    batch.send(topic, key=None, value=b"v", source="event-b")
    await batch.apply()
    assert current == ["event-a", "event-b"]


@dataclass
class RecordingPublisher:
    """A stand-in for streams.kafka.publisher.DirectPublisher; notes what happened when."""

    log: list[str]

    async def publish(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        self.log.append(f"publish {topic}[{partition}] {key!r} {value!r}")


async def test_publishes_go_out_after_the_writes_and_sends_and_before_the_effects() -> None:
    log: list[str] = []
    table, topic = CountingTable(), RecordingTopic()
    batch = BatchContext(max_message_bytes=100, publisher=RecordingPublisher(log))
    batch.publish("offers", partition=2, key=b"s-1", value=b"decision")
    batch.put(table, "a", b"1", None)
    batch.send(topic, key=None, value=b"delta", source=None)
    batch.after_apply(lambda: log.append(f"effect after {len(topic.sent)} send, {table.data}"))
    assert log == [] and batch.staged_sends == 2

    await batch.apply()
    assert log == ["publish offers[2] b's-1' b'decision'", "effect after 1 send, {'a': b'1'}"]


@dataclass
class SenderTaskPublisher:
    """Hands records over like aiokafka's producer: `publish` returns at once and a sender
    task, once it runs, starts another task that writes the request."""

    written: list[bytes]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def publish(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        async def write() -> None:
            self.written.append(value)

        async def sender() -> None:
            self.tasks.append(asyncio.create_task(write()))

        self.tasks.append(asyncio.create_task(sender()))


async def test_published_records_are_written_before_apply_returns() -> None:
    # The next batch's steps never suspend: a record not written by then waits for them.
    written: list[bytes] = []
    batch = BatchContext(max_message_bytes=100, publisher=SenderTaskPublisher(written))
    batch.publish("offers", partition=0, key=None, value=b"decision")
    await batch.apply()
    assert written == [b"decision"]


def test_a_publish_is_size_checked_when_staged_and_needs_a_publisher() -> None:
    with pytest.raises(MessageTooLarge, match="for offers"):
        BatchContext(max_message_bytes=4, publisher=RecordingPublisher([])).publish(
            "offers", partition=0, key=None, value=b"12345"
        )
    with pytest.raises(RuntimeError, match="no publisher"):
        BatchContext(max_message_bytes=100).publish("offers", partition=0, key=None, value=b"1")

"""A batch's effects, staged: nothing reaches a table, a topic or a metric until every step
of the batch has succeeded.

Domain handlers read and write Faust tables and send messages for a batch of events. If a
handler raised after some of those writes had been made, the batch would be half applied:
the retry would see its own earlier writes (an event id remembered as seen, a profile
already updated) and mistake unprocessed events for duplicates. A `BatchContext` closes
that gap by construction. Reads go through it (each (table, key) is read from the table at
most once and later reads see the batch's own writes); writes, deletes, sends and
in-memory effects (metrics, caches) are only recorded. `apply` performs them, and is
called only once every step of the batch returned. Sends are checked against the message
size limit when they are staged, so that `apply` itself has nothing left that can fail on
the batch's content.

No other agent can change a key between a batch's read of it and the batch's write: the
steps and the table writes of `apply` run without suspending (only the sends that follow
them await), so on the worker's one event loop nothing else runs in between. The cart and
order agents of a partition may therefore share keys (a shopper's latest decision) safely.

Every write and send names the Faust event it belongs to (`source`): Faust places a table
write (store partition and changelog partition) by the current event, see
`streams.runtime.acting.acting_for`.

Sends go into the source partition's transaction; publishes (`publish`) go outside of it,
through the batch's `Publisher` (``streams.kafka.publisher.DirectPublisher``), after the
table writes and sends: readers see them at once, and a commit waits for their delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streams.runtime.acting import acting_for

__all__ = ["BatchContext", "MessageTooLarge", "Publisher"]


async def _let_sender_run() -> None:
    """Two turns of the event loop, so that published records leave now.

    Handing a record to aiokafka's producer wakes its sender task, which creates a task that
    writes the request to the socket: two turns. A batch's steps never suspend, so without
    these turns the records would wait until the next batch (handed over at once when events
    are queued) had been processed as well.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class Publisher(Protocol):
    """Sends records outside the worker's transactions (``streams.kafka.publisher``)."""

    async def publish(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        """Hand a record over for sending."""
        ...


class MessageTooLarge(ValueError):
    """A staged message is larger than the producer may send."""


@dataclass(slots=True)
class _Publish:
    topic: str
    partition: int
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class _Send:
    topic: Any
    key: bytes | None
    value: bytes
    partition: int | None
    source: Any


class BatchContext:
    """Reads through, and staged writes, sends and effects of one batch (see module doc)."""

    def __init__(self, max_message_bytes: int, publisher: Publisher | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        self.publisher = publisher
        self._tables: dict[int, Any] = {}
        self._values: dict[tuple[int, str], bytes | None] = {}
        """Each (table, key) as the batch sees it: read from the table, or staged."""
        self._writes: dict[tuple[int, str], Any] = {}
        """Staged writes and deletes: (table, key) -> the source event of the last one."""
        self._sends: list[_Send] = []
        self._publishes: list[_Publish] = []
        self._effects: list[Callable[[], None]] = []
        self._applied = False

    def get(self, table: Any, key: str, source: Any) -> bytes | None:
        """The key's value as this batch has it: its own staged write, else the table's."""
        slot = (id(table), key)
        if slot in self._values:
            return self._values[slot]
        with acting_for(source):
            value = table.get(key)
        self._tables[id(table)] = table
        self._values[slot] = value
        return value

    def put(self, table: Any, key: str, value: bytes, source: Any) -> None:
        """Stage a write of `value` under `key` (the last write of a key wins)."""
        self._stage(table, key, value, source)

    def delete(self, table: Any, key: str, source: Any) -> None:
        """Stage the removal of `key` (the changelog gets a tombstone if the key exists)."""
        self._stage(table, key, None, source)

    def send(
        self,
        topic: Any,
        *,
        key: bytes | None,
        value: bytes,
        source: Any,
        partition: int | None = None,
    ) -> None:
        """Stage a message; MessageTooLarge now if it could never be sent."""
        self._check_size(topic.get_topic_name(), value)
        self._sends.append(_Send(topic, key, value, partition, source))

    def publish(self, topic: str, *, partition: int, key: bytes | None, value: bytes) -> None:
        """Stage a message sent outside the transaction (see the module docstring)."""
        if self.publisher is None:
            raise RuntimeError("this BatchContext has no publisher")
        if self._applied:
            raise RuntimeError("this BatchContext was applied already")
        self._check_size(topic, value)
        self._publishes.append(_Publish(topic, partition, key, value))

    def after_apply(self, effect: Callable[[], None]) -> None:
        """Run `effect` (a metric update, a cache refresh) once the batch has been applied."""
        self._effects.append(effect)

    @property
    def staged_writes(self) -> int:
        """Table writes and deletes staged so far (each key counted once)."""
        return len(self._writes)

    @property
    def staged_sends(self) -> int:
        """Messages staged so far (sends and publishes)."""
        return len(self._sends) + len(self._publishes)

    async def apply(self) -> None:
        """Write the staged keys, send then publish the staged messages, then run the effects.
        Once."""
        if self._applied:
            raise RuntimeError("a BatchContext is applied once")
        self._applied = True
        for slot, source in self._writes.items():
            table = self._tables[slot[0]]
            key = slot[1]
            value = self._values[slot]
            with acting_for(source):
                if value is not None:
                    table[key] = value
                elif table.get(key) is not None:
                    del table[key]
        for send in self._sends:
            with acting_for(send.source):
                await send.topic.send(key=send.key, value=send.value, partition=send.partition)
        if self._publishes:
            assert self.publisher is not None
            for message in self._publishes:
                await self.publisher.publish(
                    message.topic, message.partition, message.key, message.value
                )
            await _let_sender_run()
        for effect in self._effects:
            effect()

    def _check_size(self, topic: str, value: bytes) -> None:
        if len(value) > self.max_message_bytes:
            raise MessageTooLarge(
                f"a {len(value):,}-byte message for {topic} is over the "
                f"{self.max_message_bytes:,}-byte limit"
            )

    def _stage(self, table: Any, key: str, value: bytes | None, source: Any) -> None:
        if self._applied:
            raise RuntimeError("this BatchContext was applied already")
        slot = (id(table), key)
        self._tables[id(table)] = table
        self._values[slot] = value
        self._writes[slot] = source

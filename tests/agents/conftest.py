"""Fixtures for Faust agent tests: in-memory test contexts, recorded sends, test handlers.

No Kafka here: `agent.test_context()` feeds events through an in-memory channel, the
topics the ingest agents write to have their `send` replaced by a recorder, and decisions
published outside the transaction go to an in-memory offers topic (`PublishedTopic`) that
the worker's decision recovery reads back.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import streams.ingest.agents as ingest_agents
import streams.offers.agents as offers_agents
from streams.app import direct_publisher
from streams.ingest import topics
from streams.ingest.handlers import ValidEvent
from streams.ingest.routing import partition_for_key
from streams.ingest.topics import dedupe_table
from streams.offers.topics import published_from_table
from streams.ops import metrics
from streams.topology import PIPELINE

EXAMPLES_PATH = Path(__file__).parents[1] / "unit" / "schemas" / "contract_examples.json"
WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Sent:
    """One message an agent sent to a (recorded) topic."""

    key: bytes | None
    value: bytes | None
    partition: int | None


@dataclass
class Outbox:
    """Everything the agents sent: dead letters and re-keyed events per logical topic."""

    deadletters: list[Sent] = field(default_factory=list)
    rekeyed: defaultdict[str, list[Sent]] = field(default_factory=lambda: defaultdict(list))


def _recorder(into: list[Sent]) -> Callable[..., Any]:
    async def send(
        *args: Any,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        **kwargs: Any,
    ) -> None:
        assert not args, f"send() takes keyword arguments only, got {args!r}"
        into.append(Sent(key, value, partition))

    return send


@dataclass
class PublishedTopic:
    """The offers topic as the worker publishes to it (outside the transaction), in memory."""

    sent: list[Sent] = field(default_factory=list)
    """Every record published, in order."""
    partitions: defaultdict[int, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    """The record values per partition: offset = index."""
    reads: list[dict[int, int | None]] = field(default_factory=list)
    """The start offsets of every read-back (recovery) of partitions."""

    async def publish(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        """`DirectPublisher.publish`: delivered at once."""
        self.sent.append(Sent(key, value, partition))
        self.partitions[partition].append(value)

    def delivered_end(self, topic: str, partition: int) -> int | None:
        """`DirectPublisher.delivered_end`: every record is delivered as soon as published."""
        records = self.partitions.get(partition)
        return len(records) if records else None

    async def read_tails(
        self, bootstrap: str, topic: str, starts: Mapping[int, int | None], *, since_ms: int
    ) -> dict[int, list[bytes]]:
        """`read_partition_tails`: from the start offset (from 0 when there is none)."""
        self.reads.append(dict(starts))
        return {p: list(self.partitions.get(p, []))[start or 0 :] for p, start in starts.items()}


@contextmanager
def publishing_in_memory() -> Iterator[PublishedTopic]:
    """Decisions published to a fresh `PublishedTopic`; no partition read back yet."""
    topic = PublishedTopic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(direct_publisher, "publish", topic.publish)
        patch.setattr(direct_publisher, "delivered_end", topic.delivered_end)
        patch.setattr(offers_agents, "read_partition_tails", topic.read_tails)
        offers_agents.published_decisions.assigned()
        published_from_table.data.clear()
        try:
            yield topic
        finally:
            offers_agents.published_decisions.assigned()
            published_from_table.data.clear()


@pytest.fixture(autouse=True)
def published() -> Iterator[PublishedTopic]:
    """Every test publishes decisions to its own in-memory offers topic."""
    with publishing_in_memory() as topic:
        yield topic


@pytest.fixture(autouse=True)
def forget_seen_event_ids() -> Iterator[None]:
    """Each test starts with no event id remembered: tests reuse readable ids like "c-1"."""
    dedupe_table.data.clear()
    yield
    dedupe_table.data.clear()


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Replace the dead-letter and re-key topics' `send` with recorders."""
    box = Outbox()
    monkeypatch.setattr(topics.deadletter_topic, "send", _recorder(box.deadletters))
    for logical, topic in topics.rekey_topics.items():
        monkeypatch.setattr(topic, "send", _recorder(box.rekeyed[logical]))
    return box


@pytest.fixture
def register_handler(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[ValidEvent]]:
    """Add a step to a logical topic's pipeline; the pipeline is restored after the test."""

    def register(logical: str, fail_on: Callable[[Any], bool] | None = None) -> list[ValidEvent]:
        """Record every event handled; a batch holding an event `fail_on` picks raises."""
        received: list[ValidEvent] = []

        async def handler(batch: Any, context: Any) -> None:
            for _record, event in batch:
                if fail_on is not None and fail_on(event):
                    raise RuntimeError(f"cannot process {getattr(event, 'event_id', event)}")
            received.extend(batch)

        monkeypatch.setitem(PIPELINE, logical, (*PIPELINE[logical], handler))
        return received

    return register


@pytest.fixture(scope="session")
def contract_examples() -> dict[str, dict[str, Any]]:
    examples: dict[str, dict[str, Any]] = json.loads(EXAMPLES_PATH.read_text())
    return examples


@pytest.fixture
def make_event(contract_examples) -> Callable[..., dict[str, Any]]:
    """A copy of a contract example with fields overridden."""

    def make(logical: str, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(json.dumps(contract_examples[logical]))
        event.update(fields)
        return event

    return make


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def home_partition(key: str) -> int:
    """The partition the worker expects events with this routing key on."""
    return partition_for_key(key.encode(), ingest_agents.settings.partitions)


def other_partition(key: str) -> int:
    return (home_partition(key) + 1) % ingest_agents.settings.partitions


def sample(name: str, **labels: str) -> float:
    """A metric sample's current value in the process-wide registry (0 when never set)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll until `predicate()` holds (batches flush every batch_within_seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS}s waiting for {what}")
        await asyncio.sleep(0.01)

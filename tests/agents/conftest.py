"""Fixtures for Faust agent tests: in-memory test contexts, recorded sends, test handlers.

No Kafka here: `agent.test_context()` feeds events through an in-memory channel, and the
topics the ingest agents write to have their `send` replaced by a recorder.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import streams.ingest.agents as ingest_agents
from streams import metrics
from streams.ingest import topics
from streams.ingest.handlers import HANDLERS, EventHandler, ValidEvent
from streams.ingest.routing import partition_for_key
from streams.ingest.topics import dedupe_table

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
def register_handler() -> Iterator[Callable[..., list[ValidEvent]]]:
    """Register a domain handler for a logical topic; every registration is removed after."""
    registered: list[tuple[str, EventHandler]] = []

    def register(logical: str, fail_on: Callable[[Any], bool] | None = None) -> list[ValidEvent]:
        """Record every event handled; a batch holding an event `fail_on` picks raises."""
        received: list[ValidEvent] = []

        async def handler(batch: Any, context: Any) -> None:
            for _record, event in batch:
                if fail_on is not None and fail_on(event):
                    raise RuntimeError(f"cannot process {getattr(event, 'event_id', event)}")
            received.extend(batch)

        HANDLERS[logical].append(handler)
        registered.append((logical, handler))
        return received

    yield register
    for logical, handler in registered:
        HANDLERS[logical].remove(handler)


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

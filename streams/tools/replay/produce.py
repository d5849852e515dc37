"""`basketlift produce`: publish a JSON-lines file of events to their contract topics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from schemas import INBOUND_MODELS, InvalidEvent, decode_event
from streams.kafka.producer import event_key, infer_logical_topic, running_producer
from streams.kafka.security import kafka_access
from streams.settings import Settings


@dataclass
class ProduceReport:
    """What `produce` sent, per topic, and which lines it refused and why."""

    sent: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class OutgoingLine:
    """One line ready to send."""

    topic: str
    key: bytes | None
    value: bytes


def resolve_topic(settings: Settings, name: str) -> str:
    """Accept a logical name (`carts`) or a topic name (`shop.carts`); return the topic name."""
    topics = settings.inbound_topics
    if name in topics:
        return topics[name]
    if name in topics.values():
        return name
    raise ValueError(f"unknown topic {name!r}; use one of {', '.join(topics)}")


def logical_of(settings: Settings, topic: str) -> str:
    """The logical name of an inbound topic name."""
    return {v: k for k, v in settings.inbound_topics.items()}[topic]


def plan_line(
    settings: Settings, raw: bytes, logical_topic: str | None, validate: bool
) -> OutgoingLine:
    """Decide topic, key and bytes for one line; raise ValueError saying why it cannot go."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if validate or logical_topic is None:
            raise ValueError(f"not JSON: {error}") from None
        return OutgoingLine(resolve_topic(settings, logical_topic), None, raw)
    key: str | None = None
    event = parsed
    if isinstance(parsed, dict) and isinstance(parsed.get("event"), dict) and "topic" in parsed:
        topic = resolve_topic(settings, str(parsed["topic"]))
        event = parsed["event"]
        raw_key = parsed.get("key")
        if raw_key is not None and not isinstance(raw_key, str):
            raise ValueError("envelope key must be a string or null")
        key = raw_key or None
        value = orjson.dumps(event)
    else:
        if not isinstance(parsed, dict) and (validate or logical_topic is None):
            raise ValueError("not a JSON object")
        name = logical_topic or infer_logical_topic(parsed)
        if name is None:
            raise ValueError("cannot tell the topic of this event; pass --topic or an envelope")
        topic = resolve_topic(settings, name)
        value = raw
    logical = logical_of(settings, topic)
    if validate:
        try:
            decode_event(INBOUND_MODELS[logical], value)
        except InvalidEvent as error:
            raise ValueError(f"invalid {logical} event ({error.reason}): {error.detail}") from None
    if key is None and isinstance(event, dict):
        key = event_key(logical, event)
    return OutgoingLine(topic, key.encode() if key else None, value)


async def produce_lines(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    logical_topic: str | None = None,
    validate: bool = True,
) -> ProduceReport:
    """Send each non-blank line; lines that cannot be sent are reported, never silently lost."""
    report = ProduceReport()
    async with running_producer(kafka_access(settings)) as producer:
        pending = []
        for line_no, line in enumerate(lines, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                out = plan_line(settings, raw, logical_topic, validate)
            except ValueError as error:
                report.problems.append((line_no, str(error)))
                continue
            pending.append(await producer.send(out.topic, out.value, key=out.key))
            report.sent += 1
            report.by_topic[out.topic] += 1
        for future in pending:
            await future
    return report

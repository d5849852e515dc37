"""Thin ingest agents: one per inbound topic, batch, validate, dead-letter, re-key, dispatch."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from faust.types import EventT

from schemas import INBOUND_MODELS, InvalidEvent, encode, make_dead_letter
from schemas.eventtime import wall_clock_ms
from streams import metrics
from streams.app import app
from streams.eventcontext import acting_for, commit_gate, event_clock
from streams.ingest.boundary import RawRecord, sort_batch
from streams.ingest.handlers import HANDLERS, ValidEvent
from streams.ingest.topics import deadletter_topic, inbound_topics, rekey_topics
from streams.settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()

# Catalog events describe products, not shoppers: any partition will do.
ROUTED_BY_SHOPPER = frozenset({"carts", "orders", "clicks", "privacy"})


def raw_record(event: EventT) -> RawRecord:
    """The consumed message behind a Faust event, as the boundary sees it."""
    message = event.message
    return RawRecord(
        message.topic, message.partition, message.offset, message.key, message.value, event
    )


async def send_dead_letter(record: RawRecord, error: InvalidEvent | str) -> None:
    """Write a rejected record to the dead-letter topic with where it came from and why."""
    letter = make_dead_letter(
        record.value,
        record.key,
        record.topic,
        record.partition,
        record.offset,
        error,
        wall_clock_ms(),
        processor=settings.app_id,
    )
    with acting_for(record.source):
        await deadletter_topic.send(key=record.key, value=encode(letter))
    metrics.DEADLETTERS.labels(topic=record.topic).inc()


async def dispatch(logical: str, valid: Sequence[ValidEvent]) -> None:
    """Hand valid events to the domain handlers; isolate an event whose processing raises."""
    for handler in HANDLERS.get(logical, ()):
        try:
            await handler(valid)
        except Exception:
            log.exception(
                "handler %s failed on a batch of %d; retrying one by one",
                getattr(handler, "__qualname__", handler),
                len(valid),
            )
            for item in valid:
                try:
                    await handler([item])
                except Exception as exc:
                    record = item[0]
                    log.exception(
                        "handler failed on %s[%d]@%d", record.topic, record.partition, record.offset
                    )
                    metrics.PROCESSING_ERRORS.labels(topic=record.topic).inc()
                    await send_dead_letter(record, f"processing_error: {exc!r}"[:500])


async def process_batch(logical: str, events: Sequence[EventT], *, from_rekey: bool) -> None:
    """Validate a batch, dead-letter the invalid, re-key the misrouted, dispatch the rest."""
    started = time.perf_counter()
    records = [raw_record(event) for event in events]
    source_topic = records[0].topic if records else logical
    batch = sort_batch(
        INBOUND_MODELS[logical],
        records,
        partitions=settings.partitions,
        check_routing=(not from_rekey) and logical in ROUTED_BY_SHOPPER,
        now_ms=wall_clock_ms(),
        max_future_skew_ms=settings.max_future_skew_ms,
    )
    if not from_rekey:
        valid_count = len(batch.accepted) + len(batch.misrouted)
        metrics.EVENTS.labels(topic=source_topic).inc(valid_count)
        metrics.BATCH_SIZE.labels(topic=source_topic).observe(len(records))
    for record, error in batch.rejected:
        metrics.EVENTS_INVALID.labels(topic=record.topic, reason=error.reason).inc()
        log.warning(
            "rejected %s[%d]@%d: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            error.reason,
            error.detail,
        )
        await send_dead_letter(record, error)
    if batch.misrouted:
        rekey = rekey_topics[logical]
        for record, _event, key in batch.misrouted:
            with acting_for(record.source):
                await rekey.send(key=key, value=record.value)
        metrics.EVENTS_REROUTED.labels(topic=source_topic).inc(len(batch.misrouted))
    if batch.accepted:
        event_clock.observe(max(getattr(event, "ts", 0) for _record, event in batch.accepted))
        await dispatch(logical, batch.accepted)
    metrics.BATCH_SECONDS.labels(topic=source_topic).observe(time.perf_counter() - started)


def make_ingest_agent(logical: str, topic: Any, *, from_rekey: bool) -> Any:
    """Register an agent that feeds `topic` through the boundary in batches."""

    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(
            settings.batch_max, within=settings.batch_within_seconds
        ):
            await commit_gate.start_batch()
            try:
                await process_batch(logical, events, from_rekey=from_rekey)
            finally:
                commit_gate.end_batch()

    suffix = "rekeyed" if from_rekey else "inbound"
    ingest.__name__ = ingest.__qualname__ = f"ingest_{logical}_{suffix}"
    return app.agent(topic, name=f"basketlift.ingest.{logical}.{suffix}")(ingest)


INGEST_AGENTS = {
    logical: make_ingest_agent(logical, topic, from_rekey=False)
    for logical, topic in inbound_topics.items()
}
REKEY_AGENTS = {
    logical: make_ingest_agent(logical, topic, from_rekey=True)
    for logical, topic in rekey_topics.items()
}
metrics.init_topic_labels([topic.get_topic_name() for topic in inbound_topics.values()])

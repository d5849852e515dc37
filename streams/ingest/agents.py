"""Thin ingest agents: one per inbound topic, batch, validate, dead-letter, re-key, dispatch."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from faust.types import EventT

from schemas import (
    INBOUND_MODELS,
    CartEvent,
    ClickEvent,
    InvalidEvent,
    OrderEvent,
    encode,
    make_dead_letter,
)
from schemas.eventtime import wall_clock_ms
from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.app import app, commit_gate, direct_publisher, event_clock, settings
from streams.ingest.boundary import RawRecord, sort_batch
from streams.ingest.dedupe import DEDUPED_TOPICS, dedupe_key, split_duplicates
from streams.ingest.handlers import BatchPreparation, EventHandler, ValidEvent
from streams.ingest.topics import deadletter_topic, dedupe_table, rekey_topics
from streams.ops import metrics
from streams.runtime.acting import acting_for
from streams.runtime.batch import BatchContext
from streams.runtime.loop import run_batches

log = logging.getLogger(__name__)

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


def skip_duplicates(
    logical: str, valid: Sequence[ValidEvent], batch: BatchContext
) -> list[ValidEvent]:
    """The events not delivered before (streams.ingest.dedupe); their ids are staged as seen."""
    if logical not in DEDUPED_TOPICS:
        return list(valid)

    def load(key: str) -> tuple[str, ...]:
        raw = batch.get(dedupe_table, key, sources[key])
        return tuple(orjson.loads(raw)) if raw else ()

    sources: dict[str, Any] = {}
    items = []
    for item in valid:
        record, event = item
        assert isinstance(event, CartEvent | OrderEvent | ClickEvent)
        key = dedupe_key(logical, event.routing_key)
        sources.setdefault(key, record.source)
        items.append((key, event.event_id, item))
    outcome = split_duplicates(items, load, settings.dedupe_window_events)
    for key, ids in outcome.windows.items():
        batch.put(dedupe_table, key, orjson.dumps(list(ids)), sources[key])
    for record, _event in outcome.duplicates:
        batch.after_apply(metrics.DUPLICATES.labels(topic=record.topic).inc)
    return outcome.fresh


async def run_steps(
    logical: str, steps: Sequence[EventHandler], valid: Sequence[ValidEvent]
) -> None:
    """Deduplicate, run every handler of the topic in order, then apply what they staged.

    Nothing is applied unless every handler succeeded (streams.runtime.batch).
    """
    batch = BatchContext(MAX_KAFKA_MESSAGE_BYTES, direct_publisher)
    fresh = skip_duplicates(logical, valid, batch)
    if fresh:
        for step in steps:
            await step(fresh, batch)
    await batch.apply()


async def dispatch(
    logical: str, steps: Sequence[EventHandler], valid: Sequence[ValidEvent]
) -> None:
    """Run the topic's steps on the valid events; isolate an event whose processing raises.

    A failed batch left nothing applied, so it is re-run one event at a time: the events that
    succeed are applied, and one that fails alone is dead-lettered as `unprocessable` and
    counted in `basketlift_processing_errors_total`.
    """
    try:
        await run_steps(logical, steps, valid)
        return
    except Exception:
        log.exception("a %s batch of %d failed; retrying one by one", logical, len(valid))
    for item in valid:
        try:
            await run_steps(logical, steps, [item])
        except Exception as exc:
            record = item[0]
            log.exception("cannot process %s[%d]@%d", record.topic, record.partition, record.offset)
            metrics.PROCESSING_ERRORS.labels(topic=record.topic).inc()
            await send_dead_letter(record, f"processing_error: {exc!r}"[:500])


async def prepare(preparations: Sequence[BatchPreparation], valid: Sequence[ValidEvent]) -> None:
    """Run the topic's preparations; if one fails, the worker stops (Faust's `App.crash`):
    its batch cannot be processed safely, and nothing of it has been applied."""
    for preparation in preparations:
        try:
            await preparation(valid)
        except Exception as exc:
            name = getattr(preparation, "__name__", repr(preparation))
            log.error("cannot prepare a batch (%s): %r; the worker stops", name, exc)
            await app.crash(exc)
            raise


async def process_batch(
    logical: str,
    steps: Sequence[EventHandler],
    events: Sequence[EventT],
    *,
    from_rekey: bool,
    preparations: Sequence[BatchPreparation] = (),
) -> None:
    """Validate a batch, dead-letter the invalid, re-key the misrouted, prepare and run the
    steps on the rest."""
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
        await prepare(preparations, batch.accepted)
        event_clock.observe(max(getattr(event, "ts", 0) for _record, event in batch.accepted))
        await dispatch(logical, steps, batch.accepted)
    metrics.BATCH_SECONDS.labels(topic=source_topic).observe(time.perf_counter() - started)


def make_ingest_agent(
    logical: str,
    topic: Any,
    pipeline: Mapping[str, Sequence[EventHandler]],
    preparations: Mapping[str, Sequence[BatchPreparation]],
    *,
    from_rekey: bool,
) -> Any:
    """Register an agent that feeds `topic` through the boundary, then
    `preparations[logical]` and `pipeline[logical]`'s steps in order, in batches (both are
    read per batch)."""

    async def process(events: Sequence[EventT]) -> None:
        await process_batch(
            logical,
            pipeline[logical],
            events,
            from_rekey=from_rekey,
            preparations=preparations.get(logical, ()),
        )

    async def ingest(stream: Any) -> None:
        await run_batches(
            stream,
            process,
            gate=commit_gate,
            batch_max=settings.batch_max,
            within_seconds=settings.batch_within_seconds,
            handover=settings.batch_handover,
        )

    suffix = "rekeyed" if from_rekey else "inbound"
    ingest.__name__ = ingest.__qualname__ = f"ingest_{logical}_{suffix}"
    return app.agent(topic, name=f"basketlift.ingest.{logical}.{suffix}")(ingest)

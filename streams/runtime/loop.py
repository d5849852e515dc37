"""The one batch loop every agent runs: take a batch, hold commits off while processing it.

Faust commits offsets (and, under exactly-once, the transaction) on a timer in another
task. A batch's outputs and its input offsets must land in the same transaction, so a
commit must not run while a batch is between its first write and its acknowledgements:
the commit gate (``streams.runtime.gate.CommitGate``) makes batches the readers and the
commit the writer. What a batch does is the agent's `process` function; how its effects are
staged is ``streams.runtime.batch.BatchContext``.

When a batch is handed over (`BASKETLIFT_BATCH_HANDOVER`): `available` hands it over as
soon as it is full or nothing more is queued for the stream
(``streams.kafka.faustcompat.take_available_events``), so an event arriving at an idle
worker waits for no other; `window` is Faust's `take_events`, which waits up to
`within_seconds` for a batch to fill. Both ack a batch's events only after it was processed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

from faust.types import EventT

from streams.kafka.faustcompat import take_available_events
from streams.runtime.gate import CommitGate

__all__ = ["BatchHandover", "run_batches"]

BatchHandover = Literal["available", "window"]
"""When a batch goes to processing (see the module docstring)."""


async def run_batches(
    stream: Any,
    process: Callable[[Sequence[EventT]], Awaitable[None]],
    *,
    gate: CommitGate,
    batch_max: int,
    within_seconds: float,
    handover: BatchHandover,
) -> None:
    """Feed `stream` to `process` in batches of at most `batch_max` events, handed over as
    `handover` says (`available`: never later than `within_seconds` after the batch's first
    event; `window`: after the previous batch), with the `gate` holding commits off while a
    batch is processed."""
    batches: AsyncIterator[Sequence[EventT]]
    if handover == "available":
        batches = take_available_events(stream, batch_max, within_seconds)
    else:
        batches = stream.take_events(batch_max, within=within_seconds)
    async for events in batches:
        await gate.start_batch()
        try:
            await process(list(events))
        finally:
            gate.end_batch()

"""The one batch loop every agent runs: take a batch, hold commits off while processing it.

Faust commits offsets (and, under exactly-once, the transaction) on a timer in another
task. A batch's outputs and its input offsets must land in the same transaction, so a
commit must not run while a batch is between its first write and its acknowledgements:
the commit gate (``streams.runtime.gate.CommitGate``) makes batches the readers and the
commit the writer. What a batch does is the agent's `process` function; how its effects are
staged is ``streams.runtime.batch.BatchContext``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.types import EventT

from streams.runtime.gate import CommitGate

__all__ = ["run_batches"]


async def run_batches(
    stream: Any,
    process: Callable[[Sequence[EventT]], Awaitable[None]],
    *,
    gate: CommitGate,
    batch_max: int,
    within_seconds: float,
) -> None:
    """Feed `stream` to `process` in batches of at most `batch_max` events, each batch
    taken within `within_seconds`, with the `gate` holding commits off while a batch is
    processed."""
    async for events in stream.take_events(batch_max, within=within_seconds):
        await gate.start_batch()
        try:
            await process(list(events))
        finally:
            gate.end_batch()

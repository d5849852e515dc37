"""streams/runtime/loop.py: batches are processed with commits held off, even on failure;
`handover` picks Faust's take_events ("window") or take_available_events ("available")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from streams.kafka.faustcompat import unstarted_app
from streams.runtime.gate import CommitGate
from streams.runtime.loop import run_batches

commit_gate = CommitGate()


class FakeStream:
    """Yields the given batches from `take_events`, recording how it was called."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.calls: list[tuple[int, float]] = []

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[int]]:
        self.calls.append((max_, within))
        for batch in self.batches:
            yield batch


async def test_each_batch_runs_inside_the_commit_gate() -> None:
    seen: list[tuple[list[Any], int]] = []

    async def process(events: Sequence[Any]) -> None:
        seen.append((list(events), commit_gate.batches_in_flight))

    stream = FakeStream([[1, 2], [3]])
    await run_batches(
        stream, process, gate=commit_gate, batch_max=500, within_seconds=0.05, handover="window"
    )
    assert seen == [([1, 2], 1), ([3], 1)]
    assert stream.calls == [(500, 0.05)]
    assert commit_gate.batches_in_flight == 0


async def test_a_failing_batch_releases_the_gate() -> None:
    async def process(events: Sequence[Any]) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run_batches(
            FakeStream([[1]]),
            process,
            gate=commit_gate,
            batch_max=1,
            within_seconds=1,
            handover="window",
        )
    assert commit_gate.batches_in_flight == 0
    async with commit_gate.committing():  # a commit is not held off by the failed batch
        assert commit_gate.commit_waiting


async def test_available_handover_processes_a_lone_event_without_waiting_for_the_window() -> None:
    app = unstarted_app("unit-loop")
    app.flow_control.resume()
    stream = app.stream(app.channel(maxsize=10))
    processed: asyncio.Queue[list[Any]] = asyncio.Queue()

    async def process(events: Sequence[Any]) -> None:
        await processed.put([event.value for event in events])

    async with stream:
        loop = asyncio.ensure_future(
            run_batches(
                stream,
                process,
                gate=commit_gate,
                batch_max=500,
                within_seconds=3600,  # never waited for
                handover="available",
            )
        )
        try:
            await stream.channel.send(value="lone")  # type: ignore[attr-defined]
            assert await asyncio.wait_for(processed.get(), 10) == ["lone"]
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)

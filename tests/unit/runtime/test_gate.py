"""streams/runtime/gate.py: a commit never overlaps a batch, and batches wait for a commit."""

from __future__ import annotations

import asyncio

import pytest

from streams.runtime.gate import CommitGate


async def test_a_commit_waits_for_the_batches_in_flight() -> None:
    gate = CommitGate()
    await gate.start_batch()
    await gate.start_batch()
    committed = asyncio.Event()

    async def commit() -> None:
        async with gate.committing():
            committed.set()

    task = asyncio.create_task(commit())
    await asyncio.sleep(0.01)
    assert gate.commit_waiting and not committed.is_set()
    gate.end_batch()
    await asyncio.sleep(0.01)
    assert not committed.is_set()  # one batch still in flight
    gate.end_batch()
    await asyncio.wait_for(task, 1)
    assert committed.is_set() and not gate.commit_waiting


async def test_a_new_batch_waits_for_the_commit_in_progress() -> None:
    gate = CommitGate()
    order: list[str] = []
    release = asyncio.Event()

    async def commit() -> None:
        async with gate.committing():
            order.append("commit started")
            await release.wait()
            order.append("commit done")

    async def batch() -> None:
        await gate.start_batch()
        order.append("batch started")
        gate.end_batch()

    committing = asyncio.create_task(commit())
    await asyncio.sleep(0.01)
    batching = asyncio.create_task(batch())
    await asyncio.sleep(0.01)
    assert order == ["commit started"] and gate.batches_in_flight == 0
    release.set()
    await asyncio.wait_for(asyncio.gather(committing, batching), 1)
    assert order == ["commit started", "commit done", "batch started"]


async def test_before_commit_runs_every_check_in_order_and_a_raise_reaches_the_commit() -> None:
    gate = CommitGate()
    ran: list[str] = []

    async def first() -> None:
        ran.append("first")

    async def refuse() -> None:
        ran.append("refuse")
        raise RuntimeError("records not delivered")

    gate.add_before_commit(first)
    await gate.before_commit()
    assert ran == ["first"]
    gate.add_before_commit(refuse)
    with pytest.raises(RuntimeError, match="not delivered"):
        await gate.before_commit()
    assert ran == ["first", "first", "refuse"]


async def test_each_commit_reports_how_long_it_held_batches_off() -> None:
    held: list[float] = []
    gate = CommitGate(on_held=held.append)
    await gate.start_batch()

    async def commit() -> None:
        async with gate.committing():
            await asyncio.sleep(0.02)

    task = asyncio.create_task(commit())
    await asyncio.sleep(0.03)  # the commit waits for the batch in flight meanwhile
    assert held == []
    gate.end_batch()
    await asyncio.wait_for(task, 1)
    (seconds,) = held
    assert seconds >= 0.05 - 0.005  # the wait for the batch and the commit itself


async def test_a_released_hold_lets_batches_start_while_the_commit_goes_on() -> None:
    held: list[float] = []
    committed: list[float] = []
    gate = CommitGate(on_held=held.append, on_committed=committed.append)
    release = asyncio.Event()
    order: list[str] = []

    async def commit() -> None:
        async with gate.committing() as hold:
            await asyncio.sleep(0.02)
            hold.release()
            hold.release()  # a second release changes nothing
            await release.wait()
            order.append("commit done")

    committing = asyncio.create_task(commit())
    await asyncio.sleep(0.005)
    assert gate.commit_waiting
    await asyncio.wait_for(gate.start_batch(), 1)
    order.append("batch started")
    assert not gate.commit_waiting and len(held) == 1 and held[0] >= 0.02 - 0.005
    assert committed == [], "the commit goes on"
    await asyncio.sleep(0.02)
    release.set()
    await asyncio.wait_for(committing, 1)
    assert order == ["batch started", "commit done"] and len(held) == 1
    (whole,) = committed
    assert whole >= held[0] + 0.02 - 0.005, "the whole commit, past the release"
    gate.end_batch()


async def test_a_hold_released_by_one_commit_leaves_another_commits_hold() -> None:
    gate = CommitGate()
    first_released = asyncio.Event()
    second_done = asyncio.Event()

    async def first() -> None:
        async with gate.committing() as hold:
            hold.release()
            first_released.set()
            await second_done.wait()

    async def second() -> None:
        async with gate.committing():
            await first_released.wait()
            await asyncio.sleep(0.01)
        second_done.set()

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_released.wait()
    assert gate.commit_waiting, "the second commit still holds batches off"
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert not gate.commit_waiting

"""The gateway's decision index: bounded, first decision kept, long-polls and live streams
(one shopper's, or the whole store's)."""

from __future__ import annotations

import asyncio

from streams.gateway.index import STORE, SUBSCRIPTION_QUEUE, DecisionIndex, IndexedDecision


def decision(n: int, *, trigger: str | None = None, shopper: str = "c-1") -> IndexedDecision:
    return IndexedDecision(f"d-{n}", trigger or f"e-{n}", shopper, b'{"n": %d}' % n)


def test_the_oldest_decisions_are_evicted_beyond_capacity() -> None:
    index = DecisionIndex(capacity=2)
    for n in range(3):
        index.add(decision(n))
    assert len(index) == 2
    assert index.get("e-0") is None
    assert index.get("e-2") == decision(2)


def test_a_republished_decision_or_a_second_one_for_a_trigger_is_ignored() -> None:
    index = DecisionIndex(capacity=10)
    first = decision(1)
    assert index.add(first)
    assert not index.add(IndexedDecision("d-1", "e-other", "c-1", b"{}"))  # same decision_id
    assert not index.add(decision(2, trigger="e-1"))  # same trigger, another decision
    assert index.get("e-1") == first
    assert index.get("e-other") is None


async def test_a_waiter_gets_the_decision_as_soon_as_it_is_added() -> None:
    index = DecisionIndex(capacity=10)
    waiting = asyncio.create_task(index.wait("e-1", timeout=30))
    await asyncio.sleep(0)
    index.add(decision(1))
    assert await waiting == decision(1)


async def test_a_waiter_gets_none_after_the_timeout() -> None:
    index = DecisionIndex(capacity=10)
    assert await index.wait("e-1", timeout=0.01) is None
    index.add(decision(1))  # no waiter is left behind to be woken
    assert await index.wait("e-1", timeout=0) == decision(1)


async def test_a_stream_receives_its_shoppers_decisions_only() -> None:
    index = DecisionIndex(capacity=10)
    mine = index.subscribe("c-1")
    index.add(decision(1, shopper="c-1"))
    index.add(decision(2, shopper="c-2"))
    assert mine.queue.get_nowait() == decision(1)
    assert mine.queue.empty()
    index.unsubscribe(mine)
    assert index.subscriber_count == 0


def test_a_stream_that_falls_too_far_behind_is_marked_overflowed() -> None:
    index = DecisionIndex(capacity=SUBSCRIPTION_QUEUE * 2)
    stream = index.subscribe("c-1")
    for n in range(SUBSCRIPTION_QUEUE):
        index.add(decision(n))
    assert not stream.overflowed.is_set()
    index.add(decision(SUBSCRIPTION_QUEUE))
    assert stream.overflowed.is_set()


def test_a_store_stream_receives_every_shoppers_decisions() -> None:
    index = DecisionIndex(capacity=10)
    store = index.subscribe(STORE)
    shopper = index.subscribe("c-2")
    index.add(decision(1, shopper="c-1"))
    index.add(decision(2, shopper="c-2"))
    assert [store.queue.get_nowait(), store.queue.get_nowait()] == [
        decision(1, shopper="c-1"),
        decision(2, shopper="c-2"),
    ]
    assert shopper.queue.get_nowait() == decision(2, shopper="c-2")
    assert shopper.queue.empty()


def test_an_overflowing_stream_is_told_once_and_fed_no_more() -> None:
    index = DecisionIndex(capacity=SUBSCRIPTION_QUEUE * 2)
    calls: list[str] = []
    stream = index.subscribe(STORE)
    stream.on_overflow = lambda: calls.append("overflowed")
    for n in range(SUBSCRIPTION_QUEUE + 2):
        index.add(decision(n, shopper=f"c-{n}"))
    assert calls == ["overflowed"]
    assert stream.queue.qsize() == SUBSCRIPTION_QUEUE

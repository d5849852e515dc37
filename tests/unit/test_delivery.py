"""The inline delivery fast path keeps wait_first's results and its abandon-on-suspend rule."""

from __future__ import annotations

import asyncio

import pytest

from streams.delivery import FastDeliveryConsumer, ResumedCoroutine, step_inline


async def returns_at_once(value: int) -> int:
    return value * 2


async def waits_for(future: asyncio.Future[int]) -> int:
    return await future + 1


async def test_step_inline_finishes_a_coroutine_that_never_suspends() -> None:
    assert step_inline(returns_at_once(21)) == (True, 42)


async def test_a_suspended_coroutine_resumes_under_a_task_and_returns_its_value() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    coro = waits_for(future)
    done, pending = step_inline(coro)
    assert not done
    task = asyncio.ensure_future(ResumedCoroutine(coro, pending))
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result(9)
    assert await task == 10


async def test_cancelling_the_resumed_coroutine_cancels_the_original() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    coro = waits_for(future)
    _done, pending = step_inline(coro)
    task = asyncio.ensure_future(ResumedCoroutine(coro, pending))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled()


async def test_resumed_coroutine_propagates_errors() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    coro = waits_for(future)
    _done, pending = step_inline(coro)
    task = asyncio.ensure_future(ResumedCoroutine(coro, pending))
    await asyncio.sleep(0)
    future.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await task


class _Flags:
    """Stand-ins for the Service events wait_first consults."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()


async def test_fast_wait_first_returns_inline_result_without_touching_other_awaitables() -> None:
    flags = _Flags()
    suspend = asyncio.Event()
    other = suspend.wait()
    results = await FastDeliveryConsumer.wait_first(flags, returns_at_once(5), other)  # type: ignore[arg-type]
    assert results.results == [10]
    assert not results.stopped
    assert other.cr_frame is None  # closed, never run: no "never awaited" warning


async def test_fast_wait_first_abandons_a_waiting_delivery_when_the_flow_is_suspended() -> None:
    consumer = FastDeliveryConsumer.__new__(FastDeliveryConsumer)
    consumer._stopped = asyncio.Event()  # type: ignore[misc]
    consumer._crashed = asyncio.Event()  # type: ignore[misc]
    consumer.loop = asyncio.get_running_loop()  # type: ignore[misc]
    never: asyncio.Future[int] = consumer.loop.create_future()
    suspend = asyncio.Event()
    waiting = asyncio.ensure_future(consumer.wait_first(waits_for(never), suspend.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    suspend.set()
    results = await asyncio.wait_for(waiting, 2)
    assert results.results == [True]  # the suspend event won
    await asyncio.sleep(0)
    assert never.cancelled()  # the delivery was abandoned, as Faust does

"""The product agent applies each delta message once, even when it is delivered again, and
never a delta from beyond the wall clock and the allowed skew.

All applied deltas share one event time, so decay (on by default) leaves the sums exact.
"""

from __future__ import annotations

import logging

import orjson
import pytest

from streams.copurchase.agents import load_product
from streams.copurchase.model import ProductDelta
from streams.copurchase.topics import products_table
from streams.topology import PRODUCT_AGENT as apply_deltas
from tests.agents.conftest import sample, wait_until

T0 = 1_700_000_000_000
YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z


def message(*deltas: ProductDelta) -> bytes:
    return orjson.dumps([d.to_dict() for d in deltas])


def purchases(product_id: str) -> float:
    raw = products_table.get(product_id)
    return float(orjson.loads(raw).get("n", 0.0)) if raw else 0.0


async def test_a_redelivered_delta_message_is_not_applied_twice() -> None:
    first = message(ProductDelta("p-a", T0, 1.0, {"p-b": 1.0}))
    second = message(ProductDelta("p-a", T0, 1.0, {"p-c": 1.0}))
    async with apply_deltas.test_context() as agent:
        agent.sent_offset = 10
        await agent.put(value=first, partition=0)  # offset 10
        await agent.put(value=second, partition=0)  # offset 11
        await wait_until(lambda: purchases("p-a") == 2.0, "two deltas applied")
        agent.sent_offset = 10  # both again, as after a crash with a stale committed offset
        await agent.put(value=first, partition=0)
        await agent.put(value=second, partition=0)
        agent.sent_offset = 12
        await agent.put(value=message(ProductDelta("p-a", T0, 1.0, {})), partition=0)
        await wait_until(lambda: purchases("p-a") >= 3.0, "the new delta applied")
        state = load_product("p-a")
    assert state.purchases == 3.0
    assert dict(state.neighbours) == {"p-b": 1.0, "p-c": 1.0}
    assert state.applied_through == (0, 12)


async def test_a_delta_beyond_the_wall_clock_and_skew_is_not_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Deltas come from orders the boundary accepted, so this cannot arrive; if it does, the
    # product must not be moved to 2984 (where every later order would decay to nothing).
    far_future = ProductDelta("p-f", YEAR_2984_MS, 1.0, {"p-g": 1.0})
    before = sample("basketlift_event_times_refused_total", clock="product_delta")
    with caplog.at_level(logging.WARNING, logger="streams.copurchase.agents"):
        async with apply_deltas.test_context() as agent:
            agent.sent_offset = 20
            await agent.put(value=message(ProductDelta("p-f", T0, 1.0)), partition=1)
            await agent.put(value=message(far_future, ProductDelta("p-h", T0, 1.0)), partition=1)
            await agent.put(value=message(ProductDelta("p-f", T0, 1.0)), partition=1)
            await wait_until(lambda: purchases("p-f") == 2.0, "both real deltas applied")
            await wait_until(lambda: purchases("p-h") == 1.0, "the other product applied")
            state = load_product("p-f")
    assert (state.purchases, state.as_of_ts, dict(state.neighbours)) == (2.0, T0, {})
    assert state.applied_through == (1, 22)
    assert sample("basketlift_event_times_refused_total", clock="product_delta") - before == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.copurchase.agents"]
    assert len(lines) == 1
    assert lines[0].startswith("refused 1 co-purchase delta(s) more than 300 s ahead")
    assert "product 'p-f' as of 2984-01-01T00:00:00.000Z" in lines[0]

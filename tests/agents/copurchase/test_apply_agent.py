"""The product agent applies each delta message once, even when it is delivered again.

All deltas share one event time, so decay (on by default) leaves the sums exact.
"""

from __future__ import annotations

import orjson

from streams.copurchase.agents import apply_deltas, load_product
from streams.copurchase.model import ProductDelta
from streams.copurchase.topics import products_table
from tests.agents.conftest import wait_until

T0 = 1_700_000_000_000


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

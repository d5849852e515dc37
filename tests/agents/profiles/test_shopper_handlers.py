"""The shopper handlers inside the orders/privacy ingest agents, with Faust's test context.

Tables use Faust's in-memory store here; sends to the co-purchase deltas topic are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

import streams.profiles.agents as shopper_agents
from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.copurchase import model as copurchase
from streams.copurchase.topics import deltas_topic
from streams.profiles.topics import consent_table, profiles_table
from streams.runtime.batch import BatchContext
from streams.topology import INGEST_AGENTS
from tests.agents.conftest import Sent, _recorder, encode, home_partition, wait_until

T0 = 1_700_000_000_000  # 2023-11-14: event times must be plausible epoch milliseconds


@pytest.fixture
def deltas_sent(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Record what the handlers send to the deltas topic."""
    sent: list[Sent] = []
    monkeypatch.setattr(deltas_topic, "send", _recorder(sent))
    return sent


def order(
    make_event: Callable[..., dict[str, Any]],
    event_id: str,
    shopper: str | None,
    ts: int,
    *products: tuple[str, float],
) -> dict[str, Any]:
    """An order event with the given (product, price) lines, one unit each."""
    return make_event(
        "orders",
        event_id=event_id,
        shopper_id=shopper,
        session_id=f"w-{event_id}",
        ts=ts,
        items=[{"product_id": p, "quantity": 1, "unit_price": price} for p, price in products],
    )


def decoded(sent: list[Sent]) -> dict[str, copurchase.ProductDelta]:
    """Sent deltas merged per product (as the product agent would)."""
    merged: dict[str, copurchase.ProductDelta] = {}
    for item in sent:
        for data in orjson.loads(item.value or b"[]"):
            delta = copurchase.ProductDelta.from_dict(data)
            assert item.partition == home_partition(delta.product_id)  # sent where it belongs
            copurchase.merge_delta_maps(merged, {delta.product_id: delta}, 0)
    return merged


def test_agent_tests_use_the_memory_store() -> None:
    assert profiles_table.data.__class__.__module__ == "faust.stores.memory"


def stored_profile(shopper_id: str) -> Any:
    """The profile the handlers would load, read outside any batch."""
    shopper = shopper_agents.load_shopper(BatchContext(MAX_KAFKA_MESSAGE_BYTES), shopper_id, None)
    return shopper.profile or shopper_agents.profiles.ShopperProfile.empty(shopper_id)


async def test_orders_build_a_profile_and_pairs_with_recent_purchases(
    make_event: Callable[..., dict[str, Any]], deltas_sent: list[Sent]
) -> None:
    day = 86_400_000
    first = order(make_event, "o-1", "s-7", T0 + 10 * day, ("a", 2.0), ("b", 3.0))
    second = order(make_event, "o-2", "s-7", T0 + 12 * day, ("c", 5.0))
    async with INGEST_AGENTS["orders"].test_context() as agent:
        for event in (first, second, first):  # the third is a redelivery
            await agent.put(value=encode(event), key=b"s-7", partition=home_partition("s-7"))
        await wait_until(
            lambda: (
                profiles_table.get("s-7") is not None
                and orjson.loads(profiles_table.get("s-7") or b"{}").get("n") == 2
            ),
            "two orders in the profile",
        )
        await wait_until(lambda: "c" in decoded(deltas_sent), "deltas sent")
    profile = stored_profile("s-7")
    assert profile.order_count == 2
    assert profile.lifetime_spend == pytest.approx(10.0)
    deltas = decoded(deltas_sent)
    # Merged within the batch as of the later order: the first order's pair decayed by 2 days
    # of the default 90-day half-life (event time).
    assert deltas["a"].neighbours == pytest.approx({"b": 0.5 ** (2 / 90), "c": 0.5})
    assert deltas["c"].neighbours == {"a": 0.5, "b": 0.5}
    assert deltas["a"].purchases == pytest.approx(0.5 ** (2 / 90))  # the redelivery: not again
    assert deltas[copurchase.TOTAL_ORDERS_KEY].purchases == pytest.approx(1 + 0.5 ** (2 / 90))


async def test_revoked_shopper_keeps_no_profile_but_still_counts_in_pairs(
    make_event: Callable[..., dict[str, Any]], deltas_sent: list[Sent]
) -> None:
    revoke = {"event_id": "v-1", "ts": T0, "shopper_id": "s-9", "action": "revoke"}
    async with INGEST_AGENTS["privacy"].test_context() as agent:
        await agent.put(value=encode(revoke), key=b"s-9", partition=home_partition("s-9"))
        await wait_until(lambda: consent_table.get("s-9") == b"0", "consent revoked")
    event = order(make_event, "o-9", "s-9", T0 + 5, ("x", 1.0), ("y", 1.0))
    async with INGEST_AGENTS["orders"].test_context() as agent:
        await agent.put(value=encode(event), key=b"s-9", partition=home_partition("s-9"))
        await wait_until(lambda: "x" in decoded(deltas_sent), "pairs sent")
    assert profiles_table.get("s-9") is None
    assert decoded(deltas_sent)["x"].neighbours == {"y": 1.0}


def test_load_profile_never_serves_a_decoded_profile_whose_stored_bytes_changed() -> None:
    day = 86_400_000
    model, config = shopper_agents.profiles, shopper_agents.profile_config
    first = model.ShopperProfile.empty("s-cache").with_order(
        model.OrderFacts("o-1", day, (("a", 1, 20.0),)), config
    )
    second = first.with_order(model.OrderFacts("o-2", 2 * day, (("b", 1, 50.0),)), config)
    store = profiles_table.data  # written as a changelog recovery would, not via the handlers
    try:
        store["s-cache"] = orjson.dumps(first.to_dict())
        assert stored_profile("s-cache") == first
        assert stored_profile("s-cache") is stored_profile("s-cache")
        # Written behind the cache's back: read anew.
        store["s-cache"] = orjson.dumps(second.to_dict())
        assert stored_profile("s-cache") == second
        del store["s-cache"]
        assert stored_profile("s-cache").order_count == 0
    finally:
        store.pop("s-cache", None)
        shopper_agents.decoded_profiles.forget("s-cache")

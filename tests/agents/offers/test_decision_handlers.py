"""The offers handlers inside the carts/orders/clicks/privacy ingest agents (test context).

The replicated views are filled directly (no Kafka); sends to shop.offers are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas import OfferDecision, decode_event
from streams.copurchase.topics import deltas_topic
from streams.offers.agents import decode_fatigue
from streams.offers.topics import fatigue_table, latest_decisions_table
from streams.topology import INGEST_AGENTS
from tests.agents.conftest import (
    PublishedTopic,
    Sent,
    _recorder,
    encode,
    home_partition,
    sample,
    wait_until,
)

T0 = 1_763_740_800_000


@pytest.fixture
def offers_sent(published: PublishedTopic) -> list[Sent]:
    """The decisions published, in order."""
    return published.sent


def decisions_of(sent: list[Sent]) -> list[OfferDecision]:
    return [decode_event(OfferDecision, s.value or b"") for s in sent]


def impressions_of(shopper_id: str, product_id: str) -> int:
    """Impressions of a product in the shopper's stored fatigue state."""
    state = decode_fatigue(fatigue_table.get(shopper_id)).products.get(product_id)
    return len(state.impressions) if state else 0


async def test_every_cart_event_gets_one_decision_without_cart_or_sold_out_items(
    views: None, offers_sent: list[Sent], make_event: Callable[..., dict[str, Any]]
) -> None:
    carts = [make_event("carts", event_id=f"c-{n}", shopper_id="s-1", ts=T0 + n) for n in range(3)]
    async with INGEST_AGENTS["carts"].test_context() as agent:
        for cart in carts:
            await agent.put(value=encode(cart), key=b"s-1", partition=home_partition("s-1"))
        await wait_until(lambda: len(offers_sent) == 3, "three decisions")
        latest = latest_decisions_table.get("s-1")
    decisions = decisions_of(offers_sent)
    assert [d.trigger_event_id for d in decisions] == ["c-0", "c-1", "c-2"]
    assert all(s.key == b"s-1" for s in offers_sent)
    for decision in decisions:
        products = [o.product_id for o in decision.offers]
        assert products, "the views know p-1's neighbours"
        assert "p-1" not in products and "p-9" not in products
        assert decision.placement == "cart"
    assert latest is not None
    assert orjson.loads(latest)["trigger_event_id"] == "c-2"


async def test_an_older_cart_decision_flushed_later_does_not_replace_a_newer_order_decision(
    views: None,
    offers_sent: list[Sent],
    make_event: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deltas_topic, "send", _recorder([]))  # the order's co-purchase deltas
    key, partition = b"s-3", home_partition("s-3")
    order = make_event("orders", event_id="o-new", shopper_id="s-3", ts=T0 + 60_000)
    cart = make_event("carts", event_id="c-old", shopper_id="s-3", ts=T0)
    async with INGEST_AGENTS["orders"].test_context() as orders:
        await orders.put(value=encode(order), key=key, partition=partition)
        await wait_until(lambda: len(offers_sent) == 1, "the order's decision")
    async with INGEST_AGENTS["carts"].test_context() as carts:
        await carts.put(value=encode(cart), key=key, partition=partition)
        await wait_until(lambda: len(offers_sent) == 2, "the cart's decision")
        await wait_until(lambda: latest_decisions_table.get("s-3") is not None, "a flush")
        latest = latest_decisions_table.get("s-3")
    assert [d.trigger_event_id for d in decisions_of(offers_sent)] == ["o-new", "c-old"]
    assert latest is not None
    assert orjson.loads(latest)["trigger_event_id"] == "o-new"


async def test_impressions_fatigue_a_product_and_erase_forgets_it(
    views: None, offers_sent: list[Sent], make_event: Callable[..., dict[str, Any]]
) -> None:
    key, partition = b"s-2", home_partition("s-2")
    cart = make_event("carts", event_id="c-a", shopper_id="s-2", ts=T0)
    async with INGEST_AGENTS["carts"].test_context() as carts:
        await carts.put(value=encode(cart), key=key, partition=partition)
        await wait_until(lambda: len(offers_sent) == 1, "a decision")
    first = decisions_of(offers_sent)[0].offers[0]
    impressions = [
        make_event(
            "clicks",
            event_id=f"k-{n}",
            shopper_id="s-2",
            ts=T0 + n * 1000,
            action="offer_impression",
            # The first impression names only the offer: its product comes from the decision.
            product_id=None if n == 0 else first.product_id,
            offer_id=first.offer_id,
        )
        for n in range(3)
    ]
    async with INGEST_AGENTS["clicks"].test_context() as clicks:
        for click in impressions:
            await clicks.put(value=encode(click), key=key, partition=partition)
        await wait_until(lambda: fatigue_table.get("s-2") is not None, "fatigue state")
        await wait_until(
            lambda: impressions_of("s-2", first.product_id) == 3,
            "three impressions",
        )
    # The offer ledger knew the offers, so the impressions are counted for the cart placement.
    assert (
        sample("basketlift_offer_interactions_total", action="offer_impression", placement="cart")
        >= 3
    )
    assert sample("basketlift_offer_impressions_total", placement="cart", kind="cross_sell") >= 3
    again = make_event("carts", event_id="c-b", shopper_id="s-2", ts=T0 + 10_000)
    async with INGEST_AGENTS["carts"].test_context() as carts:
        await carts.put(value=encode(again), key=key, partition=partition)
        await wait_until(lambda: len(offers_sent) == 2, "a second decision")
    assert first.product_id not in [o.product_id for o in decisions_of(offers_sent)[1].offers]

    erase = make_event("privacy", event_id="v-1", shopper_id="s-2", action="erase")
    async with INGEST_AGENTS["privacy"].test_context() as privacy:
        await privacy.put(value=encode(erase), key=key, partition=partition)
        await wait_until(
            lambda: fatigue_table.get("s-2") is None and latest_decisions_table.get("s-2") is None,
            "erased",
        )

"""Decisions published outside the transaction, read back when their triggers come again.

A batch thrown away by a crash or a rebalance is processed again from the committed state;
the decisions it had published are on the (in-memory) offers topic. The worker must keep
them (same id, same content, not published twice) and redo their state changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

import streams.offers.agents as offers_agents
from schemas import OfferDecision, decode_event
from streams.catalog.view import catalog_view
from streams.copurchase.view import products_view
from streams.ingest.topics import dedupe_table
from streams.offers import live
from streams.offers.published import published_from_key
from streams.offers.topics import latest_decisions_table, ledger_table, published_from_table
from streams.topology import INGEST_AGENTS
from tests.agents.conftest import PublishedTopic, encode, home_partition, sample, wait_until
from tests.agents.offers.conftest import T0

SHOPPER = "s-7"


def throw_batches_away() -> None:
    """What a crash before the commit leaves: the tables as committed before the batches
    (empty here), and a new assignment (every partition is read back again)."""
    for table in (latest_decisions_table, ledger_table, dedupe_table, published_from_table):
        table.data.clear()
    offers_agents.partitions_assigned()


def offered(payload: bytes | None) -> list[str]:
    assert payload is not None
    return [offer.product_id for offer in decode_event(OfferDecision, payload).offers]


async def test_a_cart_processed_again_keeps_its_published_decision(
    views: None, published: PublishedTopic, make_event: Callable[..., dict[str, Any]]
) -> None:
    partition = home_partition(SHOPPER)
    cart = make_event(
        "carts",
        event_id="c-again",
        shopper_id=SHOPPER,
        ts=T0,
        items=[{"product_id": "p-1", "quantity": 1, "unit_price": 12.5, "category": "kitchen"}],
    )
    recovered_before = sample("basketlift_decisions_recovered_total")
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=encode(cart), key=SHOPPER.encode(), partition=partition)
        await wait_until(lambda: len(published.sent) == 1, "the first decision")
    first = published.sent[0].value
    assert published.sent[0].partition == partition
    assert offered(first), "the cart gets offers (p-1 goes with p-2 and p-3)"

    throw_batches_away()
    # The world moved on: deciding again would offer something else.
    products_view.data.pop("p-2")
    catalog_view.data.pop("p-2")
    live.live_snapshot.snapshot = None
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=encode(cart), key=SHOPPER.encode(), partition=partition)
        await wait_until(lambda: latest_decisions_table.get(SHOPPER) is not None, "reprocessed")

    assert len(published.sent) == 1, "the decision is not published a second time"
    assert latest_decisions_table.get(SHOPPER) == first
    ledger = orjson.loads(ledger_table.get(SHOPPER) or b"{}")
    assert sorted(entry[0] for entry in ledger["offers"]) == sorted(offered(first))
    assert sample("basketlift_decisions_recovered_total") == recovered_before + 1
    assert published.reads[-1] == {partition: None}, "no lower bound was committed"


async def test_read_back_starts_at_the_committed_lower_bound_once_per_assignment(
    views: None, published: PublishedTopic, make_event: Callable[..., dict[str, Any]]
) -> None:
    partition = home_partition(SHOPPER)
    carts = [
        make_event("carts", event_id=f"c-{n}", shopper_id=SHOPPER, ts=T0 + n) for n in range(3)
    ]
    async with INGEST_AGENTS["carts"].test_context() as agent:
        for cart in carts[:2]:
            await agent.put(value=encode(cart), key=SHOPPER.encode(), partition=partition)
            count = len(published.sent) + 1
            await wait_until(lambda count=count: len(published.sent) == count, "a decision")
    assert len(published.reads) == 1, "one read-back for the assignment, not one per batch"
    # The second batch committed the offset after the first decision delivered.
    assert published_from_table.get(published_from_key(partition)) == b"1"

    offers_agents.partitions_assigned()  # a rebalance: read back from the committed bound
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=encode(carts[2]), key=SHOPPER.encode(), partition=partition)
        await wait_until(lambda: len(published.sent) == 3, "the third decision")
    assert published.reads[-1] == {partition: 1}
    ids = [decode_event(OfferDecision, s.value or b"").trigger_event_id for s in published.sent]
    assert ids == ["c-0", "c-1", "c-2"]

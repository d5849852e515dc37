"""A step that fails for one event of a batch leaves nothing half applied (test context).

The orders batch runs the profile handler (profiles, co-purchase deltas) and then the offers
handler (a confirmation decision). Here the decision fails for one order: the other orders
of the batch must be counted exactly once, and the failing order not at all (no profile, no
pairs), with a dead letter `unprocessable` and one processing error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

import streams.offers.agents as offers_agents
from schemas import DeadLetter, OfferDecision, decode_event
from streams.copurchase.model import ProductDelta
from streams.copurchase.topics import deltas_topic
from streams.profiles.topics import profiles_table
from streams.topology import INGEST_AGENTS
from tests.agents.conftest import (
    Outbox,
    PublishedTopic,
    Sent,
    _recorder,
    encode,
    home_partition,
    sample,
    wait_until,
)

T0 = 1_763_740_800_000
ORDERS = "shop.orders"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, published: PublishedTopic) -> dict[str, list[Sent]]:
    """What the handlers send to the deltas topic and publish to shop.offers."""
    recorded: dict[str, list[Sent]] = {"deltas": [], "offers": published.sent}
    monkeypatch.setattr(deltas_topic, "send", _recorder(recorded["deltas"]))
    return recorded


def purchases_sent(deltas: list[Sent]) -> dict[str, float]:
    """Purchases per product over every delta message sent."""
    counted: dict[str, float] = {}
    for message in deltas:
        for data in orjson.loads(message.value or b"[]"):
            delta = ProductDelta.from_dict(data)
            counted[delta.product_id] = counted.get(delta.product_id, 0.0) + delta.purchases
    return counted


async def test_a_failing_decision_leaves_its_order_unapplied_and_the_batch_counted_once(
    outbox: Outbox,
    sent: dict[str, list[Sent]],
    make_event: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_make_decision = offers_agents.decisions.make_decision

    def make_decision(event: Any, *args: Any, **kwargs: Any) -> Any:
        if event.event_id == "o-bad":
            raise RuntimeError("no decision for o-bad")
        return real_make_decision(event, *args, **kwargs)

    monkeypatch.setattr(offers_agents.decisions, "make_decision", make_decision)
    orders = [
        (
            shopper,
            make_event(
                "orders",
                event_id=event_id,
                shopper_id=shopper,
                session_id=None,
                ts=T0,
                items=[{"product_id": p, "quantity": 1, "unit_price": 2.0} for p in products],
            ),
        )
        for event_id, shopper, products in [
            ("o-1", "s-fail-1", ("fa", "fb")),
            ("o-bad", "s-fail-2", ("fx", "fy")),
            ("o-2", "s-fail-3", ("fa", "fc")),
        ]
    ]
    errors_before = sample("basketlift_processing_errors_total", topic=ORDERS)
    duplicates_before = sample("basketlift_events_duplicate_total", topic=ORDERS)

    async with INGEST_AGENTS["orders"].test_context() as agent:
        for shopper, event in orders:
            await agent.put(
                value=encode(event), key=shopper.encode(), partition=home_partition(shopper)
            )
        await wait_until(
            lambda: len(outbox.deadletters) == 1 and len(sent["offers"]) == 2,
            "two decisions and one dead letter",
        )

    letter = DeadLetter.model_validate_json(outbox.deadletters[0].value or b"")
    assert letter.reason == "unprocessable"
    assert "no decision for o-bad" in letter.error
    decided = [decode_event(OfferDecision, s.value or b"").trigger_event_id for s in sent["offers"]]
    assert sorted(decided) == ["o-1", "o-2"]
    # The failing order changed nothing; the others are counted exactly once.
    assert profiles_table.get("s-fail-2") is None
    for shopper in ("s-fail-1", "s-fail-3"):
        assert orjson.loads(profiles_table.get(shopper) or b"{}").get("n") == 1
    counted = purchases_sent(sent["deltas"])
    assert {p: counted.get(p, 0.0) for p in ("fa", "fb", "fc", "fx", "fy")} == {
        "fa": 2.0,
        "fb": 1.0,
        "fc": 1.0,
        "fx": 0.0,
        "fy": 0.0,
    }
    assert sample("basketlift_processing_errors_total", topic=ORDERS) == errors_before + 1
    assert sample("basketlift_events_duplicate_total", topic=ORDERS) == duplicates_before

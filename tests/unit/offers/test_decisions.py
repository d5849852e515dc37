"""streams/offers/decisions.py and snapshot.py: from a trigger to a contract-shaped decision."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import CartEvent, OfferDecision, OrderEvent, decode_event, encode
from streams.copurchase.model import (
    TOTAL_ORDERS_KEY,
    CopurchaseConfig,
    ProductState,
    total_orders_delta,
)
from streams.offers import decisions
from streams.offers.ranking import ProductFacts, ProductIndex
from streams.offers.snapshot import RankingSnapshot, build_snapshot
from streams.profiles.model import OrderFacts, OrderLineFacts, ProfileConfig, ShopperProfile
from streams.rules import parse_rules
from streams.units import DAY_MS

T0 = 1_763_740_800_000


def cart_event(*products: str, shopper: str | None = "s-1", event_id: str = "c-1") -> CartEvent:
    return CartEvent(
        event_id=event_id,
        ts=T0,
        shopper_id=shopper,
        session_id="w-1",
        cart_id="k-1",
        currency="GBP",
        items=[{"product_id": p, "quantity": 1, "unit_price": 5.0} for p in products],
    )


def order_event(*products: str, shopper: str | None = "s-1") -> OrderEvent:
    return OrderEvent(
        event_id="o-1",
        ts=T0,
        shopper_id=shopper,
        session_id="w-1",
        order_id="ord-1",
        currency="GBP",
        items=[{"product_id": p, "quantity": 1, "unit_price": 5.0} for p in products],
    )


def snapshot() -> RankingSnapshot:
    """a is bought with b (often) and c (less); d is dear and popular; x is out of stock."""
    index = ProductIndex(
        [
            ProductFacts("a", 5.0, "k", None, 100, (("b", 40.0), ("c", 20.0), ("x", 60.0))),
            ProductFacts("b", 6.0, "k", None, 80, (("a", 40.0),)),
            ProductFacts("c", 30.0, "m", None, 50, (("a", 20.0),)),
            ProductFacts("d", 45.0, "n", None, 90, ()),
            ProductFacts("x", 10.0, "k", False, 90, (("a", 60.0),)),
        ]
    )
    return RankingSnapshot(index, 1000.0, T0)


CONFIG = decisions.DecisionConfig()


def test_decision_ids_are_stable_per_trigger_and_placement() -> None:
    one = decisions.decision_id_for("c-1", "cart")
    assert one == decisions.decision_id_for("c-1", "cart")
    assert one != decisions.decision_id_for("c-2", "cart")
    assert one != decisions.decision_id_for("c-1", "confirmation")
    assert one.startswith("d-")


def test_cart_decision_has_the_contract_shape_and_respects_the_filters() -> None:
    event = cart_event("a")
    offers = decisions.choose_offers(event, snapshot(), None, (), CONFIG)
    decision = decisions.make_decision(
        event, offers, cohort="treatment", model_version="m-1", now_ms=T0 + 5
    )
    again = decode_event(OfferDecision, encode(decision))  # valid on the wire
    assert again == decision
    assert decision.placement == "cart"
    assert decision.cart_id == "k-1" and decision.order_id is None
    assert decision.routing_key == "s-1"
    products = [o.product_id for o in decision.offers]
    assert 0 < len(products) <= 3
    assert "a" not in products  # in the cart
    assert "x" not in products  # out of stock, though the strongest neighbour
    for rank, offer in enumerate(decision.offers, 1):
        assert offer.offer_id == f"{decision.decision_id}:{rank}"
        assert offer.kind == "cross_sell"
        assert offer.expected_revenue == pytest.approx(offer.p_accept * offer.offer_price)
    revenues = [o.expected_revenue for o in decision.offers]
    assert revenues == sorted(revenues, reverse=True)


def test_fatigued_products_are_not_offered() -> None:
    event = cart_event("a")
    first = decisions.choose_offers(event, snapshot(), None, (), CONFIG)[0].product_id
    later = decisions.choose_offers(event, snapshot(), None, {first}, CONFIG)
    assert first not in [o.product_id for o in later]


def test_confirmation_skips_the_order_and_recent_purchases() -> None:
    profile = ShopperProfile.empty("s-1").with_order(
        OrderFacts("ord-0", T0 - 10 * DAY_MS, (OrderLineFacts("c", 1, 30.0, "m"),)),
        ProfileConfig(),
    )
    event = order_event("a")
    offers = decisions.choose_offers(event, snapshot(), profile, (), CONFIG)
    decision = decisions.make_decision(
        event, offers, cohort="treatment", model_version="m-1", now_ms=T0
    )
    products = [o.product_id for o in decision.offers]
    assert products and "a" not in products and "c" not in products
    assert decision.placement == "confirmation" and decision.order_id == "ord-1"
    assert {o.kind for o in decision.offers} == {"post_purchase"}
    # Without the profile, c (bought 10 days ago) is a fine offer: the filter did it.
    anonymous = decisions.choose_offers(
        order_event("a", shopper=None), snapshot(), None, (), CONFIG
    )
    assert "c" in [o.product_id for o in anonymous]


def test_holdout_decisions_are_empty() -> None:
    event = cart_event("a")
    offers = decisions.choose_offers(event, snapshot(), None, (), CONFIG)
    decision = decisions.make_decision(
        event, offers, cohort="holdout", model_version="m-1", now_ms=T0
    )
    assert decision.offers == [] and decision.nudges == []


def test_anonymous_decisions_are_keyed_by_session() -> None:
    event = cart_event("a", shopper=None)
    decision = decisions.make_decision(event, [], cohort="treatment", model_version="1", now_ms=T0)
    assert decision.routing_key == "w-1" and decision.shopper_id is None


def test_log_record_names_the_decision_and_its_reasons_but_not_the_shopper() -> None:
    event = cart_event("a")
    offers = decisions.choose_offers(event, snapshot(), None, (), CONFIG)
    decision = decisions.make_decision(
        event, offers, cohort="treatment", model_version="m", now_ms=T0
    )
    record: dict[str, Any] = decisions.decision_log_record(decision, "shop.carts", 3, 17)
    assert record["decision_id"] == decision.decision_id
    assert record["trigger"] == {
        "topic": "shop.carts",
        "partition": 3,
        "offset": 17,
        "event_id": "c-1",
    }
    assert [o["product_id"] for o in record["offers"]] == [o.product_id for o in decision.offers]
    assert all(o["reason"] for o in record["offers"])
    assert "s-1" not in repr(record) and "w-1" not in repr(record)


def test_product_of_offer_reads_a_stored_decision() -> None:
    event = cart_event("a")
    offers = decisions.choose_offers(event, snapshot(), None, (), CONFIG)
    decision = decisions.make_decision(
        event, offers, cohort="treatment", model_version="m", now_ms=T0
    )
    stored = decision.model_dump(mode="json")
    first = decision.offers[0]
    assert decisions.product_of_offer(stored, first.offer_id) == first.product_id
    assert decisions.product_of_offer(stored, "d-other:1") is None
    assert decisions.product_of_offer(None, first.offer_id) is None


def test_snapshot_takes_the_order_total_out_of_the_products() -> None:
    config = CopurchaseConfig(half_life_days=0)
    total = ProductState.empty(TOTAL_ORDERS_KEY)
    for n in range(7):
        total = total.apply(total_orders_delta(T0 + n), config)
    states = [total, ProductState("a", 3.0, {"b": 2.0}, T0), ProductState("b", 2.0, {"a": 2.0}, T0)]
    snap = build_snapshot(states, half_life_days=0, neighbours_k=100)
    assert snap.total_orders == 7.0
    assert TOTAL_ORDERS_KEY not in snap.index
    assert len(snap.index) == 2
    assert snap.as_of_ms == T0 + 6


def test_snapshot_decays_the_total_with_the_products() -> None:
    total = ProductState(TOTAL_ORDERS_KEY, 8.0, {}, T0)
    product = ProductState("a", 4.0, {}, T0 + 90 * DAY_MS)
    snap = build_snapshot([total, product], half_life_days=90, neighbours_k=100)
    assert snap.total_orders == pytest.approx(4.0)  # one half-life later
    facts = snap.index.facts("a")
    assert facts is not None and facts.purchases == pytest.approx(4.0)


# --------------------------------------------------------------------------- rules, nudges


RULES = parse_rules(
    """
margin_floor = 0.2
[exclude]
products = ["c"]

[[rule]]
name = "b-bundle"
kind = "bundle"
offer = "b"
discount_pct = 0.5
p_accept = 0.9

[rule.when]
products = ["a"]
"""
)


def catalog(product_id: str) -> tuple[float, str, bool, float] | None:
    known = {"a": (5.0, "k", True, 0.5), "b": (6.0, "k", True, 0.5), "c": (30.0, "m", True, 0.5)}
    return known.get(product_id)


def test_rules_merge_with_ranked_offers_by_expected_revenue() -> None:
    event = cart_event("a")
    offers = decisions.choose_offers(
        event, snapshot(), None, (), CONFIG, rules=RULES, catalog_lookup=catalog
    )
    decision = decisions.make_decision(
        event, offers, cohort="treatment", model_version="m", now_ms=T0
    )
    by_product = {o.product_id: o for o in decision.offers}
    assert "c" not in by_product  # excluded by the rules, though a neighbour of a
    bundle = by_product["b"]
    assert bundle.kind == "bundle"
    assert 0 < bundle.discount_pct < 0.5  # cut back by the margin floor
    assert bundle.offer_price < bundle.unit_price
    assert "b-bundle" in bundle.reason
    assert decision.offers[0].product_id == "b"  # 0.9 x price beats every ranked offer


def test_rules_never_offer_a_suppressed_product() -> None:
    offers = decisions.choose_offers(
        cart_event("a"), snapshot(), None, {"b"}, CONFIG, rules=RULES, catalog_lookup=catalog
    )
    assert "b" not in [o.product_id for o in offers]


def test_observed_acceptance_recalibrates_and_reorders() -> None:
    event = cart_event("a")
    plain = decisions.choose_offers(event, snapshot(), None, (), CONFIG)
    first, second = plain[0], plain[1]
    counts = {"cart": {first.product_id: (1000, 0), second.product_id: (100, 60)}}
    tuned = decisions.choose_offers(event, snapshot(), None, (), CONFIG, acceptance=counts)
    assert tuned[0].product_id == second.product_id
    assert tuned[0].p_accept > second.p_accept
    assert "accepted 60 of 100" in tuned[0].reason
    assert first.product_id not in [o.product_id for o in tuned[:1]]


def test_free_shipping_nudge_from_the_shoppers_typical_order() -> None:
    profile = ShopperProfile.empty("s-1")
    for n in range(3):
        profile = profile.with_order(
            OrderFacts(f"o-{n}", T0 - (n + 1) * DAY_MS, (OrderLineFacts("z", 1, 42.0, "m"),)),
            ProfileConfig(),
        )
    event = CartEvent.model_validate(
        {
            **cart_event("a").model_dump(),
            "items": [{"product_id": "a", "quantity": 1, "unit_price": 42.0}],
        }
    )
    nudges = decisions.choose_nudges(event, profile, CONFIG, lambda _p: None)
    assert [(n.kind, n.threshold, n.gap) for n in nudges] == [("free_shipping", 50.0, 8.0)]
    assert nudges[0].message == "Add 8.00 GBP more for free shipping"
    # No profile: the store's base threshold (50 by default) still applies.
    anonymous = decisions.choose_nudges(event, None, CONFIG, lambda _p: None)
    assert [(n.threshold, n.gap) for n in anonymous] == [(50.0, 8.0)]
    # An order gets no nudge.
    assert decisions.choose_nudges(order_event("a"), profile, CONFIG, lambda _p: None) == []

"""Attribution: explicit offer ids, placement windows, consumption, pruning, round trip."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from schemas.events import Offer, OrderItem
from streams.experiment import AttributionConfig, OfferLedger
from streams.units import DAY_MS, HOUR_MS

T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Shown:
    product_id: str
    offer_id: str
    kind: str = "cross_sell"


def line(product_id: str, offer_id: str | None = None, quantity: int = 1) -> OrderItem:
    return OrderItem(product_id=product_id, quantity=quantity, unit_price=12.5, offer_id=offer_id)


def ledger_with(product_id: str, placement: str, ts: int, offer_id: str = "o1") -> OfferLedger:
    return OfferLedger().with_decision([Shown(product_id, offer_id)], placement, ts)


@pytest.mark.parametrize(("hours", "attributed"), [(0, True), (23, True), (24, True), (25, False)])
def test_cart_window_is_24_hours(hours: int, attributed: bool) -> None:
    ledger = ledger_with("mug", "cart", T0)
    result = ledger.attribute([line("mug", quantity=2)], T0 + hours * HOUR_MS)
    assert bool(result) is attributed
    if attributed:
        (a,) = result
        assert (a.product_id, a.method, a.offer_id, a.placement) == ("mug", "window", "o1", "cart")
        assert (a.quantity, a.revenue, a.decision_ts_ms) == (2, 25.0, T0)


@pytest.mark.parametrize(
    ("offset", "attributed"),
    [(0, False), (1, True), (6 * DAY_MS, True), (7 * DAY_MS, True), (7 * DAY_MS + 1, False)],
)
def test_confirmation_window_is_7_days_after_the_decision(offset: int, attributed: bool) -> None:
    ledger = ledger_with("mug", "confirmation", T0)
    assert bool(ledger.attribute([line("mug")], T0 + offset)) is attributed


def test_no_attribution_for_an_order_before_the_decision_or_another_product() -> None:
    ledger = ledger_with("mug", "cart", T0)
    assert ledger.attribute([line("mug")], T0 - 1) == []
    assert ledger.attribute([line("pot")], T0 + HOUR_MS) == []


def test_explicit_offer_id_is_attributed_regardless_of_the_window() -> None:
    ledger = ledger_with("mug", "cart", T0, offer_id="o-7")
    (a,) = ledger.attribute([line("mug", offer_id="o-7")], T0 + 30 * DAY_MS)
    assert (a.method, a.offer_id, a.placement, a.decision_ts_ms) == ("explicit", "o-7", "cart", T0)
    (unknown,) = OfferLedger().attribute([line("mug", offer_id="o-9")], T0)
    assert (unknown.method, unknown.offer_id, unknown.placement) == ("explicit", "o-9", None)


def test_latest_offer_wins_and_each_offer_counts_once_per_order() -> None:
    ledger = OfferLedger().with_decision([Shown("mug", "o1")], "cart", T0)
    ledger = ledger.with_decision([Shown("mug", "o2", "bundle")], "cart", T0 + HOUR_MS)
    result = ledger.attribute([line("mug"), line("mug"), line("mug")], T0 + 2 * HOUR_MS)
    assert [a.offer_id for a in result] == ["o2", "o1"]
    assert result[0].kind == "bundle"
    # An explicit line uses its offer up first.
    result = ledger.attribute([line("mug"), line("mug", offer_id="o2")], T0 + 2 * HOUR_MS)
    assert [(a.method, a.offer_id) for a in result] == [("window", "o1"), ("explicit", "o2")]


def test_with_order_consumes_the_attributed_offers() -> None:
    ledger = ledger_with("mug", "cart", T0)
    after, result = ledger.with_order([line("mug")], T0 + HOUR_MS)
    assert len(result) == 1
    assert after.offers == ()
    assert after.attribute([line("mug")], T0 + 2 * HOUR_MS) == []
    same, none = ledger.with_order([line("pot")], T0 + HOUR_MS)
    assert same is ledger and none == []


def test_contract_offers_are_recorded_and_offer_ids_deduplicated() -> None:
    offer = Offer(
        offer_id="d1-0",
        kind="bundle",
        product_id="mug",
        unit_price=20.0,
        discount_pct=0.1,
        offer_price=18.0,
        p_accept=0.1,
        expected_revenue=1.8,
        reason="r",
    )
    ledger = OfferLedger().with_decision([offer], "cart", T0).with_decision([offer], "cart", T0 + 5)
    assert len(ledger.offers) == 1
    assert ledger.offers[0].ts_ms == T0 + 5
    assert ledger.offers[0].kind == "bundle"


def test_pruning_by_age_and_size() -> None:
    config = AttributionConfig(max_offers=3)
    ledger = OfferLedger()
    for i in range(5):
        ledger = ledger.with_decision([Shown(f"p{i}", f"o{i}")], "confirmation", T0 + i, config)
    assert [e.offer_id for e in ledger.offers] == ["o2", "o3", "o4"]
    ledger = ledger.with_decision([Shown("c", "oc")], "cart", T0 + 10, config)
    assert ledger.pruned(T0 + 2 * DAY_MS, config).offers[-1].placement == "confirmation"
    assert [e.offer_id for e in ledger.pruned(T0 + 2 * DAY_MS, config).offers] == ["o3", "o4"]
    assert ledger.pruned(T0 + 8 * DAY_MS, config).offers == ()


def test_out_of_order_decisions_are_kept_in_time_order() -> None:
    ledger = ledger_with("a", "cart", T0 + 10, "late").with_decision(
        [Shown("b", "early")], "cart", T0
    )
    assert [e.offer_id for e in ledger.offers] == ["early", "late"]


def test_round_trip() -> None:
    ledger = ledger_with("mug", "cart", T0).with_decision(
        [Shown("pot", "o2", "post_purchase")], "confirmation", T0 + 1
    )
    assert OfferLedger.from_dict(ledger.to_dict()) == ledger


def test_unknown_placement_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown placement 'home'"):
        ledger_with("mug", "home", T0)

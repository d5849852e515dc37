"""Merging rule offers with the ranker's: pins first, then expected revenue, no duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from streams.offers.ranking import Offer
from streams.rules import RankedOffer, RuleOffer, RuleOutcome, merge_offers


@dataclass(frozen=True)
class Ranked:
    product_id: str
    offer_price: float
    expected_revenue: float
    category: str | None = None


def rule_offer(
    product_id: str, revenue: float, *, pinned: bool = False, category: str | None = None
) -> RuleOffer:
    return RuleOffer(
        rule=f"rule-{product_id}",
        rule_kind="pin" if pinned else "bundle",
        product_id=product_id,
        category=category,
        unit_price=10.0,
        discount_pct=0.1,
        offer_price=9.0,
        p_accept=revenue / 9.0,
        expected_revenue=revenue,
        reason="r",
        pinned=pinned,
    )


def ids(offers: Sequence[RankedOffer]) -> list[str]:
    return [o.product_id for o in offers]


def test_ordered_by_expected_revenue_with_rule_offers_among_ranked() -> None:
    ranked = [Ranked("a", 10, 3.0), Ranked("b", 10, 1.0), Ranked("c", 10, 0.5)]
    merged = merge_offers([rule_offer("r", 2.0)], ranked, top_n=3, max_per_category=2)
    assert ids(merged) == ["a", "r", "b"]
    assert [o.expected_revenue for o in merged] == sorted(
        (o.expected_revenue for o in merged), reverse=True
    )


def test_pinned_first_even_with_low_expected_revenue() -> None:
    ranked = [Ranked("a", 10, 3.0), Ranked("b", 10, 1.0)]
    rules = [rule_offer("big", 5.0), rule_offer("pin2", 0.01, pinned=True)]
    rules.insert(0, rule_offer("pin1", 0.02, pinned=True))
    merged = merge_offers(rules, ranked, top_n=3, max_per_category=2)
    assert ids(merged) == ["pin1", "pin2", "big"]
    assert ids(merge_offers(rules, ranked, top_n=1, max_per_category=2)) == ["pin1"]


def test_a_rule_offer_replaces_the_ranked_offer_of_the_same_product() -> None:
    ranked = [Ranked("a", 10, 3.0), Ranked("b", 10, 1.0)]
    merged = merge_offers([rule_offer("a", 0.2)], ranked, top_n=3, max_per_category=2)
    assert ids(merged) == ["b", "a"]
    assert isinstance(merged[1], RuleOffer)  # the discounted rule offer, not the ranked one
    assert len(set(ids(merged))) == len(merged)


def test_duplicate_ranked_offers_appear_once() -> None:
    ranked = [Ranked("a", 10, 3.0), Ranked("a", 10, 2.0), Ranked("b", 10, 1.0)]
    assert ids(merge_offers([], ranked, top_n=3, max_per_category=2)) == ["a", "b"]


def test_never_in_cart_excluded_or_out_of_stock() -> None:
    ranked = [
        Ranked("cart", 10, 9.0),
        Ranked("x", 10, 8.0),
        Ranked("tob", 10, 7.0, "tobacco"),
        Ranked("oos", 10, 6.0),
        Ranked("ok", 10, 1.0),
    ]
    rules = [rule_offer("cart", 5.0, pinned=True), rule_offer("oos2", 4.0)]
    merged = merge_offers(
        rules,
        ranked,
        top_n=5,
        max_per_category=2,
        cart_product_ids={"cart"},
        excluded_product_ids={"x"},
        excluded_categories={"tobacco"},
        in_stock=lambda pid: False if pid.startswith("oos") else None,
    )
    assert ids(merged) == ["ok"]


def test_category_cap_counts_pins_but_does_not_drop_them() -> None:
    ranked = [Ranked("m1", 10, 3.0, "mugs"), Ranked("m2", 10, 2.0, "mugs"), Ranked("n", 10, 0.1)]
    rules = [
        rule_offer("p1", 0.1, pinned=True, category="mugs"),
        rule_offer("p2", 0.1, pinned=True, category="mugs"),
    ]
    merged = merge_offers(rules, ranked, top_n=4, max_per_category=2)
    assert ids(merged) == ["p1", "p2", "n"]
    assert ids(merge_offers([], ranked, top_n=4, max_per_category=1)) == ["m1", "n"]


def test_ties_go_to_the_rule_offer_then_the_smaller_product_id() -> None:
    ranked = [Ranked("b", 10, 1.0), Ranked("a", 10, 1.0)]
    merged = merge_offers([rule_offer("z", 1.0)], ranked, top_n=3, max_per_category=3)
    assert ids(merged) == ["z", "a", "b"]


def test_works_with_the_rankers_offer_type_and_the_outcome_shortcut() -> None:
    ranked = [
        Offer("a", 10.0, 10.0, 0.2, 2.0, "co-purchase", "mugs"),
        Offer("b", 10.0, 10.0, 0.1, 1.0, "co-purchase", "mugs"),
    ]
    outcome = RuleOutcome(
        offers=(rule_offer("r", 1.5, category="mugs"),),
        cart_product_ids=frozenset({"a"}),
    )
    merged = outcome.merge(ranked, top_n=3, max_per_category=2)
    assert ids(merged) == ["r", "b"]


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="max_per_category"):
        merge_offers([], [], top_n=3, max_per_category=0)
    with pytest.raises(ValueError, match="top_n"):
        merge_offers([], [], top_n=-1, max_per_category=1)

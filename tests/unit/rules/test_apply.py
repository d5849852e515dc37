"""Applying rules to a cart: triggers, segments, exclusions, the margin floor and pins."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.rules import CatalogFacts, RuleOutcome, RuleSet, parse_rules

CATALOG: dict[str, CatalogFacts] = {
    "moka-pot": CatalogFacts(30.00, "coffee-makers", True, 0.4),
    "mug": CatalogFacts(20.00, "mugs", True, 0.5),
    "filters": CatalogFacts(4.00, "filters", True, 0.2),
    "descaler": CatalogFacts(9.99, "care", None, 0.4),
    "thin": CatalogFacts(10.00, "mugs", True, 0.1),
    "mystery": CatalogFacts(10.00, "mugs", True, None),
    "gone": CatalogFacts(10.00, "mugs", False, 0.5),
    "cigar": CatalogFacts(10.00, "tobacco", True, 0.5),
}


def bundle(name: str, offer: str, discount: float, when: str, extra: str = "") -> str:
    return (
        f'[[rule]]\nname = "{name}"\nkind = "bundle"\noffer = "{offer}"\n'
        f"discount_pct = {discount}\n{extra}\n[rule.when]\n{when}\n"
    )


def pin(name: str, offer: str, when: str = "", extra: str = "") -> str:
    return (
        f'[[rule]]\nname = "{name}"\nkind = "pin"\noffer = "{offer}"\n'
        f"{extra}\n[rule.when]\n{when}\n"
    )


def apply(
    rules: RuleSet,
    cart: tuple[str, ...] = ("moka-pot",),
    segments: frozenset[str] = frozenset(),
    p_accept: Callable[[str], float | None] | None = None,
) -> RuleOutcome:
    categories = [CATALOG[p].category for p in cart if p in CATALOG]
    return rules.apply(cart, categories, segments, CATALOG.get, p_accept)


def test_a_bundle_fires_on_its_product_and_prices_the_offer() -> None:
    rules = parse_rules(
        bundle("mugs-bundle", "mug", 0.1, 'products = ["moka-pot"]', 'label = "Moka pot"')
    )
    (offer,) = apply(rules).offers
    assert offer.product_id == "mug"
    assert offer.category == "mugs"
    assert offer.unit_price == 20.00
    assert offer.discount_pct == 0.1
    assert offer.offer_price == 18.00
    assert offer.p_accept == 0.05  # the built-in default
    assert offer.expected_revenue == pytest.approx(0.05 * 18.00)
    assert offer.reason == "rule 'mugs-bundle': 10% off with Moka pot in cart"
    assert offer.offer_kind == "bundle"
    assert not offer.pinned
    assert apply(rules, cart=("filters",)).offers == ()


def test_a_bundle_fires_on_a_category_and_names_it_without_a_label() -> None:
    rules = parse_rules(bundle("b", "mug", 0.25, 'categories = ["coffee-makers"]'))
    (offer,) = apply(rules).offers
    assert offer.reason == "rule 'b': 25% off with a product of category 'coffee-makers' in cart"
    assert offer.offer_price == 15.00


def test_segment_condition() -> None:
    rules = parse_rules(
        bundle("b", "mug", 0.1, 'products = ["moka-pot"]\nsegments = ["discount_seeker", "new"]')
    )
    assert apply(rules).offers == ()
    assert len(apply(rules, segments=frozenset({"new"})).offers) == 1
    assert apply(rules, segments=frozenset({"lapsed"})).offers == ()


def test_p_accept_comes_from_the_caller_then_the_rule_then_the_default() -> None:
    text = "default_p_accept = 0.02\n" + bundle(
        "b", "mug", 0.1, 'products = ["moka-pot"]', "p_accept = 0.3"
    )
    rules = parse_rules(text)
    assert apply(rules).offers[0].p_accept == 0.3
    (offer,) = apply(rules, p_accept=lambda pid: 0.5 if pid == "mug" else None).offers
    assert offer.p_accept == 0.5
    assert offer.expected_revenue == pytest.approx(9.00)
    assert apply(rules, p_accept=lambda pid: None).offers[0].p_accept == 0.3
    no_rule_p = parse_rules(
        "default_p_accept = 0.02\n" + bundle("b", "mug", 0.1, 'products = ["moka-pot"]')
    )
    assert apply(no_rule_p).offers[0].p_accept == 0.02


def test_never_an_offer_in_the_cart_excluded_out_of_stock_or_unknown() -> None:
    text = (
        '[exclude]\ncategories = ["tobacco"]\n'
        + bundle("in-cart", "mug", 0.1, 'products = ["moka-pot"]')
        + bundle("out", "gone", 0.1, 'products = ["moka-pot"]')
        + bundle("unknown", "nothing", 0.1, 'products = ["moka-pot"]')
        + bundle("tobacco", "cigar", 0.1, 'products = ["moka-pot"]')
    )
    outcome = apply(parse_rules(text), cart=("moka-pot", "mug"))
    assert outcome.offers == ()
    assert outcome.excluded_categories == {"tobacco"}


def test_exclusions_are_passed_on_for_the_ranker() -> None:
    text = '[exclude]\nproducts = ["gift-card"]\n' + bundle(
        "b", "mug", 0.1, 'products = ["moka-pot"]'
    )
    rules = parse_rules(text)
    outcome = apply(rules)
    assert outcome.excluded_product_ids == {"gift-card"}
    assert outcome.ranker_exclude == {"gift-card", "mug"}
    assert rules.excluded_in([("a", "tobacco"), ("b", "mugs"), ("c", None)]) == {"gift-card"}
    tobacco = parse_rules('[exclude]\ncategories = ["tobacco"]')
    assert tobacco.excluded_in([("a", "tobacco"), ("b", "mugs")]) == {"a"}


def test_margin_floor_reduces_a_discount_that_would_cross_it() -> None:
    # filters: 4.00 at 20% margin, cost 3.20; floor 15% -> offer price >= 3.20 / 0.85 = 3.7647
    text = "margin_floor = 0.15\n" + bundle("f", "filters", 0.15, 'products = ["moka-pot"]')
    (offer,) = apply(parse_rules(text)).offers
    assert offer.offer_price == 3.77  # rounded up to the cent
    assert offer.discount_pct == pytest.approx(0.0575)
    cost = 4.00 * (1 - 0.2)
    assert (offer.offer_price - cost) / offer.offer_price >= 0.15
    assert (3.76 - cost) / 3.76 < 0.15  # one cent less would cross the floor
    assert "reduced from 15% by the margin floor" in offer.reason
    assert offer.reason.startswith("rule 'f': 5.8% off ")


def test_margin_floor_leaves_a_discount_within_it_alone() -> None:
    text = "margin_floor = 0.15\n" + bundle("m", "mug", 0.1, 'products = ["moka-pot"]')
    (offer,) = apply(parse_rules(text)).offers
    assert offer.offer_price == 18.00  # margin (18 - 10) / 18 = 44% >= 15%
    assert "reduced" not in offer.reason


def test_margin_floor_drops_a_discount_when_none_is_possible() -> None:
    # "thin" has a 10% margin, already below the 15% floor: no discount can be given.
    text = "margin_floor = 0.15\n" + bundle("t", "thin", 0.1, 'products = ["moka-pot"]')
    assert apply(parse_rules(text)).offers == ()
    # Without a floor the same rule is offered.
    assert len(apply(parse_rules(bundle("t", "thin", 0.1, 'products = ["moka-pot"]'))).offers) == 1
    # A pin without a discount is not affected by the floor.
    (offer,) = apply(parse_rules("margin_floor = 0.15\n" + pin("p", "thin"))).offers
    assert (offer.offer_price, offer.discount_pct, offer.offer_kind) == (10.00, 0.0, "cross_sell")


def test_unknown_margin_drops_discounts_unless_allowed() -> None:
    rule = bundle("u", "mystery", 0.2, 'products = ["moka-pot"]')
    assert apply(parse_rules("margin_floor = 0.15\n" + rule)).offers == ()
    allowed = parse_rules('margin_floor = 0.15\nunknown_margin = "allow"\n' + rule)
    (offer,) = apply(allowed).offers
    assert offer.offer_price == 8.00


def test_pins_come_first_in_file_order_and_win_over_bundles() -> None:
    text = (
        bundle("big", "mug", 0.1, 'products = ["moka-pot"]', "p_accept = 0.9")
        + pin("pin-b", "filters", 'categories = ["coffee-makers"]')
        + pin("pin-a", "descaler", "", "discount_pct = 0.1")
        + bundle("dup", "filters", 0.1, 'products = ["moka-pot"]', "p_accept = 1.0")
        + pin("pin-dup", "filters")
    )
    offers = apply(parse_rules(text)).offers
    assert [(o.rule, o.pinned) for o in offers] == [
        ("pin-b", True),
        ("pin-a", True),
        ("big", False),
    ]
    assert offers[0].reason == (
        "rule 'pin-b': pinned with a product of category 'coffee-makers' in cart"
    )
    assert offers[1].reason == "rule 'pin-a': pinned, 10% off"
    assert offers[1].offer_price == 8.99


def test_same_product_from_two_bundles_keeps_the_higher_expected_revenue() -> None:
    text = bundle("small", "mug", 0.5, 'products = ["moka-pot"]', "p_accept = 0.1") + bundle(
        "large", "mug", 0.1, 'products = ["moka-pot"]', "p_accept = 0.1"
    )
    (offer,) = apply(parse_rules(text)).offers
    assert offer.rule == "large"  # 0.1 x 18.00 beats 0.1 x 10.00

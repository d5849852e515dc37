"""streams/offers/ranking: ranking properties, filters, cold start, baselines, the index."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pytest

from streams.copurchase.model import ProductState
from streams.offers.ranking import (
    CartItem,
    ObservedCounts,
    Offer,
    ProductFacts,
    ProductIndex,
    RankerConfig,
    post_purchase_exclusions,
    rank_by_copurchase_count,
    rank_by_popularity,
    rank_offers,
)
from streams.profiles.model import OrderFacts, OrderLineFacts, ProfileConfig, ShopperProfile
from streams.units import DAY_MS

T0 = 1_700_000_000_000
TOTAL = 1000.0


def facts(
    product_id: str,
    purchases: float,
    price: float | None = 5.0,
    category: str | None = None,
    neighbours: Mapping[str, float] | None = None,
    in_stock: bool | None = None,
) -> ProductFacts:
    return ProductFacts(
        product_id,
        price,
        category if category is not None else f"cat-{product_id}",
        in_stock,
        purchases,
        tuple((neighbours or {}).items()),
    )


def cart(*product_ids: str) -> list[CartItem]:
    return [CartItem(pid) for pid in product_ids]


def ids(offers: list[Offer]) -> list[str]:
    return [offer.product_id for offer in offers]


def shopper(*lines: tuple[str, float, str], orders: int = 1) -> ShopperProfile:
    """A profile with `orders` orders a day apart, each of the given (product, price, category)."""
    profile = ShopperProfile.empty("s-1")
    for n in range(orders):
        order_lines = tuple(OrderLineFacts(pid, 1, price, cat) for pid, price, cat in lines)
        profile = profile.with_order(OrderFacts(f"o-{n}", T0 + n * DAY_MS, order_lines), CONFIG)
    return profile


CONFIG = ProfileConfig()
EVIDENCE = RankerConfig(evidence=True)
"""The default ranker config, with each offer's evidence filled."""


# --------------------------------------------------------------------------- ranking


def test_pricier_item_with_equal_evidence_ranks_higher() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"cheap": 30, "dear": 30}),
            facts("cheap", 80, price=10.0),
            facts("dear", 80, price=45.0),
        ]
    )
    offers = rank_offers(cart("a"), index, TOTAL)
    assert ids(offers) == ["dear", "cheap"]
    assert offers[0].p_accept == pytest.approx(offers[1].p_accept)
    assert offers[0].expected_revenue > offers[1].expected_revenue


def test_two_percent_of_45_beats_five_percent_of_10() -> None:
    # Same cart item, well evidenced: 2% of 1000 orders vs 5% of 1000.
    index = ProductIndex(
        [
            facts("a", 1000, neighbours={"ten": 50, "forty-five": 20}),
            facts("ten", 50, price=10.0),
            facts("forty-five", 20, price=45.0),
        ]
    )
    offers = rank_offers(cart("a"), index, 10_000.0)
    assert ids(offers)[0] == "forty-five"
    by_id = {offer.product_id: offer for offer in offers}
    assert by_id["forty-five"].p_accept == pytest.approx(0.02, abs=0.002)
    assert by_id["ten"].p_accept == pytest.approx(0.05, abs=0.002)


def test_rare_pair_of_an_expensive_item_does_not_win_by_price_alone() -> None:
    # "rare" was bought once, together with "dear" (confidence 1.0, 20x the price);
    # "common" was bought 200 times, 60 of them with "cheap".
    index = ProductIndex(
        [
            facts("rare", 1, neighbours={"dear": 1}),
            facts("common", 200, neighbours={"cheap": 60}),
            facts("dear", 1, price=100.0),
            facts("cheap", 150, price=5.0),
        ]
    )
    # Naive confidence x price (the best cart item's w/n times the price) is fooled:
    naive = {"dear": 1 / 1 * 100.0, "cheap": 60 / 200 * 5.0}
    assert max(naive, key=naive.__getitem__) == "dear"
    offers = rank_offers(cart("rare", "common"), index, TOTAL)
    assert ids(offers)[0] == "cheap"
    dear = next(offer for offer in offers if offer.product_id == "dear")
    assert dear.p_accept < 0.05


def test_more_evidence_means_more_trust() -> None:
    # The same 50% co-purchase rate, measured on 4 orders and on 400.
    index = ProductIndex(
        [
            facts("few", 4, neighbours={"x": 2}),
            facts("many", 400, neighbours={"y": 200}),
            facts("x", 10),
            facts("y", 10),
        ]
    )
    p_few = rank_offers(cart("few"), index, TOTAL)[0].p_accept
    p_many = rank_offers(cart("many"), index, TOTAL)[0].p_accept
    assert p_few < p_many
    assert p_many == pytest.approx(0.5, abs=0.02)
    base_rate = (10 + 0.5) / (TOTAL + 1)
    assert base_rate < p_few < 0.5


def test_evidence_from_every_cart_item_counts() -> None:
    # "both" goes with a and b; "one" only with a, as strongly; b's list is complete.
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"both": 40, "one": 40}),
            facts("b", 100, neighbours={"both": 40}),
            facts("both", 50),
            facts("one", 50),
        ]
    )
    offers = rank_offers(cart("a", "b"), index, TOTAL)
    assert ids(offers) == ["both", "one"]
    assert offers[0].p_accept > offers[1].p_accept


def test_offers_carry_reason_and_evidence() -> None:
    index = ProductIndex([facts("p-1", 120, neighbours={"p-9": 41}), facts("p-9", 90, price=30.0)])
    (offer,) = rank_offers(cart("p-1"), index, TOTAL, config=EVIDENCE)
    assert offer.reason == "bought with 'p-1' in 41 of 120 orders"
    assert offer.offer_price == offer.unit_price == 30.0
    assert offer.expected_revenue == pytest.approx(offer.p_accept * 30.0)
    kinds = [e.kind for e in offer.evidence]
    assert kinds[0] == "product" and "base_rate" in kinds
    assert offer.evidence[0].source == "p-1"
    assert offer.evidence[0].co_purchases == 41
    # By default the ranker gives the same offer and reason, without the evidence.
    (plain,) = rank_offers(cart("p-1"), index, TOTAL)
    assert plain == replace(offer, evidence=())


# --------------------------------------------------------------------------- filters


def test_never_offers_cart_items_out_of_stock_or_suppressed_products() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"b": 50, "gone": 45, "tired": 40, "ok": 10, "c": 30}),
            facts("b", 100, neighbours={"a": 50}),
            facts("gone", 60, in_stock=False),
            facts("tired", 60),
            facts("ok", 60),
            facts("c", 60),
        ]
    )
    offers = rank_offers(cart("a", "b"), index, TOTAL, suppressed={"tired"}, exclude={"c"})
    assert ids(offers) == ["ok"]
    for ranker in (rank_by_copurchase_count, rank_by_popularity):
        assert ids(ranker(cart("a", "b"), index, suppressed={"tired"}, exclude={"c"})) == ["ok"]


def test_products_without_a_price_are_never_offered() -> None:
    index = ProductIndex([facts("a", 100, neighbours={"x": 50}), facts("x", 60, price=None)])
    assert rank_offers(cart("a"), index, TOTAL) == []


def test_at_most_max_per_category() -> None:
    neighbours = {"m1": 50, "m2": 49, "m3": 48, "m4": 47, "t1": 10}
    index = ProductIndex(
        [
            facts("a", 100, neighbours=neighbours),
            *(facts(f"m{i}", 60, category="mug") for i in range(1, 5)),
            facts("t1", 60, category="tea"),
        ]
    )
    for config, expected in (
        (RankerConfig(), ["m1", "m2", "t1"]),
        (RankerConfig(max_per_category=1), ["m1", "t1"]),
        (RankerConfig(top_n=4, max_per_category=3), ["m1", "m2", "m3", "t1"]),
    ):
        assert ids(rank_offers(cart("a"), index, TOTAL, config=config)) == expected
        assert ids(rank_by_copurchase_count(cart("a"), index, config=config)) == expected


def test_products_without_category_are_not_capped() -> None:
    index = ProductIndex(
        [
            ProductFacts("a", 5.0, None, None, 100, (("u1", 50), ("u2", 49), ("u3", 48))),
            *(ProductFacts(f"u{i}", 5.0, None, None, 60) for i in range(1, 4)),
        ]
    )
    assert ids(rank_offers(cart("a"), index, TOTAL)) == ["u1", "u2", "u3"]


# --------------------------------------------------------------------------- cold start


def cold_index() -> ProductIndex:
    return ProductIndex(
        [
            facts("new-mug", 0, category="mug"),  # never bought with anything
            facts("mug-1", 100, category="mug", neighbours={"saucer": 60, "spoon": 5}),
            facts("mug-2", 100, category="mug", neighbours={"saucer": 40, "spoon": 5}),
            facts("saucer", 120, category="saucer"),
            facts("spoon", 300, category="spoon"),
            facts("lamp", 500, category="lamp", price=50.0),
        ]
    )


def test_cold_cart_item_falls_back_to_its_category() -> None:
    index = cold_index()
    offers = rank_offers(cart("new-mug"), index, TOTAL, config=EVIDENCE)
    assert ids(offers)[0] == "saucer"
    top = offers[0]
    assert top.evidence[0].kind == "category" and top.evidence[0].source == "mug"
    # The category as "the average mug" of its three: (60 + 40 + 0) / 3 co-purchases of
    # (100 + 100 + 0) / 3 purchases.
    assert top.evidence[0].co_purchases == pytest.approx(100 / 3)
    assert top.evidence[0].orders == pytest.approx(200 / 3)
    assert "'mug' products" in top.reason


def test_unknown_product_with_a_category_falls_back_to_it() -> None:
    offers = rank_offers([CartItem("brand-new", 1, 4.0, "mug")], cold_index(), TOTAL)
    assert ids(offers)[0] == "saucer"


def test_no_evidence_at_all_falls_back_to_category_then_popular_products() -> None:
    index = cold_index()
    # Unknown product, unknown category: the most purchased products overall.
    offers = rank_offers([CartItem("alien", 1, 4.0, "nothing")], index, TOTAL)
    assert len(offers) == 3
    assert "lamp" in ids(offers) and offers[0].reason.startswith("popular")
    assert ids(rank_by_popularity([CartItem("alien")], index)) == ["lamp", "spoon", "saucer"]
    # A category with no co-purchases: its own popular products first, then overall.
    index = ProductIndex(
        [facts("c1", 10, category="c"), facts("c2", 5, category="c"), facts("z", 90)]
    )
    assert ids(rank_by_popularity(cart("c1"), index)) == ["z", "c2"]
    assert set(ids(rank_offers(cart("c1"), index, TOTAL))) == {"z", "c2"}


def test_empty_cart_and_empty_index() -> None:
    assert rank_offers([], ProductIndex([]), 0.0) == []
    index = cold_index()
    assert len(rank_offers([], index, TOTAL)) == 3  # the most purchased, by expected revenue


# --------------------------------------------------------------------------- the profile


def test_anonymous_and_identified_shoppers_both_get_offers() -> None:
    index = cold_index()
    anonymous = rank_offers(cart("mug-1"), index, TOTAL, profile=None, config=EVIDENCE)
    known = rank_offers(
        cart("mug-1"), index, TOTAL, profile=shopper(("spoon", 1.0, "spoon")), config=EVIDENCE
    )
    assert anonymous and known
    assert all(o.evidence for o in anonymous)
    assert all(e.kind != "history" for o in anonymous for e in o.evidence)
    assert all(any(e.kind == "history" for e in o.evidence) for o in known)


def test_recent_purchases_are_candidates_and_raise_p() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"x": 20, "y": 1, "z": 1}),
            facts("x", 100),
            facts("y", 10),
            facts("z", 10),
            facts("again", 100),  # never bought with the cart
        ]
    )
    assert ids(rank_offers(cart("a"), index, TOTAL)) == ["x", "y", "z"]
    profile = shopper(("again", 5.0, "cat-again"))
    offers = rank_offers(cart("a"), index, TOTAL, profile=profile, config=EVIDENCE)
    assert "again" in ids(offers)
    again = next(o for o in offers if o.product_id == "again")
    assert again.reason == "you bought it in the last 30 days"
    history = next(e for e in again.evidence if e.kind == "history")
    # (1 + alpha q) / (k + alpha) with k = 1 recent order, alpha = 10, q = 100.5 / 1001.
    q = 100.5 / 1001
    assert history.estimate == pytest.approx((1 + 10 * q) / 11)
    # After a post-purchase exclusion the recent purchase is gone.
    excluded = post_purchase_exclusions(cart("a"), profile, now_ms=T0 + DAY_MS)
    assert excluded == {"a", "again"}
    assert "again" not in ids(
        rank_offers(cart("a"), index, TOTAL, profile=profile, exclude=excluded)
    )


def test_budget_shoppers_price_level_lowers_p_of_dear_items() -> None:
    cheap = [facts(f"c{i}", 100, price=1.0 + i / 10) for i in range(5)]
    index = ProductIndex(
        [facts("a", 100, neighbours={"dear": 30, "mid": 30}), facts("dear", 100, price=40.0),
         facts("mid", 100, price=3.0), *cheap]
    )  # fmt: skip
    budget = shopper(*[(f"c{i}", 1.0 + i / 10, "cat") for i in range(5)], orders=4)
    config = RankerConfig(use_history=False, evidence=True)
    anonymous = {o.product_id: o for o in rank_offers(cart("a"), index, TOTAL, config=config)}
    profiled = {
        o.product_id: o for o in rank_offers(cart("a"), index, TOTAL, profile=budget, config=config)
    }
    assert profiled["dear"].p_accept < anonymous["dear"].p_accept
    assert any(e.kind == "price_level" and e.lift < 0 for e in profiled["dear"].evidence)


def test_category_taste_favours_the_shoppers_categories() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"tea-1": 30, "mug-1": 30}),
            facts("tea-1", 100, category="tea"),
            facts("mug-1", 100, category="mug"),
        ]
    )
    tea_lover = shopper(("tea-0", 5.0, "tea"), orders=5)
    config = RankerConfig(use_history=False, use_price_level=False)
    offers = rank_offers(cart("a"), index, TOTAL, profile=tea_lover, config=config)
    assert ids(offers) == ["tea-1", "mug-1"]
    assert offers[0].p_accept > offers[1].p_accept
    plain = rank_offers(cart("a"), index, TOTAL, config=config)
    assert plain[0].p_accept == pytest.approx(plain[1].p_accept)


# --------------------------------------------------------------------------- invariants


def random_index(rng: random.Random, products: int = 40) -> ProductIndex:
    names = [f"p{i:02d}" for i in range(products)]
    rows = []
    for name in names:
        purchases = rng.choice([0, 1, 2, 5, 20, 100, 900])
        others = rng.sample(names, rng.randint(0, 8))
        neighbours = {o: float(rng.randint(1, max(int(purchases), 1)) * 1.5) for o in others}
        rows.append(
            facts(
                name,
                purchases,
                price=rng.choice([None, 0.5, 2.0, 9.99, 45.0, 300.0]),
                category=rng.choice(["a", "b", "c", None]),
                neighbours=neighbours,
                in_stock=rng.choice([None, True, False]),
            )
        )
    return ProductIndex(rows, neighbours_k=5)


@pytest.mark.parametrize("seed", range(25))
def test_p_accept_in_range_sorted_capped_and_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    index = random_index(rng)
    items = [CartItem(f"p{rng.randrange(45):02d}") for _ in range(rng.randint(0, 8))]
    profile = shopper(*[(f"p{rng.randrange(40):02d}", rng.choice([1.0, 30.0]), "a")], orders=2)
    total = rng.choice([1000.0, 10.0, 0.0])
    config = RankerConfig(top_n=4)
    for who in (None, profile):
        offers = rank_offers(items, index, total, profile=who, config=config)
        again = rank_offers(list(items), index, total, profile=who, config=config)
        assert offers == again
        # With the evidence filled: the same offers and reasons (the reason is computed
        # without the evidence by default), and every offer explained.
        explained = rank_offers(
            items, index, total, profile=who, config=replace(config, evidence=True)
        )
        assert [replace(offer, evidence=()) for offer in explained] == offers
        assert all(offer.evidence for offer in explained)
        assert len(offers) <= 4
        cart_ids = {item.product_id for item in items}
        per_category: dict[str | None, int] = {}
        for offer in offers:
            assert 0.0 <= offer.p_accept <= 1.0
            assert math.isclose(offer.expected_revenue, offer.p_accept * offer.offer_price)
            assert offer.product_id not in cart_ids
            product = index.facts(offer.product_id)
            assert product is not None and product.in_stock is not False
            per_category[offer.category] = per_category.get(offer.category, 0) + 1
        assert all(n <= 2 for c, n in per_category.items() if c is not None)
        revenue = [offer.expected_revenue for offer in offers]
        assert revenue == sorted(revenue, reverse=True)


def test_ties_go_to_the_smaller_product_id() -> None:
    index = ProductIndex(
        [facts("a", 100, neighbours={"z": 10, "m": 10, "b": 10})]
        + [facts(pid, 50) for pid in ("z", "m", "b")]
    )
    assert ids(rank_offers(cart("a"), index, TOTAL)) == ["b", "m", "z"]
    assert ids(rank_by_copurchase_count(cart("a"), index)) == ["b", "m", "z"]


# --------------------------------------------------------------------------- baselines


def test_copurchase_count_sums_weights_over_the_cart() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"x": 10, "y": 7, "z": 1}),
            facts("b", 100, neighbours={"y": 5, "z": 3}),
            facts("x", 500, price=1.0),
            facts("y", 10, price=1.0),
            facts("z", 10, price=99.0),
        ]
    )
    offers = rank_by_copurchase_count(cart("a", "b"), index)
    assert ids(offers) == ["y", "x", "z"]  # 12, 10, 4
    assert [round(o.score) for o in offers] == [12, 10, 4]
    assert ids(rank_by_popularity(cart("a", "b"), index)) == ["x", "y", "z"]


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Entry:
    unit_price: float
    category: str
    in_stock: bool


def test_index_from_states_decays_to_one_time_and_uses_the_catalog() -> None:
    half_life = 90.0
    later = T0 + 90 * DAY_MS
    states = {
        "a": ProductState("a", 8.0, {"b": 4.0}, T0, 2.0, T0, "x"),
        "b": ProductState("b", 4.0, {"a": 4.0}, later, 3.0, later, "y"),
        "\x00orders": ProductState("\x00orders", 100.0, {}, later),
    }
    catalog = {"b": Entry(5.0, "shelf", False), "c": Entry(7.0, "shelf", True)}
    index = ProductIndex.from_states(
        states, half_life_days=half_life, neighbours_k=None, catalog=catalog
    )
    assert "\x00orders" not in index and len(index) == 3
    assert index.as_of_ms == later
    a = index.facts("a")
    assert a is not None
    assert a.purchases == pytest.approx(4.0)  # one half-life later
    assert a.neighbours == (("b", pytest.approx(2.0)),)
    assert a.price == 2.0 and a.category == "x" and a.in_stock is None
    b = index.facts("b")
    assert b is not None and b.price == 5.0 and b.category == "shelf" and b.in_stock is False
    c = index.facts("c")
    assert c is not None and c.purchases == 0 and c.price == 7.0
    assert index.popular("shelf") == ("b", "c")


def test_index_keeps_the_price_expected_revenue_multiplies_by_zero_where_unknown() -> None:
    index = ProductIndex([facts("a", 10, price=4.5), facts("b", 10, price=None)])
    assert index.price_or_zero.tolist() == [4.5, 0.0]
    assert math.isnan(index.price[1])


def test_a_full_neighbour_list_is_treated_as_pruned() -> None:
    index = ProductIndex(
        [facts("a", 100, neighbours={"x": 30, "y": 20}), facts("x", 10), facts("y", 10)],
        neighbours_k=2,
    )
    a = index.facts("a")
    assert a is not None and a.pruned
    b = ProductIndex([facts("a", 100, neighbours={"x": 30}), facts("x", 10)], neighbours_k=2)
    a2 = b.facts("a")
    assert a2 is not None and not a2.pruned


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        RankerConfig(top_n=0)
    with pytest.raises(ValueError):
        RankerConfig(prior_strength=0.0)
    with pytest.raises(ValueError):
        RankerConfig(max_per_category=True)


def test_contract_cart_items_are_accepted_as_they_are() -> None:
    from schemas import CartItem as ContractCartItem

    index = ProductIndex([facts("p-1", 120, neighbours={"p-9": 41}), facts("p-9", 90, price=30.0)])
    line = ContractCartItem(product_id="p-1", quantity=2, unit_price=12.5, category="kitchen")
    assert ids(rank_offers([line], index, TOTAL)) == ["p-9"]
    assert post_purchase_exclusions([line], None, now_ms=T0) == {"p-1"}


def test_observed_acceptance_updates_p_by_the_beta_rule() -> None:
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"cheap": 30, "dear": 30}),
            facts("cheap", 80, price=10.0),
            facts("dear", 80, price=45.0),
        ]
    )
    plain = {o.product_id: o for o in rank_offers(cart("a"), index, TOTAL)}
    observed = {"cheap": (100, 90), "unknown-product": (5, 5), "a": (3, 3)}
    tuned = {
        o.product_id: o
        for o in rank_offers(cart("a"), index, TOTAL, observed=observed, observed_strength=50.0)
    }
    expected = (plain["cheap"].p_accept * 50 + 90) / (50 + 100)
    assert tuned["cheap"].p_accept == pytest.approx(expected)
    assert tuned["dear"].p_accept == pytest.approx(plain["dear"].p_accept)  # not observed
    assert tuned["cheap"].expected_revenue == pytest.approx(expected * 10.0)
    revenues = [o.expected_revenue for o in tuned.values()]
    assert revenues == sorted(revenues, reverse=True)
    with pytest.raises(ValueError, match="observed_strength"):
        rank_offers(cart("a"), index, TOTAL, observed=observed, observed_strength=0)


def test_observed_lookup_gives_the_same_p_from_either_side() -> None:
    """A plain mapping of few or of many observed products, and a kept ObservedCounts, give
    the same p: unobserved products change nothing."""
    index = ProductIndex(
        [
            facts("a", 100, neighbours={"cheap": 30, "dear": 30}),
            facts("cheap", 80, price=10.0),
            facts("dear", 80, price=45.0),
        ]
    )
    few = {"cheap": (100, 90)}
    many = {**few, **{f"other-{n}": (1, 0) for n in range(50)}}
    one = {o.product_id: o.p_accept for o in rank_offers(cart("a"), index, TOTAL, observed=few)}
    two = {o.product_id: o.p_accept for o in rank_offers(cart("a"), index, TOTAL, observed=many)}
    assert one == pytest.approx(two)
    arrays = ObservedCounts(many)
    three = {
        o.product_id: o.p_accept for o in rank_offers(cart("a"), index, TOTAL, observed=arrays)
    }
    assert three == pytest.approx(one)
    plain = {o.product_id: o.p_accept for o in rank_offers(cart("a"), index, TOTAL)}
    assert three["cheap"] != pytest.approx(plain["cheap"])  # the counts were applied


def test_absent_sums_equal_the_dense_matrix_they_replace() -> None:
    from streams.offers.ranking.model import _absent_sums

    rng = np.random.default_rng(7)
    n = np.concatenate([rng.uniform(0, 200, 30), [0.0, 0.0, 5.0]])
    floor = np.concatenate([rng.uniform(0, 5, 15), np.zeros(15), [0.0, 2.0, 0.0]])
    c = rng.uniform(0, 0.1, len(n))
    q = np.concatenate([rng.uniform(1e-4, 0.2, 500), [floor[0] / n[0]]])  # a tie at t_a = q_b
    dense = c @ np.minimum(floor[:, None], n[:, None] * q[None, :])
    assert np.allclose(_absent_sums(c, n, floor, q), dense, rtol=1e-12, atol=1e-15)

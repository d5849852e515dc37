"""Category affinity: decay, bound, purchases versus clicks."""

from __future__ import annotations

import pytest

from streams.profiles import ProfileConfig, ShopperProfile
from streams.profiles.model import OrderLineFacts
from tests.unit.profiles.helpers import CONFIG, T0, click, days, fold, order

HALF_LIFE = days(30)


def test_an_order_adds_one_split_by_line_value() -> None:
    facts = order(
        "o1",
        T0,
        OrderLineFacts("teapot", 1, 30.0, "tea"),
        OrderLineFacts("leaves", 2, 5.0, "tea"),
        OrderLineFacts("mug", 1, 10.0, "mugs"),
        OrderLineFacts("mystery", 1, 10.0),  # no category: its share is not given to anyone
    )

    affinity = fold([facts]).category_affinity

    assert affinity == {"tea": pytest.approx(40 / 60), "mugs": pytest.approx(10 / 60)}


def test_a_free_order_splits_affinity_equally_by_line() -> None:
    facts = order("o1", T0, OrderLineFacts("a", 1, 0.0, "x"), OrderLineFacts("b", 1, 0.0, "y"))

    assert fold([facts]).category_affinity == {"x": 0.5, "y": 0.5}


def test_one_half_life_halves_the_affinity() -> None:
    profile = fold([order("o1", T0, OrderLineFacts("p", 1, 5.0, "tea"))])

    assert profile.affinity_at(T0, CONFIG) == {"tea": 1.0}
    assert profile.affinity_at(T0 + HALF_LIFE, CONFIG) == {"tea": pytest.approx(0.5)}
    assert profile.affinity_at(T0 + 2 * HALF_LIFE, CONFIG) == {"tea": pytest.approx(0.25)}
    # Asking about an earlier time never grows the scores.
    assert profile.affinity_at(T0 - HALF_LIFE, CONFIG) == {"tea": 1.0}


def test_a_later_event_decays_the_stored_scores_first() -> None:
    profile = fold([order("o1", T0, OrderLineFacts("p", 1, 5.0, "tea"))])

    later = profile.with_click(click("c1", T0 + HALF_LIFE, "view", "mugs"), CONFIG)

    assert later.affinity_as_of_ts == T0 + HALF_LIFE
    assert later.category_affinity == {"tea": pytest.approx(0.5), "mugs": pytest.approx(0.2)}


def test_a_late_event_counts_decayed_to_the_scores_time() -> None:
    profile = fold([order("o1", T0 + HALF_LIFE, OrderLineFacts("p", 1, 5.0, "tea"))])

    late = profile.with_order(order("o0", T0, OrderLineFacts("p", 1, 5.0, "tea")), CONFIG)

    assert late.affinity_as_of_ts == T0 + HALF_LIFE
    assert late.category_affinity == {"tea": pytest.approx(1.5)}


def test_affinity_keeps_the_strongest_categories() -> None:
    config = ProfileConfig(max_categories=2)
    profile = ShopperProfile.empty("s1")
    for category, n in [("strong", 3), ("weak", 1), ("middle", 2)]:
        for j in range(n):
            profile = profile.with_click(click(f"{category}{j}", T0, category=category), config)

    assert profile.category_affinity == {
        "strong": pytest.approx(0.6),
        "middle": pytest.approx(0.4),
    }
    assert profile.top_categories(5) == ("strong", "middle")


def test_the_category_bound_drops_the_weakest() -> None:
    config = ProfileConfig(max_categories=3)
    facts = order(
        "o1",
        T0,
        OrderLineFacts("a", 1, 40.0, "a"),
        OrderLineFacts("b", 1, 30.0, "b"),
        OrderLineFacts("c", 1, 20.0, "c"),
        OrderLineFacts("d", 1, 10.0, "d"),
    )

    profile = fold([facts], config)

    assert set(profile.category_affinity) == {"a", "b", "c"}
    assert profile.top_categories(2) == ("a", "b")
    assert profile.top_categories(0) == ()


def test_top_categories_rank_by_score_whatever_the_insertion_order() -> None:
    profile = ShopperProfile.empty("s1")
    for i, category in enumerate(["c", "a", "b", "b", "a", "b"]):
        profile = profile.with_click(click(f"e{i}", T0, category=category), CONFIG)

    assert profile.top_categories(10) == ("b", "a", "c")
    assert list(profile.affinity_at(T0 + HALF_LIFE, CONFIG)) == ["b", "a", "c"]
    assert list(profile.to_public_dict(T0, CONFIG, top_n_categories=2)["category_affinity"]) == [
        "b",
        "a",
    ]


def test_browsing_clicks_add_affinity() -> None:
    profile = ShopperProfile.empty("s1")
    for i, action in enumerate(["view", "click", "add_to_cart"]):
        profile = profile.with_click(click(f"c{i}", T0, action, "tea"), CONFIG)

    assert profile.category_affinity == {"tea": pytest.approx(0.6)}
    assert profile.order_count == 0


def test_offer_actions_only_record_the_event() -> None:
    profile = ShopperProfile.empty("s1")
    for i, action in enumerate(["offer_impression", "offer_click", "offer_dismiss"]):
        profile = profile.with_click(click(f"c{i}", T0 + i, action, "tea"), CONFIG)

    assert profile.category_affinity == {}
    assert profile.affinity_as_of_ts is None
    assert profile.recent_event_ids == ("c0", "c1", "c2")
    assert profile.last_event_ts == T0 + 2


def test_a_click_without_category_adds_no_affinity() -> None:
    profile = ShopperProfile.empty("s1").with_click(click("c1", T0, "view", None), CONFIG)

    assert profile.category_affinity == {}
    assert profile.has_seen("c1")


def test_click_weight_follows_the_config() -> None:
    config = ProfileConfig(click_affinity_weight=0.5)

    profile = ShopperProfile.empty("s1").with_click(click("c1", T0), config)

    assert profile.category_affinity == {"tea": 0.5}

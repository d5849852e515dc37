"""Properties of the shopper profile over generated histories of contract-valid events.

What the module promises and these check: the arrival order of a shopper's orders and
clicks changes nothing but floating-point rounding (when order times are distinct, since
ties keep their arrival order, and within its bounds: at most `max_categories` categories
and `max_recent_event_ids` events, beyond which pruning depends on what was seen first); a
redelivered event changes nothing; a profile survives its stored form unchanged; consent is
the last privacy action's, whatever came before and whatever the default.
"""

from __future__ import annotations

import math

import orjson
from hypothesis import given
from hypothesis import strategies as st

from schemas import ClickEvent, OrderEvent
from streams.profiles.model import (
    ConsentState,
    ProfileConfig,
    ShopperProfile,
    click_facts_from_event,
    consent_after,
    is_granted,
    order_facts_from_event,
)
from tests.support.strategies import (
    CLICK_ACTIONS,
    contract_event,
    ids,
    lines_from,
    money,
    order_event,
    skewed_times,
    timestamps,
    unique_ids,
)

CONFIG = ProfileConfig()
History = list[OrderEvent | ClickEvent]


@st.composite
def histories(draw: st.DrawFn, max_events: int = 24) -> tuple[History, dict[str, float]]:
    """One shopper's orders (at distinct times) and clicks, and catalog list prices.

    Times are skewed by up to the whole 2009..2025 range, so windows (trailing spend,
    recent products) and decay are crossed; categories stay within `max_categories`.
    """
    shopper = draw(ids())
    products = draw(unique_ids(1, 10))
    categories = draw(unique_ids(1, CONFIG.max_categories))
    base_ts = draw(timestamps())
    order_times = draw(st.lists(skewed_times(base_ts), max_size=max_events // 2, unique=True))
    history: History = []
    for number, ts in enumerate(order_times):
        lines = draw(lines_from(products, categories, 1, 5))
        fee = draw(st.just(0.0) | money())
        history.append(order_event(f"order-{number}", ts, lines, shopper, shipping_fee=fee))
    for number in range(draw(st.integers(0, max_events // 2))):
        action = draw(st.sampled_from(CLICK_ACTIONS))
        data = {
            "event_id": f"click-{number}",
            "ts": draw(skewed_times(base_ts)),
            "shopper_id": shopper,
            "action": action,
            "product_id": draw(st.none() | st.sampled_from(products)),
            "category": draw(st.none() | st.sampled_from(categories)),
            "offer_id": "offer" if action.startswith("offer_") else None,
        }
        history.append(contract_event(ClickEvent, data))
    list_prices = draw(st.dictionaries(st.sampled_from(products), money()))
    return draw(st.permutations(history)), list_prices


def fold(history: History, list_prices: dict[str, float]) -> ShopperProfile:
    """The profile after the events in the given order."""
    profile = ShopperProfile.empty("shopper")
    for event in history:
        if isinstance(event, OrderEvent):
            facts = order_facts_from_event(event, list_prices.get)
            profile = profile.with_order(facts, CONFIG)
        else:
            profile = profile.with_click(click_facts_from_event(event), CONFIG)
    return profile


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)


@given(histories(), st.data())
def test_a_profile_does_not_depend_on_the_order_events_arrive_in(
    history_and_prices: tuple[History, dict[str, float]], data: st.DataObject
) -> None:
    history, list_prices = history_and_prices
    expected = fold(history, list_prices)
    got = fold(data.draw(st.permutations(history)), list_prices)

    exact = (
        "order_count",
        "first_order_ts",
        "last_order_ts",
        "trailing_orders",
        "recent_orders",
        "recent_products",
        "free_shipping_orders",
        "affinity_as_of_ts",
        "recent_item_prices",
        "last_event_ts",
    )
    for name in exact:
        assert getattr(got, name) == getattr(expected, name), name
    assert set(got.recent_event_ids) == set(expected.recent_event_ids)
    for name in ("lifetime_spend", "discounted_spend", "shipping_paid"):
        assert close(getattr(got, name), getattr(expected, name)), name
    assert set(got.category_affinity) == set(expected.category_affinity)
    for category, score in expected.category_affinity.items():
        assert close(got.category_affinity[category], score), category


@given(histories(), st.data())
def test_a_redelivered_event_changes_nothing(
    history_and_prices: tuple[History, dict[str, float]], data: st.DataObject
) -> None:
    history, list_prices = history_and_prices
    redelivered = list(history)
    for event in data.draw(st.lists(st.sampled_from(history), max_size=5)) if history else []:
        # Again, anywhere after its first delivery.
        first = redelivered.index(event)
        redelivered.insert(data.draw(st.integers(first + 1, len(redelivered))), event)
    assert fold(redelivered, list_prices) == fold(history, list_prices)


@given(histories())
def test_a_profile_reads_back_from_its_stored_form_unchanged(
    history_and_prices: tuple[History, dict[str, float]],
) -> None:
    profile = fold(*history_and_prices)
    stored = orjson.dumps(profile.to_dict())
    assert ShopperProfile.from_dict(orjson.loads(stored)) == profile


PRIVACY_ACTIONS = st.sampled_from(["grant", "revoke", "erase"])


@given(
    st.lists(PRIVACY_ACTIONS, min_size=1, max_size=12),
    st.sampled_from([None, True, False]),
    st.booleans(),
)
def test_consent_is_the_last_privacy_action_whatever_came_before_and_the_default(
    actions: list[str], start: ConsentState, default_granted: bool
) -> None:
    consent = start
    for action in actions:
        same_under_other_default = consent_after(action, consent, not default_granted)
        consent = consent_after(action, consent, default_granted)
        assert consent == same_under_other_default
    last = actions[-1]
    assert consent == {"grant": True, "revoke": False, "erase": None}[last]
    assert is_granted(consent, default_granted) == (
        default_granted if last == "erase" else last == "grant"
    )

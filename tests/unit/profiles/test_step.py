"""streams/profiles/step.py: what orders, clicks and privacy actions do to a shopper's state."""

from __future__ import annotations

import pytest

from streams.profiles.model import ClickFacts, OrderFacts, ProfileConfig
from streams.profiles.step import ShopperState, apply_click, apply_order, apply_privacy

T0 = 1_763_740_800_000
CONFIG = ProfileConfig()


def order(event_id: str, ts: int, *products: str) -> OrderFacts:
    return OrderFacts(event_id, ts, tuple((p, 1, 10.0) for p in products))


def test_an_order_builds_a_profile_and_hands_over_what_was_bought_before() -> None:
    state, before = apply_order(ShopperState("s"), order("o-1", T0, "a"), CONFIG, True)
    assert before == {}
    assert state.profile is not None and state.profile.order_count == 1
    state, before = apply_order(state, order("o-2", T0 + 1000, "b"), CONFIG, True)
    assert before == {"a": T0}
    assert state.profile is not None and state.profile.order_count == 2


@pytest.mark.parametrize(
    ("consent", "default_granted"), [(False, True), (None, False), (False, False)]
)
def test_shoppers_who_may_not_be_profiled_get_no_profile_and_no_cross_order_pairs(
    consent: bool | None, default_granted: bool
) -> None:
    start = ShopperState("s", consent)
    state, before = apply_order(start, order("o-1", T0, "a"), CONFIG, default_granted)
    assert state == start and before == {}
    click = ClickFacts("k-1", T0, "view", "a", "mugs")
    assert apply_click(start, click, CONFIG, default_granted) == start


def test_an_explicit_grant_overrides_a_revoking_default() -> None:
    state = apply_privacy(ShopperState("s"), "grant", default_granted=False)
    assert state.consent is True
    state, _ = apply_order(state, order("o-1", T0, "a"), CONFIG, False)
    assert state.profile is not None


def test_revoke_drops_the_profile_and_keeps_the_choice_erase_forgets_both() -> None:
    profiled, _ = apply_order(ShopperState("s"), order("o-1", T0, "a"), CONFIG, True)
    revoked = apply_privacy(profiled, "revoke", default_granted=True)
    assert revoked == ShopperState("s", False, None)
    granted = apply_privacy(revoked, "grant", default_granted=True)
    assert granted == ShopperState("s", True, None)  # the old profile stays forgotten
    assert apply_privacy(profiled, "erase", default_granted=True) == ShopperState("s")
    assert apply_privacy(granted, "erase", default_granted=False) == ShopperState("s")


def test_a_grant_keeps_an_existing_profile() -> None:
    profiled, _ = apply_order(ShopperState("s"), order("o-1", T0, "a"), CONFIG, True)
    assert apply_privacy(profiled, "grant", default_granted=True).profile is profiled.profile


def test_clicks_add_affinity_for_profiled_shoppers() -> None:
    state = apply_click(ShopperState("s"), ClickFacts("k-1", T0, "view", "a", "mugs"), CONFIG, True)
    assert state.profile is not None
    assert "mugs" in state.profile.to_public_dict(T0, CONFIG)["category_affinity"]


def test_unknown_privacy_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown privacy action"):
        apply_privacy(ShopperState("s"), "forget", default_granted=True)

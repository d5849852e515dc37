"""Fatigue rules: three impressions in a week, or one dismissal, suppress for a week."""

from __future__ import annotations

import pytest

from streams.offers.fatigue import FatigueConfig, FatigueState
from streams.units import DAY_MS

CONFIG = FatigueConfig()
T0 = 1_700_000_000_000


def shown(state: FatigueState, product: str, *days: float) -> FatigueState:
    for day in days:
        state = state.with_impression(product, T0 + int(day * DAY_MS), CONFIG)
    return state


def test_three_impressions_within_the_window_suppress_for_the_suppression_period() -> None:
    state = shown(FatigueState(), "p", 0, 1, 2)
    assert state.suppressed(T0 + 2 * DAY_MS, CONFIG) == {"p"}
    assert state.suppressed(T0 + int(8.9 * DAY_MS), CONFIG) == {"p"}
    assert state.suppressed(T0 + 9 * DAY_MS, CONFIG) == frozenset()


def test_two_impressions_do_not_suppress_and_old_ones_fall_out_of_the_window() -> None:
    assert shown(FatigueState(), "p", 0, 1).suppressed(T0 + DAY_MS, CONFIG) == frozenset()
    state = shown(FatigueState(), "p", 0, 1, 7.5)  # the first is more than 7 days old
    assert state.suppressed(T0 + 8 * DAY_MS, CONFIG) == frozenset()


def test_a_dismissal_suppresses_at_once() -> None:
    state = FatigueState().with_dismissal("p", T0)
    assert state.suppressed(T0, CONFIG) == {"p"}
    assert state.suppressed(T0 + 7 * DAY_MS, CONFIG) == frozenset()


def test_buying_clears_the_history() -> None:
    state = shown(FatigueState(), "p", 0, 1).with_purchase("p")
    assert shown(state, "p", 2).suppressed(T0 + 2 * DAY_MS, CONFIG) == frozenset()


def test_configurable_counts() -> None:
    config = FatigueConfig(max_impressions=1, window_days=1, suppress_days=2)
    state = FatigueState().with_impression("p", T0, config)
    assert state.suppressed(T0 + DAY_MS, config) == {"p"}
    assert state.suppressed(T0 + 2 * DAY_MS, config) == frozenset()
    with pytest.raises(ValueError, match="max_impressions"):
        FatigueConfig(max_impressions=0)


def test_pruning_forgets_expired_products_and_state_round_trips() -> None:
    state = shown(FatigueState(), "old", 0).with_dismissal("new", T0 + 10 * DAY_MS)
    assert set(state.pruned(T0 + 10 * DAY_MS, CONFIG).products) == {"new"}
    assert FatigueState.from_dict(state.to_dict()) == state


def test_updates_never_change_the_original() -> None:
    state = FatigueState()
    shown(state, "p", 0, 1, 2)
    assert state.products == {}

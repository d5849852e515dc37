"""streams/copurchase/model.py: each update rule of the co-purchase graph, one at a time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest

from streams.copurchase.model import (
    NO_PRICE_TS,
    CopurchaseConfig,
    OrderedProduct,
    OrderFacts,
    ProductDelta,
    ProductState,
    decay_factor,
    deltas_for_order,
    merge_delta_maps,
    recent_products_within,
    with_order,
)
from streams.units import DAY_MS

T0 = 1_700_000_000_000
NO_DECAY = CopurchaseConfig(half_life_days=0.0)
DEFAULT = CopurchaseConfig()


def order(ts_ms: int, *product_ids: str, price: float = 1.0) -> OrderFacts:
    return OrderFacts(ts_ms, tuple(OrderedProduct(pid, price, "cat") for pid in product_ids))


def apply_all(
    deltas: list[dict[str, ProductDelta]], config: CopurchaseConfig
) -> dict[str, ProductState]:
    states: dict[str, ProductState] = {}
    for batch in deltas:
        for product_id, delta in batch.items():
            state = states.get(product_id, ProductState.empty(product_id))
            states[product_id] = state.apply(delta, config)
    return states


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_life_days": -1.0}, "half_life_days must be finite and >= 0"),
        ({"half_life_days": math.nan}, "half_life_days must be finite and >= 0"),
        ({"cross_order_weight": -0.5}, "cross_order_weight must be finite and >= 0"),
        ({"cross_order_days": math.inf}, "cross_order_days must be finite and >= 0"),
        ({"cross_order_days": "30"}, "cross_order_days must be a number"),
        ({"neighbours_k": 0}, "neighbours_k must be an integer >= 1"),
        ({"neighbours_k": 2.5}, "neighbours_k must be an integer >= 1"),
        ({"neighbours_k": True}, "neighbours_k must be an integer >= 1"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CopurchaseConfig(**kwargs)


def test_config_defaults_and_zero_values_are_valid() -> None:
    assert CopurchaseConfig(90.0, 0.5, 30.0, 50) == DEFAULT
    CopurchaseConfig(half_life_days=0, cross_order_weight=0, cross_order_days=0, neighbours_k=1)


# --------------------------------------------------------------------------- decay


def test_decay_halves_after_exactly_one_half_life() -> None:
    assert decay_factor(90 * DAY_MS, 90.0) == 0.5
    assert decay_factor(180 * DAY_MS, 90.0) == 0.25
    assert math.isclose(decay_factor(45 * DAY_MS, 90.0), 2**-0.5)


@pytest.mark.parametrize(("elapsed", "half_life"), [(0, 90.0), (-DAY_MS, 90.0), (DAY_MS, 0.0)])
def test_decay_is_one_without_elapsed_time_or_half_life(elapsed: int, half_life: float) -> None:
    assert decay_factor(elapsed, half_life) == 1.0


def test_state_counts_halve_after_one_half_life() -> None:
    first = deltas_for_order(order(T0, "a", "b"), {}, DEFAULT)
    later = deltas_for_order(order(T0 + 90 * DAY_MS, "a", "c"), {}, DEFAULT)
    state = apply_all([first, later], DEFAULT)["a"]
    assert state.as_of_ts == T0 + 90 * DAY_MS
    assert state.purchases == 1.5
    assert state.neighbours == {"b": 0.5, "c": 1.0}


def test_a_late_older_contribution_is_decayed_to_the_stored_time() -> None:
    later = deltas_for_order(order(T0 + 90 * DAY_MS, "a", "c"), {}, DEFAULT)
    late_old = deltas_for_order(order(T0, "a", "b"), {}, DEFAULT)
    state = apply_all([later, late_old], DEFAULT)["a"]
    assert state.as_of_ts == T0 + 90 * DAY_MS  # as_of never moves back
    assert state.purchases == 1.5
    assert state.neighbours == {"b": 0.5, "c": 1.0}


def test_decayed_to_reads_values_as_of_a_later_time_and_never_goes_back() -> None:
    state = apply_all([deltas_for_order(order(T0, "a", "b"), {}, DEFAULT)], DEFAULT)["a"]
    read = state.decayed_to(T0 + 90 * DAY_MS, 90.0)
    assert (read.purchases, dict(read.neighbours), read.as_of_ts) == (
        0.5,
        {"b": 0.5},
        T0 + 90 * DAY_MS,
    )
    assert state.purchases == 1.0  # the original is unchanged
    assert state.decayed_to(T0 - DAY_MS, 90.0) is state
    assert state.decayed_to(T0 + DAY_MS, 0.0).purchases == 1.0


def test_no_decay_gives_exact_integer_sums() -> None:
    orders = [order(T0 + i * 7 * DAY_MS + i, "a", "b", "c" if i % 2 else "d") for i in range(1000)]
    states = apply_all([deltas_for_order(o, {}, NO_DECAY) for o in orders], NO_DECAY)
    assert states["a"].purchases == 1000.0
    assert dict(states["a"].neighbours) == {"b": 1000.0, "c": 500.0, "d": 500.0}
    assert dict(states["c"].neighbours) == {"a": 500.0, "b": 500.0}


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class Line:
    product_id: str
    unit_price: float
    category: str | None


def test_from_lines_merges_repeated_products_keeping_the_last_price_and_category() -> None:
    facts = OrderFacts.from_lines(
        T0, [Line("a", 1.0, "x"), Line("b", 2.0, None), Line("a", 3.0, None)]
    )
    assert facts == OrderFacts(T0, (OrderedProduct("a", 3.0, None), OrderedProduct("b", 2.0)))
    assert facts.product_ids == ("a", "b")


def test_order_facts_refuse_repeated_products() -> None:
    with pytest.raises(ValueError, match="must be distinct"):
        OrderFacts(T0, (OrderedProduct("a", 1.0), OrderedProduct("a", 2.0)))


def test_same_order_pairs_count_one_in_both_directions() -> None:
    deltas = deltas_for_order(order(T0, "a", "b", "c", price=2.5), {}, DEFAULT)
    assert set(deltas) == {"a", "b", "c"}
    assert deltas["a"].neighbours == {"b": 1.0, "c": 1.0}
    assert deltas["b"].neighbours == {"a": 1.0, "c": 1.0}
    assert deltas["c"].neighbours == {"a": 1.0, "b": 1.0}
    for delta in deltas.values():
        assert (delta.as_of_ts, delta.purchases) == (T0, 1.0)
        assert (delta.last_price, delta.last_price_ts, delta.category) == (2.5, T0, "cat")


def test_a_single_product_order_counts_a_purchase_and_no_pairs() -> None:
    deltas = deltas_for_order(order(T0, "a"), {}, DEFAULT)
    assert deltas == {"a": ProductDelta("a", T0, 1.0, {}, 1.0, T0, "cat")}


def test_cross_order_pairs_weigh_half_within_thirty_days() -> None:
    recent = {
        "in_window": T0 - int(29.9 * DAY_MS),
        "at_boundary": T0 - 30 * DAY_MS,
        "out_of_window": T0 - int(30.1 * DAY_MS),
        "a": T0 - DAY_MS,  # in both orders: never paired with itself
        "same_time": T0,
        "later": T0 + DAY_MS,
    }
    deltas = deltas_for_order(order(T0, "a", "b"), recent, DEFAULT)
    assert set(deltas) == {"a", "b", "in_window", "at_boundary"}
    assert deltas["a"].neighbours == {"b": 1.0, "in_window": 0.5, "at_boundary": 0.5}
    assert deltas["b"].neighbours == {"a": 1.0, "in_window": 0.5, "at_boundary": 0.5}
    earlier = deltas["in_window"]
    assert earlier == ProductDelta("in_window", T0, 0.0, {"a": 0.5, "b": 0.5})
    assert earlier.last_price is None and earlier.last_price_ts == NO_PRICE_TS


def test_cross_order_weight_zero_disables_cross_order_pairs() -> None:
    config = CopurchaseConfig(cross_order_weight=0.0)
    deltas = deltas_for_order(order(T0, "a", "b"), {"x": T0 - DAY_MS}, config)
    assert set(deltas) == {"a", "b"}
    assert deltas["a"].neighbours == {"b": 1.0}


def test_delta_entries_are_exactly_the_pairs() -> None:
    n, r = 5, 3
    recent = {f"r{i}": T0 - DAY_MS for i in range(r)}
    deltas = deltas_for_order(order(T0, *(f"p{i}" for i in range(n))), recent, DEFAULT)
    assert sum(len(delta.neighbours) for delta in deltas.values()) == n * (n - 1) + 2 * n * r


def test_purchases_count_orders_not_cross_order_appearances() -> None:
    config = NO_DECAY
    recent: dict[str, int] = {}
    batches = []
    for day, products in enumerate([("a", "b"), ("a",), ("c",), ("a", "c")]):
        facts = order(T0 + day * DAY_MS, *products)
        batches.append(deltas_for_order(facts, recent, config))
        recent = with_order(recent, facts, config.cross_order_days)
    states = apply_all(batches, config)
    assert {pid: state.purchases for pid, state in states.items()} == {
        "a": 3.0,
        "b": 1.0,
        "c": 2.0,
    }
    # On days 1-3 b is only a recent product: 0.5 with each product ordered, no purchase.
    assert dict(states["b"].neighbours) == {"a": 1.0 + 0.5 + 0.5, "c": 0.5 + 0.5}


def test_recent_products_window_and_with_order() -> None:
    recent = {"old": T0 - 31 * DAY_MS, "edge": T0 - 30 * DAY_MS, "new": T0, "future": T0 + 1}
    assert recent_products_within(recent, T0, 30.0) == {
        "edge": T0 - 30 * DAY_MS,
        "new": T0,
        "future": T0 + 1,
    }
    updated = with_order(recent, order(T0 + DAY_MS, "new", "x"), 30.0)
    assert updated == {"new": T0 + DAY_MS, "x": T0 + DAY_MS, "future": T0 + 1}
    assert "old" in recent  # the input is not changed
    # A late, older order does not move a later purchase back in time.
    assert with_order({"a": T0}, order(T0 - DAY_MS, "a", "b"), 30.0) == {
        "a": T0,
        "b": T0 - DAY_MS,
    }


# --------------------------------------------------------------------------- merging


def test_delta_merge_decays_to_the_later_time_and_changes_neither_input() -> None:
    old = ProductDelta("a", T0, 1.0, {"b": 1.0}, 5.0, T0, "x")
    new = ProductDelta("a", T0 + 90 * DAY_MS, 1.0, {"b": 1.0, "c": 0.5}, 7.0, T0 + 90 * DAY_MS)
    for merged in (old.merge(new, 90.0), new.merge(old, 90.0)):
        assert merged == ProductDelta(
            "a", T0 + 90 * DAY_MS, 1.5, {"b": 1.5, "c": 0.5}, 7.0, T0 + 90 * DAY_MS, None
        )
    assert old == ProductDelta("a", T0, 1.0, {"b": 1.0}, 5.0, T0, "x")
    assert new.neighbours == {"b": 1.0, "c": 0.5}


def test_merging_different_products_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        ProductDelta("a", T0).merge(ProductDelta("b", T0), 90.0)
    with pytest.raises(ValueError, match="cannot combine"):
        ProductState.empty("a").apply(ProductDelta("b", T0), DEFAULT)
    with pytest.raises(ValueError, match="cannot combine"):
        merge_delta_maps({}, {"a": ProductDelta("b", T0)}, 90.0)


def test_merge_delta_maps_keeps_one_delta_per_product_and_leaves_new_alone() -> None:
    first = deltas_for_order(order(T0, "a", "b"), {}, NO_DECAY)
    second = deltas_for_order(order(T0 + 1, "a", "c"), {}, NO_DECAY)
    accumulator: dict[str, ProductDelta] = {}
    merge_delta_maps(accumulator, first, 0.0)
    merge_delta_maps(accumulator, second, 0.0)
    assert set(accumulator) == {"a", "b", "c"}
    assert accumulator["a"] == ProductDelta(
        "a", T0 + 1, 2.0, {"b": 1.0, "c": 1.0}, 1.0, T0 + 1, "cat"
    )
    assert first["a"] == ProductDelta("a", T0, 1.0, {"b": 1.0}, 1.0, T0, "cat")
    assert accumulator["b"] is not first["b"]


def test_price_and_category_come_from_the_most_recent_line() -> None:
    config = NO_DECAY
    newer = deltas_for_order(OrderFacts(T0 + 10, (OrderedProduct("a", 9.0, "new"),)), {}, config)
    older = deltas_for_order(OrderFacts(T0, (OrderedProduct("a", 5.0, "old"),)), {}, config)
    recent_only = deltas_for_order(order(T0 + 20, "b"), {"a": T0 + 10}, config)
    for batches in ([newer, older, recent_only], [recent_only, older, newer]):
        state = apply_all(batches, config)["a"]
        assert (state.last_price, state.last_price_ts, state.category) == (9.0, T0 + 10, "new")


def test_equal_price_times_pick_the_same_winner_in_any_order() -> None:
    cheap = ProductDelta("a", T0, 1.0, {}, 1.0, T0, "z")
    dear = ProductDelta("a", T0, 1.0, {}, 2.0, T0, "a")
    assert cheap.merge(dear, 0.0).last_price == dear.merge(cheap, 0.0).last_price == 2.0


# --------------------------------------------------------------------------- pruning


def state_with(neighbours: dict[str, float]) -> ProductState:
    return ProductState("p", 1.0, neighbours, T0)


def test_pruning_keeps_exactly_k_strongest_with_ties_by_product_id() -> None:
    config = CopurchaseConfig(half_life_days=0.0, neighbours_k=3)
    delta = ProductDelta("p", T0, 0.0, {"d": 2.0, "b": 2.0, "e": 1.0, "a": 5.0, "c": 2.0})
    state = ProductState.empty("p").apply(delta, config)
    assert dict(state.neighbours) == {"a": 5.0, "b": 2.0, "c": 2.0}
    reordered = ProductDelta("p", T0, 0.0, dict(reversed(list(delta.neighbours.items()))))
    assert ProductState.empty("p").apply(reordered, config) == state


def test_pruning_drops_a_weak_pair_which_then_restarts_from_zero() -> None:
    config = CopurchaseConfig(half_life_days=0.0, neighbours_k=2)
    state = state_with({"a": 3.0, "b": 2.0})
    state = state.apply(ProductDelta("p", T0, 0.0, {"c": 1.0}), config)
    assert dict(state.neighbours) == {"a": 3.0, "b": 2.0}
    state = state.apply(ProductDelta("p", T0, 0.0, {"c": 1.5}), config)
    assert dict(state.neighbours) == {"a": 3.0, "b": 2.0}  # c would be 2.5 without pruning


def test_no_pruning_at_or_below_k() -> None:
    config = CopurchaseConfig(neighbours_k=2)
    state = ProductState.empty("p").apply(ProductDelta("p", T0, 1.0, {"a": 1.0, "b": 1.0}), config)
    assert dict(state.neighbours) == {"a": 1.0, "b": 1.0}


def test_with_decay_old_strong_pairs_fade_and_make_room() -> None:
    config = CopurchaseConfig(half_life_days=1.0, neighbours_k=1)
    state = ProductState.empty("p").apply(ProductDelta("p", T0, 0.0, {"old": 4.0}), config)
    state = state.apply(ProductDelta("p", T0 + 3 * DAY_MS, 0.0, {"new": 1.0}), config)
    assert dict(state.neighbours) == {"new": 1.0}  # old decayed to 0.5


def test_top_neighbours_strongest_first_ties_by_product_id() -> None:
    state = state_with({"c": 1.0, "b": 2.0, "a": 1.0, "d": 3.0})
    assert state.top_neighbours() == [("d", 3.0), ("b", 2.0), ("a", 1.0), ("c", 1.0)]
    assert state.top_neighbours(3) == [("d", 3.0), ("b", 2.0), ("a", 1.0)]
    assert state.top_neighbours(0) == []
    assert state.top_neighbours(10) == state.top_neighbours()
    with pytest.raises(ValueError, match="n must be >= 0"):
        state.top_neighbours(-1)


def test_apply_does_not_change_the_state_or_the_delta() -> None:
    state = state_with({"a": 1.0})
    delta = ProductDelta("p", T0 + DAY_MS, 1.0, {"a": 1.0, "b": 1.0})
    new_state = state.apply(delta, DEFAULT)
    assert new_state is not state
    assert state == state_with({"a": 1.0})
    assert delta == ProductDelta("p", T0 + DAY_MS, 1.0, {"a": 1.0, "b": 1.0})


# --------------------------------------------------------------------------- JSON


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def test_delta_json_round_trip_is_compact() -> None:
    delta = ProductDelta("a", T0, 1.0, {"b": 1.0, "c": 0.25}, 2.5, T0, "cat")
    data = delta.to_dict()
    assert data == {
        "p": "a",
        "t": T0,
        "n": 1,
        "w": {"b": 1, "c": 0.25},
        "lp": 2.5,
        "lt": T0,
        "c": "cat",
    }
    assert ProductDelta.from_dict(through_json(data)) == delta
    recent_only = ProductDelta("r", T0, 0.0, {"a": 0.5})
    assert recent_only.to_dict() == {"p": "r", "t": T0, "w": {"a": 0.5}}
    assert ProductDelta.from_dict(recent_only.to_dict()) == recent_only


def test_state_json_round_trip() -> None:
    states = apply_all(
        [
            deltas_for_order(order(T0, "a", "b", "c"), {}, DEFAULT),
            deltas_for_order(order(T0 + 5 * DAY_MS, "a", "b"), {"z": T0 + DAY_MS}, DEFAULT),
        ],
        DEFAULT,
    )
    for state in [*states.values(), ProductState.empty("nobody")]:
        assert ProductState.from_dict(through_json(state.to_dict())) == state
    assert ProductState.empty("x").to_dict() == {"p": "x", "t": 0}


@pytest.mark.parametrize(
    "data",
    [{}, {"p": "a"}, {"p": 1, "t": 0}, {"p": "a", "t": "x"}, {"p": "a", "t": 0, "w": [1]}],
)
def test_from_dict_rejects_malformed_dicts(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not a ProductState dict"):
        ProductState.from_dict(data)
    with pytest.raises(ValueError, match="not a ProductDelta dict"):
        ProductDelta.from_dict(data)


# --------------------------------------------------------------------------- idempotence


def test_applied_through_marks_delta_messages_as_applied_per_partition() -> None:
    state = ProductState.empty("a").with_applied_through(3, 40)
    assert state.already_applied(3, 40) and state.already_applied(3, 7)
    assert not state.already_applied(3, 41)
    assert not state.already_applied(2, 7)  # another partition's offsets say nothing
    assert not ProductState.empty("a").already_applied(3, 0)


def test_applied_through_survives_apply_and_the_wire_format() -> None:
    state = ProductState.empty("a").with_applied_through(1, 9)
    delta = ProductDelta("a", T0, 1.0, {"b": 1.0})
    applied = state.apply(delta, NO_DECAY)
    assert applied.applied_through == (1, 9)
    assert ProductState.from_dict(json.loads(json.dumps(applied.to_dict()))) == applied
    assert "at" not in ProductState.empty("a").to_dict()
    with pytest.raises(ValueError, match="not a ProductState"):
        ProductState.from_dict({"p": "a", "t": 0, "at": ["x"]})


def test_pruning_selects_the_same_neighbours_as_a_full_sort_by_weight_then_id() -> None:
    import random

    from streams.copurchase.model import _pruned

    rng = random.Random(11)
    for _ in range(300):
        size, k = rng.randint(1, 60), rng.randint(1, 40)
        # Few distinct weights, so that ties at the k-th weight are common.
        neighbours = {f"p{rng.randint(0, 999):03d}": float(rng.randint(1, 6)) for _ in range(size)}
        expected = dict(sorted(neighbours.items(), key=lambda kv: (-kv[1], kv[0]))[:k])
        pruned = _pruned(dict(neighbours), k)
        assert pruned == expected
        assert list(pruned) == [other for other in neighbours if other in expected]  # order kept

"""The co-purchase model over many random orders: order independence, batching, brute force."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from itertools import permutations

import pytest

from streams.copurchase.model import (
    CopurchaseConfig,
    OrderedProduct,
    OrderFacts,
    ProductDelta,
    ProductState,
    deltas_for_order,
    merge_delta_maps,
    with_order,
)
from tests.support.graph import assert_graphs_close

ONE_DAY_MS = 86_400_000  # written out: the brute force must not lean on the model
T0 = 1_700_000_000_000
PRODUCTS = [f"p{i:02d}" for i in range(12)]
SHOPPERS = ["s1", "s2", "s3", "s4"]
PRICES = [1.0, 2.5, 9.99]
CATEGORIES = [None, "mugs", "tea"]
LARGE_K = 10_000


@dataclass(frozen=True)
class ShopperOrder:
    shopper: str
    facts: OrderFacts


def random_orders(rng: random.Random, count: int) -> list[ShopperOrder]:
    """`count` small orders by a few shoppers over 200 days, at distinct times, in time order."""
    times = sorted(rng.sample(range(T0, T0 + 200 * ONE_DAY_MS, 3_600_000), count))
    orders = []
    for ts in times:
        products = rng.sample(PRODUCTS, rng.randint(1, 4))
        facts = OrderFacts(
            ts,
            tuple(OrderedProduct(p, rng.choice(PRICES), rng.choice(CATEGORIES)) for p in products),
        )
        orders.append(ShopperOrder(rng.choice(SHOPPERS), facts))
    return orders


def deltas_in_arrival_order(
    orders: list[ShopperOrder], config: CopurchaseConfig
) -> list[dict[str, ProductDelta]]:
    """Each order's deltas, the shoppers' recent products kept up in the order given."""
    recent: dict[str, dict[str, int]] = defaultdict(dict)
    result = []
    for o in orders:
        result.append(deltas_for_order(o.facts, recent[o.shopper], config))
        recent[o.shopper] = with_order(recent[o.shopper], o.facts, config.cross_order_days)
    return result


def apply_one_by_one(
    deltas: list[dict[str, ProductDelta]], config: CopurchaseConfig
) -> dict[str, ProductState]:
    states: dict[str, ProductState] = {}
    for order_deltas in deltas:
        for product_id, delta in order_deltas.items():
            states[product_id] = states.get(product_id, ProductState.empty(product_id)).apply(
                delta, config
            )
    return states


def apply_in_batches(
    deltas: list[dict[str, ProductDelta]], config: CopurchaseConfig, rng: random.Random
) -> dict[str, ProductState]:
    """Merge random-sized runs of deltas into one delta per product, then apply those."""
    states: dict[str, ProductState] = {}
    start = 0
    while start < len(deltas):
        end = start + rng.randint(1, 8)
        batch: dict[str, ProductDelta] = {}
        for order_deltas in deltas[start:end]:
            merge_delta_maps(batch, order_deltas, config.half_life_days)
        for product_id, delta in batch.items():
            states[product_id] = states.get(product_id, ProductState.empty(product_id)).apply(
                delta, config
            )
        start = end
    return states


CONFIGS = {
    "no decay": CopurchaseConfig(half_life_days=0.0, neighbours_k=LARGE_K),
    "90-day half-life": CopurchaseConfig(half_life_days=90.0, neighbours_k=LARGE_K),
    "3-day half-life": CopurchaseConfig(half_life_days=3.0, neighbours_k=LARGE_K),
    "same-order only": CopurchaseConfig(cross_order_weight=0.0, neighbours_k=LARGE_K),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", range(15))
def test_final_states_do_not_depend_on_the_order_deltas_arrive_in(
    config: CopurchaseConfig, seed: int
) -> None:
    rng = random.Random(seed)
    deltas = deltas_in_arrival_order(random_orders(rng, 30), config)
    expected = apply_one_by_one(deltas, config)
    for _ in range(10):
        shuffled = apply_one_by_one(rng.sample(deltas, len(deltas)), config)
        if config.half_life_days == 0:
            assert shuffled == expected  # sums of 1s and 0.5s are exact
        else:
            assert_graphs_close(expected, shuffled)


@pytest.mark.parametrize("seed", range(15))
def test_same_order_counts_do_not_depend_on_the_order_orders_arrive_in(seed: int) -> None:
    # Cross-order pairs need a shopper's orders in time order; same-order pairs never do.
    config = CONFIGS["same-order only"]
    rng = random.Random(seed)
    orders = random_orders(rng, 30)
    expected = apply_one_by_one(deltas_in_arrival_order(orders, config), config)
    for _ in range(10):
        shuffled = rng.sample(orders, len(orders))
        got = apply_one_by_one(deltas_in_arrival_order(shuffled, config), config)
        assert_graphs_close(expected, got)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", range(15))
def test_batch_merging_equals_applying_orders_one_by_one(
    config: CopurchaseConfig, seed: int
) -> None:
    rng = random.Random(1000 + seed)
    deltas = deltas_in_arrival_order(random_orders(rng, 40), config)
    expected = apply_one_by_one(deltas, config)
    assert_graphs_close(expected, apply_in_batches(deltas, config, rng))
    # Batches whose deltas arrive out of time order too.
    assert_graphs_close(expected, apply_in_batches(rng.sample(deltas, len(deltas)), config, rng))


def test_batch_merging_leaves_the_order_deltas_unchanged() -> None:
    config = CONFIGS["90-day half-life"]
    rng = random.Random(7)
    deltas = deltas_in_arrival_order(random_orders(rng, 40), config)
    before = [{pid: d.to_dict() for pid, d in order_deltas.items()} for order_deltas in deltas]
    apply_in_batches(deltas, config, rng)
    assert [{pid: d.to_dict() for pid, d in order_deltas.items()} for order_deltas in deltas] == (
        before
    )


# --------------------------------------------------------------------------- brute force


@dataclass
class Expected:
    purchases: float
    neighbours: dict[str, float]
    as_of_ts: int
    last_price: float
    category: str | None


def brute_force(
    orders: list[ShopperOrder], half_life_days: float, cross_weight: float, cross_days: float
) -> dict[str, Expected]:
    """The graph recomputed from scratch with plain loops over all orders."""
    # (product, neighbour or None for a purchase, weight, event time)
    contributions: list[tuple[str, str | None, float, int]] = []
    for o in orders:
        ids = [p.product_id for p in o.facts.products]
        ts = o.facts.ts_ms
        for product in ids:
            contributions.append((product, None, 1.0, ts))
        for a, b in permutations(ids, 2):
            contributions.append((a, b, 1.0, ts))
        bought_earlier: set[str] = set()
        for prev in orders:
            elapsed = ts - prev.facts.ts_ms
            if prev.shopper == o.shopper and 0 < elapsed <= cross_days * ONE_DAY_MS:
                bought_earlier.update(p.product_id for p in prev.facts.products)
        if cross_weight:
            for earlier in sorted(bought_earlier - set(ids)):
                for product in ids:
                    contributions.append((product, earlier, cross_weight, ts))
                    contributions.append((earlier, product, cross_weight, ts))

    latest: dict[str, int] = {}
    for product, _, _, ts in contributions:
        latest[product] = max(latest.get(product, ts), ts)

    def weight_at(product: str, weight: float, ts: int) -> float:
        if half_life_days == 0:
            return weight
        return weight * 0.5 ** ((latest[product] - ts) / (half_life_days * ONE_DAY_MS))

    expected: dict[str, Expected] = {}
    for product, as_of in latest.items():
        last = max(
            (o.facts.ts_ms, p) for o in orders for p in o.facts.products if p.product_id == product
        )
        expected[product] = Expected(0.0, {}, as_of, last[1].unit_price, last[1].category)
    for product, neighbour, weight, ts in contributions:
        entry = expected[product]
        if neighbour is None:
            entry.purchases += weight_at(product, weight, ts)
        else:
            entry.neighbours[neighbour] = entry.neighbours.get(neighbour, 0.0) + weight_at(
                product, weight, ts
            )
    return expected


def model_pipeline(orders: list[ShopperOrder], config: CopurchaseConfig) -> dict[str, ProductState]:
    """Orders in time order through the model as the workers run it, in batches of 5."""
    recent: dict[str, dict[str, int]] = defaultdict(dict)
    states: dict[str, ProductState] = {}
    for start in range(0, len(orders), 5):
        batch: dict[str, ProductDelta] = {}
        for o in orders[start : start + 5]:
            merge_delta_maps(
                batch, deltas_for_order(o.facts, recent[o.shopper], config), config.half_life_days
            )
            recent[o.shopper] = with_order(recent[o.shopper], o.facts, config.cross_order_days)
        for product_id, delta in batch.items():
            states[product_id] = states.get(product_id, ProductState.empty(product_id)).apply(
                delta, config
            )
    return states


@pytest.mark.parametrize("seed", range(10))
def test_model_equals_a_brute_force_recount_without_decay(seed: int) -> None:
    config = CopurchaseConfig(half_life_days=0.0, neighbours_k=LARGE_K)
    orders = random_orders(random.Random(seed), 60)
    expected = brute_force(orders, 0.0, config.cross_order_weight, config.cross_order_days)
    got = model_pipeline(orders, config)
    assert set(got) == set(expected)
    for product_id, want in expected.items():
        have = got[product_id]
        assert have.purchases == want.purchases
        assert dict(have.neighbours) == want.neighbours
        assert have.as_of_ts == want.as_of_ts
        assert (have.last_price, have.category) == (want.last_price, want.category)


@pytest.mark.parametrize("seed", range(10))
def test_model_equals_a_brute_force_recount_with_decay(seed: int) -> None:
    config = CopurchaseConfig(half_life_days=20.0, neighbours_k=LARGE_K)
    orders = random_orders(random.Random(seed), 60)
    expected = brute_force(orders, 20.0, config.cross_order_weight, config.cross_order_days)
    got = model_pipeline(orders, config)
    assert set(got) == set(expected)
    for product_id, want in expected.items():
        have = got[product_id]
        assert have.as_of_ts == want.as_of_ts
        assert math.isclose(have.purchases, want.purchases, rel_tol=1e-9)
        assert set(have.neighbours) == set(want.neighbours)
        for other, weight in want.neighbours.items():
            assert math.isclose(have.neighbours[other], weight, rel_tol=1e-9)


def test_the_random_orders_exercise_cross_order_pairs() -> None:
    # Guards the tests above against a generator that never produces the interesting cases.
    orders = random_orders(random.Random(0), 60)
    with_cross = brute_force(orders, 0.0, 0.5, 30.0)
    without_cross = brute_force(orders, 0.0, 0.0, 30.0)
    assert with_cross != without_cross
    assert any(
        not float(weight).is_integer()
        for entry in with_cross.values()
        for weight in entry.neighbours.values()
    )

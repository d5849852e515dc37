"""The worker's ranking snapshot (streams.offers.snapshot.SnapshotMaintainer): a refresh
indexes only what changed and ends with the index a full build of the same values gives."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.catalog.facts import CatalogFacts, PackedCatalogFacts
from streams.copurchase.model import DAY_MS, TOTAL_ORDERS_KEY, PackedProductState, ProductState
from streams.offers.ranking import ProductIndex
from streams.offers.ranking.index import IndexRow, facts_of_state
from streams.offers.snapshot import (
    RankingSnapshot,
    Refresh,
    SnapshotConfig,
    SnapshotMaintainer,
    build_snapshot,
)

T0 = 1_700_000_000_000
HALF_LIFE_DAYS = 90.0
K = 4
CATEGORIES = ("garden", "kitchen", "toys")


@dataclass(frozen=True)
class Entry:
    """A catalog entry (what ``CatalogEntry`` reads)."""

    unit_price: float
    category: str
    in_stock: bool = True


_packed: dict[int, tuple[Any, Any]] = {}


def packed_state(state: ProductState) -> PackedProductState:
    """`state` as the product view holds it. One object always gives the same packed tuple,
    as a view keeps a value's packed form until a record replaces it: the maintainer tells
    what changed by identity."""
    if id(state) not in _packed:
        _packed[id(state)] = (state, state.packed())
    result: PackedProductState = _packed[id(state)][1]
    return result


def packed_entry(entry: Entry) -> PackedCatalogFacts:
    """`entry` as the catalog view holds it (the same tuple for the same object)."""
    if id(entry) not in _packed:
        facts = CatalogFacts(entry.unit_price, entry.category, entry.in_stock)
        _packed[id(entry)] = (entry, facts.packed())
    result: PackedCatalogFacts = _packed[id(entry)][1]
    return result


def refresh_with(
    maintainer: SnapshotMaintainer, states: dict[str, ProductState], catalog: dict[str, Entry]
) -> Refresh:
    """A refresh from these values, packed as the views hold them."""
    return maintainer.refresh(
        [packed_state(s) for s in states.values()],
        {p: packed_entry(e) for p, e in catalog.items()},
    )


def config(full_build_every_ms: int = 10 * 60_000) -> SnapshotConfig:
    return SnapshotConfig(
        half_life_days=HALF_LIFE_DAYS, neighbours_k=K, full_build_every_ms=full_build_every_ms
    )


def product_ids(n: int) -> list[str]:
    return [f"p{i:03d}" for i in range(n)]


def random_state(rng: random.Random, product_id: str, ids: list[str], ts: int) -> ProductState:
    others = [p for p in ids if p != product_id]
    neighbours = {p: round(rng.uniform(0.1, 9.0), 3) for p in rng.sample(others, rng.randint(0, 6))}
    return ProductState(
        product_id,
        purchases=round(rng.uniform(0.0, 40.0), 3),
        neighbours=neighbours,
        as_of_ts=ts,
        last_price=round(rng.uniform(0.5, 30.0), 2),
        category=rng.choice(CATEGORIES),
    )


def store(seed: int, n: int = 30) -> tuple[dict[str, ProductState], dict[str, Entry]]:
    """States of the first n-5 products (and the order total), catalog entries of half."""
    rng = random.Random(seed)
    ids = product_ids(n)
    states = {p: random_state(rng, p, ids, T0 - rng.randint(0, 5) * DAY_MS) for p in ids[:-5]}
    states[TOTAL_ORDERS_KEY] = ProductState(TOTAL_ORDERS_KEY, purchases=120.0, as_of_ts=T0)
    catalog = {
        p: Entry(round(rng.uniform(1.0, 20.0), 2), rng.choice(CATEGORIES))
        for p in ids
        if p >= ids[n // 2]
    }
    return states, catalog


def full(states: dict[str, ProductState], catalog: dict[str, Entry], as_of: int) -> RankingSnapshot:
    return build_snapshot(
        states.values(), catalog, half_life_days=HALF_LIFE_DAYS, neighbours_k=K, as_of_ms=as_of
    )


def assert_same_index(got: ProductIndex, want: ProductIndex, *, stand_ins: ProductIndex) -> None:
    """Every array of `want`, and the category stand-ins of `stand_ins`."""
    assert got.product_ids == want.product_ids
    assert got.categories == want.categories
    for name in (
        "purchases", "price", "price_or_zero", "offerable", "in_stock", "category",
        "category_purchases", "category_size", "category_spend_share", "popular_codes",
        "price_edges", "price_bin", "price_bin_share",
    ):  # fmt: skip
        np.testing.assert_allclose(
            getattr(got, name), getattr(want, name), rtol=1e-12, err_msg=name
        )
    assert got.total_purchases == pytest.approx(want.total_purchases, rel=1e-12)
    assert got.popular_codes_in.keys() == want.popular_codes_in.keys()
    for cat, codes in want.popular_codes_in.items():
        np.testing.assert_array_equal(got.popular_codes_in[cat], codes)
    assert_same_rows([got.row(c) for c in range(len(got))], [want.row(c) for c in range(len(want))])
    assert_same_rows(got.category_rows, stand_ins.category_rows)


def assert_same_rows(got: list[IndexRow], want: list[IndexRow]) -> None:
    assert len(got) == len(want)
    for code, (have, expect) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(have.codes, expect.codes, err_msg=str(code))
        np.testing.assert_allclose(have.weights, expect.weights, rtol=1e-12, err_msg=str(code))
        assert have.purchases == pytest.approx(expect.purchases, rel=1e-12)
        assert have.floor == pytest.approx(expect.floor, rel=1e-12)


def changed_store(
    seed: int, states: dict[str, ProductState], catalog: dict[str, Entry], at: int
) -> tuple[dict[str, ProductState], dict[str, Entry], set[str]]:
    """Some states replaced by new values as of `at`, some catalog entries changed or removed."""
    rng = random.Random(seed)
    ids = sorted(p for p in states if p != TOTAL_ORDERS_KEY) + sorted(
        p for p in catalog if p not in states
    )
    new_states = dict(states)
    touched = set()
    for product_id in rng.sample(sorted(p for p in states if p != TOTAL_ORDERS_KEY), 5):
        new_states[product_id] = random_state(rng, product_id, ids, at)
        touched.add(product_id)
    new_states[TOTAL_ORDERS_KEY] = ProductState(TOTAL_ORDERS_KEY, purchases=130.0, as_of_ts=at)
    new_catalog = dict(catalog)
    in_both = sorted(p for p in catalog if p in states)
    for product_id in rng.sample(sorted(catalog), 3):
        old = catalog[product_id]
        new_catalog[product_id] = replace(old, unit_price=old.unit_price + 1, in_stock=False)
        touched.add(product_id)
    gone = rng.choice(in_both)  # still a product: its state's price and category apply
    del new_catalog[gone]
    touched.add(gone)
    return new_states, new_catalog, touched


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_refresh_at_the_base_time_equals_a_full_build_of_the_new_values(seed: int) -> None:
    states, catalog = store(seed)
    maintainer = SnapshotMaintainer(config())
    first = refresh_with(maintainer, states, catalog)
    assert first.kind == "full"
    new_states, new_catalog, touched = changed_store(seed + 1, states, catalog, at=T0)

    refresh = refresh_with(maintainer, new_states, new_catalog)

    assert refresh.kind == "incremental"
    assert refresh.changed == len(touched)
    want = full(new_states, new_catalog, T0)
    assert refresh.snapshot.as_of_ms == T0
    assert refresh.snapshot.total_orders == pytest.approx(want.total_orders, rel=1e-12)
    assert_same_index(refresh.snapshot.index, want.index, stand_ins=first.snapshot.index)


def test_states_newer_than_the_base_are_valued_at_the_base_time() -> None:
    states, catalog = store(7)
    maintainer = SnapshotMaintainer(config(full_build_every_ms=DAY_MS))
    refresh_with(maintainer, states, catalog)
    later = T0 + 3_600_000
    new_states, new_catalog, _ = changed_store(8, states, catalog, at=later)

    refresh = refresh_with(maintainer, new_states, new_catalog)

    assert refresh.kind == "incremental"
    # The same values, brought back to T0 by hand: a full build of those at T0 is the target.
    at_base = {
        p: s.valued_at(T0, HALF_LIFE_DAYS) if s.as_of_ts > T0 else s for p, s in new_states.items()
    }
    want = full(at_base, new_catalog, T0)
    assert refresh.snapshot.as_of_ms == T0
    assert refresh.snapshot.total_orders == pytest.approx(want.total_orders, rel=1e-12)
    assert want.total_orders > 130.0  # undoing an hour of decay raises the count
    first_stand_ins = full(states, catalog, T0).index
    assert_same_index(refresh.snapshot.index, want.index, stand_ins=first_stand_ins)


def test_valued_at_undoes_and_applies_decay() -> None:
    state = ProductState("a", purchases=8.0, neighbours={"b": 4.0}, as_of_ts=T0 + 90 * DAY_MS)
    back = state.valued_at(T0, 90.0)
    assert back.as_of_ts == T0
    assert back.purchases == pytest.approx(16.0)
    assert back.neighbours == {"b": pytest.approx(8.0)}
    forward = state.valued_at(T0 + 180 * DAY_MS, 90.0)
    assert forward == state.decayed_to(T0 + 180 * DAY_MS, 90.0)
    assert state.valued_at(T0, 0.0).purchases == 8.0  # no decay: nothing to undo


def test_the_snapshot_in_use_is_never_changed_by_a_refresh() -> None:
    states, catalog = store(3)
    maintainer = SnapshotMaintainer(config())
    old = refresh_with(maintainer, states, catalog).snapshot
    purchases = old.index.purchases.copy()
    rows = [
        IndexRow(row.codes.copy(), row.weights.copy(), row.purchases, row.floor)
        for row in (old.index.row(c) for c in range(len(old.index)))
    ]
    new_states, new_catalog, _ = changed_store(4, states, catalog, at=T0)

    assert refresh_with(maintainer, new_states, new_catalog).snapshot is not old

    np.testing.assert_array_equal(old.index.purchases, purchases)
    assert_same_rows([old.index.row(c) for c in range(len(old.index))], rows)


def test_nothing_changed_keeps_the_snapshot() -> None:
    states, catalog = store(5)
    maintainer = SnapshotMaintainer(config())
    first = refresh_with(maintainer, states, catalog)
    again = refresh_with(maintainer, dict(states), dict(catalog))
    assert again.kind == "unchanged"
    assert again.snapshot is first.snapshot


@pytest.mark.parametrize("change", ["new product", "new category", "base too old"])
def test_a_full_build_when_codes_or_the_base_time_must_move(change: str) -> None:
    states, catalog = store(9)
    maintainer = SnapshotMaintainer(config(full_build_every_ms=60_000))
    refresh_with(maintainer, states, catalog)
    new_states = dict(states)
    new_catalog = dict(catalog)
    at = T0
    if change == "new product":
        new_catalog["zz-new"] = Entry(3.0, "garden")
    elif change == "new category":
        some = sorted(catalog)[0]
        new_catalog[some] = Entry(3.0, "a category never seen")
    else:
        at = T0 + 60_000
        some = sorted(p for p in states if p != TOTAL_ORDERS_KEY)[0]
        new_states[some] = replace(states[some], purchases=99.0, as_of_ts=at)

    refresh = refresh_with(maintainer, new_states, new_catalog)

    assert refresh.kind == "full"
    assert refresh.changed == len(refresh.snapshot.index)
    assert refresh.snapshot.as_of_ms == at
    assert_same_index(refresh.snapshot.index, full(new_states, new_catalog, at).index,
                      stand_ins=full(new_states, new_catalog, at).index)  # fmt: skip


def test_with_changes_takes_only_products_and_categories_the_index_has() -> None:
    states, catalog = store(11)
    index = full(states, catalog, T0).index
    unknown = facts_of_state(ProductState("not-indexed", purchases=1.0), None)
    assert not index.accepts(unknown)
    with pytest.raises(KeyError):
        index.with_changes([unknown])
    some = sorted(p for p in states if p != TOTAL_ORDERS_KEY)[0]
    moved = facts_of_state(replace(states[some], category="elsewhere"), None)
    assert not index.accepts(moved)

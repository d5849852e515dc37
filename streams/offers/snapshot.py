"""The ranker's view of the world at one moment: a product index and the graph's order total.

The offline evaluation builds one from the state it folds (`build_snapshot`). The worker
keeps one up to date with its replicated product and catalog views (`SnapshotMaintainer`):
a full build now and then, and in between only the products whose state or catalog entry
changed are indexed again, so a refresh costs what changed, not the catalog. Both paths
index products with the same code (``ProductIndex``), so the ranker sees the same numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from streams.catalog.facts import CatalogFacts, PackedCatalogFacts
from streams.copurchase.model import (
    TOTAL_ORDERS_KEY,
    PackedProductState,
    ProductState,
    packed_as_of_ts,
)
from streams.offers.ranking import DEFAULT_RANKER_CONFIG, CatalogEntry, ProductIndex
from streams.offers.ranking.index import facts_of_entry, facts_of_state


@dataclass(frozen=True, slots=True)
class RankingSnapshot:
    """A product index and the decayed number of orders, both as of `as_of_ms`."""

    index: ProductIndex
    total_orders: float
    as_of_ms: int


def build_snapshot(
    states: Iterable[ProductState],
    catalog: Mapping[str, CatalogEntry] | None = None,
    *,
    half_life_days: float,
    neighbours_k: int | None,
    as_of_ms: int | None = None,
    price_bins: int = DEFAULT_RANKER_CONFIG.price_bins,
) -> RankingSnapshot:
    """Index product states (and catalog entries), decayed to one time (default: the latest)."""
    products: list[ProductState] = []
    total: ProductState | None = None
    for state in states:
        if state.product_id == TOTAL_ORDERS_KEY:
            total = state
        elif not state.product_id.startswith("\x00"):
            products.append(state)
    if as_of_ms is None:
        as_of_ms = max((s.as_of_ts for s in products), default=0)
        if total is not None:
            as_of_ms = max(as_of_ms, total.as_of_ts)
    index = ProductIndex.from_states(
        products,
        as_of_ms=as_of_ms,
        half_life_days=half_life_days,
        neighbours_k=neighbours_k,
        catalog=catalog,
        price_bins=price_bins,
    )
    total_orders = total.decayed_to(as_of_ms, half_life_days).purchases if total else 0.0
    return RankingSnapshot(index, total_orders, as_of_ms)


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    """How the worker's snapshot is kept: the graph's decay and K, and how often it is
    built in full."""

    half_life_days: float
    neighbours_k: int | None
    full_build_every_ms: int
    """A full build when the newest state is this much later than the last full build's
    time (the base every count is valued at), and whenever the product set or the set of
    category names changes."""
    price_bins: int = DEFAULT_RANKER_CONFIG.price_bins


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one `SnapshotMaintainer.refresh` did."""

    snapshot: RankingSnapshot
    kind: Literal["full", "incremental", "unchanged"]
    changed: int
    """Products indexed again (all of them for a full build)."""


class SnapshotMaintainer:
    """A `RankingSnapshot` kept up to date with changing product states and catalog entries.

    Every count in the snapshot is valued at one base time: the newest state's time at the
    last full build. It takes states and catalog entries packed, as the views hold them
    (``PackedProductState``, ``PackedCatalogFacts``), and unpacks only what it indexes.
    Between full builds, a refresh indexes again only the products whose packed state or
    catalog entry is not the very object it indexed last time (the views replace a
    changed value by a new object), valuing their states at the base time too
    (``ProductState.valued_at``), and recomputes what is derived over all products with
    numpy (``ProductIndex.with_changes``); the category stand-ins wait for the next full
    build. The base time is moved (a full build) after ``full_build_every_ms``: until then
    counts are up to that much behind the decay, which at a 90-day half-life and
    10 minutes is 0.005%. Not thread-safe: one refresh at a time.
    """

    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.snapshot: RankingSnapshot | None = None
        self._states: dict[str, PackedProductState] = {}
        self._entries: Mapping[str, PackedCatalogFacts] = {}
        self._total: PackedProductState | None = None

    def refresh(
        self,
        states: Iterable[PackedProductState],
        catalog: Mapping[str, PackedCatalogFacts],
    ) -> Refresh:
        """The snapshot of these states and catalog entries (the views' current values, as
        the views hold them: packed; only what is indexed is unpacked).

        The maintainer keeps `catalog` to tell the next refresh what changed: hand it a
        mapping that nothing changes afterwards (the worker passes a copy of its view).
        """
        products: dict[str, PackedProductState] = {}
        total: PackedProductState | None = None
        for state in states:
            product_id = state[0]
            if product_id == TOTAL_ORDERS_KEY:
                total = state
            elif not product_id.startswith("\x00"):
                products[product_id] = state
        latest = max(map(packed_as_of_ts, products.values()), default=0)
        if total is not None:
            latest = max(latest, packed_as_of_ts(total))
        current = self.snapshot
        if (
            current is None
            or latest - current.as_of_ms >= self.config.full_build_every_ms
            or not current.index.same_products(
                itertools.chain(products, (p for p in catalog if p not in products))
            )
        ):
            return self._full(products, total, catalog, latest)
        changed = [p for p, state in products.items() if self._states.get(p) is not state]
        changed_set = set(changed)
        entries = self._entries
        changed += [
            p
            for p, entry in catalog.items()
            if entries.get(p) is not entry and p not in changed_set
        ]
        changed += [p for p in entries.keys() - catalog.keys() if p not in changed_set]
        if not changed and self._total_unchanged(total):
            return Refresh(current, "unchanged", 0)
        base = current.as_of_ms
        half_life = self.config.half_life_days
        facts = []
        for product_id in changed:
            changed_state = products.get(product_id)
            packed_entry = catalog.get(product_id)
            entry = CatalogFacts.from_packed(packed_entry) if packed_entry is not None else None
            if changed_state is not None:
                unpacked = ProductState.from_packed(changed_state)
                fact = facts_of_state(unpacked.valued_at(base, half_life), entry)
            else:
                assert entry is not None  # the product set is unchanged
                fact = facts_of_entry(product_id, entry)
            if not current.index.accepts(fact):  # a category the index does not know
                return self._full(products, total, catalog, latest)
            facts.append(fact)
        index = current.index.with_changes(facts)
        index.as_of_ms = base
        total_orders = (
            ProductState.from_packed(total).valued_at(base, half_life).purchases
            if total is not None
            else 0.0
        )
        self.snapshot = RankingSnapshot(index, total_orders, base)
        self._states = products
        self._entries = catalog
        self._total = total
        return Refresh(self.snapshot, "incremental", len(facts))

    def _total_unchanged(self, total: PackedProductState | None) -> bool:
        return total is self._total

    def _full(
        self,
        products: dict[str, PackedProductState],
        total: PackedProductState | None,
        catalog: Mapping[str, PackedCatalogFacts],
        latest: int,
    ) -> Refresh:
        states = [ProductState.from_packed(state) for state in products.values()]
        if total is not None:
            states.append(ProductState.from_packed(total))
        self.snapshot = build_snapshot(
            states,
            {product_id: CatalogFacts.from_packed(entry) for product_id, entry in catalog.items()},
            half_life_days=self.config.half_life_days,
            neighbours_k=self.config.neighbours_k,
            as_of_ms=latest,
            price_bins=self.config.price_bins,
        )
        self._states = products
        self._entries = catalog
        self._total = total
        return Refresh(self.snapshot, "full", len(self.snapshot.index))

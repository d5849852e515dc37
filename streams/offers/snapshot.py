"""The ranker's view of the world at one moment: a product index and the graph's order total.

The worker builds one from its replicated product and catalog views every few seconds; the
offline evaluation builds one from the state it folds. Both go through `build_snapshot`, so
the ranker sees the same numbers in both places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.copurchase.model import TOTAL_ORDERS_KEY, ProductState
from streams.offers.ranking import DEFAULT_RANKER_CONFIG, CatalogEntry, ProductIndex


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

"""The ranker's product index: a read-only snapshot of the products' facts as numpy arrays.

Built from ``ProductFacts`` or from the co-purchase view's states (``from_states``), every few
seconds off the event loop (about 0.7 s for 4,500 products x K=100). Products get integer
codes in product-id order, so sorting by code breaks ties by product id; arrays over
categories have one extra last slot for "no category". Pure: numpy, no Faust.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from streams.offers.ranking.inputs import (
    DEFAULT_RANKER_CONFIG,
    CatalogEntry,
    ProductFacts,
    check_int,
)

if TYPE_CHECKING:
    from streams.copurchase.model import ProductState

__all__ = [
    "EMPTY_FLOAT",
    "EMPTY_INT",
    "EMPTY_ROW",
    "EPS",
    "BoolArray",
    "FloatArray",
    "IndexRow",
    "IntArray",
    "ProductIndex",
    "facts_of_entry",
    "facts_of_state",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

EPS: Final = 1e-12
"""Smallest probability or share the ranker divides by or takes the logit of."""
EMPTY_INT: Final[IntArray] = np.zeros(0, np.int64)
EMPTY_FLOAT: Final[FloatArray] = np.zeros(0, np.float64)


class IndexRow(NamedTuple):
    """One evidence source's neighbours: product codes, weights, purchases, floor."""

    codes: IntArray
    weights: FloatArray
    purchases: float
    floor: float
    """Weight an absent neighbour is known not to exceed (0 when the list is complete)."""


EMPTY_ROW: Final = IndexRow(EMPTY_INT, EMPTY_FLOAT, 0.0, 0.0)

_PackedRow: TypeAlias = tuple[IntArray, FloatArray, float, float]
"""An `IndexRow`'s fields as a plain tuple: how the index holds its per-product rows. Numpy
arrays and floats are not tracked by the cyclic garbage collector, so neither is a plain
tuple of them once a collection has seen it (a named tuple stays tracked): a full collection
does not visit one object per product of the catalog (``bench/results/gc_pauses.md``)."""


def _packed_row(row: IndexRow) -> _PackedRow:
    return (row.codes, row.weights, row.purchases, row.floor)  # a plain tuple: see above


def _price_or_nan(price: float | None) -> float:
    """A usable price, NaN when unknown or not positive."""
    return price if price is not None and price > 0 else math.nan


def facts_of_state(state: ProductState, entry: CatalogEntry | None) -> ProductFacts:
    """A product's facts from its co-purchase state (counts as the state has them) and its
    catalog entry: the entry gives price, category and stock; without one, the last price
    and category seen."""
    return ProductFacts(
        state.product_id,
        price=entry.unit_price if entry is not None else state.last_price,
        category=entry.category if entry is not None else state.category,
        in_stock=entry.in_stock if entry is not None else None,
        purchases=state.purchases,
        neighbours=tuple(state.neighbours.items()),
    )


def facts_of_entry(product_id: str, entry: CatalogEntry) -> ProductFacts:
    """A catalogued product nobody has bought yet."""
    return ProductFacts(product_id, entry.unit_price, entry.category, entry.in_stock)


class ProductIndex:
    """A read-only snapshot of the products' facts, as arrays, for fast ranking.

    Build it from ``ProductFacts`` (``ProductIndex(facts)``) or from the live views
    (``ProductIndex.from_states``). Products get integer codes in product-id order, so
    sorting by code breaks ties by product id.
    """

    def __init__(
        self,
        facts: Iterable[ProductFacts],
        *,
        neighbours_k: int | None = None,
        popular_per_category: int = 100,
        price_bins: int = DEFAULT_RANKER_CONFIG.price_bins,
        rows: Sequence[IndexRow] | None = None,
    ) -> None:
        """Index `facts`; a list of ``neighbours_k`` or more neighbours counts as pruned.

        ``rows``: the neighbour rows already as arrays, one per product in product-id order
        (codes sorted, no product paired with itself), used instead of ``facts.neighbours``
        by callers that count pairs in arrays (the offline plain co-purchase baseline).
        """
        check_int("popular_per_category", popular_per_category, 1)
        check_int("price_bins", price_bins, 1)
        self.neighbours_k = neighbours_k
        self.popular_per_category = popular_per_category
        self.price_bins = price_bins
        by_id = {f.product_id: f for f in facts}
        ids = sorted(by_id)
        ordered = [by_id[pid] for pid in ids]
        self.as_of_ms: int | None = None
        """The time every count is as of (set by ``from_states``; bring ``total_orders`` there)."""
        self.product_ids: tuple[str, ...] = tuple(ids)
        self.code_of: dict[str, int] = {pid: i for i, pid in enumerate(ids)}
        self.purchases: FloatArray = np.array([max(f.purchases, 0.0) for f in ordered], np.float64)
        self.price: FloatArray = np.array([_price_or_nan(f.price) for f in ordered], np.float64)
        self.in_stock: BoolArray = np.array([f.in_stock is not False for f in ordered], np.bool_)
        """In stock or unknown (False only when the catalog says it is out of stock)."""
        self.categories: tuple[str, ...] = tuple(
            sorted({f.category for f in ordered if f.category is not None})
        )
        self.category_code: dict[str, int] = {c: i for i, c in enumerate(self.categories)}
        ncat = len(self.categories)
        # Code ncat stands for "no category" so that arrays over categories can be indexed
        # by any product's category code.
        self.category: IntArray = np.array(
            [ncat if f.category is None else self.category_code[f.category] for f in ordered],
            np.int64,
        )
        if rows is not None and len(rows) != len(ids):
            raise ValueError(f"rows: {len(rows)} rows for {len(ids)} products")
        self._rows: list[_PackedRow] = (
            [_packed_row(row) for row in rows]
            if rows is not None
            else [
                self._make_row(f, neighbours_k is not None and len(f.neighbours) >= neighbours_k)
                for f in ordered
            ]
        )
        """Per product code: its neighbours (pair evidence when it is in a cart), packed
        (`row` gives one as an `IndexRow`)."""
        self._derive()
        self.category_rows: list[IndexRow] = self._category_stand_ins()
        """Per category code: the category's "average product" (stands in for cold items)."""

    def accepts(self, facts: ProductFacts) -> bool:
        """Whether `with_changes` can take these facts: a product of this index, in no
        category or in one it knows."""
        return facts.product_id in self.code_of and (
            facts.category is None or facts.category in self.category_code
        )

    def with_changes(self, changed: Iterable[ProductFacts]) -> ProductIndex:
        """A new index: this one with the facts of some of its products replaced.

        Every changed product must be `accepts`-ed (KeyError otherwise): codes and category
        codes stay as they are. The changed products' rows, purchases, prices, stock and
        categories are replaced and everything derived from the per-product arrays is
        computed again (numpy over all products: cheap next to rows), so the result equals
        a full build of the same facts, except the category stand-ins: averages over whole
        categories, kept from this index until the next full build. This index is not
        changed (decisions may be reading it).
        """
        new = copy.copy(self)
        new.purchases = self.purchases.copy()
        new.price = self.price.copy()
        new.in_stock = self.in_stock.copy()
        new.category = self.category.copy()
        new._rows = list(self._rows)
        ncat = len(self.categories)
        k = self.neighbours_k
        for facts in changed:
            code = self.code_of[facts.product_id]
            new.purchases[code] = max(facts.purchases, 0.0)
            new.price[code] = _price_or_nan(facts.price)
            new.in_stock[code] = facts.in_stock is not False
            new.category[code] = (
                ncat if facts.category is None else self.category_code[facts.category]
            )
            new._rows[code] = new._make_row(facts, k is not None and len(facts.neighbours) >= k)
        new._derive()
        return new

    def _derive(self) -> None:
        """The arrays that follow from the per-product ones: totals per category, the
        popularity orders, the price bins (everything but the category stand-ins)."""
        popular_per_category = self.popular_per_category
        price_bins = self.price_bins
        ncat = len(self.categories)
        self.price_or_zero: FloatArray = np.nan_to_num(self.price)
        """The price, 0 where unknown (what expected revenue multiplies by)."""
        self.log_price: FloatArray = np.log(np.maximum(self.price_or_zero, EPS))
        """log of the price (log EPS where unknown): a feature of the fitted acceptance model."""
        self.offerable: BoolArray = self.in_stock & ~np.isnan(self.price)
        """In stock (or unknown) and priced."""
        self.total_purchases: float = float(self.purchases.sum())
        self.category_purchases: FloatArray = np.bincount(
            self.category, weights=self.purchases, minlength=ncat + 1
        ).astype(np.float64)
        self.category_size: IntArray = np.bincount(self.category, minlength=ncat + 1).astype(
            np.int64
        )
        spend = np.bincount(
            self.category, weights=self.purchases * np.nan_to_num(self.price), minlength=ncat + 1
        ).astype(np.float64)
        self.category_spend_share: FloatArray = spend / max(float(spend.sum()), EPS)
        """Each category's share of all spend (purchases x price; last: no category)."""
        by_popularity = np.lexsort((np.arange(len(self.product_ids)), -self.purchases)).astype(
            np.int64
        )
        self.popular_codes: IntArray = by_popularity[:popular_per_category]
        """Codes of the most purchased products, most first (the last fallback)."""
        self.popular_codes_in: dict[int, IntArray] = {}
        """Per category code: its most purchased products' codes, most first."""
        # Grouped by category, most purchased first within each (a stable sort keeps the
        # popularity order).
        grouped = by_popularity[np.argsort(self.category[by_popularity], kind="stable")]
        starts = np.searchsorted(self.category[grouped], np.arange(ncat + 1))
        for cat in range(ncat):
            members = grouped[starts[cat] : starts[cat + 1]]
            self.popular_codes_in[cat] = members[:popular_per_category]
        self.price_edges: FloatArray = self._price_edges(price_bins)
        self.price_bin: IntArray = np.searchsorted(
            self.price_edges, np.nan_to_num(self.price, nan=0.0), side="right"
        ).astype(np.int64)
        bins = len(self.price_edges) + 1
        mass = np.bincount(
            self.price_bin, weights=np.where(np.isnan(self.price), 0.0, self.purchases),
            minlength=bins,
        ).astype(np.float64)  # fmt: skip
        total = float(mass.sum())
        self.price_bin_share: FloatArray = mass / total if total > 0 else np.full(bins, 1 / bins)
        """The population's share of purchases per price bin."""

    def row(self, code: int) -> IndexRow:
        """The neighbours of the product with this code."""
        return IndexRow._make(self._rows[code])

    def _make_row(self, facts: ProductFacts, pruned: bool) -> _PackedRow:
        code_of = self.code_of
        pairs = sorted(
            (code_of[pid], w)
            for pid, w in facts.neighbours
            if pid in code_of and pid != facts.product_id and w > 0
        )
        if not pairs:
            return (EMPTY_INT, EMPTY_FLOAT, max(facts.purchases, 0.0), 0.0)
        codes = np.array([c for c, _ in pairs], np.int64)
        weights = np.array([w for _, w in pairs], np.float64)
        floor = float(weights.min()) if pruned or facts.pruned else 0.0
        return (codes, weights, max(facts.purchases, 0.0), floor)

    def _category_stand_ins(self) -> list[IndexRow]:
        """Per category, its "average product": mean purchases and mean neighbour weights."""
        ncat = len(self.categories)
        packed = self._rows
        with_rows = [c for c, (codes, _, _, _) in enumerate(packed) if len(codes)]
        if not with_rows or not ncat:
            return [EMPTY_ROW] * ncat
        source_cat = np.concatenate(
            [np.full(len(packed[c][0]), self.category[c], np.int64) for c in with_rows]
        )
        target = np.concatenate([packed[c][0] for c in with_rows])
        weight = np.concatenate([packed[c][1] for c in with_rows])
        pruned_cat = np.zeros(ncat + 1, np.bool_)
        for c in with_rows:
            if packed[c][3] > 0:
                pruned_cat[self.category[c]] = True
        keys = source_cat * len(self.product_ids) + target
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        sums = np.bincount(inverse, weights=weight)
        key_cat = unique_keys // len(self.product_ids)
        key_target = unique_keys % len(self.product_ids)
        rows: list[IndexRow] = []
        for cat in range(ncat):
            size = max(int(self.category_size[cat]), 1)
            lo, hi = np.searchsorted(key_cat, [cat, cat + 1])
            codes = key_target[lo:hi].astype(np.int64)
            weights = sums[lo:hi] / size
            floor = float(weights.min()) if pruned_cat[cat] and len(weights) else 0.0
            purchases = float(self.category_purchases[cat]) / size
            rows.append(IndexRow(codes, weights, purchases, floor))
        return rows

    def _price_edges(self, bins: int) -> FloatArray:
        """Inner edges of the purchase-weighted price quantiles (at most ``bins - 1``)."""
        known = ~np.isnan(self.price) & (self.purchases > 0)
        if bins <= 1 or not known.any():
            return EMPTY_FLOAT
        prices = self.price[known]
        weights = self.purchases[known]
        order = np.argsort(prices, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        positions = np.minimum(
            np.searchsorted(cumulative, np.arange(1, bins) / bins), len(order) - 1
        )
        edges: FloatArray = np.unique(prices[order][positions]).astype(np.float64)
        return edges

    @classmethod
    def from_states(
        cls,
        states: Mapping[str, ProductState] | Iterable[ProductState],
        *,
        half_life_days: float,
        neighbours_k: int | None,
        as_of_ms: int | None = None,
        catalog: Mapping[str, CatalogEntry] | None = None,
        popular_per_category: int = 100,
        price_bins: int = DEFAULT_RANKER_CONFIG.price_bins,
    ) -> ProductIndex:
        """An index of the co-purchase view (plus catalog entries), decayed to one time.

        ``as_of_ms`` defaults to the latest ``as_of_ts`` of the states: each state is kept as
        of its own last update, and counts are only comparable at one time. Keys starting
        with NUL (such as the graph's order total) are not products and are skipped. A
        catalog entry gives the price, category and stock (catalog-only products are
        included with no purchases); otherwise the last price and category seen are used.
        ``half_life_days`` and ``neighbours_k`` are the graph's (``CopurchaseConfig``; no
        default here, so that the graph's settings are the only ones).
        """
        values = list(states.values()) if isinstance(states, Mapping) else list(states)
        values = [s for s in values if not s.product_id.startswith("\x00")]
        if as_of_ms is None:
            as_of_ms = max((s.as_of_ts for s in values), default=0)
        catalog = catalog or {}
        facts: list[ProductFacts] = []
        for state in values:
            current = state.decayed_to(as_of_ms, half_life_days)
            facts.append(facts_of_state(current, catalog.get(state.product_id)))
        known = {f.product_id for f in facts}
        for product_id, entry in catalog.items():
            if product_id not in known:
                facts.append(facts_of_entry(product_id, entry))
        index = cls(
            facts,
            neighbours_k=neighbours_k,
            popular_per_category=popular_per_category,
            price_bins=price_bins,
        )
        index.as_of_ms = as_of_ms
        return index

    def __len__(self) -> int:
        return len(self.product_ids)

    def same_products(self, product_ids: Iterable[str]) -> bool:
        """Whether `product_ids` (each once) are exactly this index's products."""
        count = 0
        code_of = self.code_of
        for product_id in product_ids:
            if product_id not in code_of:
                return False
            count += 1
        return count == len(code_of)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.code_of

    def facts(self, product_id: str) -> ProductFacts | None:
        """The facts of one product as the index holds them (for inspection and tests)."""
        code = self.code_of.get(product_id)
        if code is None:
            return None
        row = self.row(code)
        price = float(self.price[code])
        return ProductFacts(
            product_id,
            None if math.isnan(price) else price,
            self.category_name(code),
            None if self.offerable[code] else False,
            float(self.purchases[code]),
            tuple(
                (self.product_ids[c], w)
                for c, w in zip(row.codes.tolist(), row.weights.tolist(), strict=True)
            ),
            row.floor > 0,
        )

    def category_name(self, code: int) -> str | None:
        """The category of the product with this code, None when it has none."""
        cat = int(self.category[code])
        return self.categories[cat] if cat < len(self.categories) else None

    def popular(self, category: str | None = None) -> tuple[str, ...]:
        """The most purchased products (of one category), most first."""
        if category is None:
            codes = self.popular_codes
        else:
            cat = self.category_code.get(category)
            codes = self.popular_codes_in.get(cat, EMPTY_INT) if cat is not None else EMPTY_INT
        return tuple(self.product_ids[c] for c in codes.tolist())

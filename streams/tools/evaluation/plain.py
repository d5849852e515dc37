"""The plain "customers also bought" baseline: same-order co-purchase counts, nothing else.

``copurchase_count`` ranks by the stream's own graph: decayed (``BASKETLIFT_DECAY_HALF_LIFE_DAYS``),
with cross-order pairs of one shopper and each neighbour list pruned to the strongest K. Each
of those is a modelling choice that can make the baseline weaker than the textbook one, so
the evaluation also reports ``copurchase_plain``, built here from the order log alone:

- ``purchases[a]`` = orders containing a, ``count[a, b]`` = orders containing both a and b,
  over every order folded (all history before the split, plus the test windows already
  folded with ``--refresh-days``);
- no decay, no pruning, no cross-order pairs, no cap on an order's paired products; a
  product counts once per order however many lines it has.

The counts become a ``ProductIndex`` with the live index's products, prices, categories and
stock (``PlainCounts.index_like``), so ``rank_by_copurchase_count`` ranks with the same
candidates, fallbacks and filters as the other rankers and only the counts differ.

Pairs are counted in numpy: each order's distinct products as int ids, its unordered pairs
as one int64 key ``a << 32 | b`` (a < b), summed per key in chunks (``np.unique``), so the
UCI two-year log (68 million ordered pairs before the split) takes seconds, not minutes.
Pure: numpy, no Faust.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np

from streams.offers.ranking import ProductFacts, ProductIndex
from streams.offers.ranking.index import FloatArray, IndexRow, IntArray
from streams.tools.replay.orderlog import Order

__all__ = ["PlainCounts"]

_SHIFT: Final = 32
_LOW: Final = (1 << _SHIFT) - 1
_CHUNK_KEYS: Final = 1 << 22
"""Pair keys collected before they are summed (32 MiB of int64)."""


class PlainCounts:
    """Same-order co-purchase counts of every order added, without decay or pruning."""

    def __init__(self) -> None:
        self.id_of: dict[str, int] = {}
        self.product_ids: list[str] = []
        self._purchases: list[int] = []
        self.pair_keys: IntArray = np.zeros(0, np.int64)
        """Sorted unique keys ``a << 32 | b`` (a < b, ids of ``product_ids``)."""
        self.pair_counts: FloatArray = np.zeros(0, np.float64)
        """Orders containing both products of the key at the same position."""
        self.orders = 0

    def add(self, orders: Iterable[Order]) -> None:
        """Count the orders' products and same-order pairs."""
        id_of = self.id_of
        pending: list[IntArray] = []
        pending_size = 0
        for order in orders:
            self.orders += 1
            ids: set[int] = set()
            for line in order.lines:
                pid = id_of.get(line.product_id)
                if pid is None:
                    pid = id_of[line.product_id] = len(self.product_ids)
                    self.product_ids.append(line.product_id)
                    self._purchases.append(0)
                if pid not in ids:
                    ids.add(pid)
                    self._purchases[pid] += 1
            if len(ids) < 2:
                continue
            codes = np.array(sorted(ids), np.int64)
            first, second = np.triu_indices(len(codes), 1)
            pending.append((codes[first] << _SHIFT) | codes[second])
            pending_size += len(first)
            if pending_size >= _CHUNK_KEYS:
                self._merge(pending)
                pending, pending_size = [], 0
        if pending:
            self._merge(pending)

    def _merge(self, pending: list[IntArray]) -> None:
        keys, counts = np.unique(np.concatenate(pending), return_counts=True)
        if len(self.pair_keys):
            keys = np.concatenate([self.pair_keys, keys])
            weights = np.concatenate([self.pair_counts, counts.astype(np.float64)])
            keys, inverse = np.unique(keys, return_inverse=True)
            self.pair_counts = np.bincount(inverse, weights=weights, minlength=len(keys)).astype(
                np.float64
            )
        else:
            self.pair_counts = counts.astype(np.float64)
        self.pair_keys = keys

    def purchases(self, product_id: str) -> int:
        """Orders containing the product (0 if never seen)."""
        pid = self.id_of.get(product_id)
        return self._purchases[pid] if pid is not None else 0

    def count(self, a: str, b: str) -> float:
        """Orders containing both products (0 for a product with itself or never seen)."""
        first, second = self.id_of.get(a), self.id_of.get(b)
        if first is None or second is None or first == second:
            return 0.0
        key = (min(first, second) << _SHIFT) | max(first, second)
        at = int(np.searchsorted(self.pair_keys, key))
        found = at < len(self.pair_keys) and int(self.pair_keys[at]) == key
        return float(self.pair_counts[at]) if found else 0.0

    def index_like(self, live: ProductIndex, price_bins: int) -> ProductIndex:
        """An index of these counts over the products of `live`, with its prices, categories
        and stock (products `live` does not know are left out, as the rankers cannot offer
        them anyway). Neighbour lists are complete (never pruned)."""
        n = len(live)
        facts = []
        for code, product_id in enumerate(live.product_ids):
            price = float(live.price[code])
            facts.append(
                ProductFacts(
                    product_id,
                    None if np.isnan(price) else price,
                    live.category_name(code),
                    None if live.offerable[code] or np.isnan(price) else False,
                    float(self.purchases(product_id)),
                )
            )
        code_of_id = np.array([live.code_of.get(pid, -1) for pid in self.product_ids], np.int64)
        if len(self.pair_keys):
            a = code_of_id[self.pair_keys >> _SHIFT]
            b = code_of_id[self.pair_keys & _LOW]
            known = (a >= 0) & (b >= 0)
            a, b, weights = a[known], b[known], self.pair_counts[known]
        else:
            a = b = np.zeros(0, np.int64)
            weights = np.zeros(0, np.float64)
        # Both directions, sorted by (source, neighbour): each source's row is one slice.
        source = np.concatenate([a, b])
        target = np.concatenate([b, a])
        weight = np.concatenate([weights, weights])
        order = np.argsort(source * max(n, 1) + target, kind="stable")
        source, target, weight = source[order], target[order], weight[order]
        bounds = np.searchsorted(source, np.arange(n + 1))
        rows = [
            IndexRow(
                target[bounds[code] : bounds[code + 1]],
                weight[bounds[code] : bounds[code + 1]],
                facts[code].purchases,
                0.0,
            )
            for code in range(n)
        ]
        return ProductIndex(facts, price_bins=price_bins, rows=rows)

"""Baseline rankers for the offline evaluation: co-purchase counts and popularity.

``rank_by_copurchase_count`` ("customers also bought": the sum of co-purchase weights with
the cart items) and ``rank_by_popularity`` (decayed purchases) share the candidate
generation from the cart, the fallbacks and the filters with ``rank_offers``
(``streams.offers.ranking.candidates``). They do not read profiles. Pure: numpy, no Faust.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from streams.offers.ranking.candidates import (
    Decision,
    entries_of,
    open_decision,
    rank,
    reason_for,
)
from streams.offers.ranking.index import FloatArray, ProductIndex
from streams.offers.ranking.inputs import DEFAULT_RANKER_CONFIG, CartLine, RankerConfig
from streams.offers.ranking.outputs import Evidence, Offer

__all__ = ["rank_by_copurchase_count", "rank_by_popularity"]


def _counts_explain(decision: Decision, j: int) -> tuple[str, tuple[Evidence, ...]]:
    index = decision.index
    code = int(decision.candidates[j])
    evidence = []
    for _, s, weight in entries_of(decision, j):
        source = decision.sources[s]
        n = source.row.purchases
        evidence.append(
            Evidence(source.kind, source.name, weight, n, weight / n if n > 0 else 0.0, 0.0, 1.0)
        )
    evidence.sort(key=lambda e: (-e.co_purchases, e.source))
    return reason_for(evidence, index, code), tuple(evidence)


def _copurchase_scores(decision: Decision) -> tuple[FloatArray, FloatArray]:
    count = len(decision.candidates)
    sums = np.bincount(decision.entry_candidate, weights=decision.entry_weight, minlength=count)
    purchases = decision.index.purchases[decision.candidates]
    orders = sum(s.row.purchases for s in decision.sources)
    p = np.clip(sums / orders, 0.0, 1.0) if orders > 0 else np.zeros(count)
    # Equal sums (e.g. fallbacks, whose sum is 0) go to the more purchased product: the
    # popularity term is far below any difference between sums.
    tie_break = purchases / (float(purchases.max(initial=0.0)) + 1.0) * 1e-6
    return sums + tie_break, p


def _popularity_scores(decision: Decision) -> tuple[FloatArray, FloatArray]:
    purchases = decision.index.purchases[decision.candidates]
    total = max(decision.index.total_purchases, 1.0)
    return purchases.copy(), np.clip(purchases / total, 0.0, 1.0)


def rank_by_copurchase_count(
    items: Sequence[CartLine],
    index: ProductIndex,
    *,
    exclude: Collection[str] = (),
    suppressed: Collection[str] = (),
    config: RankerConfig = DEFAULT_RANKER_CONFIG,
) -> list[Offer]:
    """Baseline "customers also bought": the sum of co-purchase weights with the cart items.

    Same candidates (from the cart), fallbacks and filters as ``rank_offers``. ``p_accept``
    is the sum over the sources' purchases, a rough rate for display only.
    """
    decision = open_decision(items, index, exclude, suppressed)
    return rank(decision, _copurchase_scores, _counts_explain, config)


def rank_by_popularity(
    items: Sequence[CartLine],
    index: ProductIndex,
    *,
    exclude: Collection[str] = (),
    suppressed: Collection[str] = (),
    config: RankerConfig = DEFAULT_RANKER_CONFIG,
) -> list[Offer]:
    """Baseline: the most purchased candidates (same candidates, fallbacks and filters)."""
    decision = open_decision(items, index, exclude, suppressed)
    return rank(decision, _popularity_scores, _counts_explain, config)

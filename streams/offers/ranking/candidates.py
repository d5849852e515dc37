"""Candidate generation, filters and selection, shared by the model and the baselines.

A decision starts from the cart (or the just-completed order): each cart item's neighbour
list is a pair-evidence source; an item without neighbours is replaced by its category's
"average product" (``ProductIndex.category_rows``). Candidates are the sources' neighbours
plus any seeded codes (the shopper's recent purchases), minus the blocked ones.

FILTERS. Never a product in the cart/order or in ``exclude``; never one known to be out of
stock (``in_stock is False``; unknown counts as in stock); never a ``suppressed``
(fatigued) one; never one without a price; at most ``max_per_category`` per category
(products without a category are not capped).

FALLBACKS (cold start). When the candidates (after filters) are fewer than ``top_n``, the
most purchased products of the cart's categories are added and everything is scored again,
then the most purchased products overall. A scorer (``Scorer``) gives each candidate a sort
score and a p_accept; ``rank`` sorts by score (ties: the smaller product id), applies the
category cap and builds the offers with each one's reason and evidence. Pure: numpy, no Faust.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

import numpy as np

from streams.offers.ranking.index import (
    EMPTY_FLOAT,
    EMPTY_INT,
    BoolArray,
    FloatArray,
    IndexRow,
    IntArray,
    ProductIndex,
)
from streams.offers.ranking.inputs import CartLine, RankerConfig
from streams.offers.ranking.outputs import Evidence, EvidenceKind, Offer
from streams.units import DAY_MS

if TYPE_CHECKING:
    from streams.profiles.model import ShopperProfile

__all__ = [
    "Decision",
    "Explainer",
    "Scorer",
    "Source",
    "entries_of",
    "gather",
    "history_reason",
    "open_decision",
    "pair_reason",
    "popular_reason",
    "post_purchase_exclusions",
    "rank",
    "reason_for",
    "select",
]


class Source(NamedTuple):
    """One pair-evidence source of a decision: a cart item, or a category standing in.

    A named tuple rather than a frozen dataclass: as immutable, and built in a fraction of
    the time (a decision has one per distinct cart item).
    """

    kind: Literal["product", "category"]
    name: str
    row: IndexRow


@dataclass(slots=True)
class Decision:
    """What every ranker shares: sources, blocked products, candidates and pair entries."""

    index: ProductIndex
    sources: list[Source]
    blocked: BoolArray
    cart_categories: list[int]
    seeded: IntArray
    candidates: IntArray = field(default_factory=lambda: EMPTY_INT)
    entry_source: IntArray = field(default_factory=lambda: EMPTY_INT)
    """Per pair entry (a source's neighbour that is a candidate): the source's index."""
    entry_candidate: IntArray = field(default_factory=lambda: EMPTY_INT)
    """Per pair entry: the candidate's position in ``candidates``."""
    entry_weight: FloatArray = field(default_factory=lambda: EMPTY_FLOAT)


def open_decision(
    items: Sequence[CartLine],
    index: ProductIndex,
    exclude: Collection[str],
    suppressed: Collection[str],
    seeded: IntArray = EMPTY_INT,
) -> Decision:
    """A decision's sources and blocked products (candidates come with ``gather``).

    Sources: each distinct cart item with neighbours, then, for cart items without any (new,
    or only ever bought alone), their category's stand-in row, once per category. Blocked:
    the cart, ``exclude``, ``suppressed`` and every product that is not offerable.
    ``seeded``: codes the caller adds as candidates (the shopper's recent purchases).
    """
    code_of = index.code_of
    ncat = len(index.categories)
    cart_ids: list[str] = []
    cart_categories: list[int] = []
    cold: list[int] = []
    sources: list[Source] = []
    seen: set[str] = set()
    for item in items:
        product_id = item.product_id
        if product_id in seen:
            continue
        seen.add(product_id)
        cart_ids.append(product_id)
        code = code_of.get(product_id)
        cat = int(index.category[code]) if code is not None else ncat
        if cat == ncat and item.category is not None:
            cat = index.category_code.get(item.category, ncat)
        if cat < ncat and cat not in cart_categories:
            cart_categories.append(cat)
        row = index.row(code) if code is not None else None
        if row is not None and len(row.codes):
            sources.append(Source("product", product_id, row))
        elif cat < ncat and cat not in cold:
            cold.append(cat)
    for cat in cold:
        row = index.category_rows[cat]
        if len(row.codes):
            sources.append(Source("category", index.categories[cat], row))
    blocked = ~index.offerable
    for ids in (cart_ids, exclude, suppressed):
        codes = [code_of[pid] for pid in ids if pid in code_of]
        if codes:
            blocked[codes] = True
    return Decision(index, sources, blocked, cart_categories, seeded)


def gather(decision: Decision, extra: Sequence[IntArray]) -> None:
    """Candidates: the sources' neighbours and `extra` codes, minus the blocked ones.

    Candidates come out sorted by code, each once. They are found by marking codes in an
    array over the whole index rather than by sorting the entries (``np.unique``): the
    index has a few thousand products, a 20-item cart up to 2,000 entries, and the marks
    cost a fraction of the sort.
    """
    sources = decision.sources
    parts = [s.row.codes for s in sources]
    lengths = [len(p) for p in parts]
    entry_codes = np.concatenate(parts) if parts else EMPTY_INT
    size = len(decision.index)
    candidate = np.zeros(size, np.bool_)
    candidate[entry_codes] = True
    for codes in extra:
        candidate[codes] = True
    candidate &= ~decision.blocked
    decision.candidates = np.flatnonzero(candidate).astype(np.int64, copy=False)
    position = np.empty(size, np.int64)
    position[decision.candidates] = np.arange(len(decision.candidates), dtype=np.int64)
    entry_kept = candidate[entry_codes]
    decision.entry_source = np.repeat(np.arange(len(sources), dtype=np.int64), lengths)[entry_kept]
    decision.entry_candidate = position[entry_codes[entry_kept]]
    decision.entry_weight = (
        np.concatenate([s.row.weights for s in sources])[entry_kept] if sources else EMPTY_FLOAT
    )


Scorer: TypeAlias = Callable[[Decision], tuple[FloatArray, FloatArray]]
"""(sort score, p_accept) for each candidate of a gathered decision."""
Explainer: TypeAlias = Callable[[Decision, int], tuple[str, tuple[Evidence, ...]]]
"""(reason, evidence) of the candidate at a position of a scored decision."""


def select(decision: Decision, scorer: Scorer, cap: int, n: int) -> list[tuple[int, float, float]]:
    """(position, score, p) of the best `n` candidates, at most `cap` per category."""
    if not len(decision.candidates):
        return []
    scores, p = scorer(decision)
    candidates = decision.candidates
    ncat = len(decision.index.categories)
    cats = decision.index.category[candidates]
    # Sort a shortlist first: every candidate scoring at least the shortlist's worst (so
    # ties at the edge are all in); the full list only if the category cap exhausts it.
    size = len(candidates)
    shortlist_size = n * (cap + 8)
    shortlists: list[IntArray] = []
    if size > shortlist_size:
        edge = np.partition(-scores, shortlist_size - 1)[shortlist_size - 1]
        shortlists.append(np.flatnonzero(-scores <= edge))
    shortlists.append(np.arange(size))
    chosen: list[tuple[int, float, float]] = []
    for shortlist in shortlists:
        # Codes follow product ids: lexsort by (code, -score) breaks ties by product id.
        order = shortlist[np.lexsort((candidates[shortlist], -scores[shortlist]))]
        taken: dict[int, int] = {}
        chosen = []
        for j in order.tolist():
            cat = int(cats[j])
            if cat < ncat:
                if taken.get(cat, 0) >= cap:
                    continue
                taken[cat] = taken.get(cat, 0) + 1
            chosen.append((j, float(scores[j]), float(p[j])))
            if len(chosen) >= n:
                return chosen
    return chosen


def rank(
    decision: Decision, scorer: Scorer, explain: Explainer, config: RankerConfig
) -> list[Offer]:
    """Score and choose; when short of ``top_n``, add the fallbacks and choose again."""
    index = decision.index
    extra = [decision.seeded] if len(decision.seeded) else []
    fallbacks = [
        [index.popular_codes_in[c] for c in decision.cart_categories],
        [index.popular_codes],
    ]
    chosen: list[tuple[int, float, float]] = []
    for stage in range(len(fallbacks) + 1):
        if stage:
            extra = [*extra, *fallbacks[stage - 1]]
        gather(decision, extra)
        chosen = select(decision, scorer, config.max_per_category, config.top_n)
        if len(chosen) >= config.top_n:
            break
    offers: list[Offer] = []
    for j, score, p in chosen:
        code = int(decision.candidates[j])
        price = float(index.price[code])
        reason, evidence = explain(decision, j)
        offers.append(
            Offer(
                product_id=index.product_ids[code],
                unit_price=price,
                offer_price=price,
                p_accept=p,
                expected_revenue=p * price,
                reason=reason,
                category=index.category_name(code),
                evidence=evidence,
                score=score,
            )
        )
    return offers


def entries_of(decision: Decision, j: int) -> list[tuple[int, int, float]]:
    """(entry, source index, weight) of the pair entries of the candidate at position j."""
    hit = np.flatnonzero(decision.entry_candidate == j).tolist()
    sources = decision.entry_source[hit].tolist()
    weights = decision.entry_weight[hit].tolist()
    return list(zip(hit, sources, weights, strict=True))


def _count(value: float) -> str:
    return f"{value:.0f}" if value >= 1 else f"{value:.1f}"


def pair_reason(
    kind: EvidenceKind, source: str, co_purchases: float, orders: float, estimate: float
) -> str:
    """The reason an offer's strongest pair evidence gives (a cart item, or its category)."""
    if kind == "category":
        return f"bought with '{source}' products in {100 * estimate:.0f}% of orders"
    return f"bought with '{source}' in {_count(co_purchases)} of {_count(orders)} orders"


def history_reason(recent_days: float) -> str:
    """The reason of an offer the shopper bought within the history window."""
    return f"you bought it in the last {_count(recent_days)} days"


def popular_reason(index: ProductIndex, code: int) -> str:
    """The reason of an offer without pair or history evidence: its popularity."""
    category = index.category_name(code)
    where = f" in '{category}'" if category is not None else ""
    return f"popular{where}: in {_count(float(index.purchases[code]))} recent orders"


def reason_for(
    evidence: Sequence[Evidence], index: ProductIndex, code: int, recent_days: float = 30.0
) -> str:
    """The strongest co-purchase, else a recent purchase of the shopper's, else popularity
    (`evidence` strongest first)."""
    for item in evidence:
        if item.kind in ("product", "category") and item.co_purchases > 0:
            return pair_reason(
                item.kind, item.source, item.co_purchases, item.orders, item.estimate
            )
    if any(item.kind == "history" and item.co_purchases > 0 for item in evidence):
        return history_reason(recent_days)
    return popular_reason(index, code)


def post_purchase_exclusions(
    order_items: Iterable[CartLine],
    profile: ShopperProfile | None,
    now_ms: int,
    days: float = 30.0,
) -> frozenset[str]:
    """Products not to offer after an order: its own and those bought in the last `days`."""
    excluded = {item.product_id for item in order_items}
    if profile is not None:
        start = now_ms - days * DAY_MS
        excluded.update(pid for pid, ts in profile.recent_products.items() if ts >= start)
    return frozenset(excluded)

"""The offline protocol: hide one product of each later order, ask each ranker for k offers.

1. State: the orders before ``split_at`` are folded through the stream's own code
   (``streams.tools.evaluation.state.fold_orders``), then the product view is indexed exactly as
   the worker indexes it (``streams.offers.snapshot.build_snapshot``, decayed to the split
   time). The state stays FROZEN at the split: test orders never update it, so every test order is
   ranked with what was known before the test period (a 3-month-old model by the end: a
   lower bound on what a live stream, which keeps learning, would do).
2. Cases: every order at or after the split with 2 or more distinct products (orders
   before ``limit_orders``, if given, in time order). One product is hidden, chosen
   uniformly at random; the others are the cart, at most ``max_cart`` (20) of them sampled
   uniformly, keeping their basket order. Randomness is seeded per order
   (``random.Random(f"{seed}:{order_id}")``), so a case does not depend on which other
   orders are evaluated.
3. Each ranker offers ``k`` products not in the cart (the same cart items, quantities,
   prices and categories; ``basketlift`` also gets the shopper's profile as of the split,
   None for guests). A hit is the hidden product among the offers; its revenue is the
   hidden line's unit price in the order.
4. Metrics per ranker: ``hit_at_k`` = hits / cases; ``revenue_per_impression`` = revenue /
   (cases x k) (a ranker that offers fewer than k products still pays for k slots);
   ``coverage`` = distinct products offered / products in the training state;
   ``decisions_per_second`` = cases / seconds spent inside the ranker calls.
   Also reported: ``offer_hit_rate`` = hits / offers, ``mean_p_accept`` of the offers and
   ``predicted_revenue_per_impression`` = the offers' expected revenue / (cases x k). They
   are NOT on one scale: ``p_accept`` estimates P(the shopper buys b in this order), while a
   hit needs b to be *the one product hidden* from an otherwise complete order (for an
   order of s products, one draw in s). Compare rankers with each other, or the offers'
   p_accept with each other (relative calibration), not these two numbers.
5. Calibration (``streams.tools.evaluation.calibration``): an offer is *accepted* when its
   product was bought in the order outside the visible cart (the hidden product, or one
   the 20-item cap left out); ``acceptance_rate`` = accepted / offers. The offers are cut
   into deciles of p_accept, and the expected calibration error (ECE) is the offer-weighted
   mean |mean p_accept - acceptance rate| over the deciles. As item 4 says, the protocol
   leaves one product to find where p_accept speaks of the whole rest of the order, so a
   large ECE here measures that gap as much as the model's own miscalibration.
6. ``copurchase_plain`` (``streams.tools.evaluation.plain``): the textbook "customers also
   bought", same-order counts over every order before the split (no decay, no pruning, no
   cross-order pairs), ranked like ``copurchase_count``; every ratio is taken against it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from streams.offers.ranking import (
    CartItem,
    CatalogEntry,
    Offer,
    ProductIndex,
    RankerConfig,
    log_cart_sources,
    rank_by_copurchase_count,
    rank_by_popularity,
    rank_offers,
)
from streams.offers.snapshot import build_snapshot
from streams.profiles.model import ShopperProfile
from streams.tools.evaluation.calibration import (
    CalibrationBin,
    expected_calibration_error,
    reliability_bins,
)
from streams.tools.evaluation.plain import PlainCounts
from streams.tools.evaluation.state import LiveState
from streams.tools.replay.orderlog import Order

__all__ = [
    "DEFAULT_MAX_CART",
    "RANKER_NAMES",
    "EvaluationCase",
    "RankerContext",
    "RankerResult",
    "build_context",
    "evaluate_cases",
    "make_case",
    "make_cases",
]

DEFAULT_MAX_CART: Final = 20
RANKER_NAMES: Final = (
    "popularity",
    "copurchase_count",
    "copurchase_plain",
    "basketlift",
    "basketlift_fitted",
)


@dataclass(frozen=True, slots=True)
class EvaluationCase:
    """One test order: the visible cart and the hidden product."""

    order_id: str
    shopper_id: str | None
    ts_ms: int
    cart: tuple[CartItem, ...]
    hidden: str
    hidden_price: float
    bought: frozenset[str] = frozenset()
    """The order's products outside the cart: the hidden one, and those the cart cap left
    out. An offer of one of them is accepted (calibration); only the hidden one is a hit."""


def make_case(order: Order, seed: int, max_cart: int = DEFAULT_MAX_CART) -> EvaluationCase | None:
    """The case of one order (None when it has fewer than 2 distinct products)."""
    lines = []
    seen: set[str] = set()
    for line in order.lines:
        if line.product_id not in seen:
            seen.add(line.product_id)
            lines.append(line)
    if len(lines) < 2:
        return None
    rng = random.Random(f"{seed}:{order.order_id}")
    hidden = lines.pop(rng.randrange(len(lines)))
    bought = {hidden.product_id}
    if len(lines) > max_cart:
        keep = sorted(rng.sample(range(len(lines)), max_cart))
        kept = set(keep)
        bought.update(ln.product_id for i, ln in enumerate(lines) if i not in kept)
        lines = [lines[i] for i in keep]
    cart = tuple(CartItem(ln.product_id, ln.quantity, ln.unit_price, ln.category) for ln in lines)
    return EvaluationCase(
        order.order_id,
        order.shopper_id,
        order.ts_ms,
        cart,
        hidden.product_id,
        hidden.unit_price,
        frozenset(bought),
    )


def make_cases(
    orders: Iterable[Order], seed: int, max_cart: int = DEFAULT_MAX_CART
) -> list[EvaluationCase]:
    """The cases of the given (test) orders, in their order; single-product orders skipped."""
    cases = []
    for order in orders:
        case = make_case(order, seed, max_cart)
        if case is not None:
            cases.append(case)
    return cases


@dataclass(frozen=True, slots=True)
class RankerContext:
    """What the rankers read: the frozen index, order total and profiles, and the index of
    plain same-order counts (``copurchase_plain``; None when that ranker is not run)."""

    index: ProductIndex
    total_orders: float
    profiles: Mapping[str, ShopperProfile]
    config: RankerConfig
    plain_index: ProductIndex | None = None
    fitted: RankerConfig | None = None
    """The ranker config with a fitted acceptance model (``basketlift_fitted``)."""


Ranker = Callable[[EvaluationCase, RankerContext], list[Offer]]


def _popularity(case: EvaluationCase, ctx: RankerContext) -> list[Offer]:
    return rank_by_popularity(case.cart, ctx.index, config=ctx.config)


def _copurchase_count(case: EvaluationCase, ctx: RankerContext) -> list[Offer]:
    return rank_by_copurchase_count(case.cart, ctx.index, config=ctx.config)


def _copurchase_plain(case: EvaluationCase, ctx: RankerContext) -> list[Offer]:
    if ctx.plain_index is None:
        raise ValueError("copurchase_plain needs the plain counts (build_context(plain=...))")
    return rank_by_copurchase_count(case.cart, ctx.plain_index, config=ctx.config)


def _basketlift(case: EvaluationCase, ctx: RankerContext) -> list[Offer]:
    profile = ctx.profiles.get(case.shopper_id) if case.shopper_id is not None else None
    return rank_offers(
        case.cart,
        ctx.index,
        ctx.total_orders,
        profile=profile,
        config=ctx.config,
    )


def _basketlift_fitted(case: EvaluationCase, ctx: RankerContext) -> list[Offer]:
    if ctx.fitted is None or ctx.fitted.acceptance is None:
        raise ValueError("basketlift_fitted needs a fitted acceptance model (RankerContext.fitted)")
    profile = ctx.profiles.get(case.shopper_id) if case.shopper_id is not None else None
    return rank_offers(case.cart, ctx.index, ctx.total_orders, profile=profile, config=ctx.fitted)


RANKERS: Final[dict[str, Ranker]] = {
    "popularity": _popularity,
    "copurchase_count": _copurchase_count,
    "copurchase_plain": _copurchase_plain,
    "basketlift": _basketlift,
    "basketlift_fitted": _basketlift_fitted,
}


def build_context(
    state: LiveState,
    as_of_ms: int,
    config: RankerConfig,
    half_life_days: float,
    k_neighbours: int,
    plain: PlainCounts | None = None,
    fitted: RankerConfig | None = None,
    catalog: Mapping[str, CatalogEntry] | None = None,
) -> RankerContext:
    """Index the folded state as the worker would, decayed to `as_of_ms`, and the `plain`
    counts (if given) over the same products, prices and categories. `fitted`: the
    config of ``basketlift_fitted``. `catalog`: catalog entries by product id, indexed as
    the worker indexes its catalog view (products never ordered included)."""
    snapshot = build_snapshot(
        state.products.values(),
        catalog,
        as_of_ms=as_of_ms,
        half_life_days=half_life_days,
        neighbours_k=k_neighbours,
        price_bins=config.price_bins,
    )
    plain_index = plain.index_like(snapshot.index, config.price_bins) if plain else None
    return RankerContext(
        snapshot.index, snapshot.total_orders, state.profiles, config, plain_index, fitted
    )


@dataclass
class RankerResult:
    """One ranker's tallies over the cases, and the metrics derived from them."""

    name: str
    k: int
    catalogue_size: int
    cases: int = 0
    hits: int = 0
    revenue: float = 0.0
    offers: int = 0
    seconds: float = 0.0
    p_accept_sum: float = 0.0
    expected_revenue_sum: float = 0.0
    offered: set[str] = field(default_factory=set)
    p_accepts: list[float] = field(default_factory=list)
    """Every offer's p_accept, in order (calibration)."""
    accepted: list[bool] = field(default_factory=list)
    """Whether each offer's product was bought in the order (``EvaluationCase.bought``)."""
    cart_sources: list[float] = field(default_factory=list)
    """Each offer's ``log_cart_sources`` (``basketlift_fitted`` only, the second input of
    its calibration map; empty for the other rankers)."""
    raw_p_accepts: list[float] = field(default_factory=list)
    """Each offer's fitted probability before the calibration map (``basketlift_fitted``
    only: what a map is fitted on; empty for the other rankers)."""
    case_revenues: list[float] = field(default_factory=list)
    """Each case's revenue (its hidden product's price when offered, else 0), in order:
    the per-order values a bootstrap over the cases resamples."""

    def add(
        self,
        case: EvaluationCase,
        offers: Sequence[Offer],
        seconds: float,
        cart_sources: float | None = None,
        raw_p_accepts: Sequence[float] = (),
    ) -> None:
        """Count one case (`cart_sources`: its ``log_cart_sources``, kept per offer;
        `raw_p_accepts`: its offers' probabilities before the calibration map)."""
        self.cases += 1
        if cart_sources is not None:
            self.cart_sources.extend([cart_sources] * len(offers))
        self.raw_p_accepts.extend(raw_p_accepts)
        self.seconds += seconds
        self.offers += len(offers)
        earned = 0.0
        for offer in offers:
            self.offered.add(offer.product_id)
            self.p_accept_sum += offer.p_accept
            self.expected_revenue_sum += offer.expected_revenue
            self.p_accepts.append(offer.p_accept)
            self.accepted.append(offer.product_id in case.bought)
            if offer.product_id == case.hidden:
                self.hits += 1
                self.revenue += case.hidden_price
                earned += case.hidden_price
        self.case_revenues.append(earned)

    @property
    def hit_at_k(self) -> float:
        """Share of cases whose hidden product was offered."""
        return self.hits / self.cases if self.cases else 0.0

    @property
    def revenue_per_impression(self) -> float:
        """Revenue of the hits / (cases x k)."""
        return self.revenue / (self.cases * self.k) if self.cases else 0.0

    @property
    def coverage(self) -> float:
        """Distinct products offered / products in the training state."""
        return len(self.offered) / self.catalogue_size if self.catalogue_size else 0.0

    def calibration(self, bins: int = 10) -> list[CalibrationBin]:
        """The offers by decile of p_accept: mean p_accept against observed acceptance."""
        return reliability_bins(self.p_accepts, self.accepted, bins)

    @property
    def expected_calibration_error(self) -> float:
        """Offer-weighted mean |p_accept - acceptance| over the deciles of p_accept."""
        return expected_calibration_error(self.calibration())

    @property
    def decisions_per_second(self) -> float:
        """Cases / seconds inside the ranker."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0

    def metrics(self) -> dict[str, Any]:
        """The reported numbers (JSON-able)."""
        slots = self.cases * self.k
        return {
            "hit_at_k": self.hit_at_k,
            "revenue_per_impression": self.revenue_per_impression,
            "coverage": self.coverage,
            "decisions_per_second": self.decisions_per_second,
            "cases": self.cases,
            "hits": self.hits,
            "revenue": self.revenue,
            "offers": self.offers,
            "distinct_offered": len(self.offered),
            "mean_p_accept": self.p_accept_sum / self.offers if self.offers else 0.0,
            "offer_hit_rate": self.hits / self.offers if self.offers else 0.0,
            "predicted_revenue_per_impression": self.expected_revenue_sum / slots if slots else 0.0,
            "acceptance_rate": sum(self.accepted) / self.offers if self.offers else 0.0,
            "expected_calibration_error": self.expected_calibration_error,
            "calibration_deciles": [
                {
                    "offers": group.offers,
                    "mean_p_accept": group.mean_predicted,
                    "acceptance_rate": group.observed,
                }
                for group in self.calibration()
            ],
        }


def evaluate_cases(
    cases: Sequence[EvaluationCase],
    context: RankerContext,
    names: Sequence[str] = RANKER_NAMES,
    progress: Callable[[int], None] | None = None,
    results: dict[str, RankerResult] | None = None,
) -> dict[str, RankerResult]:
    """Run every named ranker on every case, adding to `results` (new ones if None).

    `progress` gets the number of cases done, every 500 cases and at the end.
    """
    unknown = [name for name in names if name not in RANKERS]
    if unknown:
        raise ValueError(f"unknown rankers {unknown}; known: {list(RANKERS)}")
    k = context.config.top_n
    if results is None:
        results = {}
    for name in names:
        results.setdefault(name, RankerResult(name, k, len(context.index)))
    rankers = [(results[name], RANKERS[name], name == "basketlift_fitted") for name in names]
    # The fitted ranker ranks with its model's raw probabilities (the calibration map never
    # changes a ranking) and its map is applied here, so that every offer's raw probability
    # is known too: what a refresh refits the map on.
    model = context.fitted.acceptance if context.fitted is not None else None
    raw_context = context
    if context.fitted is not None and model is not None:
        raw_context = replace(
            context, fitted=replace(context.fitted, acceptance=model.without_calibration())
        )
    clock = time.perf_counter
    for done, case in enumerate(cases, start=1):
        for result, ranker, fitted in rankers:
            if not fitted or model is None:
                started = clock()
                offers = ranker(case, context)
                result.add(case, offers, clock() - started)
                continue
            sources = log_cart_sources(case.cart, context.index)
            started = clock()  # the ranking and its map, as the stream does both
            raw_offers = ranker(case, raw_context)
            raw = [offer.p_accept for offer in raw_offers]
            reported = model.calibration.of_raw(np.array(raw), sources).tolist()
            offers = [
                replace(offer, p_accept=p, expected_revenue=p * offer.offer_price)
                for offer, p in zip(raw_offers, reported, strict=True)
            ]
            result.add(case, offers, clock() - started, sources, raw)
        if progress is not None and (done % 500 == 0 or done == len(cases)):
            progress(done)
    return results

"""The basketlift model: offers ranked by expected revenue per impression (``rank_offers``).

WHAT IS RANKED. A shopper has a cart (or has just completed an order). Each candidate
product ``b`` gets ``p_accept`` = P(b is bought in this order | what we know) and is ranked
by its expected revenue per impression ``p_accept x offer_price``: a 2% chance on a 45.00
item (0.90) beats 5% on a 10.00 one (0.50). The product with the price amplifies every
error of ``p``: an over-confident estimate for a rare pair of expensive items wins the
ranking and then hardly ever sells. So the model below is built from calibrated pieces.

NOTATION. Counts come from the co-purchase graph (``streams.copurchase.model``), decayed by
event time (so they are "recent-equivalent orders") and brought to one time by the index:
``N`` orders in all, ``n_a`` orders containing ``a``, ``w_ab`` the co-purchase weight of a
and b (1 per order with both, 0.5 per cross-order pair of one shopper).

1. BASE RATE (Jeffreys prior, so a product never bought still has a rate):
   ``q_b = (n_b + 1/2) / (N + 1)``.
2. PAIR ESTIMATE of P(b | a): the posterior mean under a Beta(alpha q_b, alpha (1 - q_b))
   prior worth ``alpha`` (``prior_strength``) orders, i.e. shrunk toward the base rate:
   ``p_ab = (min(w_ab, n_a) + alpha q_b) / (n_a + alpha)``.
   One co-purchase on a product bought three times stays near ``q_b``; 41 of 120 orders
   keeps most of its 34%. A ``b`` *missing* from a's neighbour list is evidence too: if the
   list is complete, ``w_ab = 0``; if it may have been pruned at K, only ``w_ab <= floor_a``
   (the weakest kept weight) is known, and ``w_ab`` is taken as ``min(floor_a, n_a q_b)``
   (independence, capped by what pruning proves).
3. THE CART, POOLED: the cart items are experts on the same question and strongly
   dependent (they were bought *because* they go together), so their estimates are
   averaged (a linear opinion pool), each weighted by the credibility of its statistics,
   ``u_a = n_a / (n_a + alpha)`` (an item with no history neither helps nor dilutes):
   ``p_cart_b = sum_a u_a p_ab / sum_a u_a``.
   A mixture of calibrated forecasts is calibrated on average. Multiplying the items'
   likelihood ratios instead (naive Bayes, or noisy-OR in probability space) would count
   one piece of evidence 20 times in a 20-item cart and make every well-connected
   candidate look certain. A cart item the graph has no neighbours for (new, or only ever
   bought alone) is replaced by its category as "the average product of the category"
   (purchases and neighbour weights averaged over the category's products).
4. OTHER SOURCES, MULTIPLIED: evidence of a different kind is close to independent of the
   cart given b, so it enters by Bayes' rule in odds form, each as a log likelihood ratio
   (a lift over the base rate), each shrunk toward "no information":
   - history (identified shoppers): the shopper's own recent orders. ``k`` orders in the
     last ``recent_days``, ``x_b`` = 1 if b was bought in one of them (the profile keeps
     the last purchase only, so 1 is a lower bound), else 0; the same Beta prior:
     ``p_hist_b = (x_b + alpha q_b) / (k + alpha)``, lift ``logit p_hist_b - logit q_b``.
     Re-ordering is common; this is what makes a recent purchase a candidate at all.
   - price level: the shopper's recent unit prices (profile) and the cart's prices, as
     a share per price bin (bins: purchase-weighted price quantiles of the catalogue, so
     they fit any store and currency), against the population's share of purchases:
     ``LR = ((c_bin + beta pi_bin) / (c + beta)) / pi_bin`` with ``beta`` =
     ``profile_prior_strength`` pseudo-observations. This is what keeps a budget shopper
     from being shown the dearest item that co-occurs with the cart.
   - category taste (identified shoppers): the profile's decayed category affinity (each
     order adds its categories' shares of the order's value) as a share, against the
     category's share of all spend (purchases x price), shrunk the same way.
   ``logit p = logit p_cart + lift_hist + log LR_price + log LR_category``.
5. ``p`` is in [0, 1] by construction; ``expected_revenue = p x offer_price``.

COLD START. Besides the category stand-in of step 3: when the candidates (after filters)
are fewer than ``top_n``, the most purchased products of the cart's categories are added
and scored by the same formula (mostly their base rate and price level, so a high
``q_b x price`` wins), then the most purchased products overall. An anonymous cart uses the
cart alone (pair evidence and the cart's price level). Candidates, filters and fallbacks
are shared with the baselines: ``streams.offers.ranking.candidates``.

FITTED MODEL. With ``config.acceptance`` (an ``acceptance.AcceptanceModel``, fitted on the
store's history by ``basketlift train``), steps 1-4 still run, and their pieces, with a few
more per-candidate features (``_Model.features``), become the inputs of a logistic
regression: ``p`` is its calibrated probability and candidates are ranked by its fitted
probability x ``price ** price_exponent`` (``acceptance`` module docstring). Explanations
(the reason, and with ``config.evidence`` every piece of evidence) keep those of steps 2-4.

OBSERVED ACCEPTANCE. With ``observed`` counts (``streams.offers.ranking.calibration``), each
candidate's ``p`` is updated by the times it was shown and accepted before choosing.

COST. A decision touches the cart's neighbour lists (cart size x K entries) and the
shopper's recent products, in numpy arrays of a ``ProductIndex`` (a snapshot of the
product view and the catalog: rebuild it when the views have changed, e.g. every few
seconds, off the event loop; it takes about 0.7 s for 4,500 products x K=100). Measured on
a shared 2-vCPU machine: a 20-item cart whose items all have K=100 neighbours ranks in
about 0.8 ms (anonymous) to 1.0 ms (with a profile), median of the best of 5 runs.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streams.offers.ranking.acceptance import CART_SOURCES_COLUMN, FEATURE_NAMES, log_odds
from streams.offers.ranking.calibration import ObservedCounts
from streams.offers.ranking.candidates import (
    Decision,
    Scorer,
    Source,
    gather,
    history_reason,
    open_decision,
    pair_reason,
    popular_reason,
    rank,
    reason_for,
)
from streams.offers.ranking.index import (
    EMPTY_FLOAT,
    EMPTY_INT,
    EPS,
    FloatArray,
    IntArray,
    ProductIndex,
)
from streams.offers.ranking.inputs import (
    DEFAULT_RANKER_CONFIG,
    CartLine,
    RankerConfig,
    check_positive,
)
from streams.offers.ranking.outputs import Evidence, EvidenceKind, Offer
from streams.units import DAY_MS

if TYPE_CHECKING:
    from streams.profiles.model import ShopperProfile

__all__ = ["candidate_features", "rank_offers"]


@dataclass(frozen=True, slots=True)
class _Shopper:
    """The shopper-side evidence of a decision, reduced to arrays."""

    recent: IntArray
    """Codes of products bought in the window (sorted)."""
    recent_orders: float
    """k: the shopper's orders in the window (at least 1 when `recent` is not empty)."""
    price_lr: FloatArray | None
    """Likelihood ratio per price bin, None when there are no prices."""
    price_observations: int
    category_lr: FloatArray | None
    """Likelihood ratio per category code (last: no category), None without affinity."""
    cart_mean_price: float
    """Mean unit price of the cart's priced lines, 0 when none has a price."""


def _shopper(
    profile: ShopperProfile | None,
    items: Sequence[CartLine],
    index: ProductIndex,
    config: RankerConfig,
) -> _Shopper:
    beta = config.profile_prior_strength
    recent = EMPTY_INT
    orders = 0.0
    if profile is not None and config.use_history and profile.recent_products:
        # The profile's own window: its recent_products are those of the recent_days before
        # its latest order, which is what "recently bought" means for re-ordering.
        end = profile.last_order_ts or 0
        start = end - config.recent_days * DAY_MS
        code_of = index.code_of
        codes = [
            code
            for pid, ts in profile.recent_products.items()
            if start <= ts <= end and (code := code_of.get(pid)) is not None
        ]
        codes.sort()
        recent = np.array(codes, np.int64)
        window_orders = sum(1 for ts, _ in profile.recent_orders if start <= ts <= end)
        orders = float(max(window_orders, 1)) if len(recent) else float(window_orders)
    price_lr: FloatArray | None = None
    observations = 0
    if config.use_price_level:
        # The profile's recent line prices (``ShopperProfile.item_prices``), read in place.
        timed = profile.recent_item_prices if profile is not None else ()
        prices = [p for _, p in timed if p > 0]
        prices.extend(i.unit_price for i in items if i.unit_price is not None and i.unit_price > 0)
        bins = len(index.price_bin_share)
        if prices and bins > 1:
            observed = np.bincount(
                np.searchsorted(index.price_edges, np.array(prices), side="right"),
                minlength=bins,
            ).astype(np.float64)
            share = index.price_bin_share
            posterior = (observed + beta * share) / (len(prices) + beta)
            price_lr = np.where(share > 0, posterior / np.maximum(share, EPS), 1.0)
            observations = len(prices)
    category_lr: FloatArray | None = None
    if profile is not None and config.use_category_taste:
        affinity = [(c, s) for c, s in profile.category_affinity.items() if s > 0]
        mass = sum(s for _, s in affinity)
        if mass > 0:
            share = index.category_spend_share
            # A category without affinity: posterior beta pi / (A + beta), LR beta / (A + beta).
            category_lr = np.full(len(share), beta / (mass + beta))
            category_lr[-1] = 1.0  # no category: no information
            category_code = index.category_code
            for category, score in affinity:
                cat = category_code.get(category)
                if cat is None:
                    continue
                pi = float(share[cat])
                if pi > 0:
                    category_lr[cat] = ((score + beta * pi) / (mass + beta)) / pi
    cart_prices = [i.unit_price for i in items if i.unit_price is not None and i.unit_price > 0]
    cart_mean = sum(cart_prices) / len(cart_prices) if cart_prices else 0.0
    return _Shopper(recent, orders, price_lr, observations, category_lr, cart_mean)


def _absent_sums(c: FloatArray, n: FloatArray, floor: FloatArray, q: FloatArray) -> FloatArray:
    """Per candidate b: sum over sources a of c_a min(floor_a, n_a q_b), without the S x C matrix.

    min(floor_a, n_a q_b) is floor_a where t_a = floor_a / n_a <= q_b, else n_a q_b; with the
    sources sorted by t_a, both parts are prefix sums found by one binary search per b.
    Sources with n_a = 0 contribute 0 (t_a = inf puts them in the n_a q_b part).
    """
    # floor / n where n > 0, inf elsewhere (dividing only where n > 0: no warnings to silence).
    threshold = np.divide(floor, n, out=np.full(len(n), np.inf), where=n > 0)
    order = np.argsort(threshold, kind="stable")
    floor_part = np.concatenate(([0.0], np.cumsum((c * floor)[order])))
    scaled_part = np.concatenate(([0.0], np.cumsum((c * n)[order])))
    below = np.searchsorted(threshold[order], q, side="right")
    return floor_part[below] + q * (scaled_part[-1] - scaled_part[below])


class _Model:
    """The basketlift scorer of one decision; keeps its arrays for the explanations."""

    def __init__(self, total_orders: float, shopper: _Shopper, config: RankerConfig) -> None:
        self.total_orders = float(total_orders)
        self.shopper = shopper
        self.config = config
        self.q: FloatArray = EMPTY_FLOAT
        self.listed: FloatArray = EMPTY_FLOAT
        """Per pair entry: min(w_ab, n_a) (p_ab is derived from it for explanations only)."""
        self.source_n: list[float] = []
        """Per source: n_a (a list: only explanations read it, one source at a time)."""
        self.credibility: list[float] = []
        """Per source: u_a (a list, as ``source_n``)."""
        self.lifts: dict[EvidenceKind, FloatArray] = {}
        self.bought: FloatArray = EMPTY_FLOAT
        """Per candidate: 1 if the shopper bought it in the history window."""
        self.logit_q: FloatArray = EMPTY_FLOAT
        """Per candidate: logit of the base rate q_b."""
        self.ranking_p: FloatArray = EMPTY_FLOAT
        """Per candidate, with a fitted model: the probability the ranking uses."""
        self.calibrated_p: FloatArray = EMPTY_FLOAT
        """Per candidate, with a fitted model: the reported p_accept."""

    def __call__(self, decision: Decision) -> tuple[FloatArray, FloatArray]:
        p = self.p_accept(decision)
        return self.score(p, decision.index.price_or_zero[decision.candidates]), p

    def score(self, p: FloatArray, price: FloatArray) -> FloatArray:
        """What candidates are sorted by, given their p_accept (as ``p_accept`` returned it,
        or moved by observed acceptance): p x price; with a fitted model, its ranking
        probability moved by the same factor as p, x price ** its exponent
        (``acceptance`` module docstring)."""
        fitted = self.config.acceptance
        if fitted is None:
            return p * price
        ranking_p = self.ranking_p
        if p is not self.calibrated_p:
            ranking_p = ranking_p * (p / np.maximum(self.calibrated_p, EPS))
        if fitted.price_exponent == 1.0:
            return ranking_p * price
        result: FloatArray = ranking_p * price**fitted.price_exponent
        return result

    def p_accept(self, decision: Decision) -> FloatArray:
        """p per candidate: the fitted model's (calibrated) when the config has one, else the
        hand-built one's (module docstring, steps 1-5); keeps what ``explain`` reads."""
        fitted = self.config.acceptance
        p = self.hand_built_p(decision, combine=fitted is None)
        if fitted is None:
            return p
        features = self.features(decision)
        logit = fitted.logit(features)
        self.ranking_p = fitted.ranking_p(logit)
        self.calibrated_p = fitted.calibrated(logit, features[:, CART_SOURCES_COLUMN])
        return self.calibrated_p

    def features(self, decision: Decision) -> FloatArray:
        """Per candidate, the fitted model's features (``acceptance.FEATURE_NAMES``, in
        order), from the evidence the last ``hand_built_p`` call kept."""
        index = decision.index
        codes = decision.candidates
        size = len(codes)
        zero = np.zeros(size)
        lifts = self.lifts
        log_price = index.log_price[codes]
        cart_mean = self.shopper.cart_mean_price
        ratio = log_price - math.log(cart_mean) if cart_mean > 0 else zero
        in_cart = np.zeros(len(index.categories) + 1, np.float64)
        in_cart[decision.cart_categories] = 1.0
        cand = decision.entry_candidate
        support = np.bincount(cand, minlength=size).astype(np.float64)
        copurchases = (
            np.bincount(cand, weights=self.listed, minlength=size)
            if len(self.listed) == len(cand)
            else zero
        )
        columns = (
            lifts.get("product", zero),
            self.logit_q,
            lifts.get("history", zero),
            lifts.get("price_level", zero),
            lifts.get("category_taste", zero),
            self.bought if len(self.bought) == size else zero,
            log_price,
            ratio,
            in_cart[index.category[codes]],
            np.log1p(support),
            np.log1p(copurchases),
            np.full(size, math.log1p(len(decision.sources))),
        )
        # Filled column by column: a fraction of np.column_stack's cost at this size.
        features = np.empty((size, len(columns)))
        for i, column in enumerate(columns):
            features[:, i] = column
        return features

    def hand_built_p(self, decision: Decision, *, combine: bool = True) -> FloatArray:
        """p per candidate (module docstring, steps 1-5); keeps what ``explain`` and
        ``features`` read. ``combine=False``: only those pieces (the fitted model combines
        them itself), and an empty array for p."""
        self.bought = EMPTY_FLOAT
        index = decision.index
        codes = decision.candidates
        alpha = self.config.prior_strength
        n_b = index.purchases[codes]
        q = (n_b + 0.5) / (max(self.total_orders, float(n_b.max(initial=0.0))) + 1.0)
        logit_q = log_odds(q)
        sources = decision.sources
        lifts: dict[EvidenceKind, FloatArray] = {}
        if sources:
            n = np.array([s.row.purchases for s in sources], np.float64)
            floor = np.array([s.row.floor for s in sources], np.float64)
            u = n / (n + alpha)
            c = u / (n + alpha)
            # sum_a u_a p_ab = sum_a c_a (w~_ab + alpha q_b), w~ = absent estimate unless listed.
            total = _absent_sums(c, n, floor, q) + alpha * q * c.sum()
            src, cand = decision.entry_source, decision.entry_candidate
            n_src = n[src]
            listed = np.minimum(decision.entry_weight, n_src)
            absent = np.minimum(floor[src], n_src * q[cand])
            total += np.bincount(cand, weights=c[src] * (listed - absent), minlength=len(codes))
            u_sum = u.sum()
            p_cart = total / u_sum if u_sum > 0 else q
            self.listed = listed
            self.source_n, self.credibility = n.tolist(), u.tolist()
            logit_p = log_odds(p_cart)
            lifts["product"] = logit_p - logit_q
        else:
            self.listed = EMPTY_FLOAT
            logit_p = logit_q.copy()
        shopper = self.shopper
        if shopper.recent_orders > 0:
            bought = np.zeros(len(codes))
            recent = shopper.recent
            if len(recent):
                at = np.minimum(np.searchsorted(recent, codes), len(recent) - 1)
                bought[recent[at] == codes] = 1.0
            self.bought = bought
            p_hist = (bought + alpha * q) / (shopper.recent_orders + alpha)
            lifts["history"] = log_odds(p_hist) - logit_q
        if shopper.price_lr is not None:
            lifts["price_level"] = np.log(shopper.price_lr[index.price_bin[codes]])
        if shopper.category_lr is not None:
            lifts["category_taste"] = np.log(shopper.category_lr[index.category[codes]])
        self.q, self.logit_q, self.lifts = q, logit_q, lifts
        if not combine:
            return EMPTY_FLOAT
        for kind, lift in lifts.items():
            if kind != "product":
                logit_p = logit_p + lift
        p: FloatArray = 1.0 / (1.0 + np.exp(-logit_p))
        return p

    def _pair_entries(self, decision: Decision, j: int) -> list[tuple[int, float, float, float]]:
        """(source index, co-purchase weight, p_ab, lift) of each pair entry of the candidate
        at position j, in entry order.

        p_ab = (min(w_ab, n_a) + alpha q_b) / (n_a + alpha), for this candidate's entries
        only, as Python floats (the same IEEE operations as over the arrays); the lift is
        its log-odds over the base rate's.
        """
        q = float(self.q[j])
        logit_q = math.log(q / (1 - q))
        alpha = self.config.prior_strength
        alpha_q = alpha * q
        source_n = self.source_n
        entries = []
        # This candidate's pair entries, read column by column (one numpy call each).
        hit = np.flatnonzero(decision.entry_candidate == j)
        for listed, s, weight in zip(
            self.listed[hit].tolist(),
            decision.entry_source[hit].tolist(),
            decision.entry_weight[hit].tolist(),
            strict=True,
        ):
            p_ab = (listed + alpha_q) / (source_n[s] + alpha)
            lift = math.log(p_ab / (1 - p_ab)) - logit_q if 0 < p_ab < 1 else 0.0
            entries.append((s, weight, p_ab, lift))
        return entries

    def explain(self, decision: Decision, j: int) -> tuple[str, tuple[Evidence, ...]]:
        """(reason, evidence) of the candidate at position j; the evidence (every piece
        behind its p_accept) only when ``config.evidence`` asks for it, else ``()``."""
        if not self.config.evidence:
            return self.reason(decision, j), ()
        index = decision.index
        code = int(decision.candidates[j])
        q = float(self.q[j])
        alpha = self.config.prior_strength
        credibility = self.credibility
        sources = decision.sources
        evidence: list[Evidence] = []
        for s, weight, p_ab, lift in self._pair_entries(decision, j):
            source = sources[s]
            evidence.append(
                Evidence(
                    source.kind,
                    source.name,
                    weight,
                    source.row.purchases,
                    p_ab,
                    lift,
                    credibility[s],
                )
            )
        evidence.sort(key=lambda e: (-e.lift * e.weight, e.source))
        shopper = self.shopper
        history = self.lifts.get("history")
        if history is not None:
            bought = float(self.bought[j])
            p_hist = (bought + alpha * q) / (shopper.recent_orders + alpha)
            evidence.append(
                Evidence(
                    "history",
                    "history",
                    bought,
                    shopper.recent_orders,
                    p_hist,
                    float(history[j]),
                    1.0,
                )
            )
        facets: tuple[EvidenceKind, ...] = ("price_level", "category_taste")
        for kind in facets:
            facet_lift = self.lifts.get(kind)
            if facet_lift is not None:
                value = float(facet_lift[j])
                evidence.append(Evidence(kind, kind, 0.0, 0.0, math.exp(value), value, 1.0))
        evidence.append(
            Evidence(
                "base_rate",
                index.product_ids[code],
                float(index.purchases[code]),
                self.total_orders,
                q,
                0.0,
                1.0,
            )
        )
        return reason_for(evidence, index, code, self.config.recent_days), tuple(evidence)

    def reason(self, decision: Decision, j: int) -> str:
        """The reason ``explain`` gives the candidate at position j, without building its
        evidence: the pair entry that comes first in the evidence's order (the largest lift x
        credibility, then the source's name, then entry order) among those with
        co-purchases, else a purchase within the history window, else popularity."""
        best: tuple[float, str] | None = None
        chosen: tuple[Source, float, float] | None = None
        sources, credibility = decision.sources, self.credibility
        for s, weight, p_ab, lift in self._pair_entries(decision, j):
            if weight <= 0:
                continue
            source = sources[s]
            key = (-lift * credibility[s], source.name)
            if best is None or key < best:
                best, chosen = key, (source, weight, p_ab)
        if chosen is not None:
            source, weight, p_ab = chosen
            return pair_reason(source.kind, source.name, weight, source.row.purchases, p_ab)
        if "history" in self.lifts and self.bought[j] > 0:
            return history_reason(self.config.recent_days)
        return popular_reason(decision.index, int(decision.candidates[j]))


def rank_offers(
    items: Sequence[CartLine],
    index: ProductIndex,
    total_orders: float,
    *,
    profile: ShopperProfile | None = None,
    exclude: Collection[str] = (),
    suppressed: Collection[str] = (),
    config: RankerConfig = DEFAULT_RANKER_CONFIG,
    observed: Mapping[str, tuple[int, int]] | None = None,
    observed_strength: float = 50.0,
) -> list[Offer]:
    """The best ``config.top_n`` offers by expected revenue per impression (module docstring).

    ``observed``: product id -> (times shown, times accepted) at this placement. The model's
    p is then the mean of a Beta prior worth ``observed_strength`` showings, updated by
    them: ``p' = (p x strength + accepted) / (strength + shown)``, before choosing.

    ``items``: the cart, or the just-completed order (post-purchase: pass
    ``post_purchase_exclusions(...)`` as ``exclude``). ``total_orders``: the graph's decayed
    order count, as of the index's time. ``profile``: None for anonymous or revoked
    shoppers. ``exclude``: further products never to offer; ``suppressed``: products the
    caller's fatigue rules hold back. Deterministic: equal inputs give equal offers, equal
    expected revenue goes to the smaller product id.
    """
    shopper = _shopper(profile, items, index, config)
    seeded = shopper.recent
    decision = open_decision(items, index, exclude, suppressed, seeded)
    model = _Model(total_orders, shopper, config)
    scorer: Scorer = model
    if observed:
        scorer = _Observed(model, observed, observed_strength)
    return rank(decision, scorer, model.explain, config)


def candidate_features(
    items: Sequence[CartLine],
    index: ProductIndex,
    total_orders: float,
    *,
    profile: ShopperProfile | None = None,
    config: RankerConfig = DEFAULT_RANKER_CONFIG,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """(codes, features, hand-built p) of every candidate ``rank_offers`` would score first.

    The candidates are those of the first scoring stage (the cart's neighbours and the
    shopper's recent purchases, blocked ones left out, no fallbacks); the features are the
    fitted model's (``acceptance.FEATURE_NAMES``), computed by the same code as in ranking,
    so a model fitted on them sees exactly what it will be given.
    """
    shopper = _shopper(profile, items, index, config)
    decision = open_decision(items, index, (), (), shopper.recent)
    gather(decision, [shopper.recent] if len(shopper.recent) else [])
    model = _Model(total_orders, shopper, config)
    if not len(decision.candidates):
        return decision.candidates, np.zeros((0, len(FEATURE_NAMES))), EMPTY_FLOAT
    p = model.hand_built_p(decision)
    return decision.candidates, model.features(decision), p


def log_cart_sources(items: Sequence[CartLine], index: ProductIndex) -> float:
    """The ``log_cart_sources`` feature of a decision on `items` (the same for every
    candidate): log(1 + the cart's evidence sources), what the calibration map reads
    besides the logit (``acceptance.AcceptanceModel.calibrated``)."""
    return math.log1p(len(open_decision(items, index, (), ()).sources))


class _Observed:
    """A scorer whose p is updated by observed acceptance (see ``rank_offers``)."""

    def __init__(
        self, model: _Model, observed: Mapping[str, tuple[int, int]], strength: float
    ) -> None:
        check_positive("observed_strength", strength)
        # One representation: counts as arrays aligned with the index (built once per index
        # when the caller keeps an ObservedCounts, as the worker does).
        counts = observed if isinstance(observed, ObservedCounts) else ObservedCounts(observed)
        self.model, self.observed, self.strength = model, counts, strength

    def __call__(self, decision: Decision) -> tuple[FloatArray, FloatArray]:
        p = self.model.p_accept(decision)
        codes = decision.candidates  # sorted
        if not len(codes) or not self.observed:
            return self.model.score(p, decision.index.price_or_zero[codes]), p
        shown_by_code, accepted_by_code = self.observed.arrays_for(decision.index)
        accepted = accepted_by_code[codes]
        shown = np.maximum(shown_by_code[codes], accepted)
        k = self.strength
        # Never-observed candidates (0, 0) keep their p: (p k + 0) / (k + 0).
        p = (p * k + accepted) / (k + shown)
        return self.model.score(p, decision.index.price_or_zero[codes]), p

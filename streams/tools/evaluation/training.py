"""Fitting the acceptance model on a store's own history, with the evaluation's protocol.

``train_acceptance(orders, until_ms, ...)`` uses only orders before ``until_ms`` (in
``basketlift evaluate``: the split, so no test order is ever seen):

1. The history is cut at ``start = until - window``: the orders before ``start`` are folded
   into the state (the stream's own steps, ``state.fold_orders``) and indexed as of
   ``start``. The window is ``window_days`` (90), at most half of the history.
2. The window's orders become cases exactly as in the evaluation (``protocol.make_cases``:
   one product hidden, the rest is the cart), in time order. The earlier ``fit_share``
   (two thirds) of them are FIT cases, the later ones, from the first VALIDATION case's
   time on, VALIDATION cases. The features of a fit case come from the state as of
   ``start``, which has never seen the window's orders, so they are out of sample just as
   the test period's are.
3. Fit examples: every candidate the ranker would score first
   (``ranking.candidate_features``), labelled 1 when its product was bought in the order
   outside the visible cart (the evaluation's "accepted"), else 0. All positives are kept,
   plus the ``hard_negatives`` candidates with the highest hand-built p_accept x price
   (those the ranker must tell apart) and ``random_negatives`` drawn uniformly from the
   rest, each of those weighted by (rest / drawn) so that the weighted examples stand for
   every candidate (the fitted probabilities are the whole candidate set's).
4. ``fit_logistic`` (L2, Newton) on them gives the weights the exponent is chosen with
   (step 6): the fit slice's alone, so that the validation cases are out of sample.
5. The orders before the validation start are folded in and the state (and the plain
   counts) indexed as of it: the validation cases are ranked with a state as fresh as the
   one the stream ranks with (and the evaluation's test period starts with), still
   without their own orders. Ranked with the state as of ``start`` instead, 60 to 90 days
   old, the calibration under-stated the acceptance of a fresh state's offers.
6. The price exponent of the ranking (``p x price ** e``) is chosen on the validation cases,
   each ranked by the fitted model with e in ``PRICE_EXPONENTS`` and by ``copurchase_plain``
   (plain counts as of the validation start), with ``choose_exponent``: among the e whose
   hit@k is at least ``copurchase_plain``'s, the one with the highest revenue per
   impression is the best, and the largest e whose revenue is within one standard error of
   the best's is taken (the standard error of the paired difference, by a bootstrap over
   the validation orders); when no e is as accepted, the e with the highest hit@k. Why not
   the plain argmax: on about 1,300 validation orders the revenues of neighbouring e differ
   by less than their noise (0.210 / 0.205 / 0.205 for e = 0.5 / 0.75 / 1 on a UCI split),
   so the argmax moved with the validation slice's luck. e = 1 ranks by expected revenue,
   the right objective when p is right; a smaller e (more weight on acceptance) is taken
   only when the validation shows it earning more beyond its noise (the "one standard
   error" rule of model selection). The rule is the issue's target (more revenue without
   losing acceptance), applied to the store's own history; no number in it is tuned to a
   data set.
7. The final weights are refitted on the fit slice's examples and the validation cases'
   (``refit_on_validation``; the validation cases' features from the state of step 5):
   once the exponent is chosen, the validation slice has done its job as held-out
   evidence, and it is the latest third of the window, the closest to the period the model
   ranks. Left out, the weights learnt only from cases 30 to 90 days older than the
   training end, and on a UCI split whose acceptance rose over the months before and after
   the split, the reported p_accept stayed below the test period's acceptance.
   The reported p_accept is then calibrated on the offers the FINAL weights make, with the
   chosen exponent, on the validation orders (``fit_calibration``: Platt scaling with the
   cart's ``log_cart_sources`` as a second input, then an increasing curve through the
   Platt outputs' equal-count bins, see ``ranking.acceptance``): the map must
   match the log-odds scale of the weights it is applied to (a map fitted on the step-4
   weights' offers and applied to the refitted ones left the calibration error above the
   target on two UCI splits). Each validation order gives up to ``calibration_draws``
   cases, each hiding another of its products (``with_redraws``): one case per order gives
   about 4,000 offers and 500 acceptances, too few to pin the map's shift and cart
   coefficient apart (they trade off, and the map moved with the draw of hidden products
   by more than the calibration target's margin), and every product of an order is as fair
   a hidden product as the one drawn. Each offer weighs one, so an order with more
   products weighs more (weighting each order's cases to one in all calibrated the UCI
   splits' test periods worse: ``bench/results/offline_evaluation.md``). The weights'
   examples keep one case per order (more cases of the same orders did not rank better).
   Those validation orders are in the final fit's examples, but the map has three
   parameters and the weights twelve, fitted on over 100,000 examples, so the in-sample
   optimism of the offers' log-odds is small against the selection effect the map corrects
   (the top k of every cart are accepted less often than their fitted p says). The offers
   of the one-per-order cases are returned too (``TrainingOutcome.validation_offers``:
   ``evaluate --refresh-days`` refits the map on them and the test outcomes known at each
   refresh, which are one case per order as well).
8. The validation cases' orders are folded too, so the returned state holds every order
   before ``until_ms`` (what the evaluation then ranks the test period with).

Pure apart from the clock: numpy and the stream's domain code, no Faust.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from streams.copurchase.model import DAY_MS
from streams.offers.ranking import (
    AcceptanceModel,
    CalibrationMap,
    RankerConfig,
    candidate_features,
    fit_logistic,
    model_from_fit,
)
from streams.offers.ranking.acceptance import Curve, LogisticFit, log_odds
from streams.offers.ranking.index import FloatArray
from streams.tools.evaluation.calibration import expected_calibration_error, reliability_bins
from streams.tools.evaluation.plain import PlainCounts
from streams.tools.evaluation.protocol import (
    EvaluationCase,
    RankerContext,
    build_context,
    evaluate_cases,
    make_case,
    make_cases,
)
from streams.tools.evaluation.state import LiveState
from streams.tools.replay.orderlog import Order

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "CURVE_BINS",
    "CURVE_MIN_OFFERS_PER_BIN",
    "MIN_CASES",
    "PRICE_EXPONENTS",
    "ExponentChoice",
    "TrainingError",
    "TrainingOptions",
    "TrainingOutcome",
    "calibration_curve",
    "choose_exponent",
    "fit_calibration",
    "fit_examples",
    "recalibration",
    "refit_on_validation",
    "train_acceptance",
    "with_redraws",
]

PRICE_EXPONENTS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Candidate exponents e of the ranking p x price ** e (1: expected revenue)."""
BOOTSTRAP_RESAMPLES: Final = 1000
"""Resamples of the validation orders behind the exponent rule's standard errors."""
REDRAW_SEED_STEP: Final = 7919
"""Seeds of the extra cases of an order (``with_redraws``): seed + this x draw."""
CURVE_BINS: Final = 20
"""Bins of the calibration curve through the Platt map's outputs, at most."""
CURVE_MIN_OFFERS_PER_BIN: Final = 200
"""Fewest offers per bin of the calibration curve (fewer offers: fewer bins)."""
MIN_CASES: Final = 50
"""Fewest fit cases, and fewest validation cases, a fit is attempted with."""


class TrainingError(ValueError):
    """The history cannot give a model (too short, no candidates); one-line message."""


Fold = Callable[[Sequence[Order], LiveState | None], LiveState]
"""Folds orders into a state (a new one when None), with the worker's configs."""


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """How the acceptance model is fitted (module docstring)."""

    window_days: float = 90.0
    fit_share: float = 2 / 3
    max_fit_cases: int = 4000
    max_validation_cases: int = 1500
    hard_negatives: int = 30
    random_negatives: int = 30
    l2: float = 1.0
    seed: int = 0
    calibration_draws: int = 8
    """Cases (hidden products) per validation order the calibration map is fitted on, at
    most (module docstring, 7)."""

    def __post_init__(self) -> None:
        if self.calibration_draws < 1:
            raise ValueError(f"calibration_draws must be at least 1, not {self.calibration_draws}")


@dataclass
class TrainingOutcome:
    """The fitted model and the state folded through every order before ``until_ms``."""

    model: AcceptanceModel
    state: LiveState
    plain: PlainCounts
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    validation_offers: tuple[list[float], list[bool], list[float]] = ([], [], [])
    """The validation slice's offers of the final weights with the chosen exponent, one case
    per order as in the evaluation: (uncalibrated p_accept, accepted, log_cart_sources),
    what ``evaluate --refresh-days`` refits the map on with the test outcomes known."""


def fit_examples(
    cases: Sequence[EvaluationCase],
    context: RankerContext,
    options: TrainingOptions,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(features, labels, weights) of the cases' sampled candidates (module docstring, 3)."""
    rng = np.random.default_rng(options.seed)
    index = context.index
    ids = np.array(index.product_ids, dtype=object)
    rows: list[FloatArray] = []
    labels: list[FloatArray] = []
    weights: list[FloatArray] = []
    for case in cases:
        profile = context.profiles.get(case.shopper_id) if case.shopper_id is not None else None
        codes, features, hand_p = candidate_features(
            case.cart, index, context.total_orders, profile=profile, config=context.config
        )
        if not len(codes):
            continue
        label = np.fromiter((pid in case.bought for pid in ids[codes]), np.bool_, len(codes))
        weight = np.ones(len(codes))
        negatives = np.flatnonzero(~label)
        order = np.argsort(-(hand_p * index.price_or_zero[codes])[negatives], kind="stable")
        hard = negatives[order[: options.hard_negatives]]
        rest = negatives[order[options.hard_negatives :]]
        drawn = rest
        if len(rest) > options.random_negatives:
            drawn = rng.choice(rest, options.random_negatives, replace=False)
            weight[drawn] = len(rest) / options.random_negatives
        keep = np.concatenate([np.flatnonzero(label), hard, drawn])
        rows.append(features[keep])
        labels.append(label[keep].astype(np.float64))
        weights.append(weight[keep])
    if not rows:
        raise TrainingError("no training example: no case in the window has a candidate")
    return np.concatenate(rows), np.concatenate(labels), np.concatenate(weights)


def _spread(cases: list[EvaluationCase], limit: int) -> list[EvaluationCase]:
    """At most `limit` cases, evenly spaced in time order."""
    if len(cases) <= limit:
        return cases
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


def train_acceptance(
    orders: Sequence[Order],
    until_ms: int,
    fold: Fold,
    config: RankerConfig,
    half_life_days: float,
    neighbours_k: int,
    *,
    options: TrainingOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainingOutcome:
    """Fit the acceptance model on the orders before `until_ms` (module docstring).

    `orders`: in time order (later ones are ignored). `config`: the ranker's (its
    ``top_n`` is the k of the validation). ``TrainingError`` when the history is too short
    to leave enough cases (checked before anything is folded).
    """
    options = options or TrainingOptions()
    history = [order for order in orders if order.ts_ms < until_ms]
    if not history:
        raise TrainingError("no order before the training end")
    span = until_ms - history[0].ts_ms
    start_ms = until_ms - int(min(options.window_days * DAY_MS, span / 2))
    early = [order for order in history if order.ts_ms < start_ms]
    window = [order for order in history if order.ts_ms >= start_ms]
    cases = make_cases(window, options.seed)
    cut = int(len(cases) * options.fit_share)
    # The validation slice starts at a case's time: the orders before it are folded before
    # the validation cases are ranked, and none of those cases' orders is.
    validation_start_ms = cases[cut].ts_ms if cut < len(cases) else until_ms
    fit_cases = _spread(
        [case for case in cases if case.ts_ms < validation_start_ms], options.max_fit_cases
    )
    validation = _spread(
        [case for case in cases if case.ts_ms >= validation_start_ms],
        options.max_validation_cases,
    )
    if len(fit_cases) < MIN_CASES or len(validation) < MIN_CASES:
        raise TrainingError(
            f"too few orders to fit on: {len(cases)} with 2+ products in the "
            f"{(until_ms - start_ms) / DAY_MS:.0f} days before the training end "
            f"(at least {MIN_CASES / (1 - options.fit_share):.0f} needed)"
        )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    state = fold(early, None)
    plain = PlainCounts()
    plain.add(early)
    context = build_context(
        state, start_ms, replace(config, acceptance=None), half_life_days, neighbours_k, plain
    )
    timings["fold_before_window"] = time.perf_counter() - started

    started = time.perf_counter()
    features, labels, weights = fit_examples(fit_cases, context, options)
    timings["examples"] = time.perf_counter() - started
    started = time.perf_counter()
    fit = fit_logistic(features, labels, weights, l2=options.l2)
    timings["fit"] = time.perf_counter() - started

    # The validation cases are ranked with the state as fresh as the test period's: the
    # fit slice's orders folded in, indexed as of the validation start (the fit cases were
    # ranked with a state 0 to 60 days old, which under-states what a fresh state gives).
    started = time.perf_counter()
    fit_orders = [order for order in window if order.ts_ms < validation_start_ms]
    validation_orders = [order for order in window if order.ts_ms >= validation_start_ms]
    fold(fit_orders, state)
    plain.add(fit_orders)
    context = build_context(
        state,
        validation_start_ms,
        replace(config, acceptance=None),
        half_life_days,
        neighbours_k,
        plain,
    )
    timings["fold_fit_slice"] = time.perf_counter() - started

    started = time.perf_counter()
    by_exponent: dict[float, tuple[float, float, float]] = {}
    revenues_by_exponent: dict[float, list[float]] = {}
    plain_result = evaluate_cases(validation, context, ["copurchase_plain"])["copurchase_plain"]
    for exponent in PRICE_EXPONENTS:
        trial = model_from_fit(fit, price_exponent=exponent)
        trial_context = replace(context, fitted=replace(context.config, acceptance=trial))
        result = evaluate_cases(validation, trial_context, ["basketlift_fitted"])
        fitted = result["basketlift_fitted"]
        revenues_by_exponent[exponent] = fitted.case_revenues
        by_exponent[exponent] = (
            fitted.hit_at_k,
            fitted.revenue_per_impression,
            fitted.expected_calibration_error,
        )
        if progress is not None:
            progress("validate", len(by_exponent), len(PRICE_EXPONENTS))
    choice = choose_exponent(
        {e: (by_exponent[e][0], revenues_by_exponent[e]) for e in by_exponent},
        plain_result.hit_at_k,
        seed=options.seed,
    )
    exponent = choice.exponent
    timings["validate"] = time.perf_counter() - started

    # The final weights: refitted on the fit and the validation slices' examples (the
    # validation cases' from the state as of the validation start, as ranked above), then
    # the validation cases ranked once more with them, and each validation order again with
    # other products hidden (``calibration_draws``), for the calibration map.
    started = time.perf_counter()
    final_fit, final_counts = refit_on_validation(
        (features, labels, weights), validation, context, options
    )
    final = model_from_fit(final_fit, price_exponent=exponent)
    final_context = replace(context, fitted=replace(context.config, acceptance=final))
    offered = evaluate_cases(validation, final_context, ["basketlift_fitted"])["basketlift_fitted"]
    redrawn = with_redraws(validation, validation_orders, options.calibration_draws, options.seed)
    more = evaluate_cases(redrawn[len(validation) :], final_context, ["basketlift_fitted"])[
        "basketlift_fitted"
    ]
    map_p = offered.raw_p_accepts + more.raw_p_accepts
    map_accepted = offered.accepted + more.accepted
    map_sources = offered.cart_sources + more.cart_sources
    calibration = fit_calibration(map_p, map_accepted, map_sources, l2=options.l2)
    calibrated = calibration.of_raw(
        np.asarray(map_p, np.float64), np.asarray(map_sources, np.float64)
    )
    calibrated_ece = expected_calibration_error(reliability_bins(calibrated.tolist(), map_accepted))
    offers = (offered.raw_p_accepts, offered.accepted, offered.cart_sources)
    timings["refit"] = time.perf_counter() - started

    started = time.perf_counter()
    fold(validation_orders, state)
    plain.add(validation_orders)
    timings["fold_validation_slice"] = time.perf_counter() - started
    summary: dict[str, Any] = {
        "until_ms": until_ms,
        "window_start_ms": start_ms,
        "orders_before_window": len(early),
        "window_orders": len(window),
        "validation_start_ms": validation_start_ms,
        "fit_cases": len(fit_cases),
        "validation_cases": len(validation),
        "examples": len(labels),
        "positives": int(labels.sum()),
        "l2": options.l2,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "log_loss": fit.log_loss,
        "validation_copurchase_plain": {
            "hit_at_k": plain_result.hit_at_k,
            "revenue_per_impression": plain_result.revenue_per_impression,
        },
        "validation_by_price_exponent": {
            f"{e:g}": {"hit_at_k": h, "revenue_per_impression": r, "ece": c}
            for e, (h, r, c) in by_exponent.items()
        },
        "price_exponent": exponent,
        "price_exponent_rule": {
            "best_revenue": choice.best,
            "eligible": list(choice.eligible),
            "revenue_per_case_below_best": {f"{e:g}": d for e, d in choice.below_best.items()},
            "standard_error": {f"{e:g}": d for e, d in choice.standard_errors.items()},
        },
        "final_fit": {
            "cases": len(fit_cases) + len(validation),
            **final_counts,
            "iterations": final_fit.iterations,
            "converged": final_fit.converged,
            "log_loss": final_fit.log_loss,
            "validation_hit_at_k": offered.hit_at_k,
            "validation_revenue_per_impression": offered.revenue_per_impression,
        },
        "calibration": {
            "slope": calibration.slope,
            "shift": calibration.shift,
            "log_cart_sources": calibration.cart,
            "curve_knots": len(calibration.curve[0]),
            "offers": len(map_p),
            "cases": len(redrawn),
            "offers_one_per_order": len(offered.p_accepts),
            "validation_ece": calibrated_ece,
        },
    }
    model = model_from_fit(
        final_fit,
        price_exponent=exponent,
        calibration=calibration,
        training=summary,
    )
    return TrainingOutcome(model, state, plain, summary, timings, offers)


def with_redraws(
    cases: Sequence[EvaluationCase], orders: Sequence[Order], draws: int, seed: int
) -> list[EvaluationCase]:
    """`cases` and, for each case's order, up to ``draws - 1`` more cases hiding another
    product (``make_case`` with seeds derived from `seed`; a product already hidden in one
    of the order's cases is not hidden twice). `orders` must hold every case's order."""
    by_id = {order.order_id: order for order in orders}
    out = list(cases)
    seen = {(case.order_id, case.hidden) for case in cases}
    for draw in range(1, draws):
        for case in cases:
            extra = make_case(by_id[case.order_id], seed + REDRAW_SEED_STEP * draw)
            if extra is not None and (extra.order_id, extra.hidden) not in seen:
                seen.add((extra.order_id, extra.hidden))
                out.append(extra)
    return out


def refit_on_validation(
    fit_slice: tuple[FloatArray, FloatArray, FloatArray],
    validation: Sequence[EvaluationCase],
    context: RankerContext,
    options: TrainingOptions,
) -> tuple[LogisticFit, dict[str, int]]:
    """The final weights (module docstring, 7): ``fit_logistic`` on the fit slice's
    examples (`fit_slice`: features, labels, weights) and the validation cases' (from
    `context`, the state as of the validation start), with its counts of examples.

    The validation cases' negatives are drawn with their own random stream (seed + 1), so
    that the fit slice's draw stays what it was for the exponent's choice. The validation
    slice is the latest evidence before the training end: the weights learn from it too,
    rather than only from cases 30 to 90 days older.
    """
    features, labels, weights = fit_slice
    more = fit_examples(validation, context, replace(options, seed=options.seed + 1))
    all_labels = np.concatenate([labels, more[1]])
    fit = fit_logistic(
        np.concatenate([features, more[0]]),
        all_labels,
        np.concatenate([weights, more[2]]),
        l2=options.l2,
    )
    return fit, {"examples": len(all_labels), "positives": int(all_labels.sum())}


def recalibration(
    p_accepts: Sequence[float],
    accepted: Sequence[bool],
    cart_sources: Sequence[float] | None = None,
    *,
    l2: float = 1.0,
) -> tuple[float, float, float]:
    """(slope, shift, cart) of ``logit p' = slope x logit p + cart x log_cart_sources +
    shift`` fitted on offers (Platt scaling with the cart size as a second input).

    The logistic fit is calibrated over every candidate, but the ranker shows only its top
    few, chosen for their high log-odds, and those are accepted less often than the fit
    says, by an amount that depends on the cart (how many candidates the top few were
    chosen from, how much evidence each has); refitting the offered ones' log-odds and
    their carts' ``log_cart_sources`` on whether they were accepted maps the model's
    probabilities onto the observed acceptance of what it actually offers
    (``acceptance.CalibrationMap``). `cart_sources`: per offer (None or all equal: the
    cart coefficient is 0). (1, 0, 0) when there is nothing to fit (no offer, or all
    accepted alike, or all predictions equal).
    """
    if not len(p_accepts) or len(set(accepted)) < 2:
        return 1.0, 0.0, 0.0
    p = np.asarray(p_accepts, np.float64)
    logit = log_odds(p, eps=1e-9)
    if float(logit.std()) < 1e-9:
        return 1.0, 0.0, 0.0
    columns = [logit]
    if cart_sources is not None:
        if len(cart_sources) != len(p):
            raise ValueError(f"{len(cart_sources)} cart sizes for {len(p)} offers")
        columns.append(np.asarray(cart_sources, np.float64))
    fit = fit_logistic(np.column_stack(columns), np.asarray(accepted, np.float64), l2=l2)
    coef = fit.weights / fit.scales
    shift = fit.intercept - float(coef @ fit.means)
    return float(coef[0]), shift, float(coef[1]) if len(coef) > 1 else 0.0


def calibration_curve(
    p: Sequence[float] | FloatArray,
    accepted: Sequence[bool],
    bins: int = CURVE_BINS,
    min_per_bin: int = CURVE_MIN_OFFERS_PER_BIN,
) -> Curve:
    """(knots, values) of an increasing curve from predicted to observed acceptance.

    The offers are sorted by `p` and cut into `bins` bins of equal count (fewer when a bin
    would have under `min_per_bin` offers; under two bins: no curve, ``((), ())``). A
    bin's knot is its mean p, its value its acceptance rate as a Jeffreys posterior mean,
    (accepted + 1/2) / (offers + 1), so never 0 or 1; adjacent bins whose rates decrease
    are pooled (pool adjacent violators, weighted by offers), so the curve never decreases.
    Bins with equal knots (ties in p) are merged first.
    """
    values = np.asarray(p, np.float64)
    outcomes = np.asarray(accepted, np.float64)
    if len(values) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes for {len(values)} offers")
    count = min(bins, len(values) // max(min_per_bin, 1))
    if count < 2:
        return (), ()
    order = np.argsort(values, kind="stable")
    knots: list[float] = []
    hits: list[float] = []
    sizes: list[float] = []
    for chunk in np.array_split(order, count):
        members = values[chunk]
        # The mean lies between the bin's extremes, but its rounding can leave it an ulp
        # outside them (three equal values): kept inside, knots stay within the offers' p.
        knot = min(max(float(members.mean()), float(members[0])), float(members[-1]))
        if knots and knot <= knots[-1]:
            hits[-1] += float(outcomes[chunk].sum())
            sizes[-1] += len(chunk)
            continue
        knots.append(knot)
        hits.append(float(outcomes[chunk].sum()))
        sizes.append(float(len(chunk)))
    if len(knots) < 2:
        return (), ()
    rates = [(h + 0.5) / (n + 1.0) for h, n in zip(hits, sizes, strict=True)]
    # Pool adjacent violators: blocks of (rate, weight, bins), merged while a rate drops.
    blocks: list[list[float]] = []
    for rate, size in zip(rates, sizes, strict=True):
        blocks.append([rate, size, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (r1, w1, c1), (r2, w2, c2) = blocks[-2], blocks[-1]
            blocks[-2:] = [[(r1 * w1 + r2 * w2) / (w1 + w2), w1 + w2, c1 + c2]]
    pooled = [rate for rate, _, bins_in in blocks for _ in range(int(bins_in))]
    return tuple(knots), tuple(pooled)


def fit_calibration(
    raw_p: Sequence[float],
    accepted: Sequence[bool],
    cart_sources: Sequence[float],
    *,
    l2: float = 1.0,
) -> CalibrationMap:
    """The map from fitted probabilities to the observed acceptance of the offers made:
    ``recalibration`` (Platt scaling with the cart's ``log_cart_sources``), then
    ``calibration_curve`` through the Platt map's outputs (the shapes a two-parameter
    logistic cannot follow: on the joined UCI split the Platt map alone left its own
    offers' calibration error at 0.021)."""
    platt = CalibrationMap(*recalibration(raw_p, accepted, cart_sources, l2=l2))
    platt_p = platt.of_raw(np.asarray(raw_p, np.float64), np.asarray(cart_sources, np.float64))
    return replace(platt, curve=calibration_curve(platt_p, accepted))


@dataclass(frozen=True)
class ExponentChoice:
    """What ``choose_exponent`` decided, and the numbers it decided on."""

    exponent: float
    best: float
    """The eligible exponent with the highest validation revenue."""
    eligible: tuple[float, ...]
    """The exponents at least as accepted as the plain baseline (all when none is)."""
    below_best: dict[float, float] = field(default_factory=dict)
    """Per eligible exponent: the best's mean revenue per validation case minus its own."""
    standard_errors: dict[float, float] = field(default_factory=dict)
    """Per eligible exponent: bootstrap standard error of that difference."""


def choose_exponent(
    by_exponent: dict[float, tuple[float, Sequence[float]]],
    plain_hit: float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> ExponentChoice:
    """The price exponent by the one-standard-error rule (module docstring, 6).

    `by_exponent`: exponent -> (hit@k, each validation case's revenue, in the same case
    order for every exponent). Eligible: the exponents whose hit@k is at least
    `plain_hit`; when none is, only the one with the best hit@k (then revenue, then the
    larger e). Among the eligible, ``best`` has the highest mean revenue; the result is the
    largest eligible e whose mean revenue is below the best's by at most the standard error
    of that paired difference, estimated by `resamples` bootstrap resamples of the cases
    (each case is one order; the same resamples for every e, seeded by `seed`). With equal
    revenues (no prices) every e qualifies and the result is the largest.
    """
    if not by_exponent:
        raise ValueError("no exponent was validated")
    sizes = {len(revenues) for _, revenues in by_exponent.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"the exponents' case revenues differ in length or are empty: {sizes}")
    revenues = {e: np.asarray(r, np.float64) for e, (_, r) in by_exponent.items()}
    eligible = sorted(e for e, (hit, _) in by_exponent.items() if hit >= plain_hit)
    if not eligible:
        eligible = [max(by_exponent, key=lambda e: (by_exponent[e][0], revenues[e].mean(), e))]
    best = max(eligible, key=lambda e: (revenues[e].mean(), e))
    cases = sizes.pop()
    picks = np.random.default_rng(seed).integers(0, cases, size=(resamples, cases))
    below: dict[float, float] = {}
    errors: dict[float, float] = {}
    for e in eligible:
        difference = revenues[best] - revenues[e]
        below[e] = float(difference.mean())
        errors[e] = float(difference[picks].mean(axis=1).std(ddof=1)) if resamples > 1 else 0.0
    exponent = max(e for e in eligible if below[e] <= errors[e])
    return ExponentChoice(exponent, best, tuple(eligible), below, errors)

"""One evaluation run: split an order log, fold the past, rank the future, tally the rankers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from streams.config import DomainConfigs, domain_configs
from streams.copurchase.model import DAY_MS
from streams.offers.ranking import AcceptanceModel, RankerConfig
from streams.settings import Settings
from streams.tools.evaluation.plain import PlainCounts
from streams.tools.evaluation.protocol import (
    DEFAULT_MAX_CART,
    RANKER_NAMES,
    RankerContext,
    RankerResult,
    build_context,
    evaluate_cases,
    make_cases,
)
from streams.tools.evaluation.state import LiveState, fold_orders
from streams.tools.evaluation.training import (
    TrainingError,
    TrainingOptions,
    TrainingOutcome,
    fit_calibration,
    train_acceptance,
)
from streams.tools.replay.orderlog import Order, OrderLog

__all__ = ["EvaluationReport", "parse_split_at", "run_evaluation"]

BASELINE = "copurchase_plain"
"""The ranker every ratio is taken against: plain same-order co-purchase counts."""


def parse_split_at(text: str) -> int:
    """Epoch ms of a date (``2011-09-01``: midnight UTC) or an ISO-8601 timestamp.

    A timestamp without a zone is UTC.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as error:
        raise ValueError(f"cannot read {text!r} as a date or an ISO-8601 timestamp") from error
    return int(moment.timestamp() * 1000)


@dataclass
class EvaluationReport:
    """The results of every ranker plus what was evaluated and how long each step took."""

    results: dict[str, RankerResult]
    split_at_ms: int
    k: int
    seed: int
    refresh_days: float
    train_orders: int
    test_orders: int
    catalogue_size: int
    total_orders: float
    timings: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    acceptance_model: AcceptanceModel | None = None
    """The model ``basketlift_fitted`` ranked with (fitted on the training orders, or given)."""
    fit_error: str | None = None
    """Why no model could be fitted (``basketlift_fitted`` is then left out), else None."""
    recalibrations: list[dict[str, float]] = field(default_factory=list)
    """With a refreshed state: the calibration map refitted at each refresh (its time,
    offers fitted on, slope, shift, log_cart_sources)."""

    def ratios(self) -> dict[str, dict[str, float | None]]:
        """Each ranker's hit@k and revenue per impression divided by the baseline's."""
        base = self.results.get(BASELINE)
        ratios: dict[str, dict[str, float | None]] = {}
        for name, result in self.results.items():
            ratios[name] = {
                "hit_at_k": _ratio(result.hit_at_k, base.hit_at_k if base else None),
                "revenue_per_impression": _ratio(
                    result.revenue_per_impression, base.revenue_per_impression if base else None
                ),
            }
        return ratios

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able report (``basketlift evaluate --json``)."""
        split = datetime.fromtimestamp(self.split_at_ms / 1000, tz=UTC)
        return {
            "rankers": {name: result.metrics() for name, result in self.results.items()},
            "baseline": BASELINE,
            "ratios_vs_copurchase_plain": self.ratios(),
            "protocol": {
                "split_at": split.isoformat(),
                "k": self.k,
                "seed": self.seed,
                "max_cart": DEFAULT_MAX_CART,
                "state": "frozen at the split"
                if self.refresh_days <= 0
                else f"refreshed with the test orders every {self.refresh_days:g} days",
            },
            "data": {
                "sources": self.sources,
                "train_orders": self.train_orders,
                "test_orders": self.test_orders,
                "cases": next(iter(self.results.values())).cases if self.results else 0,
                "catalogue_size": self.catalogue_size,
                "decayed_total_orders": self.total_orders,
            },
            "timings_seconds": dict(self.timings),
            "acceptance_model": (
                self.acceptance_model.to_dict() if self.acceptance_model is not None else None
            ),
            "acceptance_model_fit_error": self.fit_error,
            "recalibrations": list(self.recalibrations),
        }


def _ratio(value: float, base: float | None) -> float | None:
    return value / base if base else None


def _windows(orders: Sequence[Order], start_ms: int, days: float) -> list[list[Order]]:
    """The orders cut into consecutive windows of `days` from `start_ms` (empty ones skipped)."""
    width = days * DAY_MS
    windows: dict[int, list[Order]] = {}
    for order in orders:
        windows.setdefault(int((order.ts_ms - start_ms) // width), []).append(order)
    return [windows[key] for key in sorted(windows)]


def run_evaluation(
    log: OrderLog,
    split_at_ms: int,
    *,
    k: int = 3,
    seed: int = 0,
    limit_orders: int | None = None,
    refresh_days: float = 0.0,
    names: Sequence[str] = RANKER_NAMES,
    configs: DomainConfigs | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    acceptance_model: AcceptanceModel | None = None,
    training: TrainingOptions | None = None,
) -> EvaluationReport:
    """Fold the orders before the split, then evaluate the (first `limit_orders`) later ones.

    `refresh_days` > 0: after the cases of each window of that many days, its orders are
    folded into the state and the index is rebuilt (what a live worker would know), and
    ``basketlift_fitted``'s calibration map is refitted on every offer whose outcome is
    known by then (the validation slice's and the windows' already ranked; the report's
    ``recalibrations``); 0: the state and the model stay frozen at the split.
    `progress(step, done, total)` reports "fold" (orders) and "rank" (cases). `configs` are
    the worker's (``streams.config.domain_configs``), the defaults when None; the ranker
    offers `k` products whatever their `top_n`.

    ``basketlift`` is the hand-built model (whatever model file the settings name);
    ``basketlift_fitted`` ranks with `acceptance_model` when given, else with one fitted
    here on the training orders alone (``training.train_acceptance``, `training` options),
    which also folds them, so the orders are folded once either way. When the training
    orders are too few to fit on, ``basketlift_fitted`` is left out and the report's
    ``fit_error`` says why.
    """
    configs = configs or domain_configs(Settings())
    copurchase = configs.copurchase
    profile_config = configs.profile
    config = replace(configs.offers.decision.ranker, top_n=k, acceptance=None)

    def fold(orders: Sequence[Order], state: LiveState | None = None, **kw: Any) -> LiveState:
        return fold_orders(
            orders,
            state,
            copurchase,
            profile_config,
            batch_orders=configs.batch_max,
            consent_default_granted=configs.consent_default_granted,
            **kw,
        )

    train = [order for order in log.orders if order.ts_ms < split_at_ms]
    test = [order for order in log.orders if order.ts_ms >= split_at_ms]
    if limit_orders is not None:
        test = test[: max(limit_orders, 0)]
    timings: dict[str, float] = {}

    fitted: RankerConfig | None = None
    plain: PlainCounts | None = None
    outcome: TrainingOutcome | None = None
    fit_error: str | None = None
    if "basketlift_fitted" in names and acceptance_model is None:
        started = time.perf_counter()
        try:
            outcome = train_acceptance(
                train,
                split_at_ms,
                # orders_folded counts across both folds (one state): one progress bar.
                lambda orders, into: fold(
                    orders,
                    into,
                    progress=(lambda done: progress("fold", done, len(train)))
                    if progress
                    else None,
                ),
                config,
                copurchase.half_life_days,
                copurchase.neighbours_k,
                options=training,
                progress=progress,
            )
        except TrainingError as error:
            fit_error = str(error)
            names = [name for name in names if name != "basketlift_fitted"]
    if outcome is not None:
        state, acceptance_model = outcome.state, outcome.model
        plain = outcome.plain if "copurchase_plain" in names else None
        timings["fold_and_fit"] = time.perf_counter() - started
        timings.update({f"fit_{step}": seconds for step, seconds in outcome.timings.items()})
    else:
        started = time.perf_counter()
        state = fold(
            train,
            progress=(lambda done: progress("fold", done, len(train))) if progress else None,
        )
        timings["fold"] = time.perf_counter() - started
        if "copurchase_plain" in names:
            started = time.perf_counter()
            plain = PlainCounts()
            plain.add(train)
            timings["plain_counts"] = time.perf_counter() - started
    if acceptance_model is not None:
        fitted = replace(config, acceptance=acceptance_model)

    def context_at(as_of_ms: int) -> RankerContext:
        return build_context(
            state,
            as_of_ms,
            config,
            copurchase.half_life_days,
            copurchase.neighbours_k,
            plain,
            fitted,
        )

    started = time.perf_counter()
    context = context_at(split_at_ms)
    timings["index"] = time.perf_counter() - started
    catalogue_size = len(context.index)
    total_orders = context.total_orders
    cases = make_cases(test, seed)
    results = {name: RankerResult(name, k, catalogue_size) for name in names}
    rank_seconds = 0.0
    refresh_seconds = 0.0
    windows = _windows(test, split_at_ms, refresh_days) if refresh_days > 0 else [test]
    # With a refreshed state the calibration map is refitted at each refresh on every offer
    # whose outcome is known by then (the validation slice's and the test windows' already
    # ranked): the model's weights stay, only its reported p_accept follows the drift.
    # Uncalibrated p_accept, accepted, log_cart_sources of each offer:
    known_p: list[float] = list(outcome.validation_offers[0]) if outcome else []
    known_accepted: list[bool] = list(outcome.validation_offers[1]) if outcome else []
    known_sources: list[float] = list(outcome.validation_offers[2]) if outcome else []
    recalibrations: list[dict[str, float]] = []
    done = 0
    for window in windows:
        ids = {order.order_id for order in window}
        window_cases = [case for case in cases if case.order_id in ids]
        fitted_result = results.get("basketlift_fitted")
        offers_before = len(fitted_result.p_accepts) if fitted_result is not None else 0
        started = time.perf_counter()
        evaluate_cases(window_cases, context, names, results=results)
        rank_seconds += time.perf_counter() - started
        done += len(window_cases)
        if progress is not None:
            progress("rank", done, len(cases))
        if refresh_days > 0 and window is not windows[-1]:
            started = time.perf_counter()
            fold(window, state)
            if plain is not None:
                plain.add(window)
            window_end = split_at_ms + int(
                ((window[0].ts_ms - split_at_ms) // (refresh_days * DAY_MS) + 1)
                * refresh_days
                * DAY_MS
            )
            if fitted_result is not None and fitted is not None and fitted.acceptance:
                model = fitted.acceptance
                known_p.extend(fitted_result.raw_p_accepts[offers_before:])
                known_accepted.extend(fitted_result.accepted[offers_before:])
                known_sources.extend(fitted_result.cart_sources[offers_before:])
                if len(set(known_accepted)) > 1:  # else nothing to fit: the map stays
                    refit = fit_calibration(known_p, known_accepted, known_sources)
                    acceptance_model = replace(model, calibration=refit)
                    fitted = replace(fitted, acceptance=acceptance_model)
                    recalibrations.append(
                        {
                            "at_ms": window_end,
                            "offers": len(known_p),
                            "slope": refit.slope,
                            "shift": refit.shift,
                            "log_cart_sources": refit.cart,
                            "curve_knots": len(refit.curve[0]),
                        }
                    )
            context = context_at(window_end)
            refresh_seconds += time.perf_counter() - started
    timings["rank"] = rank_seconds
    if refresh_days > 0:
        timings["refresh"] = refresh_seconds
    return EvaluationReport(
        results=results,
        split_at_ms=split_at_ms,
        k=k,
        seed=seed,
        refresh_days=refresh_days,
        train_orders=len(train),
        test_orders=len(test),
        catalogue_size=catalogue_size,
        total_orders=total_orders,
        timings=timings,
        acceptance_model=acceptance_model,
        fit_error=fit_error,
        recalibrations=recalibrations,
    )

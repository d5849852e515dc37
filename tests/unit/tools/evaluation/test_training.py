"""Fitting the acceptance model on the history (streams.tools.evaluation.training), the
`basketlift train` command, the fitted ranker in `basketlift evaluate`, the model setting."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.cli import main
from streams.config import domain_configs
from streams.copurchase.model import CopurchaseConfig
from streams.offers.ranking import (
    DEFAULT_RANKER_CONFIG,
    FEATURE_NAMES,
    CalibrationMap,
    load_acceptance_model,
)
from streams.offers.ranking.acceptance import check_curve
from streams.settings import Settings, SettingsError, get_settings
from streams.tools.evaluation import parse_split_at, run_evaluation
from streams.tools.evaluation.calibration import expected_calibration_error, reliability_bins
from streams.tools.evaluation.protocol import make_case, make_cases
from streams.tools.evaluation.state import LiveState, fold_orders
from streams.tools.evaluation.training import (
    CURVE_BINS,
    TrainingError,
    TrainingOptions,
    calibration_curve,
    choose_exponent,
    fit_calibration,
    recalibration,
    train_acceptance,
    with_redraws,
)
from streams.tools.replay.orderlog import Order, OrderLine, OrderLog, write_orders_file
from streams.units import DAY_MS

SPLIT = parse_split_at("2024-06-01")
GROUPS = 8
PER_GROUP = 5


def shop_log(days_before: int = 200, days_after: int = 40, per_day: int = 8) -> OrderLog:
    """A seeded store: 8 groups of 5 products bought together (group g, category c{g}),
    priced 1 to 20; each order takes 2 to 4 products of one group, sometimes one more from
    anywhere; 60 shoppers who mostly stick to two groups."""
    rng = random.Random(11)
    price = {
        f"g{g}p{i}": float(1 + (3 * g + 5 * i) % 20)
        for g in range(GROUPS)
        for i in range(PER_GROUP)
    }
    everything = sorted(price)
    taste = {s: rng.sample(range(GROUPS), 2) for s in range(60)}
    orders = []
    for day in range(-days_before, days_after):
        for n in range(per_day):
            shopper = rng.randrange(60)
            group = rng.choice(taste[shopper]) if rng.random() < 0.8 else rng.randrange(GROUPS)
            members = [f"g{group}p{i}" for i in range(PER_GROUP)]
            chosen = rng.sample(members, rng.randint(2, 4))
            if rng.random() < 0.3:
                extra = rng.choice(everything)
                if extra not in chosen:
                    chosen.append(extra)
            ts = SPLIT + day * DAY_MS + n * 60_000
            oid = f"o{day + days_before:04d}-{n}"
            lines = tuple(
                OrderLine(oid, f"s{shopper}", ts, p, 1, price[p], f"c{p[1]}", None) for p in chosen
            )
            orders.append(Order(oid, f"s{shopper}", ts, lines))
    return OrderLog(tuple(orders))


def fold(orders: list[Order] | tuple[Order, ...], into: LiveState | None) -> LiveState:
    return fold_orders(orders, into, CopurchaseConfig())


def train(orders: tuple[Order, ...], until_ms: int = SPLIT):  # type: ignore[no-untyped-def]
    return train_acceptance(list(orders), until_ms, fold, DEFAULT_RANKER_CONFIG, 90.0, 100)


def test_the_fit_sees_only_orders_before_its_end() -> None:
    log = shop_log()
    before = tuple(o for o in log.orders if o.ts_ms < SPLIT)
    with_later = train(log.orders)
    only_before = train(before)
    assert with_later.model == only_before.model
    summary = with_later.summary
    assert summary["until_ms"] == SPLIT
    assert summary["window_start_ms"] == SPLIT - 90 * DAY_MS
    assert summary["orders_before_window"] + summary["window_orders"] == len(before)
    assert summary["positives"] > 0 and summary["examples"] > summary["positives"]
    # The returned state holds every order before the end, and none after.
    assert with_later.state.orders_folded == len(before)
    assert with_later.state.last_ts_ms is not None and with_later.state.last_ts_ms < SPLIT
    assert with_later.plain.orders == len(before)


def test_the_fitted_model_learns_the_stores_evidence() -> None:
    outcome = train(shop_log().orders)
    weights = dict(zip(FEATURE_NAMES, outcome.model.weights, strict=True))
    # Products of one group are bought together: the pair evidence is what predicts.
    assert weights["pair_lift"] > 0.2
    assert outcome.model.price_exponent in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert outcome.model.calibration.slope > 0


def test_the_final_weights_learn_from_the_validation_slice_too() -> None:
    before = tuple(o for o in shop_log().orders if o.ts_ms < SPLIT)
    outcome = train(before)
    start = outcome.summary["validation_start_ms"]
    # The same history up to the validation start; after it, every order keeps only its
    # first two products (still a case each, at the same time).
    changed = tuple(o if o.ts_ms < start else replace(o, lines=o.lines[:2]) for o in before)
    other = train(changed)
    assert other.summary["validation_start_ms"] == start
    # The fit slice's examples are the same; the final fit also has the validation slice's.
    assert other.summary["examples"] == outcome.summary["examples"]
    final = outcome.summary["final_fit"]
    assert final["examples"] > outcome.summary["examples"]
    assert final["positives"] > outcome.summary["positives"]
    assert final["cases"] == outcome.summary["fit_cases"] + outcome.summary["validation_cases"]
    assert other.model.weights != outcome.model.weights


def test_redraws_hide_other_products_of_the_same_orders() -> None:
    orders = [o for o in shop_log().orders if o.ts_ms < SPLIT][:300]
    cases = make_cases(orders, seed=3)
    assert with_redraws(cases, orders, 1, seed=3) == cases
    redrawn = with_redraws(cases, orders, 4, seed=3)
    assert redrawn[: len(cases)] == cases
    by_id = {order.order_id: order for order in orders}
    hidden_by_order: dict[str, list[str]] = {}
    for case in redrawn:
        products = {line.product_id for line in by_id[case.order_id].lines}
        cart = {item.product_id for item in case.cart}
        assert case.hidden in products and case.hidden not in cart
        assert cart | {case.hidden} == products  # carts here are below the cap
        hidden_by_order.setdefault(case.order_id, []).append(case.hidden)
    for order_id, hidden in hidden_by_order.items():
        distinct = len({line.product_id for line in by_id[order_id].lines})
        assert len(hidden) == len(set(hidden)) <= min(4, distinct)
    # Orders of 3+ products mostly get more than one case; none of 2 gets more than 2.
    assert sum(len(h) > 1 for h in hidden_by_order.values()) > len(cases) // 2
    assert with_redraws(cases, orders, 4, seed=3) == redrawn  # deterministic


def test_the_calibration_map_is_fitted_on_redrawn_validation_cases() -> None:
    before = [o for o in shop_log().orders if o.ts_ms < SPLIT]

    def trained(draws: int):  # type: ignore[no-untyped-def]
        options = TrainingOptions(calibration_draws=draws)
        return train_acceptance(
            before, SPLIT, fold, DEFAULT_RANKER_CONFIG, 90.0, 100, options=options
        )

    one, more = trained(1), trained(4)
    # The weights and the exponent come from the same examples; only the map's offers grow.
    assert more.model.weights == one.model.weights
    assert more.model.price_exponent == one.model.price_exponent
    offers_one = one.summary["calibration"]["offers"]
    offers_more = more.summary["calibration"]["offers"]
    assert offers_more > 2 * offers_one
    # What a refresh refits the map on stays one case per validation order.
    assert more.validation_offers == one.validation_offers
    assert len(one.validation_offers[0]) == offers_one
    assert (more.model.calibration.slope, more.model.calibration.shift) != (
        one.model.calibration.slope,
        one.model.calibration.shift,
    )


def test_calibration_draws_must_be_positive() -> None:
    with pytest.raises(ValueError, match="calibration_draws"):
        TrainingOptions(calibration_draws=0)


def test_too_short_a_history_is_refused_before_folding() -> None:
    folded: list[int] = []

    def counting_fold(orders, into):  # type: ignore[no-untyped-def]
        folded.append(len(orders))
        return fold(orders, into)

    short = shop_log(days_before=6, days_after=0, per_day=4)
    with pytest.raises(TrainingError, match="too few orders to fit on"):
        train_acceptance(list(short.orders), SPLIT, counting_fold, DEFAULT_RANKER_CONFIG, 90, 100)
    assert folded == []


def _revenues(mean: float, cases: int = 400) -> list[float]:
    """Per-case revenues with the given mean: a share of cases earn 10, the rest 0."""
    hits = round(mean * cases / 10)
    return [10.0] * hits + [0.0] * (cases - hits)


def test_the_exponent_rule_prefers_revenue_among_those_as_accepted_as_the_baseline() -> None:
    # Revenue gaps far beyond the noise: the rule is the plain argmax among the eligible.
    results = {
        0.0: (0.12, _revenues(1.0)),
        0.5: (0.11, _revenues(2.0)),
        1.0: (0.09, _revenues(3.0)),
    }
    assert choose_exponent(results, plain_hit=0.10).exponent == 0.5
    assert choose_exponent(results, plain_hit=0.08).exponent == 1.0
    assert choose_exponent(results, plain_hit=0.13).exponent == 0.0  # none is: the best hit


def test_the_exponent_rule_takes_the_larger_exponent_within_one_standard_error() -> None:
    rng = np.random.default_rng(5)
    cases = 1300
    prices = rng.lognormal(1.0, 0.8, cases)
    base = rng.random(cases) < 0.15
    # e = 0.5 and e = 1 each hit some cases the other misses (as neighbouring exponents'
    # rankings do), e = 0.5 two more: it earns a little more, much less than the noise of
    # 1,300 orders; e = 0 earns clearly less.
    misses = np.flatnonzero(~base)
    only_half, only_one = misses[:12], misses[12:22]
    prices[only_half] = prices[only_one] = 5.0
    half = np.where(base | np.isin(np.arange(cases), only_half), prices, 0.0).tolist()
    one = np.where(base | np.isin(np.arange(cases), only_one), prices, 0.0).tolist()
    low = np.where(base & (rng.random(cases) < 0.5), prices, 0.0).tolist()
    results = {0.0: (0.2, low), 0.5: (0.2, half), 1.0: (0.2, one)}
    choice = choose_exponent(results, plain_hit=0.1)
    assert choice.best == 0.5  # the argmax, which the old rule returned
    assert 0 < choice.below_best[1.0] <= choice.standard_errors[1.0]
    assert choice.exponent == 1.0
    assert choice.below_best[0.0] > choice.standard_errors[0.0]
    # Equal revenues (no prices): the largest exponent.
    flat = {e: (0.2, [1.0, 0.0, 1.0]) for e in (0.0, 0.5, 1.0)}
    assert choose_exponent(flat, plain_hit=0.1).exponent == 1.0


def test_recalibration_undoes_overconfidence() -> None:
    rng = np.random.default_rng(3)
    logit = rng.normal(-2.0, 1.0, 20_000)
    accepted = rng.random(len(logit)) < 1 / (1 + np.exp(-logit))
    overconfident = 1 / (1 + np.exp(-2 * logit))  # log-odds doubled
    slope, shift, cart = recalibration(overconfident.tolist(), accepted.tolist())
    assert slope == pytest.approx(0.5, abs=0.05)
    assert shift == pytest.approx(0.0, abs=0.1)
    assert cart == 0.0
    assert recalibration([0.2, 0.3], [True, True]) == (1.0, 0.0, 0.0)


def test_recalibration_learns_how_acceptance_moves_with_the_cart_size() -> None:
    # The same log-odds are accepted more in larger carts: one slope and shift cannot map
    # both cart sizes onto their acceptance, the cart term can.
    rng = np.random.default_rng(4)
    logit = rng.normal(-2.0, 1.0, 40_000)
    sources = np.log1p(rng.choice([2.0, 20.0], len(logit)))
    accepted = rng.random(len(logit)) < 1 / (1 + np.exp(-(logit + 0.8 * sources - 1.0)))
    p = (1 / (1 + np.exp(-logit))).tolist()
    slope, shift, cart = recalibration(p, accepted.tolist(), sources.tolist())
    assert slope == pytest.approx(1.0, abs=0.05)
    assert cart == pytest.approx(0.8, abs=0.08)
    assert shift == pytest.approx(-1.0, abs=0.2)
    with_cart = CalibrationMap(slope, shift, cart).of_raw(np.array(p), sources)
    without = recalibration(p, accepted.tolist())
    plain = CalibrationMap(*without).of_raw(np.array(p), 0.0)
    large = sources > 2
    assert abs(with_cart[large].mean() - accepted[large].mean()) < 0.01
    assert abs(plain[large].mean() - accepted[large].mean()) > 0.03


def test_the_calibration_curve_follows_what_a_logistic_map_cannot() -> None:
    # Acceptance rises in steps with the fitted p (an S no slope and shift can follow).
    rng = np.random.default_rng(5)
    raw = rng.uniform(0.01, 0.4, 40_000)
    truth = np.where(raw < 0.15, 0.03, np.where(raw < 0.25, 0.2, 0.22))
    accepted = (rng.random(len(raw)) < truth).tolist()
    sources = [1.0] * len(raw)
    calibration = fit_calibration(raw.tolist(), accepted, sources)
    knots, values = calibration.curve
    assert len(knots) == CURVE_BINS
    assert all(a < b for a, b in itertools.pairwise(knots))
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[0] > 0 and values[-1] < 1
    curved = calibration.of_raw(raw, np.array(sources))
    platt_only = replace(calibration, curve=((), ())).of_raw(raw, np.array(sources))

    def ece(p: np.ndarray) -> float:
        return expected_calibration_error(reliability_bins(p.tolist(), accepted))

    assert ece(curved) < 0.01 < ece(platt_only)
    assert np.abs(curved - truth).mean() < 0.5 * np.abs(platt_only - truth).mean()


def test_the_calibration_curve_pools_drops_and_needs_enough_offers() -> None:
    # Two bins of 200: the second accepted less than the first -> pooled into one level.
    p = [0.1] * 200 + [0.2] * 200
    accepted = [True] * 40 + [False] * 160 + [True] * 20 + [False] * 180
    knots, values = calibration_curve(p, accepted, bins=2, min_per_bin=200)
    assert knots == pytest.approx((0.1, 0.2))
    pooled = (40.5 * 201 + 20.5 * 201) / (201 * 402)  # Jeffreys rates, weighted by offers
    assert values == pytest.approx((pooled, pooled), rel=1e-3)
    # Increasing rates are kept as Jeffreys posterior means.
    rising = [True] * 20 + [False] * 180 + [True] * 40 + [False] * 160
    assert calibration_curve(p, rising, bins=2, min_per_bin=200)[1] == pytest.approx(
        (20.5 / 201, 40.5 / 201)
    )
    # Fewer offers than two bins' worth: no curve; ties in p merge bins.
    assert calibration_curve(p[:399], accepted[:399], bins=2, min_per_bin=200) == ((), ())
    assert calibration_curve([0.1] * 400, accepted, bins=2, min_per_bin=200) == ((), ())


# --------------------------------------------------------------------------- evaluate


def test_evaluate_reports_the_fitted_ranker_beside_the_hand_built_one() -> None:
    steps: list[tuple[str, int, int]] = []
    report = run_evaluation(shop_log(), SPLIT, k=3, progress=lambda *step: steps.append(step))
    assert report.fit_error is None
    # Folding (in two parts around the fit window) reports one count up to every training order.
    folds = [done for step, done, total in steps if step == "fold"]
    assert folds == sorted(folds) and folds[-1] == report.train_orders
    assert [done for step, done, _ in steps if step == "validate"] == [1, 2, 3, 4, 5]
    fitted = report.results["basketlift_fitted"]
    assert fitted.cases == report.results["basketlift"].cases > 0
    data = json.loads(json.dumps(report.to_dict()))
    assert "basketlift_fitted" in data["ratios_vs_copurchase_plain"]
    model = data["acceptance_model"]
    assert model["features"] == list(FEATURE_NAMES)
    assert model["training"]["until_ms"] == SPLIT  # fitted on the training period only
    # The fitted p_accept is its own, not the hand-built one's.
    assert fitted.p_accepts != report.results["basketlift"].p_accepts


def test_a_refreshed_evaluation_refits_the_calibration_on_outcomes_already_known() -> None:
    report = run_evaluation(shop_log(), SPLIT, k=3, refresh_days=7, names=["basketlift_fitted"])
    assert report.acceptance_model is not None
    fits = report.recalibrations
    calibration = report.acceptance_model.training["calibration"]
    # Refreshes refit on one case per validation order, as the test windows have.
    validation_offers = calibration["offers_one_per_order"]
    assert calibration["offers"] > validation_offers
    assert len(fits) >= 2
    offers = [fit["offers"] for fit in fits]
    assert offers == sorted(set(offers)) and offers[0] > validation_offers
    # The last window's outcomes are never fitted on: no refresh follows it.
    assert offers[-1] < validation_offers + report.results["basketlift_fitted"].offers
    week = 7 * DAY_MS
    assert [fit["at_ms"] for fit in fits] == [SPLIT + (i + 1) * week for i in range(len(fits))]
    # The reported model carries the last map; the weights are the trained ones.
    last = fits[-1]
    model = report.acceptance_model
    assert (model.calibration.slope, model.calibration.shift, model.calibration.cart) == (
        last["slope"],
        last["shift"],
        last["log_cart_sources"],
    )
    assert len(model.calibration.curve[0]) == last["curve_knots"]
    frozen = run_evaluation(shop_log(), SPLIT, k=3, names=["basketlift_fitted"])
    assert frozen.recalibrations == []
    assert frozen.acceptance_model is not None
    assert frozen.acceptance_model.weights == model.weights
    # Every offer's reported p is its model's map of its raw (fitted) probability.
    result = frozen.results["basketlift_fitted"]
    assert len(result.raw_p_accepts) == len(result.p_accepts) == result.offers > 0
    mapped = frozen.acceptance_model.calibration.of_raw(
        np.array(result.raw_p_accepts), np.array(result.cart_sources)
    )
    np.testing.assert_allclose(result.p_accepts, mapped)
    assert result.p_accepts != result.raw_p_accepts


def test_a_refresh_with_no_outcome_of_both_kinds_keeps_the_models_map() -> None:
    # A given model (no validation offers) and test orders of products never seen before
    # but g0p0, kept only where the protocol hides one of the unseen ones: g0p0 stays in
    # the visible cart (the cart has evidence) and nothing bought outside it can be
    # offered, so every offer is declined and there is nothing to refit the map on.
    model = train(shop_log().orders).model
    history = tuple(o for o in shop_log().orders if o.ts_ms < SPLIT)
    unseen = []
    for n in range(60):
        oid, ts = f"new-{n}", SPLIT + n * DAY_MS
        products = (f"zz{n}a", f"zz{n}b", "g0p0")
        lines = tuple(OrderLine(oid, "s1", ts, p, 1, 5.0, "c0", None) for p in products)
        order = Order(oid, "s1", ts, lines)
        case = make_case(order, 0)
        if case is not None and case.hidden != "g0p0":
            unseen.append(order)
    assert len(unseen) >= 20
    log = OrderLog(history + tuple(unseen))
    report = run_evaluation(
        log, SPLIT, k=3, refresh_days=7, names=["basketlift_fitted"], acceptance_model=model
    )
    fitted = report.results["basketlift_fitted"]
    assert fitted.offers > 0 and not any(fitted.accepted)
    assert report.recalibrations == []
    assert report.acceptance_model == model


def test_evaluate_leaves_the_fitted_ranker_out_of_a_history_too_short_to_fit() -> None:
    short = shop_log(days_before=6, days_after=4, per_day=4)
    report = run_evaluation(short, SPLIT, k=2)
    assert report.fit_error is not None and "too few orders" in report.fit_error
    assert "basketlift_fitted" not in report.results
    assert report.results["basketlift"].cases > 0
    assert report.to_dict()["acceptance_model_fit_error"] == report.fit_error


# --------------------------------------------------------------------------- the commands


def test_train_writes_a_model_that_evaluate_and_the_settings_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = write_orders_file(shop_log(), tmp_path / "orders.parquet")
    out = tmp_path / "model.json"
    result = CliRunner().invoke(
        main, ["train", "--orders", str(orders), "--until", "2024-06-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: ")
    model = load_acceptance_model(out)
    assert model.training["until_ms"] == SPLIT

    evaluated = CliRunner().invoke(
        main,
        ["evaluate", "--orders", str(orders), "--split-at", "2024-06-01", "--json",
         "--model", str(out)],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    data = json.loads(evaluated.stdout)
    assert data["acceptance_model"] == json.loads(out.read_text())
    assert "fit_fit" not in data["timings_seconds"]  # given, not fitted again

    monkeypatch.setenv("BASKETLIFT_ACCEPTANCE_MODEL_FILE", str(out))
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()
    assert domain_configs(settings).offers.decision.ranker.acceptance == model
    assert (
        domain_configs(Settings(acceptance_model_file=None)).offers.decision.ranker.acceptance
        is None
    )


def test_a_bad_model_file_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "basketlift-acceptance-1", "features": []}')
    orders = write_orders_file(shop_log(days_before=10, days_after=2), tmp_path / "o.parquet")
    result = CliRunner().invoke(
        main, ["evaluate", "--orders", str(orders), "--split-at", "2024-06-01", "--model", str(bad)]
    )
    assert result.exit_code != 0
    assert f"acceptance model {bad}: features" in result.output
    monkeypatch.setenv("BASKETLIFT_ACCEPTANCE_MODEL_FILE", str(bad))
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(info.value)
    assert message.startswith("BASKETLIFT_ACCEPTANCE_MODEL_FILE: acceptance model ")
    assert "\n" not in message


def test_train_refuses_a_history_too_short_in_one_line(tmp_path: Path) -> None:
    orders = write_orders_file(shop_log(days_before=6, days_after=0, per_day=4), tmp_path / "o.pq")
    out = tmp_path / "model.json"
    result = CliRunner().invoke(
        main, ["train", "--orders", str(orders), "--until", "2024-06-01", "--out", str(out)]
    )
    assert result.exit_code != 0
    assert "cannot fit the acceptance model: too few orders to fit on" in result.output
    assert not out.exists()


@settings(max_examples=200, deadline=None)
# Three equal p in a bin: their mean rounds an ulp below them unless it is kept inside.
@example(offers=[(1.0, False)] * 2 + [(0.45435104933545956, False)] * 3, bins=2, min_per_bin=1)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 1.0, allow_nan=False), st.booleans()),
        min_size=0,
        max_size=600,
    ),
    st.integers(1, 30),
    st.integers(1, 100),
)
def test_any_offers_give_a_valid_curve_or_none(
    offers: list[tuple[float, bool]], bins: int, min_per_bin: int
) -> None:
    p = [value for value, _ in offers]
    accepted = [outcome for _, outcome in offers]
    knots, values = calibration_curve(p, accepted, bins=bins, min_per_bin=min_per_bin)
    check_curve(knots, values)  # what a model accepts: increasing knots, values never drop
    assert len(knots) <= min(bins, len(p) // min_per_bin)
    assert all(0.0 < value < 1.0 for value in values)
    if knots:
        assert min(p) <= knots[0] and knots[-1] <= max(p)

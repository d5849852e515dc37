"""The fitted acceptance model: the fit, its calibration, the model file and its use in ranking."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from streams.offers.ranking import (
    FEATURE_NAMES,
    IDENTITY_CALIBRATION,
    AcceptanceModel,
    AcceptanceModelError,
    CalibrationMap,
    CartItem,
    ProductFacts,
    ProductIndex,
    RankerConfig,
    candidate_features,
    fit_logistic,
    load_acceptance_model,
    log_cart_sources,
    model_from_fit,
    rank_offers,
)
from streams.offers.ranking.acceptance import log_odds, sigmoid
from streams.tools.evaluation.calibration import expected_calibration_error, reliability_bins

N = len(FEATURE_NAMES)


def synthetic(rows: int, weights: np.ndarray, intercept: float, seed: int = 1):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(weights))) * np.arange(1, len(weights) + 1) + 2.0
    p = sigmoid(x @ weights + intercept)
    y = (rng.random(rows) < p).astype(np.float64)
    return x, y, p


def test_the_fit_recovers_known_weights() -> None:
    true_w = np.array([1.5, -0.8, 0.3])
    x, y, _ = synthetic(40_000, true_w, -2.0)
    fit = fit_logistic(x, y, l2=1e-3)
    assert fit.converged
    # Back from standardised features to the raw ones.
    raw_w = fit.weights / fit.scales
    raw_b = fit.intercept - float(raw_w @ fit.means)
    np.testing.assert_allclose(raw_w, true_w, atol=0.06)
    assert raw_b == pytest.approx(-2.0, abs=0.15)


def test_fitted_probabilities_are_calibrated_on_new_data() -> None:
    true_w = np.array([0.9, -0.5, 0.2])
    x, y, _ = synthetic(30_000, true_w, -3.0, seed=2)
    fit = fit_logistic(x, y)
    x_new, y_new, _ = synthetic(30_000, true_w, -3.0, seed=3)
    raw_w = fit.weights / fit.scales
    predicted = sigmoid(x_new @ raw_w + fit.intercept - float(raw_w @ fit.means))
    ece = expected_calibration_error(reliability_bins(predicted.tolist(), (y_new > 0).tolist()))
    assert ece < 0.01
    # The same features with twice the log-odds (over-confident) are not calibrated.
    logit = x_new @ raw_w + fit.intercept - float(raw_w @ fit.means)
    doubled = sigmoid(2 * logit)
    assert (
        expected_calibration_error(reliability_bins(doubled.tolist(), (y_new > 0).tolist())) > 0.03
    )


def test_weighted_subsampled_negatives_stand_for_all_of_them() -> None:
    x, y, _ = synthetic(60_000, np.array([0.7, 0.0, 0.0]), -3.5, seed=4)
    full = fit_logistic(x, y)
    rng = np.random.default_rng(5)
    negatives = np.flatnonzero(y == 0)
    kept = rng.choice(negatives, len(negatives) // 10, replace=False)
    rows = np.concatenate([np.flatnonzero(y == 1), kept])
    weights = np.where(y[rows] == 1, 1.0, len(negatives) / len(kept))
    sampled = fit_logistic(x[rows], y[rows], weights)
    unweighted = fit_logistic(x[rows], y[rows])

    def mean_p(fit) -> float:  # type: ignore[no-untyped-def]
        raw_w = fit.weights / fit.scales
        return float(sigmoid(x @ raw_w + fit.intercept - float(raw_w @ fit.means)).mean())

    assert mean_p(sampled) == pytest.approx(y.mean(), rel=0.1)
    assert mean_p(sampled) == pytest.approx(mean_p(full), rel=0.1)
    assert mean_p(unweighted) > 3 * y.mean()  # without the weights, far too confident


def test_the_fit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        fit_logistic(np.zeros((3, 1)), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="rows x features"):
        fit_logistic(np.zeros((3, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="l2"):
        fit_logistic(np.zeros((3, 1)), np.zeros(3), l2=0.0)


# --------------------------------------------------------------------------- the model file


def a_model(**changes: object) -> AcceptanceModel:
    fit = fit_logistic(*synthetic(2_000, np.ones(N) * 0.1, -2.0)[:2])
    model = model_from_fit(fit, price_exponent=0.5, version="v-test", training={"cases": 3})
    return replace(model, **changes) if changes else model  # type: ignore[arg-type]


def test_the_model_file_round_trips(tmp_path: Path) -> None:
    model = a_model()
    path = model.write(tmp_path / "model.json")
    loaded = load_acceptance_model(path)
    assert loaded == model
    assert loaded.training == {"cases": 3} and loaded.version == "v-test"
    features = np.random.default_rng(0).normal(size=(5, N))
    np.testing.assert_allclose(loaded.p_accept(features), model.p_accept(features))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(features=d["features"][:-1]), "features"),
        (lambda d: d.update(weights=d["weights"][:-1]), "weights: 11 values for 12 features"),
        (lambda d: d.update(weights=["x"] * N), "weights must be a list of numbers"),
        (lambda d: d.update(scales=[0.0] * N), "scales: every value must be > 0"),
        (lambda d: d.pop("intercept"), "intercept must be a number"),
        (lambda d: d.update(price_exponent=3), "price_exponent must be in"),
        (lambda d: d.update(version=""), "version"),
    ],
)
def test_a_bad_model_file_gives_one_line_naming_it(
    tmp_path: Path, change: object, message: str
) -> None:
    data = a_model().to_dict()
    change(data)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AcceptanceModelError, match=message) as caught:
        load_acceptance_model(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_unreadable_and_non_json_model_files(tmp_path: Path) -> None:
    with pytest.raises(AcceptanceModelError, match="cannot read it"):
        load_acceptance_model(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(AcceptanceModelError, match="not JSON"):
        load_acceptance_model(broken)


# --------------------------------------------------------------------------- in the ranker


def store() -> ProductIndex:
    """a is bought with b (cheap) and c (dear) equally often; d is unrelated."""
    return ProductIndex(
        [
            ProductFacts("a", 5.0, "x", purchases=40, neighbours=(("b", 10.0), ("c", 10.0))),
            ProductFacts("b", 2.0, "y", purchases=30, neighbours=(("a", 10.0),)),
            ProductFacts("c", 50.0, "z", purchases=30, neighbours=(("a", 10.0),)),
            ProductFacts("d", 9.0, "w", purchases=30),
        ]
    )


def constant_model(p: float, price_exponent: float, **weights: float) -> AcceptanceModel:
    """A model whose logit is logit(p) plus the named features' raw values times the weights."""
    w = [weights.get(name, 0.0) for name in FEATURE_NAMES]
    return AcceptanceModel(
        (0.0,) * N, (1.0,) * N, tuple(w), float(np.log(p / (1 - p))), price_exponent
    )


def test_the_ranker_uses_the_fitted_p_and_its_price_exponent() -> None:
    index = store()
    cart = [CartItem("a", unit_price=5.0, category="x")]
    by_price = rank_offers(
        cart, index, 100, config=RankerConfig(top_n=2, acceptance=constant_model(0.2, 1.0))
    )
    assert [o.product_id for o in by_price] == ["c", "b"]
    assert [o.p_accept for o in by_price] == pytest.approx([0.2, 0.2])
    assert by_price[0].expected_revenue == pytest.approx(0.2 * 50.0)
    # Exponent 0 ranks by p alone: equal p, so ties go to the smaller product id.
    by_p = rank_offers(
        cart, index, 100, config=RankerConfig(top_n=2, acceptance=constant_model(0.2, 0.0))
    )
    assert [o.product_id for o in by_p] == ["b", "c"]
    # A negative weight on the price ratio to the cart makes the cheap one win by revenue.
    cheap = constant_model(0.2, 1.0, log_price_ratio=-3.0)
    ranked = rank_offers(cart, index, 100, config=RankerConfig(top_n=2, acceptance=cheap))
    assert ranked[0].product_id == "b"
    # Explanations still name the co-purchase evidence.
    assert ranked[0].reason.startswith("bought with 'a'")


def test_candidate_features_are_what_the_ranker_scores() -> None:
    index = store()
    cart = [CartItem("a", unit_price=5.0, category="x")]
    codes, features, hand_p = candidate_features(cart, index, 1000)
    assert [index.product_ids[c] for c in codes] == ["b", "c"]
    assert features.shape == (2, N)
    column = dict(zip(FEATURE_NAMES, features.T, strict=True))
    np.testing.assert_allclose(column["log_price"], np.log([2.0, 50.0]))
    np.testing.assert_allclose(column["log_price_ratio"], np.log([2.0 / 5.0, 50.0 / 5.0]))
    np.testing.assert_allclose(column["log_support"], np.log1p([1, 1]))
    np.testing.assert_allclose(column["log_copurchases"], np.log1p([10.0, 10.0]))
    np.testing.assert_allclose(column["category_match"], [0, 0])
    assert (column["pair_lift"] > 0).all()
    model = a_model(price_exponent=1.0)
    ranked = rank_offers(cart, index, 1000, config=RankerConfig(top_n=2, acceptance=model))
    expected = dict(zip(["b", "c"], model.p_accept(features), strict=True))
    for offer in ranked:
        assert offer.p_accept == pytest.approx(expected[offer.product_id])
    # The hand-built p is what rank_offers gives without a model.
    plain = {
        o.product_id: o.p_accept
        for o in rank_offers(cart, index, 1000, config=RankerConfig(top_n=2))
    }
    assert [plain["b"], plain["c"]] == pytest.approx(hand_p.tolist())


def test_the_calibration_map_reads_the_carts_size_and_keeps_the_order() -> None:
    index = store()
    small = [CartItem("a", unit_price=5.0, category="x")]
    large = [*small, CartItem("b", unit_price=2.0, category="y")]
    # Every cart item with neighbours is a source.
    assert log_cart_sources(small, index) == pytest.approx(np.log1p(1))
    assert log_cart_sources(large, index) == pytest.approx(np.log1p(2))
    for cart in (small, large):
        _codes, features, _p = candidate_features(cart, index, 1000)
        np.testing.assert_allclose(
            features[:, FEATURE_NAMES.index("log_cart_sources")], log_cart_sources(cart, index)
        )
    base = constant_model(0.2, 1.0, log_price=0.1)
    with_cart = replace(base, calibration=CalibrationMap(slope=0.5, shift=-1.0, cart=0.7))
    for cart in (small, large):
        codes, features, _p = candidate_features(cart, index, 1000)
        logit = base.logit(features)
        expected = sigmoid(0.5 * logit + 0.7 * log_cart_sources(cart, index) - 1.0)
        np.testing.assert_allclose(with_cart.p_accept(features), expected)
        ranked = rank_offers(cart, index, 1000, config=RankerConfig(top_n=3, acceptance=with_cart))
        unmapped = rank_offers(cart, index, 1000, config=RankerConfig(top_n=3, acceptance=base))
        assert [o.product_id for o in ranked] == [o.product_id for o in unmapped]
        by_id = dict(zip([index.product_ids[c] for c in codes], expected, strict=True))
        scored = [offer for offer in ranked if offer.product_id in by_id]  # not the fallbacks
        assert scored
        for offer in scored:
            assert offer.p_accept == pytest.approx(by_id[offer.product_id])


def test_a_model_file_without_the_cart_term_reads_as_zero(tmp_path: Path) -> None:
    model = a_model(calibration=CalibrationMap(cart=0.4))
    assert load_acceptance_model(model.write(tmp_path / "m.json")).calibration.cart == 0.4
    data = model.to_dict()
    del data["calibration"]["log_cart_sources"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    assert load_acceptance_model(older) == replace(model, calibration=IDENTITY_CALIBRATION)
    data["calibration"]["log_cart_sources"] = "big"
    older.write_text(json.dumps(data))
    with pytest.raises(AcceptanceModelError, match="log_cart_sources"):
        load_acceptance_model(older)


def test_observed_acceptance_moves_the_fitted_p_and_the_ranking() -> None:
    index = store()
    cart = [CartItem("a", unit_price=5.0, category="x")]
    config = RankerConfig(top_n=2, acceptance=constant_model(0.2, 1.0))
    # c (dear) wins on price until it has been shown 5,000 times and never accepted.
    ranked = rank_offers(cart, index, 1000, config=config, observed={"c": (5000, 0)})
    assert [o.product_id for o in ranked] == ["b", "c"]
    shrunk = 0.2 * 50 / (50 + 5000)
    assert ranked[1].p_accept == pytest.approx(shrunk)
    assert ranked[1].expected_revenue == pytest.approx(shrunk * 50.0)
    # An accepted-often product keeps its place, with its p moved up.
    ranked = rank_offers(cart, index, 1000, config=config, observed={"c": (10, 10)})
    assert ranked[0].product_id == "c"
    assert ranked[0].p_accept == pytest.approx((0.2 * 50 + 10) / 60)


CURVE = ((0.05, 0.1, 0.3), (0.02, 0.15, 0.15))


def test_the_calibration_curve_is_read_after_the_platt_map(tmp_path: Path) -> None:
    platt = a_model(calibration=CalibrationMap(slope=0.5, shift=-0.2))
    curved = replace(platt, calibration=replace(platt.calibration, curve=CURVE))
    logit = np.linspace(-6.0, 2.0, 41)
    before = platt.calibrated(logit, 1.0)
    after = curved.calibrated(logit, 1.0)
    np.testing.assert_allclose(after, np.interp(before, *CURVE))
    assert np.all(np.diff(after) >= 0)  # never reorders
    assert after.min() == 0.02 and after.max() == 0.15  # flat beyond the end knots
    # From fitted probabilities as from log-odds.
    np.testing.assert_allclose(curved.calibration.of_raw(sigmoid(logit), 1.0), after)
    # The file keeps it; a file without one reads as no curve.
    assert load_acceptance_model(curved.write(tmp_path / "curved.json")) == curved
    assert "curve" not in platt.to_dict()["calibration"]
    assert load_acceptance_model(platt.write(tmp_path / "platt.json")).calibration.curve == (
        (),
        (),
    )


def test_without_calibration_ranks_alike_and_reports_the_fitted_p() -> None:
    index = store()
    cart = [CartItem("a", unit_price=5.0, category="x")]
    model = replace(
        constant_model(0.2, 1.0),
        calibration=CalibrationMap(slope=0.4, curve=((0.01, 0.9), (0.0, 0.5))),
    )
    bare = model.without_calibration()
    assert bare.weights == model.weights and bare.price_exponent == model.price_exponent
    assert bare.calibration == IDENTITY_CALIBRATION == CalibrationMap(1.0, 0.0, 0.0, ((), ()))
    ranked = rank_offers(cart, index, 1000, config=RankerConfig(top_n=3, acceptance=model))
    raw = rank_offers(cart, index, 1000, config=RankerConfig(top_n=3, acceptance=bare))
    assert [o.product_id for o in ranked] == [o.product_id for o in raw]
    sources = log_cart_sources(cart, index)
    expected = model.calibration.of_raw(np.array([o.p_accept for o in raw]), sources)
    assert [o.p_accept for o in ranked] == pytest.approx(expected.tolist())


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ({"p": [0.1, 0.2], "accepted": [0.1]}, "2 knots for 1 values"),
        ({"p": [0.1], "accepted": [0.1]}, "at least 2 knots"),
        ({"p": [0.2, 0.1], "accepted": [0.1, 0.2]}, "strictly increasing"),
        ({"p": [0.1, 0.2], "accepted": [0.2, 0.1]}, "never decrease"),
        ({"p": [0.1, 1.2], "accepted": [0.1, 0.2]}, r"in \[0, 1\]"),
        ({"p": [0.1, "x"], "accepted": [0.1, 0.2]}, "lists of numbers"),
        ("flat", "lists of numbers"),
    ],
)
def test_a_bad_calibration_curve_is_refused_in_one_line(
    tmp_path: Path, curve: object, message: str
) -> None:
    data = a_model().to_dict()
    data["calibration"]["curve"] = curve
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AcceptanceModelError, match=message) as caught:
        load_acceptance_model(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slope", 0.0, "calibration slope must be > 0"),
        ("slope", -1.0, "calibration slope must be > 0"),
        ("shift", float("inf"), "calibration shift must be finite"),
        ("log_cart_sources", float("nan"), "calibration cart must be finite"),
        ("shift", "x", "numbers slope and shift"),
    ],
)
def test_a_bad_calibration_map_is_refused_in_one_line(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    data = a_model().to_dict()
    data["calibration"][field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AcceptanceModelError, match=message) as caught:
        load_acceptance_model(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_the_calibration_map_of_raw_probabilities_is_that_of_their_log_odds() -> None:
    platt = CalibrationMap(slope=0.5, shift=-0.2, cart=0.3)
    curved = replace(platt, curve=CURVE)
    raw = np.linspace(0.001, 0.6, 50)
    sources = np.log1p(np.arange(50) % 7)
    np.testing.assert_array_equal(
        curved.of_raw(raw, sources), curved.of_logit(log_odds(raw), sources)
    )
    expected = sigmoid(0.5 * log_odds(raw) + 0.3 * sources - 0.2)
    np.testing.assert_allclose(platt.of_raw(raw, sources), expected)
    np.testing.assert_allclose(curved.of_raw(raw, sources), np.interp(expected, *CURVE))
    np.testing.assert_allclose(IDENTITY_CALIBRATION.of_raw(raw, sources), raw)

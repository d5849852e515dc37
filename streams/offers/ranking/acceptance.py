"""A fitted acceptance model: logistic regression on the ranker's per-candidate features.

The hand-built model (``streams.offers.ranking.model``) blends its evidence with fixed
constants. ``AcceptanceModel`` instead learns, from the store's own history, how much each
piece of evidence is worth: ``p_accept = sigmoid(b + sum_i w_i z_i)`` with ``z_i`` the
standardised features below (``(x_i - mean_i) / scale_i``). The features are those the
hand-built model already computes for every candidate, plus a few that cost one numpy
operation each, so scoring stays vectorised over the candidates of a decision:

- ``pair_lift``: logit of the cart's pooled co-purchase estimate minus logit of the base
  rate (0 without pair evidence);
- ``log_base_rate``: logit of the candidate's base rate ``q_b``;
- ``history_lift``, ``price_level``, ``category_taste``: the hand-built model's other log
  likelihood ratios (0 when absent: anonymous shopper, no prices, no affinity);
- ``bought_recently``: 1 when the shopper bought the candidate in the history window;
- ``log_price``: log of the candidate's price;
- ``log_price_ratio``: log of the candidate's price over the cart's mean unit price (0 when
  the cart has no prices);
- ``category_match``: 1 when the candidate's category is one of the cart's;
- ``log_support``: log(1 + cart items or category stand-ins listing the candidate);
- ``log_copurchases``: log(1 + the summed co-purchase weight of those entries);
- ``log_cart_sources``: log(1 + evidence sources in the cart), the same for every candidate
  of a decision: a larger cart leaves fewer products to find.

FITTING (``fit_logistic``): L2-regularised, weighted maximum likelihood by Newton's method
(iteratively reweighted least squares) in numpy; the intercept is not penalised. The
weights let a sample of the negatives stand for all of them (each sampled one counts for
the ones it represents), so the fitted probabilities stay those of the whole candidate set.
A logistic model fitted by maximum likelihood with an intercept matches the observed
acceptance on average over its training examples, which is what makes ``p_accept x price``
an expected revenue and not just a score.

RANKING: by ``sigmoid(logit) x price ** price_exponent``. ``price_exponent`` 1 is expected
revenue; below 1 trades revenue for acceptance. The training
(``streams.tools.evaluation.training``) chooses it on a validation slice of the history,
never on the test period.

REPORTED p_accept (``calibrated``, through the model's ``CalibrationMap``): ``sigmoid(slope x
logit + cart x log_cart_sources + shift)``. The fit is calibrated over all candidates, but the
ranker shows only the top few, which were selected for their high logit and so are accepted
less often than it says (selection regresses to the mean), and by how much depends on the
cart: a large cart gives more candidates to select from and more evidence per candidate.
The slope, cart coefficient and shift are fitted (Platt scaling with the cart size as a
second input) on the offers the ranker made on the validation slice, against whether they
were accepted, so the p_accept of what is shown is its acceptance rate. The Platt map's
output is then read off the map's ``curve`` when it has one: an increasing
piecewise-linear curve through (mean predicted, observed acceptance) of equal-count bins
of those offers, for the shapes a logistic in the log-odds cannot follow (flat beyond its
end knots). The cart size is the
same for every candidate of a decision, so the map is monotone within a decision: it never
changes the order of two candidates of equal price; the ranking keeps the uncompressed
fitted probability, whose spread carries the ranking signal.

THE MODEL FILE (``basketlift train --out``, read by ``load_acceptance_model``): JSON with
``format`` (``MODEL_FORMAT``), ``version``, ``features`` (must equal ``FEATURE_NAMES``),
``means``, ``scales``, ``weights``, ``intercept``, ``price_exponent``, ``calibration``
(``slope``, ``shift`` and ``log_cart_sources``, 0 when absent: files written before the
cart term; optional ``curve``: lists ``p`` and ``accepted``, absent in files written before
the curve, which then report the Platt map alone) and a free-form ``training`` summary.
Every field is checked; a bad file raises ``AcceptanceModelError`` with a one-line message
naming the file and the field.
Pure: numpy, no Faust.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeGuard

import numpy as np

from streams.offers.ranking.index import EPS, FloatArray

__all__ = [
    "CART_SOURCES_COLUMN",
    "FEATURE_NAMES",
    "IDENTITY_CALIBRATION",
    "MODEL_FORMAT",
    "AcceptanceModel",
    "AcceptanceModelError",
    "CalibrationMap",
    "Curve",
    "LogisticFit",
    "check_curve",
    "fit_logistic",
    "load_acceptance_model",
    "log_odds",
    "model_from_fit",
    "read_curve",
    "sigmoid",
]

MODEL_FORMAT: Final = "basketlift-acceptance-1"
FEATURE_NAMES: Final[tuple[str, ...]] = (
    "pair_lift",
    "log_base_rate",
    "history_lift",
    "price_level",
    "category_taste",
    "bought_recently",
    "log_price",
    "log_price_ratio",
    "category_match",
    "log_support",
    "log_copurchases",
    "log_cart_sources",
)
CART_SOURCES_COLUMN: Final = FEATURE_NAMES.index("log_cart_sources")
"""The feature column the calibration map reads besides the logit."""


class AcceptanceModelError(ValueError):
    """A model file that cannot be used (the message is one line and names the file)."""


def sigmoid(z: FloatArray) -> FloatArray:
    """1 / (1 + exp(-z)), without overflow warnings for large |z|."""
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return result


def log_odds(p: FloatArray, eps: float = EPS) -> FloatArray:
    """The inverse of ``sigmoid``: log(p / (1 - p)), with p clipped to [eps, 1 - eps] so
    that certain (0 or 1) probabilities stay finite."""
    # np.minimum/np.maximum: what np.clip computes, without its Python-level dispatch (the
    # ranker calls this a few times per decision).
    clipped = np.minimum(np.maximum(p, eps), 1 - eps)
    result: FloatArray = np.log(clipped) - np.log1p(-clipped)
    return result


def _is_number_list(values: Any) -> TypeGuard[list[float]]:
    """A JSON list of numbers (booleans are not numbers here)."""
    return isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


Curve: TypeAlias = tuple[tuple[float, ...], tuple[float, ...]]
"""A calibration curve: (knots, values), both empty for none (``check_curve``)."""


def check_curve(knots: tuple[float, ...], values: tuple[float, ...]) -> None:
    """A calibration curve is empty, or 2+ knots in [0, 1], strictly increasing, with as
    many values in [0, 1], never decreasing; ``ValueError`` (one line) otherwise."""
    if len(knots) != len(values):
        raise ValueError(f"calibration curve: {len(knots)} knots for {len(values)} values")
    if not knots:
        return
    if len(knots) < 2:
        raise ValueError("calibration curve: at least 2 knots (or none)")
    if not all(0.0 <= v <= 1.0 for v in (*knots, *values)):
        raise ValueError("calibration curve: knots and values must be in [0, 1]")
    if not all(a < b for a, b in itertools.pairwise(knots)):
        raise ValueError("calibration curve: knots must be strictly increasing")
    if not all(a <= b for a, b in itertools.pairwise(values)):
        raise ValueError("calibration curve: values must never decrease")


def read_curve(p: FloatArray, curve: Curve) -> FloatArray:
    """`p` read off a calibration curve (``check_curve``): linear between its knots, flat
    beyond its end knots; `p` itself when the curve is empty."""
    knots, values = curve
    if not knots:
        return p
    result: FloatArray = np.interp(p, knots, values)
    return result


@dataclass(frozen=True, slots=True)
class CalibrationMap:
    """From a candidate's fitted log-odds and its cart's ``log_cart_sources`` to the reported
    p_accept (module docstring, REPORTED p_accept): the Platt map ``sigmoid(slope x logit +
    cart x log_cart_sources + shift)``, then read off `curve` when it has knots.

    The one shape of the map: a model holds one (``AcceptanceModel.calibration``), the
    training fits one (``streams.tools.evaluation.training.fit_calibration``) and the
    evaluation's refresh swaps one in. The default is the identity: ``sigmoid(logit)``.
    """

    slope: float = 1.0
    shift: float = 0.0
    cart: float = 0.0
    """The coefficient on ``log_cart_sources``."""
    curve: Curve = ((), ())
    """(knots, values) of an increasing curve (``check_curve``); empty: the Platt map alone."""

    def __post_init__(self) -> None:
        for name in ("slope", "shift", "cart"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"calibration {name} must be finite")
        if not self.slope > 0:
            raise ValueError(f"calibration slope must be > 0, got {self.slope!r}")
        check_curve(*self.curve)

    def of_logit(self, logit: FloatArray, log_cart_sources: FloatArray | float) -> FloatArray:
        """The reported p_accept of fitted log-odds; monotone in them for one cart."""
        platt = sigmoid(self.slope * logit + self.cart * log_cart_sources + self.shift)
        return read_curve(platt, self.curve)

    def of_raw(self, raw_p: FloatArray, log_cart_sources: FloatArray | float) -> FloatArray:
        """The reported p_accept of fitted probabilities (``AcceptanceModel.ranking_p``)."""
        return self.of_logit(log_odds(raw_p), log_cart_sources)

    def to_dict(self) -> dict[str, Any]:
        """The model file's ``calibration`` object (``curve`` only when there is one)."""
        out: dict[str, Any] = {
            "slope": self.slope,
            "shift": self.shift,
            "log_cart_sources": self.cart,
        }
        if self.curve[0]:
            out["curve"] = {"p": list(self.curve[0]), "accepted": list(self.curve[1])}
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> CalibrationMap:
        """The map of a model file's ``calibration`` object: ``log_cart_sources`` 0 and no
        curve when absent (files written before them); ``AcceptanceModelError`` naming the
        field otherwise."""
        if not isinstance(data, dict):
            raise AcceptanceModelError(f"{where}: calibration must be a JSON object")
        numbers = [data.get("slope"), data.get("shift"), data.get("log_cart_sources", 0.0)]
        if not _is_number_list(numbers):
            raise AcceptanceModelError(
                f"{where}: calibration needs numbers slope and shift (and log_cart_sources)"
            )
        curve = data.get("curve", {"p": [], "accepted": []})
        if not isinstance(curve, dict) or not all(
            _is_number_list(curve.get(key)) for key in ("p", "accepted")
        ):
            raise AcceptanceModelError(
                f"{where}: calibration.curve needs lists of numbers p and accepted"
            )
        knots = tuple(float(v) for v in curve["p"])
        values = tuple(float(v) for v in curve["accepted"])
        try:
            slope, shift, cart = (float(v) for v in numbers)
            return cls(slope, shift, cart, (knots, values))
        except ValueError as error:
            raise AcceptanceModelError(f"{where}: {error}") from None


IDENTITY_CALIBRATION: Final = CalibrationMap()
"""The map that reports the fitted probability itself."""


@dataclass(frozen=True, slots=True)
class AcceptanceModel:
    """Logistic regression over ``FEATURE_NAMES``, with the ranking's price exponent."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    """Per standardised feature, in ``FEATURE_NAMES`` order."""
    intercept: float
    price_exponent: float = 1.0
    calibration: CalibrationMap = IDENTITY_CALIBRATION
    """The map to the reported p_accept (``calibrated``)."""
    version: str = "fitted"
    training: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """What it was fitted on (free-form, JSON-able; written to the model file)."""
    _coef: FloatArray = field(init=False, repr=False, compare=False, hash=False)
    _offset: float = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        n = len(FEATURE_NAMES)
        for name in ("means", "scales", "weights"):
            values = getattr(self, name)
            if len(values) != n:
                raise ValueError(f"{name}: {len(values)} values for {n} features")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name}: every value must be finite")
        if not all(s > 0 for s in self.scales):
            raise ValueError("scales: every value must be > 0")
        for name in ("intercept", "price_exponent"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if not 0.0 <= self.price_exponent <= 2.0:
            raise ValueError(f"price_exponent must be in [0, 2], got {self.price_exponent!r}")
        # Standardising folded into the weights once: logit = x . coef + offset.
        coef = np.array(self.weights) / np.array(self.scales)
        object.__setattr__(self, "_coef", coef)
        object.__setattr__(self, "_offset", self.intercept - float(np.dot(coef, self.means)))

    def logit(self, features: FloatArray) -> FloatArray:
        """The log-odds of acceptance of each row of `features` (rows x FEATURE_NAMES)."""
        result: FloatArray = features @ self._coef + self._offset
        return result

    def ranking_p(self, logit: FloatArray) -> FloatArray:
        """The fitted probability the ranking multiplies by ``price ** price_exponent``."""
        return sigmoid(logit)

    def calibrated(self, logit: FloatArray, log_cart_sources: FloatArray | float) -> FloatArray:
        """The reported p_accept: the fitted log-odds and the cart's ``log_cart_sources``
        mapped onto the observed acceptance of the offers the ranker makes (monotone in
        the log-odds: it does not change the order within a decision)."""
        return self.calibration.of_logit(logit, log_cart_sources)

    def without_calibration(self) -> AcceptanceModel:
        """The same weights and exponent with the identity map: its p_accept is
        ``ranking_p``, and it ranks exactly as this model does."""
        return replace(self, calibration=IDENTITY_CALIBRATION)

    def p_accept(self, features: FloatArray) -> FloatArray:
        """The reported P(accepted) of each row of `features`."""
        return self.calibrated(self.logit(features), features[:, CART_SOURCES_COLUMN])

    def to_dict(self) -> dict[str, Any]:
        """The model file's content."""
        return {
            "format": MODEL_FORMAT,
            "version": self.version,
            "features": list(FEATURE_NAMES),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "price_exponent": self.price_exponent,
            "calibration": self.calibration.to_dict(),
            "training": dict(self.training),
        }

    def write(self, path: str | Path) -> Path:
        """Write the model file (JSON)."""
        target = Path(path)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, data: Any, where: str = "model") -> AcceptanceModel:
        """The model of a model file's content; ``AcceptanceModelError`` naming the field."""
        if not isinstance(data, dict):
            raise AcceptanceModelError(f"{where}: expected a JSON object")
        if data.get("format") != MODEL_FORMAT:
            raise AcceptanceModelError(
                f"{where}: format {data.get('format')!r} is not {MODEL_FORMAT!r}"
            )
        features = data.get("features")
        if features != list(FEATURE_NAMES):
            raise AcceptanceModelError(
                f"{where}: features {features!r} are not this version's {list(FEATURE_NAMES)}"
            )

        def numbers(name: str) -> tuple[float, ...]:
            values = data.get(name)
            if not _is_number_list(values):
                raise AcceptanceModelError(f"{where}: {name} must be a list of numbers")
            return tuple(float(v) for v in values)

        def number(name: str, default: float | None = None) -> float:
            value = data.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AcceptanceModelError(f"{where}: {name} must be a number, got {value!r}")
            return float(value)

        calibration = CalibrationMap.from_dict(
            data.get("calibration", {"slope": 1.0, "shift": 0.0}), where
        )
        version = data.get("version", "fitted")
        training = data.get("training", {})
        if not isinstance(version, str) or not version:
            raise AcceptanceModelError(f"{where}: version must be a non-empty string")
        if not isinstance(training, dict):
            raise AcceptanceModelError(f"{where}: training must be a JSON object")
        try:
            return cls(
                numbers("means"),
                numbers("scales"),
                numbers("weights"),
                number("intercept"),
                number("price_exponent", 1.0),
                calibration,
                version,
                training,
            )
        except ValueError as error:
            raise AcceptanceModelError(f"{where}: {error}") from None


def load_acceptance_model(path: str | Path) -> AcceptanceModel:
    """Read a model file; ``AcceptanceModelError`` (one line, naming the file) if unusable."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise AcceptanceModelError(
            f"acceptance model {source}: cannot read it ({error.strerror or error})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AcceptanceModelError(
            f"acceptance model {source}: not JSON ({error.msg} at line {error.lineno})"
        ) from None
    return AcceptanceModel.from_dict(data, f"acceptance model {source}")


@dataclass(frozen=True, slots=True)
class LogisticFit:
    """A fitted logistic regression on standardised features, and how the fit went."""

    means: FloatArray
    scales: FloatArray
    weights: FloatArray
    intercept: float
    iterations: int
    converged: bool
    log_loss: float
    """Weighted mean negative log-likelihood on the training examples."""


def fit_logistic(
    features: FloatArray,
    labels: FloatArray,
    sample_weight: FloatArray | None = None,
    *,
    l2: float = 1.0,
    max_iterations: int = 50,
    tolerance: float = 1e-8,
) -> LogisticFit:
    """Weighted L2-regularised logistic regression by Newton's method (IRLS).

    Features are standardised (weighted mean 0, standard deviation 1; a constant feature
    gets scale 1 and so weight 0 under the penalty), the intercept is free and the penalty
    is ``l2 / 2 x |w|^2`` against the summed weighted log-likelihood. Newton steps are
    halved while they do not decrease the objective, so the fit converges from 0 for any
    data (the objective is strictly convex for l2 > 0). ValueError on mismatched shapes,
    labels outside [0, 1], negative weights or no examples.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    if x.ndim != 2 or len(x) != len(y) or not len(y):
        raise ValueError(f"need rows x features and one label per row, got {x.shape}, {y.shape}")
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if len(s) != len(y) or np.any(s < 0) or not s.sum() > 0:
        raise ValueError("sample weights: one per row, >= 0, not all 0")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("labels must be in [0, 1]")
    if not (math.isfinite(l2) and l2 > 0):
        raise ValueError(f"l2 must be finite and > 0, got {l2!r}")
    total = s.sum()
    means = s @ x / total
    spread = np.sqrt(s @ (x - means) ** 2 / total)
    scales = np.where(spread > 1e-9, spread, 1.0)
    z = np.column_stack([np.ones(len(y)), (x - means) / scales])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(z.shape[1])

    def objective(b: FloatArray) -> float:
        eta = z @ b
        # log(1 + e^eta) - y eta, stably.
        loss = np.logaddexp(0.0, eta) - y * eta
        return float(s @ loss + 0.5 * np.dot(penalty * b, b))

    current = objective(beta)
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        p = sigmoid(z @ beta)
        gradient = z.T @ (s * (p - y)) + penalty * beta
        hessian = (z * (s * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while True:
            candidate = beta - size * step
            value = objective(candidate)
            if value <= current or size < 1e-6:
                break
            size /= 2
        decrease = current - value
        beta, current = candidate, value
        if decrease <= tolerance * max(1.0, abs(current)):
            converged = True
            break
    return LogisticFit(
        means, scales, beta[1:].copy(), float(beta[0]), iterations, converged, current / total
    )


def model_from_fit(
    fit: LogisticFit,
    *,
    price_exponent: float = 1.0,
    calibration: CalibrationMap = IDENTITY_CALIBRATION,
    version: str = "fitted",
    training: Mapping[str, Any] | None = None,
) -> AcceptanceModel:
    """The ranker's model of a fit over ``FEATURE_NAMES``, with its calibration map."""
    return AcceptanceModel(
        tuple(float(v) for v in fit.means),
        tuple(float(v) for v in fit.scales),
        tuple(float(v) for v in fit.weights),
        fit.intercept,
        price_exponent,
        calibration,
        version,
        dict(training or {}),
    )

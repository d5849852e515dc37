"""Offer ranking by expected revenue per impression: pure, typed, numpy, no Faust or Kafka.

The modules, each depending only on those above it:

- ``inputs``: ``RankerConfig``, cart lines, catalog entries, ``ProductFacts``.
- ``outputs``: ``Offer`` and the ``Evidence`` behind its p_accept.
- ``index``: ``ProductIndex``, the products' facts as numpy arrays (a snapshot of the views).
- ``calibration``: ``ObservedCounts``, observed (shown, accepted) per product, as arrays
  aligned with an index.
- ``candidates``: candidate generation from the cart, filters, fallbacks, selection under
  the category cap, reasons; ``post_purchase_exclusions``.
- ``acceptance``: ``AcceptanceModel``, a logistic regression fitted on the store's history
  over the model's evidence (``fit_logistic``), its ``CalibrationMap`` to the reported
  p_accept, and its model file.
- ``model``: ``rank_offers``, the calibrated acceptance and expected-revenue model (its
  docstring has the formulas; with a fitted ``RankerConfig.acceptance`` its p_accept is the
  fitted one), and ``candidate_features`` for fitting.
- ``baselines``: ``rank_by_copurchase_count`` and ``rank_by_popularity`` for the offline
  evaluation.

Callers import from this package; the names below are its public surface.
"""

from streams.offers.ranking.acceptance import (
    FEATURE_NAMES,
    IDENTITY_CALIBRATION,
    AcceptanceModel,
    AcceptanceModelError,
    CalibrationMap,
    fit_logistic,
    load_acceptance_model,
    model_from_fit,
)
from streams.offers.ranking.baselines import rank_by_copurchase_count, rank_by_popularity
from streams.offers.ranking.calibration import ObservedCounts
from streams.offers.ranking.candidates import post_purchase_exclusions
from streams.offers.ranking.index import ProductIndex
from streams.offers.ranking.inputs import (
    DEFAULT_RANKER_CONFIG,
    CartItem,
    CartLine,
    CatalogEntry,
    ProductFacts,
    RankerConfig,
)
from streams.offers.ranking.model import candidate_features, log_cart_sources, rank_offers
from streams.offers.ranking.outputs import Evidence, EvidenceKind, Offer

__all__ = [
    "DEFAULT_RANKER_CONFIG",
    "FEATURE_NAMES",
    "IDENTITY_CALIBRATION",
    "AcceptanceModel",
    "AcceptanceModelError",
    "CalibrationMap",
    "CartItem",
    "CartLine",
    "CatalogEntry",
    "Evidence",
    "EvidenceKind",
    "ObservedCounts",
    "Offer",
    "ProductFacts",
    "ProductIndex",
    "RankerConfig",
    "candidate_features",
    "fit_logistic",
    "load_acceptance_model",
    "log_cart_sources",
    "model_from_fit",
    "post_purchase_exclusions",
    "rank_by_copurchase_count",
    "rank_by_popularity",
    "rank_offers",
]

"""The holdout experiment: cohorts, offer attribution, acceptance rates and AOV lift."""

from streams.experiment.acceptance import AcceptanceStats, Counts
from streams.experiment.attribution import (
    DEFAULT_ATTRIBUTION_CONFIG,
    Attribution,
    AttributionConfig,
    OfferLedger,
    ShownOffer,
)
from streams.experiment.cohort import Cohort, cohort_for, unit_position
from streams.experiment.lift import LiftMethod, LiftResult, lift_with_ci, student_t_quantile

__all__ = [
    "DEFAULT_ATTRIBUTION_CONFIG",
    "AcceptanceStats",
    "Attribution",
    "AttributionConfig",
    "Cohort",
    "Counts",
    "LiftMethod",
    "LiftResult",
    "OfferLedger",
    "ShownOffer",
    "cohort_for",
    "lift_with_ci",
    "student_t_quantile",
    "unit_position",
]

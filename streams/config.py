"""Every domain's configuration, built from the settings in this one place.

The settings (``streams.settings.Settings``) are what operators set, as environment
variables; the domain configs are what the pure domain code takes. ``domain_configs`` is
the only mapping between the two: the worker's handlers and ``basketlift evaluate`` both
take their configs from it, so the offline evaluation runs with exactly the worker's. The
acceptance model file (``BASKETLIFT_ACCEPTANCE_MODEL_FILE``) is read here, once, into the
ranker's config: every decision then uses the same fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.copurchase.model import CopurchaseConfig
from streams.experiment import AttributionConfig
from streams.nudges import NudgeConfig, parse_tiers
from streams.offers.decisions import DecisionConfig
from streams.offers.fatigue import FatigueConfig
from streams.offers.ranking import RankerConfig, load_acceptance_model
from streams.offers.snapshot import SnapshotConfig
from streams.offers.step import OffersConfig
from streams.profiles.model import ProfileConfig
from streams.settings import Settings
from streams.units import HOUR_MS

__all__ = ["DomainConfigs", "domain_configs"]


@dataclass(frozen=True, slots=True)
class DomainConfigs:
    """The configuration of every domain, as one immutable value."""

    copurchase: CopurchaseConfig
    profile: ProfileConfig
    consent_default_granted: bool
    offers: OffersConfig
    batch_max: int
    """Events per batch: also the offline evaluation's fold batch, so pruning happens alike."""
    snapshot: SnapshotConfig
    """How the worker keeps the ranker's snapshot of the product and catalog views."""


def domain_configs(settings: Settings) -> DomainConfigs:
    """The domain configs the settings ask for."""
    profile = ProfileConfig(
        typical_orders=settings.profile_typical_orders,
        new_max_orders=settings.segment_new_max_orders,
        high_spender_typical_order=settings.segment_high_spender_typical_order,
        high_ltv_spend=settings.segment_high_ltv_spend,
        discount_seeker_share=settings.segment_discount_seeker_share,
        discount_seeker_min_orders=settings.segment_discount_seeker_min_orders,
        lapsed_days=settings.segment_lapsed_days,
        price_band_edges=(settings.price_band_budget_below, settings.price_band_premium_from),
    )
    decision = DecisionConfig(
        ranker=RankerConfig(
            top_n=settings.offers_top_n,
            max_per_category=settings.offers_max_per_category,
            acceptance=(
                load_acceptance_model(settings.acceptance_model_file)
                if settings.acceptance_model_file is not None
                else None
            ),
        ),
        post_purchase_exclude_days=settings.post_purchase_exclude_days,
        model_version=settings.model_version,
        acceptance_prior_strength=settings.acceptance_prior_strength,
        nudges=NudgeConfig(
            shipping_base=settings.free_shipping_base,
            shipping_minimum=settings.free_shipping_min,
            shipping_maximum=settings.free_shipping_max,
            shipping_factor=settings.free_shipping_factor,
            shipping_max_gap_share=settings.free_shipping_max_gap_share,
            tiers=parse_tiers(settings.loyalty_tiers),
            tier_proximity_min=settings.loyalty_proximity_min,
            tier_proximity_max=settings.loyalty_proximity_max,
        ),
        profile=profile,
    )
    return DomainConfigs(
        copurchase=CopurchaseConfig(
            half_life_days=settings.decay_half_life_days,
            cross_order_weight=settings.cross_order_weight,
            cross_order_days=settings.cross_order_days,
            neighbours_k=settings.neighbours_k,
            max_paired_products=settings.max_paired_products,
        ),
        profile=profile,
        consent_default_granted=settings.consent_default_granted,
        offers=OffersConfig(
            decision=decision,
            fatigue=FatigueConfig(
                max_impressions=settings.fatigue_max_impressions,
                window_days=settings.fatigue_window_days,
                suppress_days=settings.fatigue_suppress_days,
            ),
            attribution=attribution_config(settings),
        ),
        batch_max=settings.batch_max,
        snapshot=SnapshotConfig(
            half_life_days=settings.decay_half_life_days,
            neighbours_k=settings.neighbours_k,
            full_build_every_ms=int(settings.index_full_build_seconds * 1000),
        ),
    )


def attribution_config(settings: Settings) -> AttributionConfig:
    """How orders are credited to offers (also what `basketlift report` attributes by)."""
    return AttributionConfig(
        cart_window_ms=int(settings.attribution_cart_hours * HOUR_MS),
        confirmation_window_ms=int(settings.attribution_confirmation_days * 24 * HOUR_MS),
    )

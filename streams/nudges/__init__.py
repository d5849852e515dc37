"""Threshold nudges (free shipping, loyalty tiers): pure, typed, no Faust or Kafka."""

from streams.nudges.model import (
    DEFAULT_NUDGE_CONFIG,
    NudgeConfig,
    NudgeKind,
    NudgeProposal,
    Tier,
    free_shipping_nudge,
    friendly_amount,
    next_tier,
    parse_tiers,
    personal_threshold,
    propose_nudges,
    tier_nudge,
)

__all__ = [
    "DEFAULT_NUDGE_CONFIG",
    "NudgeConfig",
    "NudgeKind",
    "NudgeProposal",
    "Tier",
    "free_shipping_nudge",
    "friendly_amount",
    "next_tier",
    "parse_tiers",
    "personal_threshold",
    "propose_nudges",
    "tier_nudge",
]

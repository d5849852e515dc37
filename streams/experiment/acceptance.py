"""Offer acceptance rates per placement and per product, smoothed for small counts.

Counts: ``shown`` (offers shown: impressions when the storefront reports them, else
offers decided; the caller picks one and sticks to it) and ``accepted`` (attributed
purchases). An acceptance without a recorded showing still means the offer was shown, so
rates use ``max(shown, accepted)`` as the number of trials.

Smoothing (two-level Beta-binomial posterior means, each prior worth ``prior_strength``
showings):

    placement rate  r_p = (accepted_p + s * prior_rate) / (shown_p + s)
    product rate    r   = (accepted   + s * r_p)        / (shown   + s)

A product never shown gets its placement's rate; a placement never shown gets
``prior_rate``; with many showings the measured rate dominates. Frozen state whose updates
return new state; an update copies the maps, so apply a batch with ``with_counts``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

__all__ = ["AcceptanceStats", "Counts"]


@dataclass(frozen=True, slots=True)
class Counts:
    """Showings and acceptances."""

    shown: int = 0
    accepted: int = 0

    def plus(self, shown: int, accepted: int) -> Counts:
        """These counts with more added."""
        return Counts(self.shown + shown, self.accepted + accepted)

    def posterior_mean(self, prior_rate: float, prior_strength: float) -> float:
        """Beta-binomial posterior mean toward prior_rate worth prior_strength showings."""
        trials = max(self.shown, self.accepted)
        return (self.accepted + prior_strength * prior_rate) / (trials + prior_strength)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class AcceptanceStats:
    """Counts per placement and per (placement, product)."""

    placements: Mapping[str, Counts] = field(default_factory=dict)
    products: Mapping[tuple[str, str], Counts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "placements", MappingProxyType(dict(self.placements)))
        object.__setattr__(self, "products", MappingProxyType(dict(self.products)))

    def with_counts(
        self,
        shown: Iterable[tuple[str, str]] = (),
        accepted: Iterable[tuple[str, str]] = (),
    ) -> AcceptanceStats:
        """Add one showing per (placement, product) in `shown`, one acceptance per `accepted`."""
        placements = dict(self.placements)
        products = dict(self.products)
        changed = False
        for pairs, is_shown in ((shown, True), (accepted, False)):
            add = (1, 0) if is_shown else (0, 1)
            for placement, product_id in pairs:
                placements[placement] = placements.get(placement, Counts()).plus(*add)
                key = (placement, product_id)
                products[key] = products.get(key, Counts()).plus(*add)
                changed = True
        return AcceptanceStats(placements, products) if changed else self

    def with_shown(self, placement: str, product_id: str, count: int = 1) -> AcceptanceStats:
        """Add `count` showings of the product at the placement."""
        return self.with_counts(shown=[(placement, product_id)] * _check_count("count", count))

    def with_accepted(self, placement: str, product_id: str, count: int = 1) -> AcceptanceStats:
        """Add `count` acceptances of the product at the placement."""
        return self.with_counts(accepted=[(placement, product_id)] * _check_count("count", count))

    def merged(self, other: AcceptanceStats) -> AcceptanceStats:
        """Sum of two sets of counts (e.g. of several partitions)."""
        placements = dict(self.placements)
        for placement, counts in other.placements.items():
            placements[placement] = placements.get(placement, Counts()).plus(
                counts.shown, counts.accepted
            )
        products = dict(self.products)
        for key, counts in other.products.items():
            products[key] = products.get(key, Counts()).plus(counts.shown, counts.accepted)
        return AcceptanceStats(placements, products)

    def placement_rate(self, placement: str, prior_rate: float, prior_strength: float) -> float:
        """The placement's acceptance rate, smoothed toward prior_rate."""
        _check_prior(prior_rate, prior_strength)
        return self.placements.get(placement, Counts()).posterior_mean(prior_rate, prior_strength)

    def rate(
        self, placement: str, product_id: str, prior_rate: float, prior_strength: float
    ) -> float:
        """The product's rate at the placement, smoothed toward the placement's smoothed rate."""
        base = self.placement_rate(placement, prior_rate, prior_strength)
        counts = self.products.get((placement, product_id), Counts())
        return counts.posterior_mean(base, prior_strength)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a changelogged table."""
        products: dict[str, dict[str, list[int]]] = {}
        for (placement, product_id), counts in self.products.items():
            products.setdefault(placement, {})[product_id] = [counts.shown, counts.accepted]
        return {
            "placements": {p: [c.shown, c.accepted] for p, c in self.placements.items()},
            "products": products,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read what to_dict wrote."""
        placements = {
            str(p): Counts(int(shown), int(accepted))
            for p, (shown, accepted) in data.get("placements", {}).items()
        }
        products = {
            (str(placement), str(product_id)): Counts(int(shown), int(accepted))
            for placement, by_product in data.get("products", {}).items()
            for product_id, (shown, accepted) in by_product.items()
        }
        return cls(placements, products)


def _check_prior(prior_rate: float, prior_strength: float) -> None:
    if not (math.isfinite(prior_rate) and 0 <= prior_rate <= 1):
        raise ValueError(f"prior_rate must be in [0, 1], got {prior_rate!r}")
    if not (math.isfinite(prior_strength) and prior_strength > 0):
        raise ValueError(f"prior_strength must be > 0, got {prior_strength!r}")

"""What the ranker returns: offers, and the evidence behind each offer's p_accept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

__all__ = ["Evidence", "EvidenceKind", "Offer"]

EvidenceKind: TypeAlias = Literal[
    "product", "category", "history", "price_level", "category_taste", "base_rate"
]
"""product/category: pair evidence from a cart item (or its category); history: the shopper
bought it recently; price_level, category_taste: the profile and cart's likelihood ratios;
base_rate: the product's share of all orders."""


class Evidence(NamedTuple):
    """One piece of evidence behind an offer's p_accept (for explanations and audits).

    A named tuple rather than a frozen dataclass: equally immutable, and built in a seventh
    of the time (a decision explains its offers with dozens of these).
    """

    kind: EvidenceKind
    source: str
    """The cart product, the category, or the facet (``history``, ``price_level``...)."""
    co_purchases: float
    """product/category: decayed orders with both; history: 1 if bought recently;
    base_rate: the product's decayed orders; otherwise 0."""
    orders: float
    """product/category: the source's decayed orders; history: the shopper's recent orders;
    base_rate: all decayed orders; otherwise 0."""
    estimate: float
    """The source's own P(accept) (price_level, category_taste: the likelihood ratio)."""
    lift: float
    """Its log-odds contribution (product/category: before pooling)."""
    weight: float
    """Its weight in the cart pool (product/category), else 1."""


@dataclass(frozen=True, slots=True)
class Offer:
    """One ranked offer."""

    product_id: str
    unit_price: float
    offer_price: float
    p_accept: float
    expected_revenue: float
    reason: str
    category: str | None
    evidence: tuple[Evidence, ...] = ()
    score: float = 0.0
    """What the ranker sorted by (rank_offers: expected_revenue; the baselines: theirs)."""

    def with_reason(self, reason: str) -> Offer:
        """The same offer with another reason. Spelled out rather than
        ``dataclasses.replace``, which costs several times more (the worker notes observed
        acceptance on most offers it makes); a unit test checks that every other field is
        kept."""
        return Offer(
            self.product_id,
            self.unit_price,
            self.offer_price,
            self.p_accept,
            self.expected_revenue,
            reason,
            self.category,
            self.evidence,
            self.score,
        )

"""Offers: ranking candidate products by expected revenue per impression (``ranker``)."""

from streams.offers.ranker import (
    DEFAULT_RANKER_CONFIG,
    CartItem,
    CartLine,
    CatalogEntry,
    Evidence,
    Offer,
    ProductFacts,
    ProductIndex,
    RankerConfig,
    post_purchase_exclusions,
    rank_by_copurchase_count,
    rank_by_popularity,
    rank_offers,
)

__all__ = [
    "DEFAULT_RANKER_CONFIG",
    "CartItem",
    "CartLine",
    "CatalogEntry",
    "Evidence",
    "Offer",
    "ProductFacts",
    "ProductIndex",
    "RankerConfig",
    "post_purchase_exclusions",
    "rank_by_copurchase_count",
    "rank_by_popularity",
    "rank_offers",
]

"""Offer fatigue: stop showing a shopper a product they keep ignoring or have dismissed.

A product shown to the shopper `max_impressions` times within `window_days` without being
bought, or dismissed once, is suppressed for `suppress_days` from the impression or
dismissal that triggered it. Buying the product clears its history. Pure and typed: the
state is a frozen dataclass whose update methods return a new state; time is event time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

from streams.units import DAY_MS


@dataclass(frozen=True, slots=True)
class FatigueConfig:
    """How much exposure suppresses a product, and for how long."""

    max_impressions: int = 3
    window_days: float = 7.0
    suppress_days: float = 7.0

    def __post_init__(self) -> None:
        if self.max_impressions < 1:
            raise ValueError(f"max_impressions must be at least 1, got {self.max_impressions}")
        if self.window_days < 0 or self.suppress_days < 0:
            raise ValueError("window_days and suppress_days must not be negative")


@dataclass(frozen=True, slots=True)
class ProductExposure:
    """One product's recent impressions and when it became suppressed, if it did."""

    impressions: tuple[int, ...] = ()
    suppressed_at: int | None = None


@dataclass(frozen=True, slots=True)
class FatigueState:
    """Per shopper: exposure of the products recently offered to them."""

    products: Mapping[str, ProductExposure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "products", MappingProxyType(dict(self.products)))

    def _with(self, product_id: str, exposure: ProductExposure | None) -> FatigueState:
        products = dict(self.products)
        if exposure is None:
            products.pop(product_id, None)
        else:
            products[product_id] = exposure
        return FatigueState(products)

    def with_impression(self, product_id: str, ts_ms: int, config: FatigueConfig) -> FatigueState:
        """Record that the product was shown; suppress it at the configured count."""
        current = self.products.get(product_id, ProductExposure())
        since = ts_ms - config.window_days * DAY_MS
        impressions = tuple(sorted(t for t in (*current.impressions, ts_ms) if t > since))
        suppressed_at = current.suppressed_at
        if len(impressions) >= config.max_impressions:
            suppressed_at = max(suppressed_at or ts_ms, ts_ms)
        return self._with(product_id, ProductExposure(impressions, suppressed_at))

    def with_dismissal(self, product_id: str, ts_ms: int) -> FatigueState:
        """The shopper dismissed the offer: suppress the product from now."""
        current = self.products.get(product_id, ProductExposure())
        suppressed_at = max(current.suppressed_at or ts_ms, ts_ms)
        return self._with(product_id, ProductExposure(current.impressions, suppressed_at))

    def with_purchase(self, product_id: str) -> FatigueState:
        """The shopper bought it: its history no longer counts against it."""
        return self._with(product_id, None) if product_id in self.products else self

    def suppressed(self, now_ms: int, config: FatigueConfig) -> frozenset[str]:
        """Products not to offer at `now_ms`."""
        until = config.suppress_days * DAY_MS
        return frozenset(
            product_id
            for product_id, exposure in self.products.items()
            if exposure.suppressed_at is not None and now_ms - exposure.suppressed_at < until
        )

    def pruned(self, now_ms: int, config: FatigueConfig) -> FatigueState:
        """Forget products whose impressions and suppression have all expired."""
        horizon = max(config.window_days, config.suppress_days) * DAY_MS
        keep = {
            product_id: exposure
            for product_id, exposure in self.products.items()
            if (exposure.impressions and now_ms - exposure.impressions[-1] < horizon)
            or (exposure.suppressed_at is not None and now_ms - exposure.suppressed_at < horizon)
        }
        return FatigueState(keep) if len(keep) != len(self.products) else self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a changelogged table."""
        return {
            product_id: [list(exposure.impressions), exposure.suppressed_at]
            for product_id, exposure in self.products.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read what to_dict wrote."""
        return cls(
            {
                product_id: ProductExposure(tuple(int(t) for t in impressions), suppressed_at)
                for product_id, (impressions, suppressed_at) in data.items()
            }
        )

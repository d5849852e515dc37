"""Which purchases the offers caused: a per-shopper ledger of recent offers, pure state.

The ledger remembers the offers shown to one shopper (product, offer id, placement, offer
kind, decision time). An order is attributed line by line:

1. EXPLICIT: a line with an ``offer_id`` was bought through that offer. It counts however
   old the offer is, and even when the ledger no longer knows the offer id (pruned,
   or decided on another worker): placement, kind and decision time are then None.
2. WINDOW: a line without one is attributed to the latest offer of the same product
   shown within the window of the offer's placement before the order: ``cart`` offers
   24 hours, ``confirmation`` (post-purchase) offers 7 days, both inclusive. A cart offer
   may be decided at the very millisecond of the order; a confirmation offer must come
   strictly before it (the order that triggered it cannot have been caused by it).

Within one order an offer is attributed at most once. ``with_order`` also removes the
attributed offers, so a repeat purchase a day later is not counted again. Time is event
time (epoch ms), never the wall clock. The ledger keeps at most ``max_offers`` offers (the
latest) and forgets offers older than their placement's window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, Self

from streams.units import DAY_MS, HOUR_MS

__all__ = [
    "DEFAULT_ATTRIBUTION_CONFIG",
    "Attribution",
    "AttributionConfig",
    "OfferLedger",
    "ShownOffer",
]


@dataclass(frozen=True, slots=True)
class AttributionConfig:
    """Attribution windows per placement and the ledger's size bound."""

    cart_window_ms: int = 24 * HOUR_MS
    confirmation_window_ms: int = 7 * DAY_MS
    max_offers: int = 100

    def __post_init__(self) -> None:
        for name in ("cart_window_ms", "confirmation_window_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if (
            isinstance(self.max_offers, bool)
            or not isinstance(self.max_offers, int)
            or self.max_offers < 1
        ):
            raise ValueError(f"max_offers must be an integer >= 1, got {self.max_offers!r}")

    def window_ms(self, placement: str) -> int:
        """The attribution window of a placement ("cart" or "confirmation")."""
        if placement == "cart":
            return self.cart_window_ms
        if placement == "confirmation":
            return self.confirmation_window_ms
        raise ValueError(f"unknown placement {placement!r} (expected 'cart' or 'confirmation')")


DEFAULT_ATTRIBUTION_CONFIG: Final = AttributionConfig()


class OfferLike(Protocol):
    """An offer as decided (``schemas.events.Offer`` fits)."""

    @property
    def product_id(self) -> str: ...

    @property
    def offer_id(self) -> str: ...

    @property
    def kind(self) -> str: ...


class OrderLineLike(Protocol):
    """An order line (``schemas.events.OrderItem`` fits)."""

    @property
    def product_id(self) -> str: ...

    @property
    def quantity(self) -> int: ...

    @property
    def unit_price(self) -> float: ...

    @property
    def offer_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ShownOffer:
    """One offer shown to the shopper."""

    product_id: str
    offer_id: str
    placement: str
    kind: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Attribution:
    """An order line credited to an offer."""

    product_id: str
    method: Literal["explicit", "window"]
    offer_id: str | None
    placement: str | None
    kind: str | None
    decision_ts_ms: int | None
    quantity: int
    revenue: float
    """quantity x unit price of the line."""


@dataclass(frozen=True, slots=True)
class OfferLedger:
    """Per shopper: the offers recently shown, oldest first."""

    offers: tuple[ShownOffer, ...] = ()

    def with_decision(
        self,
        offers: Iterable[OfferLike],
        placement: str,
        ts_ms: int,
        config: AttributionConfig = DEFAULT_ATTRIBUTION_CONFIG,
    ) -> OfferLedger:
        """Record the offers of one decision (a repeated offer_id replaces the old entry)."""
        config.window_ms(placement)  # validates the placement
        new = [ShownOffer(o.product_id, o.offer_id, placement, o.kind, ts_ms) for o in offers]
        if not new:
            return self
        ids = {entry.offer_id for entry in new}
        kept = [entry for entry in self.offers if entry.offer_id not in ids]
        merged = sorted((*kept, *new), key=lambda entry: entry.ts_ms)  # stable: arrival order
        latest = max(ts_ms, self.offers[-1].ts_ms if self.offers else ts_ms)
        return OfferLedger(tuple(merged)).pruned(latest, config)

    def _match(
        self,
        lines: Sequence[OrderLineLike],
        order_ts_ms: int,
        config: AttributionConfig,
    ) -> tuple[list[Attribution], set[int]]:
        by_id = {entry.offer_id: i for i, entry in enumerate(self.offers)}
        used: set[int] = set()
        result: list[Attribution | None] = [None] * len(lines)
        for n, line in enumerate(lines):
            if line.offer_id is None:
                continue
            i = by_id.get(line.offer_id)
            entry = self.offers[i] if i is not None and i not in used else None
            if i is not None and entry is not None:
                used.add(i)
            result[n] = Attribution(
                line.product_id,
                "explicit",
                line.offer_id,
                None if entry is None else entry.placement,
                None if entry is None else entry.kind,
                None if entry is None else entry.ts_ms,
                line.quantity,
                line.quantity * line.unit_price,
            )
        for n, line in enumerate(lines):
            if line.offer_id is not None:
                continue
            for i in range(len(self.offers) - 1, -1, -1):  # latest first
                entry = self.offers[i]
                if i in used or entry.product_id != line.product_id:
                    continue
                age = order_ts_ms - entry.ts_ms
                in_time = age >= 0 if entry.placement == "cart" else age > 0
                if in_time and age <= config.window_ms(entry.placement):
                    used.add(i)
                    result[n] = Attribution(
                        line.product_id,
                        "window",
                        entry.offer_id,
                        entry.placement,
                        entry.kind,
                        entry.ts_ms,
                        line.quantity,
                        line.quantity * line.unit_price,
                    )
                    break
        return [a for a in result if a is not None], used

    def find(self, offer_id: str) -> ShownOffer | None:
        """The shown offer with this id, if the ledger still holds it."""
        for entry in reversed(self.offers):
            if entry.offer_id == offer_id:
                return entry
        return None

    def attribute(
        self,
        lines: Iterable[OrderLineLike],
        order_ts_ms: int,
        config: AttributionConfig = DEFAULT_ATTRIBUTION_CONFIG,
    ) -> list[Attribution]:
        """The order's lines credited to offers, in line order (module docstring)."""
        return self._match(list(lines), order_ts_ms, config)[0]

    def with_order(
        self,
        lines: Iterable[OrderLineLike],
        order_ts_ms: int,
        config: AttributionConfig = DEFAULT_ATTRIBUTION_CONFIG,
    ) -> tuple[OfferLedger, list[Attribution]]:
        """Attribute the order and forget the offers it used up."""
        attributions, used = self._match(list(lines), order_ts_ms, config)
        if not used:
            return self, attributions
        kept = tuple(entry for i, entry in enumerate(self.offers) if i not in used)
        return OfferLedger(kept), attributions

    def pruned(
        self, now_ms: int, config: AttributionConfig = DEFAULT_ATTRIBUTION_CONFIG
    ) -> OfferLedger:
        """Forget offers older than their placement's window; keep the latest max_offers."""
        keep = [
            entry
            for entry in self.offers
            if now_ms - entry.ts_ms <= config.window_ms(entry.placement)
        ][-config.max_offers :]
        return self if len(keep) == len(self.offers) else OfferLedger(tuple(keep))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a changelogged table."""
        return {
            "offers": [
                [e.product_id, e.offer_id, e.placement, e.kind, e.ts_ms] for e in self.offers
            ]
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read what to_dict wrote."""
        return cls(
            tuple(
                ShownOffer(str(product), str(offer_id), str(placement), str(kind), int(ts))
                for product, offer_id, placement, kind, ts in data.get("offers", ())
            )
        )

"""Per-shopper spend profile: order value, typical basket, trailing spend, tastes and segments.

Pure, typed Python: nothing here imports Faust or Kafka. States are frozen dataclasses whose
update methods return a new state and never change their inputs, so an agent can write
``table[key] = profile.with_order(facts, config)`` and an offline replay can fold the same
events through the same code.

Time is always the event's own ``ts_ms`` (epoch milliseconds), never the wall clock, so a
replay rebuilds the same profile; derived values that depend on time take ``now_ms``.
Events may arrive out of order (several partitions, the re-key topic, redelivery), so:
time windows are measured from the latest order seen, "the last N" means the last N by
event time (ties keep their arrival order), and category affinity decays each contribution
from its own timestamp. The arrival order then changes nothing but floating-point rounding,
with one exception: category affinity keeps only the ``max_categories`` strongest categories
after each event, so a shopper with more categories than that can end with a different
set depending on which categories were weakest when each event arrived (as top-K pruning in
the co-purchase graph).

Redelivery: a state remembers its last ``max_recent_event_ids`` event ids and ignores an
event it has already applied; an id older than that window is no longer recognised.

Consent is ``True`` (granted), ``False`` (revoked) or ``None`` (nothing recorded: never seen
on the privacy topic, or erased), and ``None`` falls back to a configured default. The
default is *granted* because the storefront, which collects the shopper's choices, is
expected to publish a revocation whenever a shopper declines or objects; operators in
opt-in jurisdictions, where nothing may be personalised before the shopper agrees, set the
default to revoked. Explicit choices are stored as they are (a grant is stored even when the
default is granted), so changing the default later never overrides a shopper's own choice.
Erasure forgets the consent record too; the caller also deletes the shopper's profile.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, Self, TypeAlias, TypeVar

from streams.units import DAY_MS

if TYPE_CHECKING:
    from schemas.events import ClickEvent, OrderEvent

__all__ = [
    "AFFINITY_ACTIONS",
    "DISCOUNT_TOLERANCE",
    "PRICE_BANDS",
    "SEGMENTS",
    "ClickFacts",
    "ConsentState",
    "OrderFacts",
    "OrderLineFacts",
    "PricedLine",
    "ProductLookup",
    "ProfileConfig",
    "ShopperProfile",
    "click_facts_from_event",
    "consent_after",
    "is_granted",
    "order_facts_from_event",
    "order_value",
    "remember_event",
]

DISCOUNT_TOLERANCE: Final = 0.995
"""A line is discounted when its unit price is below this share of the list price."""
AFFINITY_ACTIONS: Final[frozenset[str]] = frozenset({"view", "click", "add_to_cart"})
"""Click actions that show interest in a category; offer_* actions only count for dedupe."""
PRICE_BANDS: Final = ("budget", "mid", "premium")
SEGMENTS: Final = ("new", "high_spender", "high_ltv", "discount_seeker", "lapsed")
"""Every segment, in the order ``ShopperProfile.segments`` lists them."""
DEFAULT_MAX_RECENT_EVENT_IDS: Final = 256

T = TypeVar("T")

ConsentState: TypeAlias = bool | None
"""True granted, False revoked, None nothing recorded (the configured default applies)."""

ProductLookup: TypeAlias = Callable[[str], T | None]
"""A catalog lookup by product id (a list price, a category), None when unknown."""

TimedAmount: TypeAlias = tuple[int, float]
"""(ts_ms, amount): an order value or a unit price at the time of its order."""


class PricedLine(Protocol):
    """Anything with a quantity and a unit price: order facts, contract order or cart items."""

    @property
    def quantity(self) -> int: ...

    @property
    def unit_price(self) -> float: ...


def order_value(lines: Iterable[PricedLine]) -> float:
    """Sum of quantity x unit price over the lines; shipping is excluded and nothing is rounded."""
    return math.fsum(line.quantity * line.unit_price for line in lines)


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of at least 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """Windows, bounds and segment thresholds of the shopper profile."""

    typical_orders: int = 20
    """How many of the latest orders the typical order value (median) is taken over."""
    trailing_days: float = 365
    recent_days: float = 30
    """Products bought within this many days count as recently bought."""
    max_recent_products: int = 200
    affinity_half_life_days: float = 30
    max_categories: int = 20
    max_item_prices: int = 50
    """How many of the latest unit prices the price band's median is taken over."""
    max_recent_event_ids: int = DEFAULT_MAX_RECENT_EVENT_IDS
    click_affinity_weight: float = 0.2
    """Affinity of one view/click/add-to-cart; one order adds 1, split by line value share."""
    new_max_orders: int = 1
    high_spender_typical_order: float = 100.0
    high_ltv_spend: float = 1000.0
    discount_seeker_share: float = 0.5
    discount_seeker_min_orders: int = 3
    lapsed_days: float = 90
    price_band_edges: tuple[float, float] = (5.0, 20.0)
    """Lowest median unit price of "mid" and of "premium"."""

    def __post_init__(self) -> None:
        for name in (
            "typical_orders",
            "max_recent_products",
            "max_categories",
            "max_item_prices",
            "max_recent_event_ids",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int of at least 1, got {value!r}")
        for name in ("new_max_orders", "discount_seeker_min_orders"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int of at least 0, got {value!r}")
        for name in ("trailing_days", "recent_days", "affinity_half_life_days", "lapsed_days"):
            _check_positive(name, getattr(self, name))
        for name in ("click_affinity_weight", "high_spender_typical_order", "high_ltv_spend"):
            _check_non_negative(name, getattr(self, name))
        if not (0 <= self.discount_seeker_share <= 1):
            raise ValueError(
                f"discount_seeker_share must be within 0..1, got {self.discount_seeker_share!r}"
            )
        edges = self.price_band_edges
        if len(edges) != 2:
            raise ValueError(f"price_band_edges must be two prices, got {edges!r}")
        for edge in edges:
            _check_non_negative("price_band_edges", edge)
        if not edges[0] < edges[1]:
            raise ValueError(f"price_band_edges must increase, got {edges!r}")

    @property
    def trailing_ms(self) -> float:
        """The trailing-spend window in milliseconds."""
        return self.trailing_days * DAY_MS

    @property
    def recent_ms(self) -> float:
        """The recently-bought window in milliseconds."""
        return self.recent_days * DAY_MS

    @property
    def affinity_half_life_ms(self) -> float:
        """The category-affinity half-life in milliseconds."""
        return self.affinity_half_life_days * DAY_MS

    @property
    def lapsed_ms(self) -> float:
        """How long after the last order a shopper counts as lapsed, in milliseconds."""
        return self.lapsed_days * DAY_MS


class OrderLineFacts(NamedTuple):
    """One order line; list_price is the catalog price, filled in by the caller when known."""

    product_id: str
    quantity: int
    unit_price: float
    category: str | None = None
    list_price: float | None = None

    @property
    def value(self) -> float:
        """Quantity x unit price."""
        return self.quantity * self.unit_price

    @property
    def is_discounted(self) -> bool:
        """Whether the line was bought below its list price (by more than rounding)."""
        return self.list_price is not None and self.unit_price < (
            self.list_price * DISCOUNT_TOLERANCE
        )


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The facts of one completed order that the profile needs."""

    event_id: str
    ts_ms: int
    lines: tuple[OrderLineFacts, ...]
    shipping_fee: float = 0.0

    def __post_init__(self) -> None:
        # Accepts any iterable of plain (product_id, quantity, unit_price[, category
        # [, list_price]]) tuples too, and keeps its own tuple so the caller's list can't change it.
        lines = tuple(OrderLineFacts(*line) for line in self.lines)
        for line in lines:
            if line.quantity < 1:
                raise ValueError(f"quantity must be at least 1, got {line!r}")
            _check_non_negative("unit_price", line.unit_price)
            if line.list_price is not None:
                _check_non_negative("list_price", line.list_price)
        _check_non_negative("shipping_fee", self.shipping_fee)
        object.__setattr__(self, "lines", lines)


@dataclass(frozen=True, slots=True)
class ClickFacts:
    """One behavioural event; category is filled in by the caller from the catalog if missing."""

    event_id: str
    ts_ms: int
    action: str
    product_id: str | None = None
    category: str | None = None


def order_facts_from_event(
    event: OrderEvent,
    list_price: ProductLookup[float] | None = None,
    category_of: ProductLookup[str] | None = None,
) -> OrderFacts:
    """The facts of a contract order, with list prices and missing categories from the catalog."""
    return OrderFacts(
        event_id=event.event_id,
        ts_ms=event.ts,
        lines=tuple(
            OrderLineFacts(
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=item.unit_price,
                category=item.category
                if item.category is not None or category_of is None
                else category_of(item.product_id),
                list_price=None if list_price is None else list_price(item.product_id),
            )
            for item in event.items
        ),
        shipping_fee=event.shipping_fee,
    )


def click_facts_from_event(
    event: ClickEvent, category_of: ProductLookup[str] | None = None
) -> ClickFacts:
    """The facts of a contract click, with the category from the catalog when it is missing."""
    category = event.category
    if category is None and event.product_id is not None and category_of is not None:
        category = category_of(event.product_id)
    return ClickFacts(
        event_id=event.event_id,
        ts_ms=event.ts,
        action=event.action,
        product_id=event.product_id,
        category=category,
    )


def remember_event(ids: tuple[str, ...], event_id: str, max_ids: int) -> tuple[str, ...]:
    """The dedupe window after seeing event_id: at most max_ids ids, the oldest dropped."""
    if max_ids < 1:
        raise ValueError(f"max_ids must be at least 1, got {max_ids!r}")
    if event_id in ids:
        return ids[-max_ids:]
    return (*ids, event_id)[-max_ids:]


def consent_after(action: str, current: ConsentState, default_granted: bool) -> ConsentState:
    """The consent state after a privacy action: grant True, revoke False, erase None (forget).

    The outcome depends on the action only: explicit choices are stored as they are, whatever
    ``current`` and ``default_granted`` are, so that changing the default later never overrides
    a shopper's own choice (see the module docstring).
    """
    if action == "grant":
        return True
    if action == "revoke":
        return False
    if action == "erase":
        return None
    raise ValueError(f"unknown privacy action {action!r}")


def is_granted(current: ConsentState, default_granted: bool) -> bool:
    """Whether the shopper may be profiled: their recorded choice, else the default."""
    return default_granted if current is None else current


def _insert_by_time(
    entries: tuple[TimedAmount, ...], new: Iterable[TimedAmount], ts_ms: int
) -> tuple[TimedAmount, ...]:
    """Entries (sorted by time) with new ones at ts_ms added after any entries at that time."""
    position = bisect_right(entries, ts_ms, key=lambda entry: entry[0])
    return (*entries[:position], *new, *entries[position:])


def _decay(dt_ms: float, half_life_ms: float) -> float:
    return 0.5 ** (dt_ms / half_life_ms)


def _strongest(scores: Mapping[str, float], keep: int) -> dict[str, float]:
    """The keep highest scores, strongest first (ties: the first name alphabetically)."""
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return dict(ranked[:keep])


def _median_absolute_deviation(values: tuple[float, ...]) -> float:
    centre = statistics.median(values)
    return statistics.median(abs(value - centre) for value in values)


@dataclass(frozen=True, slots=True)
class ShopperProfile:
    """A shopper's spend profile; the with_* methods return an updated copy."""

    shopper_id: str
    order_count: int = 0
    lifetime_spend: float = 0.0
    first_order_ts: int | None = None
    last_order_ts: int | None = None
    """The latest order time seen (the maximum, whatever the arrival order)."""
    trailing_orders: tuple[TimedAmount, ...] = ()
    """(ts_ms, order value) of orders within trailing_days of the latest order, oldest first."""
    recent_orders: tuple[TimedAmount, ...] = ()
    """(ts_ms, order value) of the last typical_orders orders, oldest first."""
    recent_products: Mapping[str, int] = field(default_factory=dict)
    """Product -> latest time bought, for products bought within recent_days of the latest order."""
    discounted_spend: float = 0.0
    shipping_paid: float = 0.0
    free_shipping_orders: int = 0
    category_affinity: Mapping[str, float] = field(default_factory=dict)
    """Category -> decayed interest score as of affinity_as_of_ts; the strongest few are kept."""
    affinity_as_of_ts: int | None = None
    recent_item_prices: tuple[TimedAmount, ...] = ()
    """(ts_ms, unit price) of the last max_item_prices order lines, oldest first."""
    recent_event_ids: tuple[str, ...] = ()
    last_event_ts: int | None = None
    """The latest time of any applied event, order or click."""

    def __post_init__(self) -> None:
        # Read-only copies, so neither the caller's dicts nor a later update can change a state.
        object.__setattr__(self, "recent_products", MappingProxyType(dict(self.recent_products)))
        object.__setattr__(
            self, "category_affinity", MappingProxyType(dict(self.category_affinity))
        )

    @classmethod
    def empty(cls, shopper_id: str) -> Self:
        """The profile of a shopper with no events yet."""
        return cls(shopper_id)

    def has_seen(self, event_id: str) -> bool:
        """Whether this event was already applied (within the dedupe window)."""
        return event_id in self.recent_event_ids

    def with_order(self, order: OrderFacts, config: ProfileConfig) -> ShopperProfile:
        """The profile after a completed order; an order already applied changes nothing."""
        if self.has_seen(order.event_id):
            return self
        ts = order.ts_ms
        value = order_value(order.lines)
        latest_ts = ts if self.last_order_ts is None else max(self.last_order_ts, ts)
        first_ts = ts if self.first_order_ts is None else min(self.first_order_ts, ts)

        trailing_start = latest_ts - config.trailing_ms
        trailing = tuple(
            entry
            for entry in _insert_by_time(self.trailing_orders, [(ts, value)], ts)
            if entry[0] >= trailing_start
        )
        recent_orders = _insert_by_time(self.recent_orders, [(ts, value)], ts)
        item_prices = _insert_by_time(
            self.recent_item_prices, [(ts, line.unit_price) for line in order.lines], ts
        )

        recent_start = latest_ts - config.recent_ms
        bought = dict(self.recent_products)
        if ts >= recent_start:
            for line in order.lines:
                bought[line.product_id] = max(bought.get(line.product_id, ts), ts)
        bought = {product: when for product, when in bought.items() if when >= recent_start}
        if len(bought) > config.max_recent_products:
            latest_first = sorted(bought.items(), key=lambda item: (-item[1], item[0]))
            bought = dict(latest_first[: config.max_recent_products])

        affinity, affinity_ts = self._merged_affinity(_order_interest(order, value), ts, config)
        return ShopperProfile(
            shopper_id=self.shopper_id,
            order_count=self.order_count + 1,
            lifetime_spend=self.lifetime_spend + value,
            first_order_ts=first_ts,
            last_order_ts=latest_ts,
            trailing_orders=trailing,
            recent_orders=recent_orders[-config.typical_orders :],
            recent_products=bought,
            discounted_spend=self.discounted_spend
            + math.fsum(line.value for line in order.lines if line.is_discounted),
            shipping_paid=self.shipping_paid + order.shipping_fee,
            free_shipping_orders=self.free_shipping_orders + (1 if order.shipping_fee == 0 else 0),
            category_affinity=affinity,
            affinity_as_of_ts=affinity_ts,
            recent_item_prices=item_prices[-config.max_item_prices :],
            recent_event_ids=remember_event(
                self.recent_event_ids, order.event_id, config.max_recent_event_ids
            ),
            last_event_ts=self._latest_event_ts(ts),
        )

    def with_click(self, click: ClickFacts, config: ProfileConfig) -> ShopperProfile:
        """The profile after a behavioural event; only view/click/add_to_cart add affinity."""
        if self.has_seen(click.event_id):
            return self
        affinity: Mapping[str, float] = self.category_affinity
        affinity_ts = self.affinity_as_of_ts
        if click.action in AFFINITY_ACTIONS and click.category is not None:
            interest = {click.category: config.click_affinity_weight}
            affinity, affinity_ts = self._merged_affinity(interest, click.ts_ms, config)
        return replace(
            self,
            category_affinity=affinity,
            affinity_as_of_ts=affinity_ts,
            recent_event_ids=remember_event(
                self.recent_event_ids, click.event_id, config.max_recent_event_ids
            ),
            last_event_ts=self._latest_event_ts(click.ts_ms),
        )

    def _latest_event_ts(self, ts_ms: int) -> int:
        return ts_ms if self.last_event_ts is None else max(self.last_event_ts, ts_ms)

    def _merged_affinity(
        self, interest: Mapping[str, float], ts_ms: int, config: ProfileConfig
    ) -> tuple[dict[str, float], int | None]:
        """Scores and their as-of time after adding interest shown at ts_ms."""
        if not interest:
            return dict(self.category_affinity), self.affinity_as_of_ts
        as_of = self.affinity_as_of_ts
        half_life = config.affinity_half_life_ms
        if as_of is None or ts_ms >= as_of:
            # Bring the stored scores forward to ts_ms; the new interest counts in full.
            factor = 1.0 if as_of is None else _decay(ts_ms - as_of, half_life)
            scores = {
                category: score * factor for category, score in self.category_affinity.items()
            }
            as_of, weight = ts_ms, 1.0
        else:
            # A late event: its interest has already decayed by the time the scores are as of.
            scores = dict(self.category_affinity)
            weight = _decay(as_of - ts_ms, half_life)
        for category, amount in interest.items():
            scores[category] = scores.get(category, 0.0) + amount * weight
        return _strongest(scores, config.max_categories), as_of

    @property
    def recent_order_values(self) -> tuple[float, ...]:
        """Values of the last typical_orders orders, oldest first."""
        return tuple(value for _, value in self.recent_orders)

    @property
    def item_prices(self) -> tuple[float, ...]:
        """Unit prices of the last max_item_prices order lines, oldest first."""
        return tuple(price for _, price in self.recent_item_prices)

    def typical_order_value(self) -> float | None:
        """Median value of the recent orders; None before the first order."""
        if not self.recent_orders:
            return None
        return statistics.median(self.recent_order_values)

    def order_value_spread(self) -> float | None:
        """Median absolute deviation of the recent order values (unscaled); None without orders.

        MAD rather than IQR: it is defined from one order on, pairs with the median and, like
        it, ignores a few outlier orders.
        """
        if not self.recent_orders:
            return None
        return _median_absolute_deviation(self.recent_order_values)

    def trailing_spend(self, now_ms: int, config: ProfileConfig) -> float:
        """Spend on orders placed at most trailing_days before now_ms (later ones included)."""
        start = now_ms - config.trailing_ms
        return math.fsum(value for ts, value in self.trailing_orders if ts >= start)

    def discount_share(self) -> float | None:
        """Share of lifetime spend on lines bought below list price; None without spend."""
        if self.lifetime_spend <= 0:
            return None
        return self.discounted_spend / self.lifetime_spend

    def price_band(self, config: ProfileConfig) -> str | None:
        """budget, mid or premium by the median recent unit price; None before any order."""
        if not self.recent_item_prices:
            return None
        median_price = statistics.median(self.item_prices)
        mid_from, premium_from = config.price_band_edges
        if median_price < mid_from:
            return "budget"
        if median_price < premium_from:
            return "mid"
        return "premium"

    def top_categories(self, n: int) -> tuple[str, ...]:
        """The n categories of strongest affinity, strongest first (ties alphabetical)."""
        return tuple(_strongest(self.category_affinity, n)) if n > 0 else ()

    def affinity_at(self, now_ms: int, config: ProfileConfig) -> dict[str, float]:
        """Category affinity decayed to now_ms (not grown if now_ms is earlier), strongest first."""
        as_of = self.affinity_as_of_ts
        factor = (
            1.0
            if as_of is None or now_ms <= as_of
            else _decay(now_ms - as_of, config.affinity_half_life_ms)
        )
        ranked = _strongest(self.category_affinity, len(self.category_affinity))
        return {category: score * factor for category, score in ranked.items()}

    def recently_bought(self, now_ms: int, config: ProfileConfig) -> dict[str, int]:
        """Product -> time bought, for products bought at most recent_days before now_ms."""
        start = now_ms - config.recent_ms
        latest_first = sorted(self.recent_products.items(), key=lambda item: (-item[1], item[0]))
        return {product: ts for product, ts in latest_first if ts >= start}

    def is_lapsed(self, now_ms: int, config: ProfileConfig) -> bool:
        """Whether the last order is more than lapsed_days before now_ms."""
        return self.last_order_ts is not None and now_ms - self.last_order_ts > config.lapsed_ms

    def segments(self, now_ms: int, config: ProfileConfig) -> tuple[str, ...]:
        """The segments the shopper is in at now_ms, in the order of SEGMENTS."""
        typical = self.typical_order_value()
        share = self.discount_share()
        member = {
            "new": self.order_count <= config.new_max_orders,
            "high_spender": typical is not None and typical >= config.high_spender_typical_order,
            "high_ltv": self.order_count > 0 and self.lifetime_spend >= config.high_ltv_spend,
            "discount_seeker": share is not None
            and share >= config.discount_seeker_share
            and self.order_count >= config.discount_seeker_min_orders,
            "lapsed": self.is_lapsed(now_ms, config),
        }
        return tuple(segment for segment in SEGMENTS if member[segment])

    def to_public_dict(
        self, now_ms: int, config: ProfileConfig, top_n_categories: int = 5
    ) -> dict[str, Any]:
        """The profile as shown by the inspection API at now_ms: money rounded to cents."""
        typical = self.typical_order_value()
        spread = self.order_value_spread()
        share = self.discount_share()
        affinity = self.affinity_at(now_ms, config)
        return {
            "shopper_id": self.shopper_id,
            "order_count": self.order_count,
            "lifetime_spend": _cents(self.lifetime_spend),
            # Named after the configured window; "trailing_365d_spend" by default.
            f"trailing_{config.trailing_days:g}d_spend": _cents(
                self.trailing_spend(now_ms, config)
            ),
            "typical_order_value": None if typical is None else _cents(typical),
            "order_value_spread": None if spread is None else _cents(spread),
            "last_order_ts": self.last_order_ts,
            "recent_products": self.recently_bought(now_ms, config),
            "discount_share": None if share is None else round(share, 4),
            "category_affinity": {
                category: round(score, 4)
                for category, score in list(affinity.items())[: max(top_n_categories, 0)]
            },
            "price_band": self.price_band(config),
            "segments": list(self.segments(now_ms, config)),
        }

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-able form for the changelogged table; from_dict reads it back."""
        data: dict[str, Any] = {"s": self.shopper_id}
        for name, key in _WIRE_KEYS.items():
            value = getattr(self, name)
            if value == getattr(_EMPTY_PROFILE, name):
                continue  # defaults are left out
            if isinstance(value, tuple):
                value = [list(entry) if isinstance(entry, tuple) else entry for entry in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The profile stored by to_dict."""
        unknown = set(data) - {"s", *_WIRE_KEYS.values()}
        if unknown:
            raise ValueError(f"unknown shopper profile fields {sorted(unknown)}")
        keys = _WIRE_KEYS

        def optional_int(name: str) -> int | None:
            value = data.get(keys[name])
            return None if value is None else int(value)

        def timed_amounts(name: str) -> tuple[TimedAmount, ...]:
            return tuple((int(ts), float(amount)) for ts, amount in data.get(keys[name], ()))

        return cls(
            shopper_id=str(data["s"]),
            order_count=int(data.get(keys["order_count"], 0)),
            lifetime_spend=float(data.get(keys["lifetime_spend"], 0.0)),
            first_order_ts=optional_int("first_order_ts"),
            last_order_ts=optional_int("last_order_ts"),
            trailing_orders=timed_amounts("trailing_orders"),
            recent_orders=timed_amounts("recent_orders"),
            recent_products={
                str(product): int(ts)
                for product, ts in data.get(keys["recent_products"], {}).items()
            },
            discounted_spend=float(data.get(keys["discounted_spend"], 0.0)),
            shipping_paid=float(data.get(keys["shipping_paid"], 0.0)),
            free_shipping_orders=int(data.get(keys["free_shipping_orders"], 0)),
            category_affinity={
                str(category): float(score)
                for category, score in data.get(keys["category_affinity"], {}).items()
            },
            affinity_as_of_ts=optional_int("affinity_as_of_ts"),
            recent_item_prices=timed_amounts("recent_item_prices"),
            recent_event_ids=tuple(str(i) for i in data.get(keys["recent_event_ids"], ())),
            last_event_ts=optional_int("last_event_ts"),
        )


_WIRE_KEYS: Final[dict[str, str]] = {
    "order_count": "n",
    "lifetime_spend": "ls",
    "first_order_ts": "ft",
    "last_order_ts": "lt",
    "trailing_orders": "to",
    "recent_orders": "ro",
    "recent_products": "rp",
    "discounted_spend": "ds",
    "shipping_paid": "sp",
    "free_shipping_orders": "fs",
    "category_affinity": "ca",
    "affinity_as_of_ts": "at",
    "recent_item_prices": "ip",
    "recent_event_ids": "e",
    "last_event_ts": "et",
}
"""Field -> short key in to_dict, besides "s" for shopper_id."""

_EMPTY_PROFILE: Final = ShopperProfile("")


def _order_interest(order: OrderFacts, value: float) -> dict[str, float]:
    """Category -> share of the order's value (equal shares per line if the order was free)."""
    interest: dict[str, float] = {}
    for line in order.lines:
        if line.category is None:
            continue
        share = line.value / value if value > 0 else 1 / len(order.lines)
        interest[line.category] = interest.get(line.category, 0.0) + share
    return interest


def _cents(amount: float) -> float:
    return round(amount, 2)

"""Contract events (``shop.carts``, ``shop.orders``, ``shop.catalog``) from an order log.

The events are plain dicts shaped as in the wire contract (``contract.md``), ready to be
validated and serialised (orjson). Nothing here talks to Kafka.

DERIVED CART EVENTS. The order logs hold completed orders only: there are no cart,
click or add-to-cart events in the data. ``cart_events`` therefore *derives* a cart
history from each order: the order's lines are added to the cart one at a time, in
basket order, and every addition is one ``shop.carts`` event whose ``items`` are the
whole cart so far. The cart events are spaced ``CART_STEP_MS`` (5 s) apart and the last
one comes one step before the order's ``ts``, never at or after it; large baskets are
compressed so the whole cart is built within ``MAX_CART_SPAN_MS`` (15 min). These
events are a replay device, not observed behaviour: no cart ever shrinks, no cart is
abandoned, and the timing between additions is invented.

Identifiers (``<order>`` is the log's order id, ``<customer>`` its shopper id):

- ``shopper_id``: ``c-<customer>``; ``None`` for orders without a customer (guest
  checkouts).
- ``session_id``: ``w-<order>`` for known customers, ``g-<order>`` for guests (the data
  has no sessions, so each order is its own session).
- ``cart_id``: ``k-<order>``; ``order_id``: ``o-<order>``.
- ``event_id``: ``cart-<order>-<n>`` (n = 1.. for the n-th addition), ``order-<order>``,
  and ``<product>@<ts>`` for catalog events: deterministic, so a replay sent twice is
  recognisable as redelivery.
- Message key: the ``shopper_id`` when known, else the ``session_id``; catalog events
  are keyed by ``product_id``.

Money is in GBP (the online-retail data is a UK shop) and ``shipping_fee`` is 0.0 (the
data's postage lines are dropped as non-products). Line items carry ``product_id``,
``quantity``, ``unit_price`` and ``category`` (left out when unknown). Item dicts are
shared between the cumulative cart events of one order: treat events as read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

from streams.tools.replay.orderlog import Order, OrderLine, OrderLog
from streams.units import MINUTE_MS, SECOND_MS

__all__ = [
    "CART_STEP_MS",
    "CURRENCY",
    "FALLBACK_CATEGORY",
    "LOGICAL_TOPICS",
    "MAX_CART_SPAN_MS",
    "Event",
    "cart_events",
    "catalog_events",
    "event_key",
    "order_event",
    "replay_events",
    "session_id_of",
    "shopper_id_of",
]

Event: TypeAlias = dict[str, Any]
LOGICAL_TOPICS: tuple[str, ...] = ("catalog", "carts", "orders")

CURRENCY = "GBP"
CART_STEP_MS = 5 * SECOND_MS
"""Time between two derived cart additions (shortened for large baskets)."""
MAX_CART_SPAN_MS = 15 * MINUTE_MS
"""Longest time from an order's first derived cart event to the order."""
FALLBACK_CATEGORY = "other"
"""Catalog category of a product whose category is unknown (the field is required)."""

SHOPPER_PREFIX = "c-"
KNOWN_SESSION_PREFIX = "w-"
GUEST_SESSION_PREFIX = "g-"
CART_PREFIX = "k-"
ORDER_PREFIX = "o-"


def shopper_id_of(order: Order) -> str | None:
    """Return the contract shopper id ``c-<customer>``, or None for a guest checkout."""
    return None if order.shopper_id is None else f"{SHOPPER_PREFIX}{order.shopper_id}"


def session_id_of(order: Order) -> str:
    """Return the order's session id: ``w-<order>`` for customers, ``g-<order>`` for guests."""
    prefix = GUEST_SESSION_PREFIX if order.shopper_id is None else KNOWN_SESSION_PREFIX
    return f"{prefix}{order.order_id}"


def event_key(order: Order) -> str:
    """Return the message key of the order's events: the shopper id, else the session id."""
    return shopper_id_of(order) or session_id_of(order)


def _item(line: OrderLine) -> Event:
    """Return the contract line item of an order line (category only when known)."""
    item: Event = {
        "product_id": line.product_id,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
    }
    if line.category is not None:
        item["category"] = line.category
    return item


def _cart_step_ms(line_count: int, step_ms: int, max_span_ms: int) -> int:
    """Return the spacing of the derived cart events of a basket of ``line_count`` lines."""
    return max(1, min(step_ms, max_span_ms // max(line_count, 1)))


def cart_events(
    order: Order,
    *,
    step_ms: int = CART_STEP_MS,
    max_span_ms: int = MAX_CART_SPAN_MS,
    currency: str = CURRENCY,
) -> list[Event]:
    """Return the DERIVED ``shop.carts`` events: the order's lines added one per event."""
    step = _cart_step_ms(len(order.lines), step_ms, max_span_ms)
    shopper_id, session_id = shopper_id_of(order), session_id_of(order)
    items = [_item(line) for line in order.lines]
    count = len(items)
    return [
        {
            "event_id": f"cart-{order.order_id}-{n}",
            "ts": order.ts_ms - (count - n + 1) * step,
            "shopper_id": shopper_id,
            "session_id": session_id,
            "cart_id": f"{CART_PREFIX}{order.order_id}",
            "currency": currency,
            "items": items[:n],
        }
        for n in range(1, count + 1)
    ]


def order_event(order: Order, *, currency: str = CURRENCY) -> Event:
    """Return the ``shop.orders`` event of a completed order."""
    return {
        "event_id": f"order-{order.order_id}",
        "ts": order.ts_ms,
        "shopper_id": shopper_id_of(order),
        "session_id": session_id_of(order),
        "order_id": f"{ORDER_PREFIX}{order.order_id}",
        "currency": currency,
        "shipping_fee": 0.0,
        "items": [_item(line) for line in order.lines],
    }


def catalog_events(log: OrderLog) -> list[Event]:
    """Return one ``shop.catalog`` event per product, as last seen in the log, by (ts, id).

    The price, title and category are those of the product's last order line, and the
    event's ``ts`` is that line's time; every product is ``in_stock``.
    """
    last_seen: dict[str, OrderLine] = {}
    for line in log.lines():
        last_seen[line.product_id] = line
    events: list[Event] = []
    for line in sorted(last_seen.values(), key=lambda seen: (seen.ts_ms, seen.product_id)):
        event: Event = {
            "event_id": f"{line.product_id}@{line.ts_ms}",
            "ts": line.ts_ms,
            "product_id": line.product_id,
            "category": line.category or FALLBACK_CATEGORY,
            "unit_price": line.unit_price,
            "in_stock": True,
        }
        if line.title is not None:
            event["title"] = line.title
        events.append(event)
    return events


def replay_events(
    log: OrderLog, *, carts: bool = True, cart_steps: int | None = None
) -> Iterator[tuple[str, str | None, Event]]:
    """Yield (logical topic, key, event): the catalog, then per order its carts and the order.

    The logical topics are ``LOGICAL_TOPICS``: "catalog", "carts" and "orders". With
    ``cart_steps``, only the last that many cart events of each order are sent (the cart as
    it grew to its final state), each still one decision.
    """
    if cart_steps is not None and cart_steps < 1:
        raise ValueError(f"cart_steps must be at least 1, got {cart_steps}")
    for event in catalog_events(log):
        yield "catalog", event["product_id"], event
    for order in log.orders:
        key = event_key(order)
        if carts:
            steps = cart_events(order)
            for event in steps if cart_steps is None else steps[-cart_steps:]:
                yield "carts", key, event
        yield "orders", key, order_event(order)

"""Hypothesis strategies for contract-valid events at the contract's extremes.

Every event is built as JSON and passed through `schemas.decode_event`, the boundary's own
validation, so a strategy that drifts outside the contract fails loudly instead of testing
something the worker would dead-letter. Within the contract they aim at the edges: ids of
any Unicode text (control characters, non-ASCII, emoji; every code point but the surrogates,
which UTF-8 cannot carry) up to `MAX_ID_CHARS` characters, money from 0 to `MAX_MONEY`,
quantities up to `MAX_QUANTITY`, orders up to `MAX_ITEMS` lines within the 1 MiB message
limit (most examples small, a few at the limit), repeated products within an order,
redeliveries of the same event, and event times out of order and skewed by years.

Times lie within 2009-01-01..2025-01-01 UTC: the boundary may reject earlier or future times.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from hypothesis import event
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import (
    MAX_EVENT_BYTES,
    CartEvent,
    ClickEvent,
    OrderEvent,
    PrivacyEvent,
    decode_event,
)
from schemas.events import MAX_ID_CHARS, MAX_ITEMS, MAX_MONEY, MAX_QUANTITY
from streams.copurchase.model import TOTAL_ORDERS_KEY
from streams.units import DAY_MS, MINUTE_MS

EARLIEST_TS = 1_230_768_000_000
"""2009-01-01T00:00:00Z."""
LATEST_TS = 1_735_689_600_000
"""2025-01-01T00:00:00Z: a fixed bound in the past, so examples do not move with the clock."""
BULK_MESSAGE_BYTES = MAX_EVENT_BYTES - 4096
"""What a bulk order's lines may take, leaving room for the event's other fields."""

# Every code point UTF-8 can encode: all but the surrogates. Control characters and NUL
# included: JSON escapes them and the contract allows them.
ANY_CHARACTER = st.characters(codec="utf-8")
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)


def ids(max_chars: int = MAX_ID_CHARS) -> st.SearchStrategy[str]:
    """Contract-valid ids: short Unicode, plain ASCII, emoji, and long ones at `max_chars`.

    The graph's internal total-orders key is left out: a product id equal to it would be
    counted as the order total (a documented, practically unreachable collision).
    """
    return st.one_of(
        st.text(ANY_CHARACTER, min_size=1, max_size=min(8, max_chars)),
        st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8),
        st.text(EMOJI, min_size=1, max_size=min(4, max_chars)),
        st.text(ANY_CHARACTER, min_size=max(1, max_chars - 1), max_size=max_chars),
    ).filter(lambda text: text != TOTAL_ORDERS_KEY)


def unique_ids(min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    """Distinct ids."""
    return st.lists(ids(), min_size=min_size, max_size=max_size, unique=True)


def money() -> st.SearchStrategy[float]:
    """Prices from 0 to MAX_MONEY: whole cents mostly, the bounds and arbitrary floats too."""
    return st.one_of(
        st.integers(1, 100_000).map(lambda cents: cents / 100),
        st.sampled_from([0.0, 0.01, MAX_MONEY]),
        st.floats(0.0, MAX_MONEY, allow_nan=False, allow_infinity=False),
    )


def quantities() -> st.SearchStrategy[int]:
    """Quantities: small mostly, MAX_QUANTITY and anything between too."""
    return st.one_of(st.integers(1, 3), st.just(MAX_QUANTITY), st.integers(1, MAX_QUANTITY))


def timestamps() -> st.SearchStrategy[int]:
    """An event time within EARLIEST_TS..LATEST_TS."""
    return st.integers(EARLIEST_TS, LATEST_TS)


def skewed_times(base_ts: int) -> st.SearchStrategy[int]:
    """Times around `base_ts`, in any order: minutes, days or years apart (clamped)."""
    offsets = st.one_of(
        st.integers(-5 * MINUTE_MS, 5 * MINUTE_MS),
        st.integers(-45 * DAY_MS, 45 * DAY_MS),
        st.integers(-(LATEST_TS - EARLIEST_TS), LATEST_TS - EARLIEST_TS),
    )
    return offsets.map(lambda offset: min(max(base_ts + offset, EARLIEST_TS), LATEST_TS))


def contract_event(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """`data` as the boundary would accept it (InvalidEvent if a strategy left the contract)."""
    return decode_event(model, orjson.dumps(data))


def _fit_id(text: str, max_json_bytes: int) -> str:
    """`text` shortened until its JSON string takes at most `max_json_bytes` bytes."""
    while len(text) > 1 and len(orjson.dumps(text)) > max_json_bytes:
        text = text[: max(1, len(text) // 2)]
    return text


@st.composite
def bulk_lines(draw: st.DrawFn, min_lines: int, max_lines: int = MAX_ITEMS) -> list[dict[str, Any]]:
    """Many order lines from one drawn seed: `prefix + number` ids, a few tied prices.

    Drawing thousands of lines one by one would exceed what Hypothesis generates per
    example, so the lines come from a seeded generator; ids share a drawn Unicode prefix,
    cut so that the whole order stays within the 1 MiB message limit. About one line in
    twenty repeats an earlier product (an order may list a product twice).
    """
    count = draw(st.integers(min_lines, max_lines) | st.just(max_lines))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    # A line is {"product_id":"…","quantity":…,"unit_price":…}: ~60 bytes besides the id.
    prefix = _fit_id(draw(ids(MAX_ID_CHARS - 6)), BULK_MESSAGE_BYTES // count - 66)
    prices = draw(st.lists(money(), min_size=1, max_size=4))
    lines: list[dict[str, Any]] = []
    for number in range(count):
        product = number if number == 0 or rng.random() > 0.05 else rng.randrange(number)
        lines.append(
            {
                "product_id": f"{prefix}{product}",
                "quantity": rng.choice((1, 2, MAX_QUANTITY)),
                "unit_price": rng.choice(prices),
            }
        )
    return lines


def limit_order(ts: int = EARLIEST_TS + 1) -> OrderEvent:
    """An order of MAX_ITEMS lines (9,500 distinct products), non-ASCII ids, 9 tied prices."""
    lines = [
        {
            "product_id": f"商品-{number % 9_500}🍵",
            "quantity": 1 + number % 3,
            "unit_price": float(number % 9),
        }
        for number in range(MAX_ITEMS)
    ]
    return order_event("limit-order", ts, lines, "shopper-ß")


@st.composite
def lines_from(
    draw: st.DrawFn,
    products: Sequence[str],
    categories: Sequence[str],
    min_lines: int,
    max_lines: int,
) -> list[dict[str, Any]]:
    """A few lines of products from a pool (repeats allowed), with prices and categories."""
    count = draw(st.integers(min_lines, max_lines))
    lines = []
    for _ in range(count):
        line: dict[str, Any] = {
            "product_id": draw(st.sampled_from(products)),
            "quantity": draw(quantities()),
            "unit_price": draw(money()),
        }
        category = draw(st.none() | st.sampled_from(categories))
        if category is not None:
            line["category"] = category
        lines.append(line)
    return lines


def order_lines(max_lines: int = MAX_ITEMS) -> st.SearchStrategy[list[dict[str, Any]]]:
    """An order's lines: a handful of Unicode products mostly, one example in ~20 in bulk."""
    small = st.tuples(unique_ids(1, 12), unique_ids(1, 3)).flatmap(
        lambda pools: lines_from(pools[0], pools[1], 1, min(12, max_lines))
    )
    bulk = bulk_lines(min(13, max_lines), max_lines)
    return st.integers(0, 19).flatmap(lambda pick: bulk if pick == 19 else small)


def order_event(
    event_id: str,
    ts: int,
    lines: list[dict[str, Any]],
    shopper_id: str | None,
    session_id: str | None = None,
    shipping_fee: float = 0.0,
) -> OrderEvent:
    """A contract-valid order of the given lines."""
    data: dict[str, Any] = {
        "event_id": event_id,
        "ts": ts,
        "shopper_id": shopper_id,
        "session_id": session_id,
        "order_id": f"order-{event_id}"[:MAX_ID_CHARS],
        "currency": "GBP",
        "shipping_fee": shipping_fee,
        "items": lines,
    }
    event: OrderEvent = contract_event(OrderEvent, data)
    return event


@st.composite
def orders(draw: st.DrawFn, max_lines: int = MAX_ITEMS) -> OrderEvent:
    """One order of an identified shopper: any lines, any time, any shipping fee."""
    lines = draw(order_lines(max_lines))
    event(f"order lines: {'up to 12' if len(lines) <= 12 else 'bulk'}")
    return order_event(
        draw(ids()),
        draw(timestamps()),
        lines,
        draw(ids()),
        shipping_fee=draw(st.just(0.0) | money()),
    )


# --------------------------------------------------------------------------- scripts

Logical = Literal["carts", "orders", "clicks", "privacy"]
ScriptEvent = CartEvent | OrderEvent | ClickEvent | PrivacyEvent
CLICK_ACTIONS = ("view", "click", "add_to_cart", "offer_impression", "offer_click", "offer_dismiss")


@dataclass(frozen=True)
class Script:
    """Events in arrival order across topics, for a few shoppers and guest sessions."""

    shoppers: tuple[str, ...]
    sessions: tuple[str, ...]
    events: tuple[tuple[Logical, ScriptEvent], ...]


def _unique_event_id(base: str, number: int) -> str:
    suffix = f"#{number}"
    return base[: MAX_ID_CHARS - len(suffix)] + suffix


@st.composite
def scripts(draw: st.DrawFn, max_events: int = 30) -> Script:
    """Orders, carts, clicks and privacy requests interleaved, with redeliveries.

    A shared product pool makes orders pair the same products again and again, across
    orders of one shopper too; a redelivery repeats an earlier event exactly (any topic,
    privacy included), possibly after an erasure of its shopper.
    """
    shoppers = draw(unique_ids(1, 3))
    sessions = draw(unique_ids(1, 2).map(lambda found: [s for s in found if s not in shoppers]))
    products = draw(unique_ids(2, 8))
    categories = draw(unique_ids(1, 4))
    base_ts = draw(timestamps())
    count = draw(st.integers(1, max_events))
    events: list[tuple[Logical, ScriptEvent]] = []
    for number in range(count):
        kind = draw(
            st.sampled_from(["orders", "orders", "carts", "clicks", "clicks", "privacy", "again"])
        )
        if kind == "again" and events:
            events.append(draw(st.sampled_from(events)))
            continue
        event_id = _unique_event_id(draw(ids()), number)
        ts = draw(skewed_times(base_ts))
        shopper: str | None = draw(st.sampled_from(shoppers))
        session = None
        if kind != "privacy" and sessions and draw(st.integers(0, 3)) == 0:
            shopper, session = None, draw(st.sampled_from(sessions))
        if kind in ("orders", "again"):
            lines = draw(lines_from(products, categories, 1, 6))
            fee = draw(st.sampled_from([0.0, 4.99]))
            events.append(("orders", order_event(event_id, ts, lines, shopper, session, fee)))
        elif kind == "carts":
            data = {
                "event_id": event_id,
                "ts": ts,
                "shopper_id": shopper,
                "session_id": session,
                "cart_id": f"cart-{session or shopper}"[:MAX_ID_CHARS],
                "currency": "EUR",
                "items": draw(lines_from(products, categories, 0, 4)),
            }
            events.append(("carts", contract_event(CartEvent, data)))
        elif kind == "clicks":
            action = draw(st.sampled_from(CLICK_ACTIONS))
            data = {
                "event_id": event_id,
                "ts": ts,
                "shopper_id": shopper,
                "session_id": session,
                "action": action,
                "product_id": draw(st.none() | st.sampled_from(products)),
                "category": draw(st.none() | st.sampled_from(categories)),
                "offer_id": draw(ids()) if action.startswith("offer_") else None,
            }
            events.append(("clicks", contract_event(ClickEvent, data)))
        else:
            data = {
                "event_id": event_id,
                "ts": ts,
                "shopper_id": shopper,
                "action": draw(st.sampled_from(["grant", "revoke", "erase"])),
            }
            events.append(("privacy", contract_event(PrivacyEvent, data)))
    return Script(tuple(shoppers), tuple(sessions), tuple(events))

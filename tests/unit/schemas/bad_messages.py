"""A catalogue of invalid inbound messages, shared by the unit and integration tests.

Each entry names the logical topic ("carts", "orders", ...; see schemas.INBOUND_MODELS)
it belongs on, the model that must reject it, the raw value to send (None is a
tombstone), the expected InvalidEvent.reason, and the field path the error detail must
mention, when there is one.
"""

from __future__ import annotations

import copy
from typing import Any, Final, NamedTuple

import orjson

from schemas import MAX_EVENT_BYTES, Reason


class BadMessage(NamedTuple):
    """One invalid message and how the decoder must classify it."""

    name: str
    topic: str
    model: str
    raw: bytes | None
    reason: Reason
    field: str | None = None


DROP: Final = object()

CART: Final[dict[str, Any]] = {
    "event_id": "c-19",
    "ts": 1763740800000,
    "shopper_id": "s-42",
    "session_id": "w-7",
    "cart_id": "k-3",
    "currency": "GBP",
    "items": [{"product_id": "p-1", "quantity": 2, "unit_price": 12.5, "category": "kitchen"}],
}
ORDER: Final[dict[str, Any]] = {
    "event_id": "o-55",
    "ts": 1763740900000,
    "shopper_id": "s-42",
    "session_id": "w-7",
    "order_id": "ord-9",
    "currency": "GBP",
    "shipping_fee": 0.0,
    "items": [
        {
            "product_id": "p-1",
            "quantity": 2,
            "unit_price": 12.5,
            "category": "kitchen",
            "offer_id": "d-77:1",
        }
    ],
}
CLICK: Final[dict[str, Any]] = {
    "event_id": "k-1",
    "ts": 1763740700000,
    "shopper_id": "s-42",
    "session_id": "w-7",
    "action": "view",
    "product_id": "p-1",
    "category": "kitchen",
    "offer_id": None,
}
CATALOG: Final[dict[str, Any]] = {
    "event_id": "p-1@5",
    "ts": 1763740000000,
    "product_id": "p-1",
    "title": "Moka pot",
    "category": "kitchen",
    "unit_price": 12.5,
    "in_stock": True,
    "margin": 0.35,
}
PRIVACY: Final[dict[str, Any]] = {
    "event_id": "v-3",
    "ts": 1763740000000,
    "shopper_id": "s-42",
    "action": "revoke",
}


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Copy of base with dotted-path changes (items__0__unit_price=...; DROP deletes)."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = out
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DROP:
            del target[key]
        else:
            target[key] = value
    return out


def dumps(message: dict[str, Any], **changes: Any) -> bytes:
    """JSON bytes of a changed copy of message."""
    return orjson.dumps(with_changes(message, **changes))


def _literal(message: dict[str, Any], path: str, literal: bytes) -> bytes:
    """JSON bytes with the value at path replaced by a raw (possibly non-JSON) literal."""
    marker = "__LITERAL__"
    raw = dumps(message, **{path: marker})
    return raw.replace(orjson.dumps(marker), literal)


def sized_cart(size: int) -> bytes:
    """A valid cart padded with an unknown field to exactly size bytes."""
    base = dumps(CART, padding="")
    return dumps(CART, padding="x" * (size - len(base)))


_VALID_CART: Final = dumps(CART)

_MODEL_BY_TOPIC: Final = {
    "carts": "CartEvent",
    "orders": "OrderEvent",
    "clicks": "ClickEvent",
    "catalog": "CatalogEvent",
    "privacy": "PrivacyEvent",
}


def _bad(
    name: str, topic: str, raw: bytes | None, reason: Reason, field: str | None = None
) -> BadMessage:
    return BadMessage(name, topic, _MODEL_BY_TOPIC[topic], raw, reason, field)


# fmt: off
BAD_MESSAGES: Final[list[BadMessage]] = [
    # Framing and encoding.
    _bad("tombstone", "carts", None, "empty"),
    _bad("empty_bytes", "carts", b"", "empty"),
    _bad("too_large", "carts", sized_cart(MAX_EVENT_BYTES + 1), "too_large"),
    _bad("latin1_text", "carts", _literal(CART, "items__0__category", b'"caf\xe9"'), "not_utf8"),
    _bad("utf16_json", "carts", orjson.dumps(CART).decode().encode("utf-16"), "not_utf8"),
    _bad("invalid_byte_in_ignored_field", "carts", _VALID_CART[:-1] + b',"note":"\xff"}',
         "not_utf8"),
    _bad("utf8_encoded_surrogate", "clicks", _literal(CLICK, "product_id", b'"p-\xed\xa0\x80"'),
         "not_utf8"),
    # Not JSON.
    _bad("whitespace_only", "carts", b" \n\t ", "invalid_json"),
    _bad("truncated_json", "carts", _VALID_CART[:40], "invalid_json"),
    _bad("trailing_garbage", "carts", _VALID_CART + b"}", "invalid_json"),
    _bad("two_documents", "carts", _VALID_CART + b"\n" + _VALID_CART, "invalid_json"),
    _bad("utf8_bom", "carts", b"\xef\xbb\xbf" + _VALID_CART, "invalid_json"),
    _bad("single_quotes", "privacy", dumps(PRIVACY).replace(b'"', b"'"), "invalid_json"),
    _bad("nan_literal", "carts", _literal(CART, "items__0__unit_price", b"NaN"),
         "invalid_json", "unit_price"),
    _bad("infinity_literal", "orders", _literal(ORDER, "shipping_fee", b"Infinity"),
         "invalid_json", "shipping_fee"),
    _bad("float_overflow", "catalog", _literal(CATALOG, "unit_price", b"1e400"),
         "invalid_json", "unit_price"),
    _bad("control_char_in_string", "clicks", _literal(CLICK, "product_id", b'"p-\x01"'),
         "invalid_json"),
    _bad("lone_surrogate_escape", "clicks", _literal(CLICK, "product_id", b'"\\ud800"'),
         "invalid_json"),
    _bad("deeply_nested_ignored_field", "carts", _literal(CART, "extra", b"[" * 1000 + b"]" * 1000),
         "invalid_json"),
    # JSON, but not an object.
    _bad("json_array", "carts", b"[" + _VALID_CART + b"]", "not_an_object"),
    _bad("json_string", "orders", b'"o-55"', "not_an_object"),
    _bad("json_number", "clicks", b"42", "not_an_object"),
    _bad("json_null", "catalog", b"null", "not_an_object"),
    _bad("json_bool", "privacy", b"true", "not_an_object"),
    # Envelope fields.
    _bad("missing_event_id", "carts", dumps(CART, event_id=DROP), "missing_field", "event_id"),
    _bad("empty_event_id", "orders", dumps(ORDER, event_id=""), "invalid_value", "event_id"),
    _bad("long_event_id", "clicks", dumps(CLICK, event_id="e" * 201), "invalid_value", "event_id"),
    _bad("numeric_event_id", "catalog", dumps(CATALOG, event_id=5), "wrong_type", "event_id"),
    _bad("null_event_id", "privacy", dumps(PRIVACY, event_id=None), "wrong_type", "event_id"),
    _bad("missing_ts", "carts", dumps(CART, ts=DROP), "missing_field", "ts"),
    _bad("negative_ts", "orders", dumps(ORDER, ts=-1), "ts_implausible", "ts"),
    _bad("epoch_seconds_ts", "orders", dumps(ORDER, ts=1763740900), "ts_implausible", "ts"),
    _bad("ts_before_2000", "privacy", dumps(PRIVACY, ts=946684799999), "ts_implausible", "ts"),
    _bad("ts_after_year_3000", "clicks", dumps(CLICK, ts=1763740700000 * 1000),
         "ts_implausible", "ts"),
    _bad("string_ts", "catalog", dumps(CATALOG, ts="1763740000000"), "wrong_type", "ts"),
    _bad("fractional_ts", "privacy", dumps(PRIVACY, ts=1763740000000.5), "wrong_type", "ts"),
    _bad("iso_date_ts", "carts", dumps(CART, ts="2025-11-21T16:00:00Z"), "wrong_type", "ts"),
    # Routing keys and ids.
    _bad("anonymous_cart_without_session", "carts", dumps(CART, shopper_id=None, session_id=DROP),
         "missing_field", "session_id"),
    _bad("order_without_any_key", "orders", dumps(ORDER, shopper_id=DROP, session_id=None),
         "missing_field", "shopper_id"),
    _bad("click_without_any_key", "clicks", dumps(CLICK, shopper_id=None, session_id=None),
         "missing_field", "session_id"),
    _bad("numeric_shopper_id", "carts", dumps(CART, shopper_id=42), "wrong_type", "shopper_id"),
    _bad("empty_session_id", "clicks", dumps(CLICK, session_id=""), "invalid_value", "session_id"),
    _bad("missing_cart_id", "carts", dumps(CART, cart_id=DROP), "missing_field", "cart_id"),
    _bad("missing_order_id", "orders", dumps(ORDER, order_id=DROP), "missing_field", "order_id"),
    # Currency.
    _bad("lowercase_currency", "carts", dumps(CART, currency="gbp"), "invalid_value", "currency"),
    _bad("currency_symbol", "orders", dumps(ORDER, currency="\u00a3"), "invalid_value", "currency"),
    _bad("four_letter_currency", "carts", dumps(CART, currency="GBPX"),
         "invalid_value", "currency"),
    _bad("missing_currency", "orders", dumps(ORDER, currency=DROP), "missing_field", "currency"),
    # Line items.
    _bad("null_items", "carts", dumps(CART, items=None), "wrong_type", "items"),
    _bad("missing_items", "carts", dumps(CART, items=DROP), "missing_field", "items"),
    _bad("items_object", "carts", dumps(CART, items=CART["items"][0]), "wrong_type", "items"),
    _bad("null_inside_items", "carts", dumps(CART, items=[None]), "wrong_type", "items[0]"),
    _bad("item_not_an_object", "orders", dumps(ORDER, items=["p-1"]), "wrong_type", "items[0]"),
    _bad("too_many_items", "carts",
         dumps(CART, items=[{"product_id": "p", "quantity": 1, "unit_price": 1}] * 10_001),
         "invalid_value", "items"),
    _bad("empty_order_items", "orders", dumps(ORDER, items=[]), "invalid_value", "items"),
    _bad("item_missing_product_id", "carts", dumps(CART, items__0__product_id=DROP),
         "missing_field", "items[0].product_id"),
    _bad("item_missing_unit_price", "orders", dumps(ORDER, items__0__unit_price=DROP),
         "missing_field", "items[0].unit_price"),
    _bad("string_quantity", "carts", dumps(CART, items__0__quantity="2"),
         "wrong_type", "items[0].quantity"),
    _bad("float_quantity", "carts", dumps(CART, items__0__quantity=2.0),
         "wrong_type", "items[0].quantity"),
    _bad("fractional_quantity", "orders", dumps(ORDER, items__0__quantity=1.5),
         "wrong_type", "items[0].quantity"),
    _bad("bool_quantity", "carts", dumps(CART, items__0__quantity=True),
         "wrong_type", "items[0].quantity"),
    _bad("zero_quantity", "carts", dumps(CART, items__0__quantity=0),
         "out_of_range", "items[0].quantity"),
    _bad("negative_quantity", "orders", dumps(ORDER, items__0__quantity=-2),
         "out_of_range", "items[0].quantity"),
    _bad("absurd_quantity", "carts", dumps(CART, items__0__quantity=10**12),
         "out_of_range", "items[0].quantity"),
    _bad("negative_price", "carts", dumps(CART, items__0__unit_price=-1.5),
         "out_of_range", "items[0].unit_price"),
    _bad("string_price", "orders", dumps(ORDER, items__0__unit_price="12.5"),
         "wrong_type", "items[0].unit_price"),
    _bad("bool_price", "carts", dumps(CART, items__0__unit_price=False),
         "wrong_type", "items[0].unit_price"),
    _bad("absurd_price", "carts", dumps(CART, items__0__unit_price=1e300),
         "out_of_range", "items[0].unit_price"),
    _bad("numeric_category", "carts", dumps(CART, items__0__category=7),
         "wrong_type", "items[0].category"),
    _bad("empty_line_offer_id", "orders", dumps(ORDER, items__0__offer_id=""),
         "invalid_value", "items[0].offer_id"),
    # Orders.
    _bad("negative_shipping_fee", "orders", dumps(ORDER, shipping_fee=-4.99),
         "out_of_range", "shipping_fee"),
    _bad("null_shipping_fee", "orders", dumps(ORDER, shipping_fee=None),
         "wrong_type", "shipping_fee"),
    _bad("string_shipping_fee", "orders", dumps(ORDER, shipping_fee="free"),
         "wrong_type", "shipping_fee"),
    # Clicks.
    _bad("unknown_click_action", "clicks", dumps(CLICK, action="purchase"),
         "invalid_value", "action"),
    _bad("uppercase_click_action", "clicks", dumps(CLICK, action="VIEW"),
         "invalid_value", "action"),
    _bad("missing_click_action", "clicks", dumps(CLICK, action=DROP), "missing_field", "action"),
    _bad("offer_impression_without_offer_id", "clicks",
         dumps(CLICK, action="offer_impression", offer_id=DROP),
         "missing_field", "offer_id"),
    _bad("offer_click_with_null_offer_id", "clicks",
         dumps(CLICK, action="offer_click", offer_id=None),
         "missing_field", "offer_id"),
    _bad("numeric_offer_id", "clicks", dumps(CLICK, action="offer_dismiss", offer_id=77),
         "wrong_type", "offer_id"),
    # Catalog.
    _bad("margin_over_one", "catalog", dumps(CATALOG, margin=1.5), "out_of_range", "margin"),
    _bad("negative_margin", "catalog", dumps(CATALOG, margin=-0.1), "out_of_range", "margin"),
    _bad("string_in_stock", "catalog", dumps(CATALOG, in_stock="true"), "wrong_type", "in_stock"),
    _bad("integer_in_stock", "catalog", dumps(CATALOG, in_stock=1), "wrong_type", "in_stock"),
    _bad("catalog_missing_category", "catalog", dumps(CATALOG, category=DROP),
         "missing_field", "category"),
    _bad("catalog_negative_price", "catalog", dumps(CATALOG, unit_price=-12.5),
         "out_of_range", "unit_price"),
    # Privacy.
    _bad("privacy_without_shopper_id", "privacy", dumps(PRIVACY, shopper_id=DROP),
         "missing_field", "shopper_id"),
    _bad("privacy_null_shopper_id", "privacy", dumps(PRIVACY, shopper_id=None),
         "wrong_type", "shopper_id"),
    _bad("unknown_privacy_action", "privacy", dumps(PRIVACY, action="delete"),
         "invalid_value", "action"),
]
# fmt: on

"""The wire contract (docs/contract.md, version 1.2) as strict pydantic models."""

from __future__ import annotations

import base64
import codecs
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.decode import InvalidEvent, Reason
from schemas.eventtime import MAX_TS_MS, MIN_TS_MS

MAX_ID_CHARS: Final = 200
MAX_TEXT_CHARS: Final = 1000
MAX_ITEMS: Final = 10_000
# Bounds that keep totals (price * quantity summed over MAX_ITEMS lines) far from float
# overflow and within int64, while being far above any real cart.
MAX_QUANTITY: Final = 1_000_000
MAX_MONEY: Final = 1e12
MAX_ORIGINAL_BYTES: Final = 64 * 1024
MAX_ERROR_CHARS: Final = 1000

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="Unique per event; redelivery of the same event_id is counted once.",
    ),
]
Timestamp = Annotated[int, Field(ge=0, lt=MAX_TS_MS, description="Epoch milliseconds (UTC).")]
# Inbound event times (schemas/eventtime.py): the range rule is in the schema; the skew rule
# depends on the receiving worker's clock, so the schema can only describe it.
EventTime = Annotated[
    int,
    Field(
        ge=MIN_TS_MS,
        lt=MAX_TS_MS,
        description="When the event happened at the source: epoch milliseconds (UTC), from"
        " 2000-01-01 (epoch seconds are rejected as ts_implausible) and at most"
        " BASKETLIFT_MAX_FUTURE_SKEW_SECONDS (default 300) ahead of the processor's clock"
        " (later events are rejected as ts_in_future).",
    ),
]
Money = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_MONEY,
        allow_inf_nan=False,
        description="Amount in the currency's major unit (12.99).",
    ),
]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. GBP.")]
Label = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]

ClickAction = Literal[
    "view", "click", "add_to_cart", "offer_impression", "offer_click", "offer_dismiss"
]
OFFER_ACTIONS: Final[frozenset[str]] = frozenset(
    {"offer_impression", "offer_click", "offer_dismiss"}
)
PrivacyAction = Literal["grant", "revoke", "erase"]
Placement = Literal["cart", "confirmation"]
Cohort = Literal["treatment", "holdout"]
OfferKind = Literal["cross_sell", "bundle", "post_purchase"]
NudgeKind = Literal["free_shipping", "loyalty_tier"]
Encoding = Literal["utf-8", "base64"]

# JSON Schema renderings of the model validators, so that schema-only consumers see them.
_ROUTING_KEY_SCHEMA: Final[dict[str, Any]] = {
    "anyOf": [
        {"required": ["shopper_id"], "properties": {"shopper_id": {"type": "string"}}},
        {"required": ["session_id"], "properties": {"session_id": {"type": "string"}}},
    ]
}
_OFFER_ID_SCHEMA: Final[dict[str, Any]] = {
    "if": {
        "required": ["action"],
        "properties": {"action": {"enum": sorted(OFFER_ACTIONS)}},
    },
    "then": {"required": ["offer_id"], "properties": {"offer_id": {"type": "string"}}},
}
_HOLDOUT_SCHEMA: Final[dict[str, Any]] = {
    "if": {"required": ["cohort"], "properties": {"cohort": {"const": "holdout"}}},
    "then": {
        "properties": {"offers": {"maxItems": 0}, "nudges": {"maxItems": 0}},
    },
}


def _check_routing_key(shopper_id: str | None, session_id: str | None) -> None:
    if shopper_id is None and session_id is None:
        raise PydanticCustomError(
            "missing_routing_key",
            "shopper_id or session_id is required (it is the routing key);"
            " both are missing or null",
        )


def _routing_key(shopper_id: str | None, session_id: str | None) -> str:
    if shopper_id is not None:
        return shopper_id
    if session_id is not None:
        return session_id
    raise AssertionError("unreachable: the routing key is checked on validation")


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Outbound(_Message):
    # Fields with defaults are still always written, so the schema lists them as required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class _InboundEvent(_Message):
    event_id: EventId
    ts: EventTime


class _ShopperEvent(_InboundEvent):
    shopper_id: Id | None = Field(default=None, description="Null for anonymous visitors.")
    session_id: Id | None = None

    model_config = ConfigDict(json_schema_extra=_ROUTING_KEY_SCHEMA)

    @model_validator(mode="after")
    def _require_routing_key(self) -> Self:
        _check_routing_key(self.shopper_id, self.session_id)
        return self

    @property
    def routing_key(self) -> str:
        """The partitioning key: shopper_id when known, else session_id."""
        return _routing_key(self.shopper_id, self.session_id)


class _LineItem(_Message):
    product_id: Id
    quantity: Quantity
    unit_price: Money
    category: Label | None = None


class CartItem(_LineItem):
    """One line of a live cart."""


class OrderItem(_LineItem):
    """One line of a completed order."""

    offer_id: Id | None = Field(
        default=None, description="The offer this line was bought through, if any."
    )


class CartEvent(_ShopperEvent):
    """The whole live cart after a change (topic shop.carts)."""

    cart_id: Id
    currency: Currency
    items: Annotated[list[CartItem], Field(max_length=MAX_ITEMS)]


class OrderEvent(_ShopperEvent):
    """A completed order (topic shop.orders)."""

    order_id: Id
    currency: Currency
    shipping_fee: Money = 0.0
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_ITEMS)]


class ClickEvent(_ShopperEvent):
    """A behavioural event (topic shop.clicks); offer_* actions carry offer_id."""

    action: ClickAction
    product_id: Id | None = None
    category: Label | None = None
    offer_id: Id | None = None

    model_config = ConfigDict(json_schema_extra={**_ROUTING_KEY_SCHEMA, **_OFFER_ID_SCHEMA})

    @model_validator(mode="after")
    def _require_offer_id(self) -> Self:
        if self.offer_id is None and self.action in OFFER_ACTIONS:
            raise PydanticCustomError(
                "missing_offer_id",
                "offer_id is required when action is {action}",
                {"action": self.action},
            )
        return self


class CatalogEvent(_InboundEvent):
    """Product facts (topic shop.catalog, compacted, keyed by product_id)."""

    product_id: Id
    title: Text | None = None
    category: Label
    unit_price: Money
    in_stock: bool
    margin: Share | None = Field(default=None, description="Share of price, 0..1.")

    @property
    def routing_key(self) -> str:
        """The partitioning key: product_id."""
        return self.product_id


@dataclass(frozen=True, slots=True)
class CatalogTombstone:
    """A null value on compacted shop.catalog: the product under this key was removed."""

    product_id: str

    @property
    def routing_key(self) -> str:
        """The partitioning key: product_id."""
        return self.product_id


class PrivacyEvent(_InboundEvent):
    """Consent and erasure (topic shop.privacy)."""

    shopper_id: Id
    action: PrivacyAction

    @property
    def routing_key(self) -> str:
        """The partitioning key: shopper_id."""
        return self.shopper_id


class Offer(_Outbound):
    """One recommended product in an offer decision."""

    offer_id: Id
    kind: OfferKind
    product_id: Id
    unit_price: Money
    discount_pct: Share
    offer_price: Money
    p_accept: Share
    expected_revenue: Money
    reason: Text


class Nudge(_Outbound):
    """A threshold nudge, such as the gap to free shipping."""

    kind: NudgeKind
    threshold: Money
    gap: Money
    message: Text


class OfferDecision(_Outbound):
    """One decision per triggering cart or order event (topic shop.offers)."""

    decision_id: Id
    ts: Timestamp
    trigger_event_id: EventId
    shopper_id: Id | None = None
    session_id: Id | None = None
    cart_id: Id | None = None
    order_id: Id | None = None
    placement: Placement
    cohort: Cohort
    model_version: Label
    offers: Annotated[list[Offer], Field(max_length=MAX_ITEMS)] = Field(
        default_factory=list, description="Best first."
    )
    nudges: Annotated[list[Nudge], Field(max_length=MAX_ITEMS)] = Field(default_factory=list)

    model_config = ConfigDict(json_schema_extra={**_ROUTING_KEY_SCHEMA, **_HOLDOUT_SCHEMA})

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_routing_key(self.shopper_id, self.session_id)
        if self.cohort == "holdout" and (self.offers or self.nudges):
            raise PydanticCustomError(
                "holdout_not_empty", "a holdout decision must have empty offers and nudges"
            )
        return self

    @property
    def routing_key(self) -> str:
        """The message key: shopper_id when known, else session_id, like the trigger."""
        return _routing_key(self.shopper_id, self.session_id)


class DeadLetter(_Outbound):
    """A rejected input message (topic shop.deadletter)."""

    source_topic: str
    partition: int
    offset: int
    error: Annotated[str, Field(max_length=MAX_ERROR_CHARS)] = Field(
        description="Human-readable reason for the rejection."
    )
    reason: Reason = Field(description="Short machine label from a bounded set.")
    original: str = Field(
        description="The original value: UTF-8 text, or base64 when not valid UTF-8."
    )
    original_encoding: Encoding
    original_size: int = Field(ge=0, description="Size of the original value in bytes.")
    original_truncated: bool = Field(
        description="True when original holds only the first 64 KiB of the value."
    )
    key: str | None = Field(
        default=None, description="The original key, encoded like original; null if none."
    )
    key_encoding: Encoding = "utf-8"
    key_truncated: bool = False
    ts: Timestamp = Field(description="When the message was rejected, epoch milliseconds.")
    processor: str = Field(description="Which processor rejected it (its app id).")

    def original_bytes(self) -> bytes:
        """The stored original (possibly truncated) as bytes."""
        return _decode_stored(self.original, self.original_encoding)

    def key_bytes(self) -> bytes | None:
        """The stored key (possibly truncated) as bytes, or None if there was none."""
        if self.key is None:
            return None
        return _decode_stored(self.key, self.key_encoding)


def make_dead_letter(
    raw: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    error: InvalidEvent | str,
    now_ms: int,
    *,
    processor: str = "basketlift",
) -> DeadLetter:
    """Build the dead letter for a rejected message; a plain string error means unprocessable."""
    if isinstance(error, InvalidEvent):
        reason: Reason = error.reason
        text = error.detail
    else:
        reason = "unprocessable"
        text = error
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    original, original_encoding, original_truncated = _store(raw or b"")
    stored_key: str | None = None
    key_encoding: Encoding = "utf-8"
    key_truncated = False
    if key is not None:
        stored_key, key_encoding, key_truncated = _store(key)
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        error=text,
        reason=reason,
        original=original,
        original_encoding=original_encoding,
        original_size=len(raw) if raw is not None else 0,
        original_truncated=original_truncated,
        key=stored_key,
        key_encoding=key_encoding,
        key_truncated=key_truncated,
        ts=now_ms,
        processor=processor,
    )


def _store(data: bytes) -> tuple[str, Encoding, bool]:
    """Text of at most MAX_ORIGINAL_BYTES bytes: UTF-8 when valid, else base64."""
    truncated = len(data) > MAX_ORIGINAL_BYTES
    head = data[:MAX_ORIGINAL_BYTES] if truncated else data
    try:
        # final=False: a character cut in two by the truncation is dropped, not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=not truncated)
    except UnicodeDecodeError:
        return base64.b64encode(head).decode("ascii"), "base64", truncated
    return text, "utf-8", truncated


def _decode_stored(text: str, encoding: Encoding) -> bytes:
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    return text.encode("utf-8")


INBOUND_MODELS: Final[dict[str, type[BaseModel]]] = {
    "carts": CartEvent,
    "orders": OrderEvent,
    "clicks": ClickEvent,
    "catalog": CatalogEvent,
    "privacy": PrivacyEvent,
}

ALL_MODELS: Final[dict[str, type[BaseModel]]] = {
    **INBOUND_MODELS,
    "offers": OfferDecision,
    "deadletter": DeadLetter,
}

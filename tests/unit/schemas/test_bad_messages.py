"""Every kind of invalid inbound message is rejected with the right reason and detail."""

from __future__ import annotations

import pickle

import orjson
import pytest

import schemas
from schemas import (
    INBOUND_MODELS,
    MAX_EVENT_BYTES,
    REASONS,
    CartEvent,
    CatalogEvent,
    ClickEvent,
    InvalidEvent,
    OrderEvent,
    check_not_in_future,
    decode_event,
)
from schemas.decode import DECODER_REASONS
from schemas.eventtime import MAX_TS_MS, MIN_TS_MS
from tests.unit.schemas.bad_messages import (
    BAD_MESSAGES,
    CART,
    CATALOG,
    CLICK,
    DROP,
    ORDER,
    BadMessage,
    dumps,
    sized_cart,
)


def test_catalogue_is_broad_and_consistent() -> None:
    names = [message.name for message in BAD_MESSAGES]
    assert len(set(names)) == len(names) >= 30
    for message in BAD_MESSAGES:
        assert INBOUND_MODELS[message.topic] is getattr(schemas, message.model)
        assert message.reason in REASONS
    # Every decoder label is exercised (the others depend on more than the message).
    assert {m.reason for m in BAD_MESSAGES} == DECODER_REASONS
    assert set(REASONS) - {"ts_in_future", "unprocessable"} == DECODER_REASONS


@pytest.mark.parametrize("message", BAD_MESSAGES, ids=[m.name for m in BAD_MESSAGES])
def test_bad_message_is_rejected(message: BadMessage) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(INBOUND_MODELS[message.topic], message.raw)
    error = caught.value
    assert error.reason == message.reason, error.detail
    assert error.detail.strip()
    assert len(error.detail) <= 500
    if message.field is not None:
        assert message.field in error.detail
    assert str(error).startswith(f"{message.reason}: ")


def test_invalid_event_pickles() -> None:
    error = InvalidEvent("wrong_type", 'ts: Input should be a valid integer (got "1")')
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.detail, str(copy)) == (error.reason, error.detail, str(error))


def test_detail_names_the_path_and_value() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(CartEvent, dumps(CART, items__0__unit_price=-1.5))
    assert caught.value.detail == (
        "items[0].unit_price: Input should be greater than or equal to 0 (got -1.5)"
    )


def test_detail_summarises_many_errors_briefly() -> None:
    items = [{"product_id": "", "quantity": "x", "unit_price": -1}] * 50
    with pytest.raises(InvalidEvent) as caught:
        decode_event(CartEvent, dumps(CART, items=items))
    assert caught.value.reason == "invalid_value"
    assert "items[0].product_id" in caught.value.detail
    assert "more error(s)" in caught.value.detail
    assert len(caught.value.detail) <= 500


def test_unknown_fields_are_ignored() -> None:
    raw = dumps(
        CART,
        coupon={"code": "X", "nested": [1, 2.5, None]},
        items__0__colour="red",
    )
    event = decode_event(CartEvent, raw)
    assert event.items[0].product_id == "p-1"
    assert "coupon" not in event.model_dump()


def test_integer_money_is_accepted() -> None:
    order = decode_event(OrderEvent, dumps(ORDER, shipping_fee=5, items__0__unit_price=12))
    assert order.shipping_fee == 5.0 and isinstance(order.shipping_fee, float)
    assert order.items[0].unit_price == 12.0 and isinstance(order.items[0].unit_price, float)
    product = decode_event(CatalogEvent, dumps(CATALOG, unit_price=30, margin=1))
    assert product.unit_price == 30.0 and product.margin == 1.0


def test_optional_fields_may_be_absent_or_null() -> None:
    order = decode_event(OrderEvent, dumps(ORDER, shipping_fee=DROP, items__0__offer_id=None))
    assert order.shipping_fee == 0.0 and order.items[0].offer_id is None
    order = decode_event(OrderEvent, dumps(ORDER, items__0__offer_id=DROP, items__0__category=None))
    assert order.items[0].offer_id is None and order.items[0].category is None
    product = decode_event(CatalogEvent, dumps(CATALOG, title=DROP, margin=None))
    assert product.title is None and product.margin is None
    click = decode_event(ClickEvent, dumps(CLICK, product_id=DROP, category=DROP, offer_id=DROP))
    assert click.product_id is None


def test_empty_cart_is_valid() -> None:
    assert decode_event(CartEvent, dumps(CART, items=[])).items == []


def test_routing_keys() -> None:
    assert decode_event(CartEvent, dumps(CART)).routing_key == "s-42"
    anonymous = decode_event(CartEvent, dumps(CART, shopper_id=None))
    assert anonymous.routing_key == "w-7"
    no_session = decode_event(ClickEvent, dumps(CLICK, session_id=DROP))
    assert no_session.routing_key == "s-42"
    assert decode_event(CatalogEvent, dumps(CATALOG)).routing_key == "p-1"


@pytest.mark.parametrize("action", ["offer_impression", "offer_click", "offer_dismiss"])
def test_offer_actions_with_offer_id_are_valid(action: str) -> None:
    click = decode_event(ClickEvent, dumps(CLICK, action=action, offer_id="d-77:1"))
    assert click.offer_id == "d-77:1"


def test_non_ascii_utf8_is_accepted() -> None:
    raw = dumps(CART, items__0__category="küche ☕")
    assert not raw.isascii()
    assert decode_event(CartEvent, raw).items[0].category == "küche ☕"


def test_size_limit_boundary_is_exactly_one_mebibyte() -> None:
    at_limit = sized_cart(MAX_EVENT_BYTES)
    assert len(at_limit) == MAX_EVENT_BYTES
    assert decode_event(CartEvent, at_limit).cart_id == "k-3"
    over = sized_cart(MAX_EVENT_BYTES + 1)
    with pytest.raises(InvalidEvent) as caught:
        decode_event(CartEvent, over)
    assert caught.value.reason == "too_large"
    assert str(MAX_EVENT_BYTES + 1) in caught.value.detail


def test_models_are_frozen() -> None:
    event = decode_event(CartEvent, dumps(CART))
    with pytest.raises(ValueError):
        event.cart_id = "other"  # type: ignore[misc]


def test_encode_round_trip() -> None:
    event = decode_event(OrderEvent, dumps(ORDER))
    raw = schemas.encode(event)
    assert isinstance(raw, bytes)
    assert orjson.loads(raw) == ORDER
    assert decode_event(OrderEvent, raw) == event


def test_non_utf8_is_rejected_even_if_the_parser_accepts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Today pydantic rejects invalid UTF-8 itself; simulate a parser that does not.
    accepted = decode_event(CartEvent, dumps(CART))
    monkeypatch.setattr(CartEvent, "model_validate_json", lambda *_args, **_kw: accepted)
    assert decode_event(CartEvent, b"{}") is accepted
    with pytest.raises(InvalidEvent) as caught:
        decode_event(CartEvent, b'{"note": "caf\xe9"}')
    assert caught.value.reason == "not_utf8"


def test_epoch_seconds_are_rejected_as_implausible_with_a_hint() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(OrderEvent, dumps(ORDER, ts=1763740900))
    assert caught.value.reason == "ts_implausible"
    assert caught.value.detail == (
        "ts: must be epoch milliseconds on or after 2000-01-01T00:00:00.000Z (946684800000);"
        " got 1763740900 (epoch seconds instead of milliseconds?)"
    )


def test_plausible_ts_range_is_exact() -> None:
    assert decode_event(OrderEvent, dumps(ORDER, ts=MIN_TS_MS)).ts == MIN_TS_MS
    assert decode_event(OrderEvent, dumps(ORDER, ts=MAX_TS_MS - 1)).ts == MAX_TS_MS - 1
    for ts in (MIN_TS_MS - 1, MAX_TS_MS):
        with pytest.raises(InvalidEvent) as caught:
            decode_event(OrderEvent, dumps(ORDER, ts=ts))
        assert caught.value.reason == "ts_implausible", ts


def test_check_not_in_future_allows_exactly_the_skew() -> None:
    now = 1_763_740_900_000
    check_not_in_future(now + 300_000, now_ms=now, max_future_skew_ms=300_000)
    with pytest.raises(InvalidEvent) as caught:
        check_not_in_future(now + 300_001, now_ms=now, max_future_skew_ms=300_000)
    assert caught.value.reason == "ts_in_future"
    assert caught.value.detail == (
        "ts: 1763741200001 (2025-11-21T16:06:40.001Z) is 300.001 s ahead of the processor's"
        " clock (2025-11-21T16:01:40.000Z); at most 300 s ahead is accepted"
    )

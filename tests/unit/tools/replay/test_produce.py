"""streams/tools/replay/produce.py plan_line and streams/kafka/producer.py topic/key inference."""

from __future__ import annotations

import json
from typing import Any, get_args

import orjson
import pytest

from schemas import ClickAction, PrivacyAction
from streams.kafka.producer import (
    CLICK_ACTIONS,
    PRIVACY_ACTIONS,
    event_key,
    infer_logical_topic,
)
from streams.settings import Settings
from streams.tools.replay.produce import plan_line, resolve_topic

LOGICAL = ("carts", "orders", "clicks", "catalog", "privacy")


@pytest.fixture
def settings(clean_env: pytest.MonkeyPatch) -> Settings:
    return Settings()


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# --- kafka_out --------------------------------------------------------------------------


@pytest.mark.parametrize("logical", LOGICAL)
def test_infer_logical_topic_of_contract_examples(examples, logical: str) -> None:
    assert infer_logical_topic(examples[logical]) == logical


@pytest.mark.parametrize("action", get_args(ClickAction))
def test_every_click_action_is_a_click(examples, action: str) -> None:
    click = examples["clicks"]
    click["action"] = action
    assert infer_logical_topic(click) == "clicks"


@pytest.mark.parametrize("action", get_args(PrivacyAction))
def test_every_privacy_action_is_privacy(examples, action: str) -> None:
    privacy = examples["privacy"]
    privacy["action"] = action
    assert infer_logical_topic(privacy) == "privacy"


def test_action_sets_match_the_contract() -> None:
    assert frozenset(get_args(ClickAction)) == CLICK_ACTIONS
    assert frozenset(get_args(PrivacyAction)) == PRIVACY_ACTIONS


def test_infer_logical_topic_edge_cases(examples) -> None:
    cart = examples["carts"]
    del cart["cart_id"]
    assert infer_logical_topic(cart) == "carts"  # items alone mean a cart
    order = examples["orders"]
    del order["items"]
    assert infer_logical_topic(order) is None  # an order without items is not recognisable
    assert infer_logical_topic({}) is None
    assert infer_logical_topic({"action": "teleport", "shopper_id": "s"}) is None


def test_event_key() -> None:
    assert event_key("carts", {"shopper_id": "s-1", "session_id": "w-1"}) == "s-1"
    assert event_key("orders", {"shopper_id": None, "session_id": "w-1"}) == "w-1"
    assert event_key("clicks", {"shopper_id": "", "session_id": "w-1"}) == "w-1"
    assert event_key("privacy", {"shopper_id": "s-9"}) == "s-9"
    assert event_key("clicks", {}) is None
    assert event_key("carts", {"shopper_id": 42}) is None
    assert event_key("catalog", {"product_id": "p-1", "shopper_id": "s-1"}) == "p-1"
    assert event_key("catalog", {"shopper_id": "s-1"}) is None


# --- plan_line --------------------------------------------------------------------------


@pytest.mark.parametrize("logical", LOGICAL)
def test_bare_event_topic_is_inferred(settings: Settings, examples, logical: str) -> None:
    raw = line(examples[logical])
    out = plan_line(settings, raw, None, True)
    assert out.topic == settings.inbound_topics[logical]
    assert out.value == raw  # a bare line is sent byte for byte


def test_bare_event_topic_follows_settings(clean_env, examples) -> None:
    settings = Settings(topic_orders="eu.orders")
    assert plan_line(settings, line(examples["orders"]), None, True).topic == "eu.orders"


@pytest.mark.parametrize(
    ("logical", "key"),
    [
        ("carts", b"s-42"),
        ("orders", b"s-42"),
        ("clicks", b"s-42"),
        ("privacy", b"s-42"),
        ("catalog", b"p-1"),
    ],
)
def test_default_key(settings: Settings, examples, logical: str, key: bytes) -> None:
    event = examples[logical]
    assert plan_line(settings, line(event), None, True).key == key
    if logical == "catalog":
        assert key.decode() == event["product_id"]
    else:
        assert key.decode() == event["shopper_id"]


def test_default_key_falls_back_to_session(settings: Settings, examples) -> None:
    cart = examples["carts"]
    cart["shopper_id"] = None
    out = plan_line(settings, line(cart), None, True)
    assert out.key == cart["session_id"].encode()


def test_explicit_topic_overrides_inference(settings: Settings, examples) -> None:
    click = examples["clicks"]
    assert plan_line(settings, line(click), "clicks", True).topic == "shop.clicks"
    assert plan_line(settings, line(click), "shop.clicks", True).topic == "shop.clicks"
    # The explicit topic is also the schema the line is validated against.
    with pytest.raises(ValueError, match=r"invalid carts event \(missing_field\)"):
        plan_line(settings, line(click), "carts", True)


@pytest.mark.parametrize("topic_name", ["carts", "shop.carts"])
def test_envelope_with_logical_or_full_topic(settings: Settings, examples, topic_name) -> None:
    cart = examples["carts"]
    out = plan_line(settings, line({"topic": topic_name, "event": cart}), None, True)
    assert out.topic == "shop.carts"
    assert orjson.loads(out.value) == cart
    assert out.key == b"s-42"


def test_envelope_topic_wins_over_inference_and_cli_topic(settings: Settings, examples) -> None:
    catalog = examples["catalog"]
    envelope = line({"topic": "catalog", "event": catalog})
    assert plan_line(settings, envelope, "orders", True).topic == "shop.catalog"


def test_envelope_explicit_key_wins(settings: Settings, examples) -> None:
    cart = examples["carts"]
    envelope = line({"topic": "carts", "key": "custom-key", "event": cart})
    out = plan_line(settings, envelope, None, True)
    assert out.key == b"custom-key"
    assert orjson.loads(out.value) == cart


def test_envelope_catalog_key_is_product(settings: Settings, examples) -> None:
    catalog = examples["catalog"]
    out = plan_line(settings, line({"topic": "shop.catalog", "event": catalog}), None, True)
    assert out.key == catalog["product_id"].encode()


def test_invalid_event_is_refused_with_reason(settings: Settings, examples) -> None:
    cart = examples["carts"]
    cart["items"][0]["quantity"] = 0
    with pytest.raises(ValueError) as info:
        plan_line(settings, line(cart), None, True)
    message = str(info.value)
    assert message.startswith("invalid carts event (out_of_range):")
    assert "items[0].quantity" in message


def test_invalid_envelope_event_is_refused(settings: Settings, examples) -> None:
    order = examples["orders"]
    order["items"] = []
    with pytest.raises(ValueError, match=r"invalid orders event \(invalid_value\)"):
        plan_line(settings, line({"topic": "orders", "event": order}), None, True)


def test_invalid_event_sent_as_is_without_validation(settings: Settings, examples) -> None:
    cart = examples["carts"]
    cart["items"][0]["quantity"] = "two"
    raw = line(cart)
    out = plan_line(settings, raw, "carts", False)
    assert out.topic == "shop.carts"
    assert out.value == raw
    assert out.key == b"s-42"


@pytest.mark.parametrize("raw", [b"not json at all", b'{"event_id": ', b"\xff\xfe"])
def test_non_json_sent_as_is_without_validation(settings: Settings, raw: bytes) -> None:
    out = plan_line(settings, raw, "orders", False)
    assert (out.topic, out.key, out.value) == ("shop.orders", None, raw)


def test_non_object_sent_as_is_without_validation(settings: Settings) -> None:
    out = plan_line(settings, b"[1, 2, 3]", "clicks", False)
    assert (out.topic, out.key, out.value) == ("shop.clicks", None, b"[1, 2, 3]")


@pytest.mark.parametrize(
    ("raw", "topic", "validate"),
    [
        (b"not json", None, True),
        (b"not json", "carts", True),
        (b"not json", None, False),  # without a topic nothing can be inferred
        (b'{"event_id": "x"', "carts", True),
    ],
)
def test_non_json_line_refused(settings: Settings, raw, topic, validate) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        plan_line(settings, raw, topic, validate)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"a string"', b"42", b"null"])
def test_non_object_line_refused(settings: Settings, raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        plan_line(settings, raw, None, True)


def test_unrecognisable_event_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="cannot tell the topic"):
        plan_line(settings, line({"event_id": "e-1", "ts": 1}), None, True)


@pytest.mark.parametrize("name", ["basket", "shop.offers", "deadletter", "CARTS"])
def test_unknown_topic_name(settings: Settings, examples, name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown topic {name!r}") as info:
        plan_line(settings, line(examples["carts"]), name, True)
    assert "carts, orders, clicks, catalog, privacy" in str(info.value)
    with pytest.raises(ValueError, match="unknown topic"):
        plan_line(settings, line({"topic": name, "event": examples["carts"]}), None, True)


def test_resolve_topic(settings: Settings) -> None:
    for logical, name in settings.inbound_topics.items():
        assert resolve_topic(settings, logical) == name
        assert resolve_topic(settings, name) == name
    with pytest.raises(ValueError):
        resolve_topic(settings, "offers")


def test_envelope_non_string_key_is_refused_or_stringified(settings: Settings, examples) -> None:
    envelope = line({"topic": "carts", "key": 42, "event": examples["carts"]})
    try:
        out = plan_line(settings, envelope, None, True)
    except ValueError as error:
        assert "key" in str(error)
    else:
        assert out.key == b"42"

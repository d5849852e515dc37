"""streams/ingest/boundary.py: sort_batch splits raw records into accepted, misrouted, rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import (
    CartEvent,
    CatalogEvent,
    CatalogTombstone,
    ClickEvent,
    InvalidEvent,
    OrderEvent,
    PrivacyEvent,
)
from streams.ingest.boundary import RawRecord, routing_key, sort_batch
from streams.ingest.routing import partition_for_key

PARTITIONS = 8
MODELS = {
    "carts": CartEvent,
    "orders": OrderEvent,
    "clicks": ClickEvent,
    "catalog": CatalogEvent,
    "privacy": PrivacyEvent,
}


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def record(
    value: bytes | None, *, partition: int = 0, offset: int = 0, key: bytes | None = None
) -> RawRecord:
    return RawRecord("shop.test", partition, offset, key, value)


def home(key: str) -> int:
    return partition_for_key(key.encode(), PARTITIONS)


def elsewhere(key: str) -> int:
    return (home(key) + 1) % PARTITIONS


@pytest.mark.parametrize("logical", list(MODELS))
def test_contract_examples_are_accepted(examples, logical: str) -> None:
    event = examples[logical]
    rec = record(encode(event), partition=3, offset=11)
    batch = sort_batch(MODELS[logical], [rec], partitions=PARTITIONS, check_routing=False)
    assert batch.rejected == []
    assert batch.misrouted == []
    assert len(batch.accepted) == 1
    got_record, model = batch.accepted[0]
    assert got_record is rec
    assert isinstance(model, MODELS[logical])
    assert model.model_dump(mode="json", exclude_unset=True) == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"{", "invalid_json"),
        (b"[]", "not_an_object"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"event_id": "c-1"}', "missing_field"),
    ],
)
def test_invalid_records_are_rejected_with_reason(value: bytes | None, reason: str) -> None:
    rec = record(value, key=b"s-1")
    batch = sort_batch(CartEvent, [rec], partitions=PARTITIONS, check_routing=True)
    assert batch.accepted == []
    assert batch.misrouted == []
    assert len(batch.rejected) == 1
    got_record, error = batch.rejected[0]
    assert got_record is rec
    assert isinstance(error, InvalidEvent)
    assert error.reason == reason
    assert error.detail


def test_schema_violations_are_rejected(examples) -> None:
    cart = examples["carts"]
    negative = json.loads(json.dumps(cart))
    cart["items"][0]["quantity"] = "2"
    negative["items"][0]["unit_price"] = -1
    batch = sort_batch(
        CartEvent,
        [record(encode(cart)), record(encode(negative), offset=1)],
        partitions=PARTITIONS,
        check_routing=False,
    )
    assert [error.reason for _, error in batch.rejected] == ["wrong_type", "out_of_range"]
    assert batch.accepted == []


def test_routing_check_sets_aside_events_on_the_wrong_partition(examples) -> None:
    cart = examples["carts"]  # shopper s-42
    right = record(encode(cart), partition=home("s-42"), offset=1)
    wrong = record(encode(cart), partition=elsewhere("s-42"), offset=2)
    batch = sort_batch(CartEvent, [right, wrong], partitions=PARTITIONS, check_routing=True)
    assert [r for r, _ in batch.accepted] == [right]
    assert len(batch.misrouted) == 1
    got_record, event, key = batch.misrouted[0]
    assert got_record is wrong
    assert isinstance(event, CartEvent)
    assert key == b"s-42"
    assert batch.rejected == []


def test_routing_key_falls_back_to_session(examples) -> None:
    cart = examples["carts"]
    cart["shopper_id"] = None
    cart["session_id"] = "w-anon-9"
    wrong = record(encode(cart), partition=elsewhere("w-anon-9"))
    right = record(encode(cart), partition=home("w-anon-9"), offset=1)
    batch = sort_batch(CartEvent, [wrong, right], partitions=PARTITIONS, check_routing=True)
    assert [(r, k) for r, _, k in batch.misrouted] == [(wrong, b"w-anon-9")]
    assert [r for r, _ in batch.accepted] == [right]


def test_routing_ignores_the_message_key(examples) -> None:
    # A producer keyed by something else: what counts is the routing key in the event.
    cart = examples["carts"]
    rec = record(encode(cart), partition=home("s-42"), key=b"w-7")
    batch = sort_batch(CartEvent, [rec], partitions=PARTITIONS, check_routing=True)
    assert [r for r, _ in batch.accepted] == [rec]
    assert batch.misrouted == []


def test_routing_uses_the_partition_count(examples) -> None:
    cart = examples["carts"]
    partition = partition_for_key(b"s-42", 3)
    rec = record(encode(cart), partition=partition)
    assert sort_batch(CartEvent, [rec], partitions=3, check_routing=True).accepted
    other = record(encode(cart), partition=(partition + 1) % 3)
    assert sort_batch(CartEvent, [other], partitions=3, check_routing=True).misrouted


def test_without_routing_check_nothing_is_misrouted(examples) -> None:
    cart = examples["carts"]
    recs = [record(encode(cart), partition=p, offset=p) for p in range(PARTITIONS)]
    batch = sort_batch(CartEvent, recs, partitions=PARTITIONS, check_routing=False)
    assert batch.misrouted == []
    assert [r for r, _ in batch.accepted] == recs


def test_catalog_tombstone_is_accepted() -> None:
    rec = record(None, key=b"p-1", offset=4)
    batch = sort_batch(CatalogEvent, [rec], partitions=PARTITIONS, check_routing=False)
    assert batch.rejected == []
    assert batch.accepted == [(rec, CatalogTombstone("p-1"))]
    assert routing_key(batch.accepted[0][1]) == "p-1"


def test_catalog_tombstone_without_key_is_rejected() -> None:
    batch = sort_batch(CatalogEvent, [record(None)], partitions=PARTITIONS, check_routing=False)
    assert batch.accepted == []
    assert [error.reason for _, error in batch.rejected] == ["empty"]


def test_catalog_empty_bytes_are_not_a_tombstone() -> None:
    batch = sort_batch(
        CatalogEvent, [record(b"", key=b"p-1")], partitions=PARTITIONS, check_routing=False
    )
    assert [error.reason for _, error in batch.rejected] == ["empty"]


@pytest.mark.parametrize("model", [CartEvent, OrderEvent, ClickEvent, PrivacyEvent])
def test_tombstone_on_other_topics_is_rejected(model) -> None:
    rec = record(None, key=b"s-42")
    batch = sort_batch(model, [rec], partitions=PARTITIONS, check_routing=True)
    assert batch.accepted == []
    assert batch.misrouted == []
    assert [(r, e.reason) for r, e in batch.rejected] == [(rec, "empty")]


def test_order_is_preserved_within_each_list(examples) -> None:
    def cart(n: int, shopper: str) -> bytes:
        event = json.loads(json.dumps(examples["carts"]))
        event["event_id"] = f"c-{n}"
        event["shopper_id"] = shopper
        return encode(event)

    shoppers = [f"s-{n}" for n in range(12)]
    records: list[RawRecord] = []
    expected: dict[str, list[int]] = {"accepted": [], "misrouted": [], "rejected": []}
    for n, shopper in enumerate(shoppers):
        kind = ("accepted", "misrouted", "rejected")[n % 3]
        if kind == "rejected":
            value = b'{"not": "a cart"}' if n % 2 else b"\x00"
            partition = 0
        else:
            value = cart(n, shopper)
            partition = home(shopper) if kind == "accepted" else elsewhere(shopper)
        records.append(record(value, partition=partition, offset=n))
        expected[kind].append(n)

    batch = sort_batch(CartEvent, records, partitions=PARTITIONS, check_routing=True)
    assert [r.offset for r, _ in batch.accepted] == expected["accepted"]
    assert [r.offset for r, _, _ in batch.misrouted] == expected["misrouted"]
    assert [r.offset for r, _ in batch.rejected] == expected["rejected"]
    assert [e.event_id for _, e in batch.accepted] == [f"c-{n}" for n in expected["accepted"]]
    assert [k for _, _, k in batch.misrouted] == [
        shoppers[n].encode() for n in expected["misrouted"]
    ]


def test_privacy_routes_by_shopper(examples) -> None:
    privacy = examples["privacy"]
    shopper = privacy["shopper_id"]
    rec = record(encode(privacy), partition=elsewhere(shopper))
    batch = sort_batch(PrivacyEvent, [rec], partitions=PARTITIONS, check_routing=True)
    assert [k for _, _, k in batch.misrouted] == [shopper.encode()]


def test_routing_key_of_models(examples) -> None:
    catalog = CatalogEvent.model_validate(examples["catalog"])
    assert routing_key(catalog) == examples["catalog"]["product_id"]
    click = examples["clicks"]
    click["shopper_id"] = None
    assert routing_key(ClickEvent.model_validate(click)) == click["session_id"]

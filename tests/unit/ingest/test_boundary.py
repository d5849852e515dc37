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
from streams.ingest.boundary import RawRecord, SortedBatch, routing_key, sort_batch
from streams.ingest.routing import partition_for_key

PARTITIONS = 8
# The worker's wall clock in these tests: after every contract example's ts.
NOW_MS = 1_763_741_000_000
SKEW_MS = 300_000
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


def sort(
    model: type[Any],
    records: list[RawRecord],
    *,
    partitions: int = PARTITIONS,
    check_routing: bool,
    now_ms: int = NOW_MS,
    max_future_skew_ms: int = SKEW_MS,
) -> SortedBatch:
    """sort_batch with the test's wall clock and skew unless given."""
    return sort_batch(
        model,
        records,
        partitions=partitions,
        check_routing=check_routing,
        now_ms=now_ms,
        max_future_skew_ms=max_future_skew_ms,
    )


def home(key: str) -> int:
    return partition_for_key(key.encode(), PARTITIONS)


def elsewhere(key: str) -> int:
    return (home(key) + 1) % PARTITIONS


@pytest.mark.parametrize("logical", list(MODELS))
def test_contract_examples_are_accepted(examples, logical: str) -> None:
    event = examples[logical]
    rec = record(encode(event), partition=3, offset=11)
    batch = sort(MODELS[logical], [rec], check_routing=False)
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
    batch = sort(CartEvent, [rec], check_routing=True)
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
    batch = sort(
        CartEvent, [record(encode(cart)), record(encode(negative), offset=1)], check_routing=False
    )
    assert [error.reason for _, error in batch.rejected] == ["wrong_type", "out_of_range"]
    assert batch.accepted == []


def test_routing_check_sets_aside_events_on_the_wrong_partition(examples) -> None:
    cart = examples["carts"]  # shopper s-42
    right = record(encode(cart), partition=home("s-42"), offset=1)
    wrong = record(encode(cart), partition=elsewhere("s-42"), offset=2)
    batch = sort(CartEvent, [right, wrong], check_routing=True)
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
    batch = sort(CartEvent, [wrong, right], check_routing=True)
    assert [(r, k) for r, _, k in batch.misrouted] == [(wrong, b"w-anon-9")]
    assert [r for r, _ in batch.accepted] == [right]


def test_routing_ignores_the_message_key(examples) -> None:
    # A producer keyed by something else: what counts is the routing key in the event.
    cart = examples["carts"]
    rec = record(encode(cart), partition=home("s-42"), key=b"w-7")
    batch = sort(CartEvent, [rec], check_routing=True)
    assert [r for r, _ in batch.accepted] == [rec]
    assert batch.misrouted == []


def test_routing_uses_the_partition_count(examples) -> None:
    cart = examples["carts"]
    partition = partition_for_key(b"s-42", 3)
    rec = record(encode(cart), partition=partition)
    assert sort(CartEvent, [rec], partitions=3, check_routing=True).accepted
    other = record(encode(cart), partition=(partition + 1) % 3)
    assert sort(CartEvent, [other], partitions=3, check_routing=True).misrouted


def test_without_routing_check_nothing_is_misrouted(examples) -> None:
    cart = examples["carts"]
    recs = [record(encode(cart), partition=p, offset=p) for p in range(PARTITIONS)]
    batch = sort(CartEvent, recs, check_routing=False)
    assert batch.misrouted == []
    assert [r for r, _ in batch.accepted] == recs


def test_catalog_tombstone_is_accepted() -> None:
    rec = record(None, key=b"p-1", offset=4)
    batch = sort(CatalogEvent, [rec], check_routing=False)
    assert batch.rejected == []
    assert batch.accepted == [(rec, CatalogTombstone("p-1"))]
    assert routing_key(batch.accepted[0][1]) == "p-1"


def test_catalog_tombstone_without_key_is_rejected() -> None:
    batch = sort(CatalogEvent, [record(None)], check_routing=False)
    assert batch.accepted == []
    assert [error.reason for _, error in batch.rejected] == ["empty"]


def test_catalog_empty_bytes_are_not_a_tombstone() -> None:
    batch = sort(CatalogEvent, [record(b"", key=b"p-1")], check_routing=False)
    assert [error.reason for _, error in batch.rejected] == ["empty"]


@pytest.mark.parametrize("model", [CartEvent, OrderEvent, ClickEvent, PrivacyEvent])
def test_tombstone_on_other_topics_is_rejected(model) -> None:
    rec = record(None, key=b"s-42")
    batch = sort(model, [rec], check_routing=True)
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

    batch = sort(CartEvent, records, check_routing=True)
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
    batch = sort(PrivacyEvent, [rec], check_routing=True)
    assert [k for _, _, k in batch.misrouted] == [shopper.encode()]


def test_routing_key_of_models(examples) -> None:
    catalog = CatalogEvent.model_validate(examples["catalog"])
    assert routing_key(catalog) == examples["catalog"]["product_id"]
    click = examples["clicks"]
    click["shopper_id"] = None
    assert routing_key(ClickEvent.model_validate(click)) == click["session_id"]


# --------------------------------------------------------------------------- event time

YEAR_2000_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z
DEC_2009_MS = 1_259_660_400_000  # 2009-12-01T09:40:00Z, when the real sample data starts


def sort_one(
    examples: dict[str, Any], logical: str, ts: int, **clock: int
) -> tuple[list[RawRecord], list[str]]:
    """(accepted records, rejection reasons) for one `logical` event stamped `ts`."""
    rec = record(encode(dict(examples[logical], ts=ts)))
    batch = sort(MODELS[logical], [rec], check_routing=False, **clock)
    return [r for r, _ in batch.accepted], [error.reason for _, error in batch.rejected]


@pytest.mark.parametrize("logical", list(MODELS))
def test_an_event_more_than_the_skew_ahead_of_the_wall_clock_is_in_the_future(
    examples, logical: str
) -> None:
    assert sort_one(examples, logical, NOW_MS + SKEW_MS + 1)[1] == ["ts_in_future"]
    assert sort_one(examples, logical, YEAR_2984_MS)[1] == ["ts_in_future"]
    accepted, reasons = sort_one(examples, logical, NOW_MS + SKEW_MS)  # exactly the skew
    assert (len(accepted), reasons) == (1, [])


@pytest.mark.parametrize("logical", list(MODELS))
def test_a_ts_before_2000_is_implausible_and_real_data_from_2009_is_accepted(
    examples, logical: str
) -> None:
    assert sort_one(examples, logical, YEAR_2000_MS - 1)[1] == ["ts_implausible"]
    # The usual cause: epoch seconds where milliseconds are due.
    assert sort_one(examples, logical, NOW_MS // 1000)[1] == ["ts_implausible"]
    for ts in (YEAR_2000_MS, DEC_2009_MS):
        accepted, reasons = sort_one(examples, logical, ts)
        assert (len(accepted), reasons) == (1, []), ts


def test_the_future_is_measured_from_the_wall_clock_given(examples) -> None:
    ts = NOW_MS + 10 * 60_000  # ten minutes ahead
    assert sort_one(examples, "orders", ts)[1] == ["ts_in_future"]
    assert sort_one(examples, "orders", ts, now_ms=NOW_MS + 5 * 60_000)[1] == []


def test_the_skew_is_configurable(examples) -> None:
    ts = NOW_MS + 10 * 60_000
    assert sort_one(examples, "orders", ts, max_future_skew_ms=600_000)[1] == []
    assert sort_one(examples, "orders", ts, max_future_skew_ms=599_999)[1] == ["ts_in_future"]
    assert sort_one(examples, "orders", NOW_MS, max_future_skew_ms=0)[1] == []
    assert sort_one(examples, "orders", NOW_MS + 1, max_future_skew_ms=0)[1] == ["ts_in_future"]


def test_a_future_event_is_rejected_with_a_one_line_detail_and_kept_out_of_the_batch(
    examples,
) -> None:
    normal = record(encode(examples["orders"]), partition=home("s-42"), offset=1)
    future = record(
        encode(dict(examples["orders"], event_id="o-2984", ts=YEAR_2984_MS)),
        partition=elsewhere("s-42"),
        offset=2,
    )
    batch = sort(OrderEvent, [normal, future], check_routing=True)
    assert [r for r, _ in batch.accepted] == [normal]
    assert batch.misrouted == []  # rejected before it is re-keyed
    [(got, error)] = batch.rejected
    assert got is future
    assert error.reason == "ts_in_future"
    assert error.detail.startswith(f"ts: {YEAR_2984_MS} (2984-01-01T00:00:00.000Z) is ")
    assert "at most 300 s ahead is accepted" in error.detail
    assert "\n" not in error.detail

"""streams/ingest/agents.py under Faust's test_context: validate, dead-letter, re-key, dispatch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import CartEvent, CatalogEvent, CatalogTombstone, DeadLetter, OrderEvent
from schemas.eventtime import wall_clock_ms
from streams.app import event_clock
from streams.ingest.agents import settings
from streams.topology import INGEST_AGENTS, PIPELINE, REKEY_AGENTS
from tests.agents.conftest import (
    EXAMPLES_PATH,
    Outbox,
    encode,
    home_partition,
    other_partition,
    sample,
    wait_until,
)

CARTS = settings.topic_carts
YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z


def cart_at(ts: int) -> bytes:
    """The contract's example cart stamped `ts`."""
    examples = json.loads(EXAMPLES_PATH.read_text())
    return encode({**examples["carts"], "ts": ts})


REKEY_CARTS = f"{settings.app_id}-rekey-carts"


@pytest.fixture(autouse=True)
def only_test_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the ingest agents with no domain steps but the ones a test registers."""
    for logical in list(PIPELINE):
        monkeypatch.setitem(PIPELINE, logical, ())


def event_ids(received: list[Any]) -> list[str]:
    return [event.event_id for _record, event in received]


def test_every_inbound_topic_has_an_agent() -> None:
    assert set(INGEST_AGENTS) == set(settings.inbound_topics)
    assert set(REKEY_AGENTS) == {"carts", "orders", "clicks", "privacy"}


async def test_valid_events_reach_the_handler_in_order(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("carts")
    events = [make_event("carts", event_id=f"c-{n}") for n in range(5)]
    partition = home_partition("s-42")
    before = sample("basketlift_events_total", topic=CARTS)
    batch_sum = sample("basketlift_batch_size_events_sum", topic=CARTS)

    async with INGEST_AGENTS["carts"].test_context() as agent:
        for event in events:
            await agent.put(value=encode(event), key=b"s-42", partition=partition)
        await wait_until(lambda: len(received) == 5, "5 handled carts")

    assert event_ids(received) == [f"c-{n}" for n in range(5)]
    for (record, model), event in zip(received, events, strict=True):
        assert isinstance(model, CartEvent)
        assert model.shopper_id == "s-42"
        assert model.items[0].product_id == event["items"][0]["product_id"]
        assert (record.topic, record.partition, record.key) == (CARTS, partition, b"s-42")
    assert [record.offset for record, _ in received] == sorted(r.offset for r, _ in received)
    assert sample("basketlift_events_total", topic=CARTS) - before == 5
    assert sample("basketlift_batch_size_events_sum", topic=CARTS) - batch_sum == 5
    assert outbox.deadletters == []
    assert outbox.rekeyed["carts"] == []


async def test_other_topics_dispatch_to_their_own_handlers(
    outbox: Outbox, register_handler, make_event
) -> None:
    orders = register_handler("orders")
    carts = register_handler("carts")
    order = make_event("orders", session_id="w-1", shopper_id=None)
    async with INGEST_AGENTS["orders"].test_context() as agent:
        await agent.put(value=encode(order), key=b"w-1", partition=home_partition("w-1"))
        await wait_until(lambda: len(orders) == 1, "the order handled")
    assert isinstance(orders[0][1], OrderEvent)
    assert orders[0][0].topic == settings.topic_orders
    assert carts == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00{", "not_utf8"),
        (b'["a", "list"]', "not_an_object"),
        (b'{"event_id": "c-1", "ts": 1763740800000}', "missing_field"),
        (cart_at(YEAR_2984_MS), "ts_in_future"),
        (cart_at(1_763_740_800), "ts_implausible"),  # epoch seconds
    ],
    ids=["not_json", "utf16", "list", "no_fields", "year_2984", "epoch_seconds"],
)
async def test_invalid_bytes_are_dead_lettered(
    outbox: Outbox, register_handler, make_event, value: bytes, reason: str
) -> None:
    received = register_handler("carts")
    partition = home_partition("s-42")
    invalid_before = sample("basketlift_events_invalid_total", topic=CARTS, reason=reason)
    dead_before = sample("basketlift_deadletters_total", topic=CARTS)
    valid_before = sample("basketlift_events_total", topic=CARTS)

    async with INGEST_AGENTS["carts"].test_context() as agent:
        bad = await agent.put(value=value, key=b"s-42", partition=partition)
        # A valid event after the bad one: the partition carries on.
        await agent.put(value=encode(make_event("carts")), key=b"s-42", partition=partition)
        await wait_until(lambda: len(received) == 1, "the valid event after the bad one")

    assert len(outbox.deadletters) == 1
    sent = outbox.deadletters[0]
    assert sent.key == b"s-42"
    assert sent.value is not None
    letter = DeadLetter.model_validate_json(sent.value)
    assert letter.source_topic == CARTS
    assert letter.partition == partition
    assert letter.offset == bad.message.offset
    assert letter.reason == reason
    assert letter.error
    assert letter.original_bytes() == value
    assert letter.original_size == len(value)
    assert letter.key_bytes() == b"s-42"
    assert letter.processor == settings.app_id

    assert sample("basketlift_events_invalid_total", topic=CARTS, reason=reason) == (
        invalid_before + 1
    )
    assert sample("basketlift_deadletters_total", topic=CARTS) == dead_before + 1
    assert sample("basketlift_events_total", topic=CARTS) == valid_before + 1
    assert event_ids(received) == ["c-19"]
    # A rejected event moves no clock: the worker's event time stays within reach of now.
    assert event_clock.now_ms <= wall_clock_ms() + settings.max_future_skew_ms


async def test_misrouted_event_is_rekeyed_not_handled(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("carts")
    misrouted = make_event("carts", event_id="c-wrong", shopper_id="s-7")
    sentinel = make_event("carts", event_id="c-sentinel")
    rerouted_before = sample("basketlift_events_rerouted_total", topic=CARTS)
    valid_before = sample("basketlift_events_total", topic=CARTS)

    async with INGEST_AGENTS["carts"].test_context() as agent:
        # Keyed by session, so the producer put it on the session's partition.
        await agent.put(value=encode(misrouted), key=b"w-7", partition=other_partition("s-7"))
        await agent.put(value=encode(sentinel), key=b"s-42", partition=home_partition("s-42"))
        await wait_until(lambda: len(received) == 1, "the sentinel handled")

    assert event_ids(received) == ["c-sentinel"]
    assert len(outbox.rekeyed["carts"]) == 1
    rekeyed = outbox.rekeyed["carts"][0]
    assert rekeyed.key == b"s-7"
    assert rekeyed.value == encode(misrouted)  # the original bytes, untouched
    assert rekeyed.partition is None  # the producer's partitioner places it by key
    assert all(not sent for logical, sent in outbox.rekeyed.items() if logical != "carts")
    assert outbox.deadletters == []
    assert sample("basketlift_events_rerouted_total", topic=CARTS) == rerouted_before + 1
    # Both events were valid input: counted once, here at the inbound agent.
    assert sample("basketlift_events_total", topic=CARTS) == valid_before + 2


async def test_session_keyed_event_is_rekeyed_by_session(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("carts")
    anonymous = make_event("carts", event_id="c-anon", shopper_id=None, session_id="w-99")
    sentinel = make_event("carts", event_id="c-sentinel")
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=encode(anonymous), key=None, partition=other_partition("w-99"))
        await agent.put(value=encode(sentinel), key=b"s-42", partition=home_partition("s-42"))
        await wait_until(lambda: len(received) == 1, "the sentinel handled")
    assert [sent.key for sent in outbox.rekeyed["carts"]] == [b"w-99"]
    assert event_ids(received) == ["c-sentinel"]


async def test_rekeyed_event_is_handled_by_the_rekey_agent(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("carts")
    misrouted = make_event("carts", event_id="c-hop", shopper_id="s-7")
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=encode(misrouted), key=b"x", partition=other_partition("s-7"))
        await wait_until(lambda: len(outbox.rekeyed["carts"]) == 1, "the event re-keyed")
    assert received == []
    rekeyed = outbox.rekeyed["carts"][0]

    valid_before = sample("basketlift_events_total", topic=CARTS)
    rekey_valid_before = sample("basketlift_events_total", topic=REKEY_CARTS)
    rerouted_before = sample("basketlift_events_rerouted_total", topic=REKEY_CARTS)
    async with REKEY_AGENTS["carts"].test_context() as agent:
        # Even on a partition that does not match its key, the re-key path does not re-check
        # routing (the re-key topic's partitioner is the authority there).
        await agent.put(value=rekeyed.value, key=rekeyed.key, partition=other_partition("s-7"))
        await wait_until(lambda: len(received) == 1, "the re-keyed event handled")

    record, event = received[0]
    assert isinstance(event, CartEvent)
    assert event.event_id == "c-hop"
    assert record.topic == REKEY_CARTS
    assert record.key == b"s-7"
    assert len(outbox.rekeyed["carts"]) == 1  # not sent round again
    assert outbox.deadletters == []
    # Counted at the inbound agent already, not a second time.
    assert sample("basketlift_events_total", topic=CARTS) == valid_before
    assert sample("basketlift_events_total", topic=REKEY_CARTS) == rekey_valid_before
    assert sample("basketlift_events_rerouted_total", topic=REKEY_CARTS) == rerouted_before


async def test_rekey_agent_still_validates(outbox: Outbox, register_handler) -> None:
    received = register_handler("carts")
    async with REKEY_AGENTS["carts"].test_context() as agent:
        await agent.put(value=b"{broken", key=b"s-7", partition=0)
        await wait_until(lambda: len(outbox.deadletters) == 1, "a dead letter")
    letter = DeadLetter.model_validate_json(outbox.deadletters[0].value or b"")
    assert letter.source_topic == REKEY_CARTS
    assert letter.reason == "invalid_json"
    assert received == []


async def test_failing_event_is_isolated_and_dead_lettered(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("carts", fail_on=lambda event: event.event_id == "c-bad")
    ids = ["c-1", "c-2", "c-bad", "c-3", "c-4"]
    partition = home_partition("s-42")
    errors_before = sample("basketlift_processing_errors_total", topic=CARTS)
    dead_before = sample("basketlift_deadletters_total", topic=CARTS)
    valid_before = sample("basketlift_events_total", topic=CARTS)

    async with INGEST_AGENTS["carts"].test_context() as agent:
        offsets = {}
        for event_id in ids:
            put = await agent.put(
                value=encode(make_event("carts", event_id=event_id)),
                key=b"s-42",
                partition=partition,
            )
            offsets[event_id] = put.message.offset
        await wait_until(
            lambda: len(received) == 4 and len(outbox.deadletters) == 1,
            "4 handled and 1 dead letter",
        )

    assert event_ids(received) == ["c-1", "c-2", "c-3", "c-4"]
    letter = DeadLetter.model_validate_json(outbox.deadletters[0].value or b"")
    assert letter.reason == "unprocessable"
    assert letter.error.startswith("processing_error:")
    assert "RuntimeError" in letter.error and "c-bad" in letter.error
    assert letter.source_topic == CARTS
    assert letter.partition == partition
    assert letter.offset == offsets["c-bad"]
    assert b'"c-bad"' in letter.original_bytes()
    assert sample("basketlift_processing_errors_total", topic=CARTS) == errors_before + 1
    assert sample("basketlift_deadletters_total", topic=CARTS) == dead_before + 1
    assert sample("basketlift_events_total", topic=CARTS) == valid_before + 5


async def test_catalog_is_not_routed_and_tombstones_reach_handlers(
    outbox: Outbox, register_handler, make_event
) -> None:
    received = register_handler("catalog")
    product = make_event("catalog", product_id="p-77", event_id="p-77@1")
    async with INGEST_AGENTS["catalog"].test_context() as agent:
        await agent.put(value=encode(product), key=b"p-77", partition=other_partition("p-77"))
        await agent.put(value=None, key=b"p-1", partition=home_partition("p-1"))
        await wait_until(lambda: len(received) == 2, "the product and the tombstone handled")

    (_, first), (tomb_record, second) = received
    assert isinstance(first, CatalogEvent)
    assert first.product_id == "p-77"
    assert second == CatalogTombstone("p-1")
    assert tomb_record.value is None
    assert outbox.deadletters == []
    assert all(not sent for sent in outbox.rekeyed.values())


async def test_tombstone_on_carts_is_dead_lettered_as_empty(
    outbox: Outbox, register_handler
) -> None:
    received = register_handler("carts")
    before = sample("basketlift_events_invalid_total", topic=CARTS, reason="empty")
    async with INGEST_AGENTS["carts"].test_context() as agent:
        await agent.put(value=None, key=b"s-42", partition=home_partition("s-42"))
        await wait_until(lambda: len(outbox.deadletters) == 1, "a dead letter")
    letter = DeadLetter.model_validate_json(outbox.deadletters[0].value or b"")
    assert letter.reason == "empty"
    assert letter.original_size == 0
    assert received == []
    assert sample("basketlift_events_invalid_total", topic=CARTS, reason="empty") == before + 1

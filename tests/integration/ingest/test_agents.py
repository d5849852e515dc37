"""The ingest agents on a real broker: counting, dead-lettering, routing by shopper."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import DeadLetter
from streams.ingest.routing import partition_for_key
from tests.support.kafka import Deployment, WorkerProcess, produce_records, read_topic
from tests.unit.schemas.bad_messages import BAD_MESSAGES

pytestmark = pytest.mark.integration

EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "unit" / "schemas" / "contract_examples.json").read_text()
)
BAD_KEY = b"bad-message-under-test"
INBOUND = ("carts", "orders", "clicks", "catalog", "privacy")


def valid_event(logical: str, index: int) -> tuple[bytes, bytes]:
    """A distinct valid event of a kind, and the key a well-behaved producer would use."""
    event = dict(EXAMPLES[logical], event_id=f"{logical}-{index}")
    if logical == "catalog":
        event["product_id"] = f"p-{index}"
        return event["product_id"].encode(), orjson.dumps(event)
    event["shopper_id"] = f"s-{index}"
    return event["shopper_id"].encode(), orjson.dumps(event)


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """All samples of one metric in a /metrics exposition."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def metric_by(text: str, name: str, *labels: str) -> Counter[tuple[str, ...]]:
    """Sum a metric's samples grouped by the given labels."""
    totals: Counter[tuple[str, ...]] = Counter()
    for sample_labels, value in metric_samples(text, name):
        totals[tuple(sample_labels[label] for label in labels)] += int(value)
    return totals


def test_valid_events_of_every_type_are_consumed_and_counted(
    deployment: Deployment, worker: WorkerProcess
) -> None:
    per_topic = 25
    records = [
        (deployment.topic(logical), *valid_event(logical, index))
        for index in range(per_topic)
        for logical in INBOUND
    ]
    asyncio.run(produce_records(deployment.access, records))

    worker.wait_consumed({deployment.topic(t): per_topic for t in INBOUND})

    text = worker.metrics_text()
    counted = metric_by(text, "basketlift_events_total", "topic")
    assert {t: counted[(deployment.topic(t),)] for t in INBOUND} == dict.fromkeys(
        INBOUND, per_topic
    )
    assert sum(metric_by(text, "basketlift_events_invalid_total", "topic").values()) == 0
    letters = asyncio.run(
        read_topic(deployment.access, deployment.topic("deadletter"), 1, timeout=3)
    )
    assert letters == []
    assert worker.alive()


def test_every_bad_message_is_dead_lettered_while_valid_ones_around_it_are_processed(
    deployment: Deployment, worker: WorkerProcess
) -> None:
    records: list[tuple[str, bytes | None, bytes | None]] = []
    valid_sent: Counter[str] = Counter()
    for index, bad in enumerate(BAD_MESSAGES):
        for position in ("before", "after"):
            key, value = valid_event(bad.topic, 2 * index + (position == "after"))
            if position == "after":
                records.append((deployment.topic(bad.topic), BAD_KEY, bad.raw))
            records.append((deployment.topic(bad.topic), key, value))
            valid_sent[bad.topic] += 1
    placed = asyncio.run(produce_records(deployment.access, records))
    expected_reason = {}
    bad_iter = iter(BAD_MESSAGES)
    for (topic, _key, _value), (_t, partition, offset) in zip(records, placed, strict=True):
        if _key == BAD_KEY:
            expected_reason[(topic, partition, offset)] = next(bad_iter)

    worker.wait_consumed(
        {
            deployment.topic(t): n + sum(b.topic == t for b in BAD_MESSAGES)
            for t, n in valid_sent.items()
        }
    )
    raw_letters = asyncio.run(
        read_topic(deployment.access, deployment.topic("deadletter"), len(BAD_MESSAGES))
    )
    letters = [DeadLetter.model_validate_json(value) for _key, value, _p, _o in raw_letters]
    assert len(letters) == len(BAD_MESSAGES)
    seen = {}
    for letter in letters:
        where = (letter.source_topic, letter.partition, letter.offset)
        assert where in expected_reason, f"dead letter for a record we did not send bad: {where}"
        bad = expected_reason[where]
        assert letter.reason == bad.reason, (bad.name, letter.error)
        assert letter.error, bad.name
        if bad.raw is not None and not letter.original_truncated:
            assert letter.original_bytes() == bad.raw, bad.name
        seen[where] = bad.name
    assert len(seen) == len(BAD_MESSAGES), "a bad message was dead-lettered twice or not at all"

    text = worker.metrics_text()
    valid = metric_by(text, "basketlift_events_total", "topic")
    assert {t: valid[(deployment.topic(t),)] for t in valid_sent} == dict(valid_sent)
    invalid = metric_by(text, "basketlift_events_invalid_total", "topic", "reason")
    expected_invalid = Counter((deployment.topic(b.topic), b.reason) for b in BAD_MESSAGES)
    assert dict(invalid) == dict(expected_invalid)
    assert worker.alive()
    assert worker.health() == 200


def test_events_without_a_key_or_with_a_wrong_key_are_routed_by_shopper(
    deployment: Deployment, worker: WorkerProcess
) -> None:
    records: list[tuple[str, bytes | None, bytes | None]] = []
    for index in range(60):
        _key, value = valid_event("carts", index)
        key = None if index % 2 else f"wrong-{index}".encode()
        records.append((deployment.topic("carts"), key, value))
    anonymous = dict(EXAMPLES["carts"], event_id="anon", shopper_id=None, session_id="w-anon")
    records.append((deployment.topic("carts"), None, orjson.dumps(anonymous)))
    placed = asyncio.run(produce_records(deployment.access, records))
    partitions = deployment.partitions

    def routing_key(value: bytes) -> bytes:
        event = orjson.loads(value)
        return (event["shopper_id"] or event["session_id"]).encode()

    misrouted = [
        (value, partition)
        for (_t, _k, value), (_t2, partition, _o) in zip(records, placed, strict=True)
        if value is not None and partition_for_key(routing_key(value), partitions) != partition
    ]
    assert misrouted, "the test needs some events on the wrong partition"

    worker.wait_consumed({deployment.topic("carts"): len(records)})
    rekey_topic = f"{deployment.app_id}-rekey-carts"
    rekeyed = asyncio.run(read_topic(deployment.access, rekey_topic, len(misrouted)))
    assert sorted(value for _k, value, _p, _o in rekeyed) == sorted(v for v, _ in misrouted)
    for key, value, partition, _offset in rekeyed:
        assert key == routing_key(value)
        assert partition == partition_for_key(key, partitions)

    text = worker.metrics_text()
    topic = deployment.topic("carts")
    assert metric_by(text, "basketlift_events_total", "topic")[(topic,)] == len(records)
    rerouted = metric_by(text, "basketlift_events_rerouted_total", "topic")[(topic,)]
    assert rerouted == len(misrouted)

"""streams/ops/brokerwatch.py: the watch listens to the consumer's metadata and reads its fetches;
/health reports a worker out of contact with the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.metadata import MetadataResponse_v0
from faust.exceptions import ConsumerNotStarted

from streams.kafka.faustcompat import metadata_cluster, partition_state
from streams.ops import metrics
from streams.ops.brokerwatch import BrokerWatch, broker_watch
from streams.ops.consumer import BrokerContact
from streams.ops.web import health_problems
from streams.settings import get_settings


def faust_consumer(kafka: AIOKafkaConsumer | None) -> Any:
    """What the watch reads of Faust's consumer: its thread, the thread's loop and consumer."""

    def ensure_consumer() -> AIOKafkaConsumer:
        if kafka is None:
            raise ConsumerNotStarted("Consumer thread not yet started")
        return kafka

    thread = SimpleNamespace(
        _ensure_consumer=ensure_consumer, thread_loop=asyncio.get_running_loop()
    )
    return SimpleNamespace(_thread=thread)


async def test_the_watch_hears_metadata_and_fetch_responses_of_the_consumer() -> None:
    kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
    try:
        watch = BrokerWatch(BrokerContact())
        watch.contact.last -= 60  # a minute without contact
        watch.observe(faust_consumer(None))  # consumer thread not started: nothing to read
        assert watch.contact.age() >= 60

        carts0 = TopicPartition("shop.carts", 0)
        kafka.assign([carts0])
        consumer = faust_consumer(kafka)
        watch.observe(consumer)
        assert watch.contact.age() >= 60  # no fetch response yet
        await asyncio.sleep(0)  # the listener is added on the consumer thread's loop
        metadata_cluster(kafka).update_metadata(
            MetadataResponse_v0(brokers=[(1, "127.0.0.1", 9092)], topics=[])
        )
        assert watch.contact.age() < 5

        watch.contact.last -= 60
        state = partition_state(kafka, carts0)
        assert state is not None
        state.timestamp = int((time.time() - 2) * 1000)
        watch.observe(consumer)
        assert 1 < watch.contact.age() < 5
    finally:
        await kafka.stop()


@pytest.fixture
def contact_a_while_ago() -> Iterator[BrokerContact]:
    """The worker's broker contact, moved back past the threshold; restored afterwards."""
    contact = broker_watch.contact
    before = contact.last
    contact.last = time.time() - get_settings().broker_unreachable_seconds - 5
    yield contact
    contact.last = before


def test_health_and_the_gauge_report_a_broker_out_of_contact(
    contact_a_while_ago: BrokerContact,
) -> None:
    limit = get_settings().broker_unreachable_seconds
    unreachable = [p for p in health_problems() if p.startswith("broker_unreachable")]
    assert len(unreachable) == 1, health_problems()
    assert f"(limit {limit:g}s)" in unreachable[0]
    age = metrics.REGISTRY.get_sample_value("basketlift_broker_last_contact_age_seconds")
    assert age is not None and age > limit

    contact_a_while_ago.heard()
    assert not [p for p in health_problems() if p.startswith("broker_unreachable")]
    age = metrics.REGISTRY.get_sample_value("basketlift_broker_last_contact_age_seconds")
    assert age is not None and age < limit

"""streams/ops/consumer.py: the broker-contact rule, on real aiokafka consumer state."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.metadata import MetadataResponse_v0

from streams.kafka.faustcompat import metadata_cluster, partition_state
from streams.ops.consumer import BrokerContact, fetch_response_times


class FakeClock:
    """Unix seconds that a test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_unreachable_only_after_the_threshold_without_any_response() -> None:
    clock = FakeClock(1000.0)
    contact = BrokerContact(clock)  # creation counts as contact: a starting worker is not cut off
    clock.now = 1015.0
    assert contact.age() == 15.0
    assert contact.unreachable_problem(15.0) is None  # at the threshold, not past it
    clock.now = 1016.4
    problem = contact.unreachable_problem(15.0)
    assert problem == (
        "broker_unreachable: no fetch or metadata response from Kafka for 16s (limit 15s)"
    )


def test_a_fetch_or_metadata_response_restores_contact() -> None:
    clock = FakeClock(1000.0)
    contact = BrokerContact(clock)
    clock.now = 1030.0
    assert contact.unreachable_problem(15.0) is not None
    contact.heard(1028.5)  # a fetch response stamped 1.5 s ago
    assert contact.age() == 1.5
    assert contact.unreachable_problem(15.0) is None
    clock.now = 1050.0
    assert contact.unreachable_problem(15.0) is not None
    contact.metadata_updated(object())  # a metadata listener call: contact now
    assert contact.age() == 0.0
    assert contact.unreachable_problem(15.0) is None


def test_an_older_response_time_does_not_move_contact_back() -> None:
    clock = FakeClock(1000.0)
    contact = BrokerContact(clock)
    contact.heard(1010.0)
    contact.heard(990.0)  # a stale partition's last fetch
    clock.now = 1020.0
    assert contact.age() == 10.0


def test_a_clock_that_went_back_gives_age_zero_not_negative() -> None:
    clock = FakeClock(1000.0)
    contact = BrokerContact(clock)
    clock.now = 990.0
    assert contact.age() == 0.0
    assert contact.unreachable_problem(5.0) is None


async def test_fetch_times_are_read_from_a_real_consumers_partition_states() -> None:
    kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
    try:
        fetched, idle = TopicPartition("shop.carts", 0), TopicPartition("shop.carts", 1)
        kafka.assign([fetched, idle])
        assert fetch_response_times(kafka) == []  # nothing fetched yet
        state = partition_state(kafka, fetched)
        assert state is not None
        state.timestamp = 1_700_000_000_250  # as aiokafka: ms
        assert fetch_response_times(kafka) == [1_700_000_000.25]
    finally:
        await kafka.stop()


async def test_the_metadata_listener_hears_successful_responses_only() -> None:
    kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
    try:
        clock = FakeClock(1000.0)
        contact = BrokerContact(clock)
        cluster = metadata_cluster(kafka)
        cluster.add_listener(contact.metadata_updated)
        clock.now = 1020.0
        cluster.failed_update(None)  # what aiokafka calls when no broker answered
        assert contact.age() == 20.0
        no_brokers = MetadataResponse_v0(brokers=[], topics=[])
        cluster.update_metadata(no_brokers)  # a response without brokers counts as failed
        assert contact.age() == 20.0
        cluster.update_metadata(MetadataResponse_v0(brokers=[(1, "127.0.0.1", 9092)], topics=[]))
        assert contact.age() == 0.0
    finally:
        await kafka.stop()

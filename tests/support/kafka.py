"""Real-broker helpers for the integration tests: reading topics, a broker a test may stop.

Deployments, worker processes and producing come from the benchmarks' harness
(``bench.harness``), the one copy both use; they are re-exported here so tests import every
real-broker helper from one place.
"""

from __future__ import annotations

import asyncio
import socket
import time
import warnings
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.harness import (
    LOGICAL_TOPICS,
    Deployment,
    GatewayProcess,
    WorkerProcess,
    ensure_broker,
    free_port,
    new_deployment,
    produce_records,
    start_gateway,
    start_worker,
)
from schemas import OfferDecision, decode_event
from streams import devbroker
from streams.kafka.reader import read_topic_records
from streams.kafka.security import KafkaAccess
from streams.settings import Settings

__all__ = [
    "LOGICAL_TOPICS",
    "Deployment",
    "GatewayProcess",
    "StoppableBroker",
    "WorkerProcess",
    "decisions_by_trigger",
    "ensure_broker",
    "free_port",
    "free_port_run",
    "new_deployment",
    "produce_records",
    "read_all",
    "read_topic",
    "start_gateway",
    "start_worker",
    "stop_and_delete",
    "stoppable_broker",
]


async def read_topic(
    access: KafkaAccess, topic: str, count: int, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes, int, int]]:
    """Read `count` records (key, value, partition, offset) from the start of `topic`."""
    consumer = AIOKafkaConsumer(**access.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[tuple[bytes | None, bytes, int, int]] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend((m.key, m.value, m.partition, m.offset) for m in messages)
        return records
    finally:
        await consumer.stop()


async def read_all(
    access: KafkaAccess, topic: str, *, committed: bool = True, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None, int, int]]:
    """Every record (key, value, partition, offset) of `topic` up to its current end.

    With `committed` (the default) only records of committed transactions are read, as a
    `read_committed` consumer (a Faust worker under exactly-once) sees them, up to the last
    stable offset. Records are in offset order within each partition.
    """
    try:
        return await read_topic_records(access, topic, committed=committed, timeout_s=timeout)
    except (LookupError, TimeoutError) as error:
        raise AssertionError(str(error)) from error


def decisions_by_trigger(
    deployment: Deployment, expected: Collection[str], timeout: float = 180
) -> dict[str, list[bytes]]:
    """Every committed record of the deployment's offers topic, by the decision's trigger
    event id, once each `expected` trigger has one (or `timeout` seconds passed)."""
    deadline = time.monotonic() + timeout
    while True:
        records = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
        found: dict[str, list[bytes]] = defaultdict(list)
        for _key, value, _partition, _offset in records:
            assert value is not None
            found[decode_event(OfferDecision, value).trigger_event_id].append(value)
        if all(trigger in found for trigger in expected) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def free_port_run(count: int) -> int:
    """A port p on loopback with p + 1 ... p + count - 1 free too (a local broker's
    controller takes p + 1, a secured one's SASL_SSL and mutual-TLS listeners p + 2, p + 3)."""
    for _ in range(100):
        port = free_port()
        if all(port_is_free(port + offset) for offset in range(1, count)):
            return port
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def port_is_free(port: int) -> bool:
    """True when nothing listens on (or holds) the loopback port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class StoppableBroker:
    """A single-node broker of the test's own (own ports, data dir and pid file) that the
    test may stop and start again, unlike the broker the suite shares."""

    settings: Settings

    @property
    def bootstrap(self) -> str:
        """Its bootstrap server."""
        return self.settings.bootstrap_servers

    secured: bool = False
    """With the SASL_SSL (SCRAM-SHA-512) and mutual-TLS listeners (streams.devbroker)."""

    @property
    def listeners(self) -> devbroker.SecuredListeners:
        """Where its secured listeners are, and client settings for each."""
        return devbroker.secured_listeners(self.settings)

    def start(self) -> None:
        """Start it (keeping its data dir) and wait until it answers metadata requests."""
        devbroker.start_broker(
            self.settings, fresh=False, secured=self.secured, echo=lambda *_: None
        )

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until the process is gone."""
        devbroker.stop_broker(self.settings, echo=lambda *_: None)


def stoppable_broker(home: Path, *, secured: bool = False) -> StoppableBroker:
    """A broker under `home` on free ports, using the jars of the shared broker's cache
    (with the secured listeners too when `secured`)."""
    jars = devbroker.ensure_jars(Settings(), echo=lambda *_: None)
    home.mkdir(parents=True, exist_ok=True)
    (home / jars.name).symlink_to(jars, target_is_directory=True)
    settings = Settings(
        broker=f"kafka://127.0.0.1:{free_port_run(4 if secured else 2)}",
        kafka_home=home,
        kafka_heap="512m",
    )
    return StoppableBroker(settings, secured=secured)


def stop_and_delete(deployment: Deployment, *processes: WorkerProcess | GatewayProcess) -> None:
    """Stop a module's processes (in the order given), then delete its deployment's topics
    (a failure to delete is only warned about: it is cleanup)."""
    for process in processes:
        process.stop()
    try:
        asyncio.run(deployment.delete_topics())
    except Exception as error:  # cleanup only
        warnings.warn(f"could not delete {deployment.prefix}: {error!r}", stacklevel=2)

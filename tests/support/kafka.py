"""Real-broker helpers for integration tests and benchmarks: unique topics, a worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams import localkafka
from streams.replay.kafka_in import read_topic_records
from streams.replay.worker_metrics import fetch_consumed, fetch_metrics_text, health_status
from streams.settings import Settings

LOGICAL_TOPICS = ("carts", "orders", "clicks", "catalog", "privacy", "offers", "deadletter")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    """A unique app id and topic set on the shared broker, isolated from other tests."""

    prefix: str
    bootstrap: str
    partitions: int
    web_port: int = field(default_factory=free_port)

    @property
    def app_id(self) -> str:
        """The Faust app id (and consumer group) of this deployment."""
        return f"{self.prefix}-app"

    def topic(self, logical: str) -> str:
        """The topic name standing in for a contract topic."""
        return f"{self.prefix}.shop.{logical}"

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        """Environment for a worker of this deployment."""
        env = dict(os.environ)
        env.update(
            {
                "BASKETLIFT_BROKER": f"kafka://{self.bootstrap}",
                "BASKETLIFT_APP_ID": self.app_id,
                "BASKETLIFT_WEB_PORT": str(self.web_port),
                "BASKETLIFT_DATA_DIR": str(data_dir),
                "BASKETLIFT_STORE": "rocksdb://",
                "BASKETLIFT_PARTITIONS": str(self.partitions),
                "BASKETLIFT_BROKER_SESSION_TIMEOUT_SECONDS": "10",
                "BASKETLIFT_BROKER_HEARTBEAT_INTERVAL_SECONDS": "1",
                "BASKETLIFT_BROKER_REBALANCE_TIMEOUT_SECONDS": "20",
                "BASKETLIFT_LOG_LEVEL": os.environ.get(
                    "BASKETLIFT_TEST_WORKER_LOG_LEVEL", "warning"
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for logical in LOGICAL_TOPICS:
            env[f"BASKETLIFT_TOPIC_{logical.upper()}"] = self.topic(logical)
        env.update(extra)
        return env

    def settings(self, data_dir: Path) -> Settings:
        """The Settings a worker of this deployment reads."""
        keys = {
            k[len("BASKETLIFT_") :].lower(): v
            for k, v in self.env(data_dir).items()
            if k.startswith("BASKETLIFT_")
        }
        return Settings(**keys)  # type: ignore[arg-type]

    def sibling(self) -> Deployment:
        """The same app id and topics with another web port: a second worker on this host."""
        return replace(self, web_port=free_port())

    async def create_topics(self) -> None:
        """Create this deployment's contract topics on the broker."""
        settings = self.settings(Path("/nonexistent"))
        await localkafka.ensure_topics(
            self.bootstrap, localkafka.contract_topics(settings), self.partitions
        )

    async def delete_topics(self) -> list[str]:
        """Delete every topic of this deployment (its prefix and its app's internal topics)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=60000)
        await admin.start()
        try:
            ours = [
                t
                for t in await admin.list_topics()
                if t.startswith(self.prefix + ".") or t.startswith(self.app_id + "-")
            ]
            if ours:
                await admin.delete_topics(ours, timeout_ms=60000)
            return ours
        finally:
            await admin.close()


def new_deployment(bootstrap: str, partitions: int = 4) -> Deployment:
    """A deployment with a fresh unique prefix."""
    return Deployment(f"t{uuid.uuid4().hex[:10]}", bootstrap, partitions)


@dataclass
class WorkerProcess:
    """A `basketlift worker` running as a real process."""

    process: subprocess.Popen[bytes]
    deployment: Deployment
    log_path: Path

    @property
    def base_url(self) -> str:
        """Where its web server listens."""
        return f"http://127.0.0.1:{self.deployment.web_port}"

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the worker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def log_problems(self, lines: int = 30) -> str:
        """The last warnings and errors of the worker's log (an info log buries them)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        found = [line for line in text.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
        return "\n".join(found[-lines:]) or "(no warnings or errors)"

    def health(self) -> int | None:
        """HTTP status of /health."""
        return health_status(self.base_url + "/health")

    def metrics_text(self) -> str:
        """The /metrics text (raises when the worker does not answer)."""
        text = fetch_metrics_text(self.base_url + "/metrics")
        if text is None:
            raise AssertionError("worker /metrics did not answer\n" + self.log_tail())
        return text

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Block until /health is 200, or fail with the worker's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError("worker exited during start-up\n" + self.log_tail())
            if self.health() == 200:
                return
            time.sleep(0.3)
        raise AssertionError(f"worker not healthy after {timeout}s\n" + self.log_tail())

    def wait_consumed(self, expected: dict[str, int], timeout: float = 120.0) -> None:
        """Block until valid+invalid counts per topic reach `expected`."""
        deadline = time.monotonic() + timeout
        counts = None
        while time.monotonic() < deadline:
            counts = fetch_consumed(self.base_url + "/metrics")
            if counts is not None and all(counts.total(t) >= n for t, n in expected.items()):
                return
            time.sleep(0.3)
        raise AssertionError(
            f"worker consumed {counts} but {expected} was expected\n" + self.log_tail()
        )

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return int(self.process.returncode)


def start_worker(deployment: Deployment, workdir: Path, **env: str) -> WorkerProcess:
    """Start `python -m streams.cli worker` for the deployment."""
    log_path = workdir / f"{deployment.app_id}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=deployment.env(workdir / "data", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return WorkerProcess(process, deployment, log_path)


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes, int, int]]:
    """Read `count` records (key, value, partition, offset) from the start of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
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
    bootstrap: str, topic: str, *, committed: bool = True, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None, int, int]]:
    """Every record (key, value, partition, offset) of `topic` up to its current end.

    With `committed` (the default) only records of committed transactions are read, as a
    `read_committed` consumer (a Faust worker under exactly-once) sees them, up to the last
    stable offset. Records are in offset order within each partition.
    """
    try:
        return await read_topic_records(bootstrap, topic, committed=committed, timeout_s=timeout)
    except (LookupError, TimeoutError) as error:
        raise AssertionError(str(error)) from error


async def produce_records(
    bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None]]
) -> list[tuple[str, int, int]]:
    """Send (topic, key, value) records in order; return (topic, partition, offset) of each."""
    from streams.replay.kafka_out import make_producer

    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in records]
        metadata = [await f for f in futures]
        return [(m.topic, m.partition, m.offset) for m in metadata]
    finally:
        await producer.stop()


def free_port_pair() -> int:
    """A port p on loopback with p + 1 free too (a local broker's controller takes p + 1)."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


@dataclass
class StoppableBroker:
    """A single-node broker of the test's own (own ports, data dir and pid file) that the
    test may stop and start again, unlike the broker the suite shares."""

    settings: Settings

    @property
    def bootstrap(self) -> str:
        """Its bootstrap server."""
        return self.settings.bootstrap_servers

    def start(self) -> None:
        """Start it (keeping its data dir) and wait until it answers metadata requests."""
        localkafka.start_broker(self.settings, fresh=False, echo=lambda *_: None)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until the process is gone."""
        localkafka.stop_broker(self.settings, echo=lambda *_: None)


def stoppable_broker(home: Path) -> StoppableBroker:
    """A broker under `home` on free ports, using the jars of the shared broker's cache."""
    jars = localkafka.ensure_jars(Settings(), echo=lambda *_: None)
    home.mkdir(parents=True, exist_ok=True)
    (home / jars.name).symlink_to(jars, target_is_directory=True)
    settings = Settings(
        broker=f"kafka://127.0.0.1:{free_port_pair()}",
        kafka_home=home,
        kafka_heap="512m",
    )
    return StoppableBroker(settings)


def ensure_broker(settings: Settings) -> str:
    """Start (or reuse) the local broker; return its bootstrap servers."""
    localkafka.start_broker(settings, fresh=False, echo=lambda *_: None)
    return settings.bootstrap_servers

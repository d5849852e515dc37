"""`basketlift replay` waits on the worker group's committed offsets: a worker restarted while
the replay waits does not fail it (the restarted process's counters start again at 0)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.security import KafkaAccess
from streams.tools.replay.events import replay_events
from streams.tools.replay.run import load_order_log
from tests.support.kafka import Deployment, start_worker

pytestmark = pytest.mark.integration

WAIT_TIMEOUT_S = 300
INBOUND = ("carts", "orders", "clicks", "catalog", "privacy")


def replay_command(limit_orders: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streams.cli",
        "replay",
        "--limit-orders",
        str(limit_orders),
        "--wait-timeout",
        str(WAIT_TIMEOUT_S),
    ]


def events_of(limit_orders: int) -> int:
    """How many events `replay --limit-orders N` sends (the same code path)."""
    return sum(1 for _ in replay_events(load_order_log([], "auto", limit_orders), carts=True))


async def wait_for_records(
    access: KafkaAccess, topics: list[str], expected: int, replay: subprocess.Popen[bytes]
) -> None:
    """Return once `topics` hold `expected` records (nothing else writes to them: no markers)."""
    consumer = AIOKafkaConsumer(**access.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in consumer.partitions_for_topic(topic) or ()
            ]
            if sum((await consumer.end_offsets(partitions)).values()) >= expected:
                return
            assert replay.poll() is None, "the replay ended before sending everything"
            assert time.monotonic() < deadline, "the replay did not send everything in 120 s"
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


def test_replay_succeeds_when_the_worker_restarts_while_it_waits(
    deployment: Deployment, tmp_path: Path
) -> None:
    env = deployment.env(tmp_path / "data")
    topics = [deployment.topic(logical) for logical in INBOUND]
    # The first worker commits every 20 s: the warm-up replay ends at a commit, so the second
    # one is still waiting for the next when the worker is restarted (with the default 2.8 s
    # a commit could end it before the restart).
    first = start_worker(deployment, tmp_path, BASKETLIFT_COMMIT_INTERVAL_SECONDS="20")
    second = None
    try:
        first.wait_healthy(timeout=180)
        # A replay with one worker process throughout: counts per topic, and a baseline
        # above 0 for the next one.
        warm_up = subprocess.run(
            replay_command(10), env=env, capture_output=True, text=True, timeout=600
        )
        assert warm_up.returncode == 0, warm_up.stdout + warm_up.stderr + first.log_tail()
        assert "unknown" not in warm_up.stdout, warm_up.stdout
        assert deployment.topic("orders") in warm_up.stdout

        expected = events_of(10) + events_of(40)
        out_path = tmp_path / "replay.out"
        with out_path.open("w") as out:
            replay = subprocess.Popen(
                replay_command(40), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            # The replay asked the worker's /metrics before sending; once every event is in
            # Kafka it is waiting, or about to: restart the worker now.
            asyncio.run(wait_for_records(deployment.access, topics, expected, replay))
            first.stop()
            second = start_worker(deployment, tmp_path)
            status = replay.wait(WAIT_TIMEOUT_S + 120)
        finally:
            if replay.poll() is None:
                replay.kill()
                replay.wait()
        output = out_path.read_text()
        assert status == 0, output + second.log_tail()
        assert "Traceback" not in output
        # The restarted worker's counters cannot say what was valid in this replay.
        assert "unknown" in output, output
    finally:
        first.stop()
        if second is not None:
            second.stop()

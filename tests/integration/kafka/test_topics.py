"""The worker's topics on a real broker: every one it needs exists before Faust starts, so
its consumer's first assignment has them all (``streams.kafka.topics.ensure_worker_topics``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from streams.kafka.admin import topic_partition_counts
from streams.kafka.topics import TopicSpec, ensure_worker_topics, topic_problems
from tests.support.kafka import Deployment, WorkerProcess

DEPLOYMENT_PARTITIONS = 4


def test_missing_topics_are_created_per_partition_count_with_their_configs(
    deployment: Deployment, tmp_path: Path
) -> None:
    app_id = deployment.app_id
    specs = [
        TopicSpec(f"{app_id}-table-changelog", 4, {"cleanup.policy": "compact"}, "internal"),
        TopicSpec(f"{app_id}-rekey-carts", 4, {}, "internal"),
        TopicSpec(f"{app_id}-__assignor-__leader", 1, {}, "internal"),
    ]
    settings = deployment.settings(tmp_path)
    created = asyncio.run(ensure_worker_topics(deployment.access, settings, specs))
    assert created == {spec.name: "created" for spec in specs}
    counts = asyncio.run(topic_partition_counts(deployment.access, [s.name for s in specs]))
    assert counts == {spec.name: spec.partitions for spec in specs}
    # As the specs say (partitions and configs): what a worker that may not create checks.
    assert asyncio.run(topic_problems(deployment.access, specs)) == []
    again = asyncio.run(ensure_worker_topics(deployment.access, settings, specs))
    assert again == {spec.name: "exists" for spec in specs}


# Run with a deployment's environment: the app (and so its internal topics) is built from
# the settings at import. Prints what is wrong with the worker's topics before and after.
CREATE_BEFORE_FAUST = """
import asyncio, json
from streams.cli import create_worker_topics
from streams.kafka.security import kafka_access
from streams.kafka.topics import topic_problems, worker_topics
from streams.settings import get_settings
from streams.topology import app

settings = get_settings()
access = kafka_access(settings)
specs = worker_topics(settings, app)
before = asyncio.run(topic_problems(access, specs))
create_worker_topics(settings, access, app)
after = asyncio.run(topic_problems(access, specs))
internal = [spec.name for spec in specs if spec.role == "internal"]
print(json.dumps({"before": before, "after": after, "internal": internal}))
"""


def test_the_worker_creates_every_internal_topic_before_faust_starts(
    deployment: Deployment, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CREATE_BEFORE_FAUST],
        env={**os.environ, **deployment.env(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.splitlines()[-1])
    # Re-key, delta and changelog topics and the leader assignor's: all missing at first
    # (only the contract topics exist), all there, as Faust would make them, after.
    assert len(report["internal"]) >= 5
    assert any(name.endswith("-__assignor-__leader") for name in report["internal"])
    for name in report["internal"]:
        assert f"{name} is missing" in report["before"]
    assert report["after"] == []


def test_a_fresh_worker_finds_every_topic_at_its_first_assignment(
    worker: WorkerProcess,
) -> None:
    # Only the contract topics existed before it started. Had Faust declared the internal
    # ones itself, as it subscribes, its first assignment could run on metadata from before
    # them (a race with the broker's metadata), leave them out and rebalance again seconds
    # later, in the middle of the traffic.
    log = worker.log_path.read_text(errors="replace")
    assert "Ignoring missing topic" not in log
    assert "not found in cluster metadata" not in log

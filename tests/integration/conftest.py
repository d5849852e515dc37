"""Integration tests run against a real Kafka broker, started here when none answers."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import devbroker
from streams.kafka import admin as kafka_admin
from streams.kafka.security import plaintext_access
from streams.settings import Settings
from tests.support.kafka import Deployment, WorkerProcess, new_deployment, start_worker

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """The bootstrap servers of a live broker; under CI=true a broker that cannot start fails."""
    settings = Settings()
    if asyncio.run(
        kafka_admin.broker_ready(plaintext_access(settings.bootstrap_servers), timeout=3)
    ):
        return settings.bootstrap_servers
    try:
        devbroker.start_broker(settings, fresh=False, echo=lambda *_: None)
    except devbroker.BrokerError as error:
        if IN_CI:
            pytest.fail(f"CI=true and the Kafka broker cannot start: {error}")
        pytest.skip(f"no Kafka broker (start one with `basketlift kafka start`): {error}")
    return settings.bootstrap_servers


@pytest.fixture
def deployment(bootstrap: str, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """Unique topics and app id for one test; its topics are deleted afterwards. A test
    module's `DEPLOYMENT_PARTITIONS` sets the partition count (4 otherwise)."""
    deployment = new_deployment(
        bootstrap, partitions=getattr(request.module, "DEPLOYMENT_PARTITIONS", 4)
    )
    asyncio.run(deployment.create_topics())
    yield deployment
    # Left behind, every run's topics pile up in the broker's data dir (thousands of
    # partitions after a day) and slow the broker down for everything after.
    try:
        asyncio.run(deployment.delete_topics())
    except Exception as error:  # cleanup only: the test's outcome stands
        warnings.warn(
            f"could not delete the topics of {deployment.prefix}: {error!r}", stacklevel=1
        )


@pytest.fixture
def worker(deployment: Deployment, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A running, healthy worker on the test's own topics; stopped afterwards."""
    process = start_worker(deployment, tmp_path)
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()

"""Two workers of one deployment split the partitions, and either answers for every key.

Products come from each worker's own global view of the product table's changelog; a
shopper's profile lives on the worker that owns the shopper's partition, and the other
worker forwards the request there (Faust's table_route, using the canonical URL each
worker advertises in the group: http://{web_host}:{web_port}).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.ingest.routing import partition_for_key
from tests.integration.replay_support import (
    STATE_ENV,
    get_json,
    offline_state,
    product_mismatches,
    sample_slice,
    send_replay,
    shopper_mismatches,
    wait_until_empty,
)
from tests.support.kafka import Deployment, WorkerProcess, start_worker

pytestmark = pytest.mark.integration


def wait_both_serving(workers: list[WorkerProcess], timeout: float = 300) -> None:
    """Block until every worker is healthy at once, several polls in a row (the group has
    settled: each holds partitions and none is rebalancing)."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < 5:
        for worker in workers:
            assert worker.alive(), "worker exited\n" + worker.log_tail()
        healthy = all(worker.health() == 200 for worker in workers)
        in_a_row = in_a_row + 1 if healthy else 0
        if time.monotonic() > deadline:
            raise AssertionError(
                f"workers not both healthy after {timeout}s\n"
                + "\n=====\n".join(worker.log_tail() for worker in workers)
            )
        time.sleep(1)


def profile_owners(worker: WorkerProcess, deployment: Deployment) -> dict[int, str]:
    """Partition of the shopper-profiles table -> URL of the worker owning it, as this worker
    sees the group's assignment (Faust's /router/{table}/ view)."""
    status, body = get_json(f"{worker.base_url}/router/shopper-profiles/")
    assert status == 200, body
    changelog = f"{deployment.app_id}-shopper-profiles-changelog"
    return {
        partition: url.rstrip("/")
        for url, topics in body.items()
        for partition in topics.get(changelog, [])
    }


def routed_to(worker: WorkerProcess, shopper: str) -> str:
    """The URL Faust's router sends requests for this shopper's profile to."""
    status, body = get_json(f"{worker.base_url}/router/shopper-profiles/{shopper}/")
    assert status == 200, body
    return str(body).rstrip("/")


@pytest.mark.timeout(900)
def test_two_workers_each_serve_every_product_and_shopper(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(250)
    purchases, weights, shoppers = offline_state(log)
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    first = start_worker(deployment, tmp_path / "w1", **STATE_ENV)
    second = start_worker(deployment.sibling(), tmp_path / "w2", **STATE_ENV)
    workers = [first, second]
    try:
        wait_both_serving(workers)
        assert first.base_url != second.base_url
        # Both see the same assignment, each owns part of the shoppers' partitions, and each
        # will have to forward requests for shoppers the other owns.
        owners = profile_owners(first, deployment)
        assert profile_owners(second, deployment) == owners
        assert sorted(owners) == list(range(deployment.partitions)), owners
        assert set(owners.values()) == {first.base_url, second.base_url}, owners
        owner_of = {
            shopper: owners[partition_for_key(shopper.encode(), deployment.partitions)]
            for shopper in shoppers
        }
        for worker in workers:
            assert any(url != worker.base_url for url in owner_of.values()), owners
            # Faust routes each shopper to the owner of the partition ingest put them on
            # (the table_route key must hash like the raw key of the events and changelog).
            wrong_routes = {
                shopper: route
                for shopper in shoppers
                if (route := routed_to(worker, shopper)) != owner_of[shopper]
            }
            assert not wrong_routes, (worker.base_url, owners, list(wrong_routes.items())[:5])
        send_replay(deployment, log)

        for worker in workers:
            wrong = wait_until_empty(
                lambda w=worker: product_mismatches(w, purchases, weights), workers, timeout=300
            )
            assert not wrong, (worker.base_url, wrong[:10], worker.log_tail())
        for worker in workers:
            wrong = wait_until_empty(
                lambda w=worker: shopper_mismatches(w, shoppers), workers, timeout=120
            )
            assert not wrong, (worker.base_url, wrong[:10], worker.log_tail())
            status, _ = get_json(f"{worker.base_url}/state/shoppers/c-does-not-exist")
            assert status == 404
        # Both workers were still in the group, each with partitions, at the end.
        assert all(worker.health() == 200 for worker in workers)
    finally:
        for worker in workers:
            worker.stop()

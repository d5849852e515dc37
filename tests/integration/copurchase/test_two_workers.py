"""Two workers of one deployment split the partitions, and either answers for every key.

Products come from each worker's own global view of the product table's changelog; a
shopper's profile lives on the worker that owns the shopper's partition, and the other
worker forwards the request there (Faust's table_route, using the canonical URL each
worker advertises in the group: http://{web_host}:{web_port}), headers and so the API
token included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.ingest.routing import partition_for_key
from tests.integration.replay_support import (
    STATE_ENV,
    offline_state,
    owned_partitions,
    product_mismatches,
    sample_slice,
    send_replay,
    shopper_mismatches,
    wait_all_serving,
    wait_until_empty,
)
from tests.support.kafka import Deployment, start_worker

pytestmark = pytest.mark.integration


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
        wait_all_serving(workers)
        assert first.base_url != second.base_url
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
            status, _ = worker.api_get("/state/shoppers/c-does-not-exist")
            assert status == 404
        # Each worker owns part of the shoppers' partitions, so each answered above for
        # shoppers it had to forward to the other (Faust's table_route, with the API token).
        orders = deployment.topic("orders")
        owned = {worker.base_url: owned_partitions(worker, orders) for worker in workers}
        assert all(owned.values()) and not set.intersection(*owned.values()), owned
        for worker in workers:
            forwarded = [
                shopper
                for shopper in shoppers
                if partition_for_key(shopper.encode(), deployment.partitions)
                not in owned[worker.base_url]
            ]
            assert forwarded, (worker.base_url, owned)
        # Both workers were still in the group, each with partitions, at the end.
        assert all(worker.health() == 200 for worker in workers)
    finally:
        for worker in workers:
            worker.stop()

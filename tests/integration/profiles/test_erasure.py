"""Privacy on a real broker: erasure, revoke and grant, and anonymous orders.

What is checked is what a shopper's data leaves behind: the inspection API, and the last
record per key in the changelog topics of the shopper-keyed tables (a tombstone, value None,
is what lets compaction remove the earlier records for good).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.replay_support import (
    STATE_ENV,
    offline_state,
    sample_slice,
    send_events,
    send_replay,
    state_mismatches,
    wait_for_metric,
    wait_for_products,
)
from tests.support.kafka import Deployment, WorkerProcess, read_all, start_worker

pytestmark = pytest.mark.integration

SHOPPER_TABLES = ("shopper-profiles", "shopper-consent")
"""Tables keyed by the shopper id itself; `event-dedupe` is keyed by topic and shopper."""
PRIVACY_METRIC = "basketlift_privacy_actions_total"
LATER_TS = 1_700_000_000_000  # after every order of the sample (2010-2011)


def changelog(deployment: Deployment, table: str) -> str:
    """The changelog topic of a Faust table of this deployment."""
    return f"{deployment.app_id}-{table}-changelog"


def history(deployment: Deployment, table: str, key: str) -> list[bytes | None]:
    """Every committed value of `key` in a table's changelog, oldest first."""
    records = asyncio.run(read_all(deployment.access, changelog(deployment, table)))
    by_partition = sorted(records, key=lambda r: (r[2], r[3]))
    return [value for k, value, _p, _o in by_partition if k == key.encode()]


def wait_for_history(
    deployment: Deployment,
    table: str,
    key: str,
    ok: Callable[[list[bytes | None]], bool],
    what: str,
    timeout: float = 120,
) -> list[bytes | None]:
    """Poll a key's changelog history until `ok` holds (transactions commit a bit later than
    the worker's own table shows a change); fail with the history otherwise."""
    deadline = time.monotonic() + timeout
    values = history(deployment, table, key)
    while not ok(values):
        if time.monotonic() > deadline:
            raise AssertionError(f"{table} changelog for {key}: expected {what}, got {values}")
        time.sleep(1)
        values = history(deployment, table, key)
    return values


def ends_with_tombstone(values: list[bytes | None]) -> bool:
    """A value was written and the last record is a tombstone."""
    return len(values) >= 2 and values[-1] is None and any(v is not None for v in values)


def shopper_state(worker: WorkerProcess, shopper_id: str) -> tuple[int, Any]:
    """GET /state/shoppers/{shopper_id}."""
    return worker.api_get(f"/state/shoppers/{shopper_id}")


def wait_for_status(
    worker: WorkerProcess, shopper_id: str, status: int, timeout: float = 120
) -> Any:
    """Poll the shopper endpoint until it answers `status`; return the body."""
    deadline = time.monotonic() + timeout
    got, body = shopper_state(worker, shopper_id)
    while got != status:
        assert time.monotonic() < deadline, (shopper_id, got, body, worker.log_tail())
        assert worker.alive(), worker.log_tail()
        time.sleep(0.5)
        got, body = shopper_state(worker, shopper_id)
    return body


def privacy(shopper_id: str, action: str) -> tuple[str, str, dict[str, Any]]:
    """A privacy event for the shopper, keyed by them."""
    event = {
        "event_id": f"{action}-{uuid.uuid4().hex[:8]}",
        "ts": LATER_TS,
        "shopper_id": shopper_id,
        "action": action,
    }
    return "privacy", shopper_id, event


def new_order(
    shopper_id: str | None, session_id: str, ts: int = LATER_TS
) -> tuple[tuple[str, str, dict[str, Any]], list[str], float]:
    """An order of two products nobody else buys: the event, its products and its value."""
    tag = uuid.uuid4().hex[:8]
    products = [f"p-{tag}-a", f"p-{tag}-b"]
    items = [
        {"product_id": products[0], "quantity": 2, "unit_price": 3.25, "category": "test"},
        {"product_id": products[1], "quantity": 1, "unit_price": 10.5, "category": "test"},
    ]
    event = {
        "event_id": f"order-{tag}",
        "ts": ts,
        "shopper_id": shopper_id,
        "session_id": session_id,
        "order_id": f"o-{tag}",
        "currency": "GBP",
        "shipping_fee": 0.0,
        "items": items,
    }
    return ("orders", shopper_id or session_id, event), products, 2 * 3.25 + 10.5


def wait_counted(worker: WorkerProcess, products: list[str]) -> None:
    """Block until the order of `products` shows in co-purchase: bought once, together.

    The product view reads only committed changelog records, and the deltas are sent in
    the transaction that also holds the order's profile and dedupe writes, so afterwards
    those writes are committed too.
    """
    a, b = products
    wrong = wait_for_products(worker, {a: 1.0, b: 1.0}, {a: {b: 1.0}, b: {a: 1.0}}, timeout=120)
    assert not wrong, wrong


def replayed_worker(
    deployment: Deployment, tmp_path: Path, orders: int
) -> tuple[WorkerProcess, dict[str, tuple[int, float]]]:
    """A healthy worker that has replayed the first orders of the sample exactly."""
    log = sample_slice(orders)
    purchases, weights, shoppers = offline_state(log)
    worker = start_worker(deployment, tmp_path, **STATE_ENV)
    try:
        worker.wait_healthy(timeout=180)
        send_replay(deployment, log)
        wrong = state_mismatches(worker, purchases, weights, shoppers, settle=0)
        assert not wrong, wrong[:10]
    except BaseException:
        worker.stop()
        raise
    return worker, shoppers


def test_erase_deletes_the_profile_and_leaves_tombstones(
    deployment: Deployment, tmp_path: Path
) -> None:
    worker, shoppers = replayed_worker(deployment, tmp_path, 60)
    try:
        # The shopper with the most orders is erased; another one is left alone.
        ranked = sorted(shoppers, key=lambda s: (-shoppers[s][0], s))
        erased, kept = ranked[0], ranked[1]
        status, body = shopper_state(worker, erased)
        assert status == 200 and body["order_count"] == shoppers[erased][0], body
        # A consent record too, so that the erasure has two tables to clean.
        send_events(deployment, [privacy(erased, "grant")])
        wait_for_metric(worker, PRIVACY_METRIC, 1, action="grant")

        send_events(deployment, [privacy(erased, "erase")])
        wait_for_status(worker, erased, 404)
        wait_for_metric(worker, PRIVACY_METRIC, 1, action="erase")
        for table in ("shopper-profiles", "shopper-consent"):
            wait_for_history(deployment, table, erased, ends_with_tombstone, "a final tombstone")
        # The ids remembered to recognise redelivered orders are erased too.
        wait_for_history(
            deployment, "event-dedupe", f"orders:{erased}", ends_with_tombstone, "a tombstone"
        )

        status, body = shopper_state(worker, kept)
        assert status == 200 and body["order_count"] == shoppers[kept][0], body
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()


def test_revoke_stops_profiling_grant_resumes_it_erase_cleans_every_table(
    deployment: Deployment, tmp_path: Path
) -> None:
    worker, shoppers = replayed_worker(deployment, tmp_path, 40)
    try:
        shopper = sorted(shoppers, key=lambda s: (-shoppers[s][0], s))[0]
        assert shopper_state(worker, shopper)[0] == 200

        # Revoke: the profile goes (a tombstone in its changelog).
        send_events(deployment, [privacy(shopper, "revoke")])
        wait_for_status(worker, shopper, 404)
        wait_for_metric(worker, PRIVACY_METRIC, 1, action="revoke")
        wait_for_history(
            deployment, "shopper-profiles", shopper, ends_with_tombstone, "a final tombstone"
        )
        assert history(deployment, "shopper-consent", shopper)[-1:] == [b"0"]

        # An order while revoked counts in co-purchase but builds no profile; its event id
        # is remembered for dedupe (as every order's is).
        order, products, _value = new_order(shopper, f"w-{uuid.uuid4().hex[:8]}")
        send_events(deployment, [order])
        wait_counted(worker, products)
        assert shopper_state(worker, shopper)[0] == 404
        assert history(deployment, "shopper-profiles", shopper)[-1] is None
        dedupe = history(deployment, "event-dedupe", f"orders:{shopper}")
        assert dedupe and dedupe[-1] is not None and order[2]["event_id"].encode() in dedupe[-1]

        # Grant: the next order starts a new profile (the old one stays forgotten).
        send_events(deployment, [privacy(shopper, "grant")])
        wait_for_metric(worker, PRIVACY_METRIC, 1, action="grant")
        assert shopper_state(worker, shopper)[0] == 404
        order, products, value = new_order(shopper, f"w-{uuid.uuid4().hex[:8]}", LATER_TS + 1)
        send_events(deployment, [order])
        wait_counted(worker, products)
        body = wait_for_status(worker, shopper, 200)
        assert body["order_count"] == 1, body
        assert math.isclose(body["lifetime_spend"], value, abs_tol=0.005), body

        # Erase: every shopper-keyed table ends with a tombstone for them.
        send_events(deployment, [privacy(shopper, "erase")])
        wait_for_status(worker, shopper, 404)
        for table in SHOPPER_TABLES:
            wait_for_history(deployment, table, shopper, ends_with_tombstone, "a final tombstone")
        wait_for_history(
            deployment, "event-dedupe", f"orders:{shopper}", ends_with_tombstone, "a tombstone"
        )
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()


def test_anonymous_order_counts_in_copurchase_and_builds_no_profile(
    deployment: Deployment, tmp_path: Path
) -> None:
    worker = start_worker(deployment, tmp_path, **STATE_ENV)
    try:
        worker.wait_healthy(timeout=180)
        session = f"g-{uuid.uuid4().hex[:8]}"
        anonymous, anonymous_products, _value = new_order(None, session)
        shopper = f"c-{uuid.uuid4().hex[:8]}"
        known, known_products, value = new_order(shopper, f"w-{uuid.uuid4().hex[:8]}")
        send_events(deployment, [anonymous, known])
        wait_counted(worker, anonymous_products)
        wait_counted(worker, known_products)

        assert shopper_state(worker, session)[0] == 404
        assert history(deployment, "shopper-profiles", session) == []
        # The session keeps only the event ids, for dedupe.
        dedupe = history(deployment, "event-dedupe", f"orders:{session}")
        assert dedupe and anonymous[2]["event_id"].encode() in (dedupe[-1] or b"")

        # The identified order of the same run did build a profile (the check can fail).
        body = wait_for_status(worker, shopper, 200)
        assert body["order_count"] == 1
        assert math.isclose(body["lifetime_spend"], value, abs_tol=0.005), body
        assert history(deployment, "shopper-profiles", shopper)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()

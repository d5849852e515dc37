"""The web API on a real worker: data endpoints need the API token, ids are bounded, the
operational endpoints stay open, Faust's built-in views are gone, and a worker that would
serve data beyond loopback without a token does not start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.ops.access import MAX_ID_BYTES
from tests.integration.replay_support import get_json, send_events
from tests.support.kafka import Deployment, WorkerProcess, new_deployment, start_worker

pytestmark = pytest.mark.integration

FAUST_BUILTIN_PATHS = (
    "/",
    "/assignment/",
    "/router/",
    "/router/topics",
    "/router/shopper-profiles/",
    "/router/shopper-profiles/{shopper}/",
    "/table/",
    "/table/shopper-profiles/",
    "/table/shopper-profiles/{shopper}/",
    "/table/offer-decisions-latest/{shopper}/",
    "/graph/",
    "/performance/",
)
"""Every path Faust's built-in blueprints serve (faust.web.apps: router, tables,
production_index, stats, graph, metrics), with a key that has data behind it."""


def an_order(shopper: str) -> tuple[str, str, dict[str, Any]]:
    """A contract-valid order of the shopper, keyed by them."""
    tag = uuid.uuid4().hex[:8]
    event = {
        "event_id": f"order-{tag}",
        "ts": int(time.time() * 1000) - 1_000,
        "shopper_id": shopper,
        "session_id": f"s-{tag}",
        "order_id": f"o-{tag}",
        "currency": "GBP",
        "shipping_fee": 0.0,
        "items": [
            {"product_id": f"p-{tag}-a", "quantity": 1, "unit_price": 4.0, "category": "test"},
            {"product_id": f"p-{tag}-b", "quantity": 2, "unit_price": 6.0, "category": "test"},
        ],
    }
    return "orders", shopper, event


def wait_for_ok(worker: WorkerProcess, path: str, timeout: float = 120) -> Any:
    """Poll a data endpoint (with the token) until it answers 200; return the body."""
    deadline = time.monotonic() + timeout
    status, body = worker.api_get(path)
    while status != 200:
        assert time.monotonic() < deadline, (path, status, body, worker.log_tail())
        assert worker.alive(), worker.log_tail()
        time.sleep(0.5)
        status, body = worker.api_get(path)
    return body


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker (with its deployment's API token) for every test here; stopped afterwards."""
    deployment = new_deployment(bootstrap)
    asyncio.run(deployment.create_topics())
    process = start_worker(deployment, tmp_path_factory.mktemp("api-worker"))
    try:
        process.wait_healthy(timeout=180)
        yield process
    finally:
        process.stop()
        asyncio.run(deployment.delete_topics())


@pytest.fixture(scope="module")
def served_shopper(worker: WorkerProcess) -> str:
    """A shopper with a profile and a decision on the worker."""
    shopper = f"c-{uuid.uuid4().hex[:8]}"
    send_events(worker.deployment, [an_order(shopper)])
    wait_for_ok(worker, f"/state/shoppers/{shopper}")
    wait_for_ok(worker, f"/offers/{shopper}")
    return shopper


@pytest.mark.parametrize("endpoint", ["/state/shoppers/{id}", "/offers/{id}"])
def test_shopper_data_needs_the_api_token(
    worker: WorkerProcess, served_shopper: str, endpoint: str
) -> None:
    url = worker.base_url + endpoint.format(id=served_shopper)
    for token in (None, "wrong-" + worker.deployment.api_token):
        status, body = get_json(url, token=token)
        assert status == 401, (token, body)
        assert body["error"] == "unauthorized"
        assert served_shopper not in str(body)
    status, body = get_json(url, token=worker.deployment.api_token)
    assert status == 200, body
    assert body["shopper_id"] == served_shopper


def test_product_state_needs_the_api_token(worker: WorkerProcess) -> None:
    status, body = get_json(f"{worker.base_url}/state/products/p-none")
    assert (status, body["error"]) == (401, "unauthorized")
    assert worker.api_get("/state/products/p-none")[0] == 404


def test_an_overlong_id_answers_400_without_a_traceback(worker: WorkerProcess) -> None:
    longest = "c" * MAX_ID_BYTES
    for endpoint in ("/state/shoppers/", "/offers/", "/state/products/"):
        status, body = worker.api_get(endpoint + longest + "c")
        assert status == 400, (endpoint, body)
        assert body["error"].endswith(f"longer than {MAX_ID_BYTES} bytes")
        assert worker.api_get(endpoint + longest)[0] == 404
    # Two-byte characters: 257 of them are 514 bytes.
    status, _ = worker.api_get("/state/shoppers/" + "%C3%A9" * (MAX_ID_BYTES // 2 + 1))
    assert status == 400
    # Percent-escapes that are not UTF-8 (a lone byte, an encoded surrogate): never a 500.
    for escaped in ("%FF", "%ED%A0%80", "%00"):
        status, body = worker.api_get(f"/state/shoppers/c-{escaped}")
        assert status in (400, 404), (escaped, status, body)
    assert "Traceback" not in worker.log_path.read_text(errors="replace")


def test_metrics_health_and_live_need_no_token(worker: WorkerProcess) -> None:
    assert worker.health() == 200
    assert get_json(f"{worker.base_url}/live")[0] == 200
    assert "basketlift_worker_ready" in worker.metrics_text()


def get_json_or_text(url: str, token: str | None) -> tuple[int, str]:
    """GET anything: (status, body text); Faust's 404 page is not JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_fausts_builtin_views_are_not_served(worker: WorkerProcess, served_shopper: str) -> None:
    for path in FAUST_BUILTIN_PATHS:
        url = worker.base_url + path.format(shopper=served_shopper)
        for token in (None, worker.deployment.api_token):
            status, _ = get_json_or_text(url, token)
            assert status == 404, (path, token, status)


def test_a_worker_binding_beyond_loopback_without_a_token_does_not_start(
    deployment: Deployment, tmp_path: Path
) -> None:
    env = deployment.env(tmp_path / "data", BASKETLIFT_WEB_HOST="0.0.0.0")
    del env["BASKETLIFT_API_TOKEN"]
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: BASKETLIFT_WEB_HOST '0.0.0.0' is not a loopback address: set"
        " BASKETLIFT_API_TOKEN (or BASKETLIFT_API_TOKEN_FILE), which /state and /offers then"
        " require, or bind 127.0.0.1"
    ], result.stderr

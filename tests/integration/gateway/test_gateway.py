"""`basketlift gateway` as a real process, with a real worker on the real broker: a cart posted
over HTTP comes back as its decision by long-poll and on the shopper's event stream; keys,
shopper tokens and origins are enforced; invalid events are refused with their reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bench.harness import metric_total
from schemas.limits import MAX_EVENT_BYTES
from streams.gateway.tokens import mint_token
from tests.support.kafka import (
    Deployment,
    GatewayProcess,
    WorkerProcess,
    new_deployment,
    start_gateway,
    start_worker,
    stop_and_delete,
)

pytestmark = pytest.mark.integration

SECRET = "sk-it-0123456789abcdef0123"
PUBLIC = "pk-it-0123456789abcdef0123"
SIGNING = "signing-it-0123456789abcdef"
SHOP = "https://shop.example"
DECISION_DEADLINE_SECONDS = 90.0
"""How long a test keeps long-polling for a decision (a fresh worker's first one is slow)."""


@dataclass
class Stack:
    """A deployment with its worker and gateway."""

    deployment: Deployment
    worker: WorkerProcess
    gateway: GatewayProcess

    def url(self, path: str) -> str:
        return self.gateway.base_url + path


@pytest.fixture(scope="module")
def stack(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker and one gateway (secret and publishable keys) on topics of their own."""
    workdir = tmp_path_factory.mktemp("gateway")
    deployment = new_deployment(bootstrap)
    asyncio.run(deployment.create_topics())
    worker = start_worker(deployment, workdir)
    gateway = start_gateway(
        deployment,
        workdir,
        BASKETLIFT_GATEWAY_SECRET_KEYS=SECRET,
        BASKETLIFT_GATEWAY_PUBLIC_KEYS=PUBLIC,
        BASKETLIFT_GATEWAY_ALLOWED_ORIGINS=SHOP,
        BASKETLIFT_GATEWAY_SIGNING_KEY=SIGNING,
        BASKETLIFT_LOG_LEVEL="info",
    )
    try:
        worker.wait_healthy()
        gateway.wait_healthy()
        yield Stack(deployment, worker, gateway)
    finally:
        stop_and_delete(deployment, gateway, worker)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def cart(shopper: str) -> dict[str, Any]:
    """A contract-valid cart event of `shopper`, with a fresh event id."""
    return {
        "event_id": f"gw-cart-{uuid.uuid4().hex}",
        "ts": int(time.time() * 1000),
        "shopper_id": shopper,
        "session_id": f"s-{shopper}",
        "cart_id": f"k-{shopper}",
        "currency": "GBP",
        "items": [{"product_id": "85123A", "quantity": 2, "unit_price": 2.55}],
    }


def secret() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRET}"}


def browser(shopper: str, origin: str = SHOP) -> dict[str, str]:
    """The headers a storefront page sends for `shopper`."""
    token = mint_token(SIGNING, shopper, now=time.time(), ttl_seconds=300)
    return {
        "Authorization": f"Bearer {PUBLIC}",
        "X-Basketlift-Shopper-Token": token,
        "Origin": origin,
    }


async def post_cart(
    http: aiohttp.ClientSession, stack: Stack, event: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(stack.url("/v1/events/carts"), json=event, headers=headers) as response:
        return response.status, await response.json()


async def long_poll(
    http: aiohttp.ClientSession,
    stack: Stack | GatewayProcess,
    event_id: str,
    headers: dict[str, str],
) -> tuple[int, Any, dict[str, str]]:
    """Long-poll the stack's gateway (or this one) 2 s at a time until the decision is there
    or the deadline passes."""
    base_url = stack.gateway.base_url if isinstance(stack, Stack) else stack.base_url
    deadline = time.monotonic() + DECISION_DEADLINE_SECONDS
    while True:
        url = f"{base_url}/v1/decisions/{event_id}?wait_ms=2000"
        async with http.get(url, headers=headers) as response:
            body = await response.json()
            if response.status != 404 or time.monotonic() > deadline:
                return response.status, body, dict(response.headers)


async def next_sse_decision(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    """The next `event: decision` message of an event stream, as JSON."""
    event, data = None, None
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and event == "decision" and data is not None:
            decoded: dict[str, Any] = orjson.loads(data)
            return decoded


async def test_a_posted_cart_comes_back_by_long_poll_and_on_the_shoppers_stream(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = f"c-{uuid.uuid4().hex[:8]}"
    stream_url = stack.url(f"/v1/shoppers/{shopper}/offers/stream")
    async with http.get(stream_url, headers=secret()) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b": subscribed\n"

        event = cart(shopper)
        status, body = await post_cart(http, stack, event, secret())
        assert (status, body) == (202, {"event_id": event["event_id"], "topic": "carts"})

        status, decision, _ = await long_poll(http, stack, event["event_id"], secret())
        assert status == 200, decision
        assert decision["trigger_event_id"] == event["event_id"]
        assert decision["shopper_id"] == shopper
        assert decision["placement"] == "cart"

        streamed = await asyncio.wait_for(next_sse_decision(stream), DECISION_DEADLINE_SECONDS)
        assert streamed == decision


async def test_a_shopper_in_a_browser_posts_and_reads_their_own_decision(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = f"c-{uuid.uuid4().hex[:8]}"
    event = cart(shopper)
    status, body = await post_cart(http, stack, event, browser(shopper))
    assert status == 202, body
    status, decision, headers = await long_poll(http, stack, event["event_id"], browser(shopper))
    assert status == 200, decision
    assert decision["shopper_id"] == shopper
    assert headers["Access-Control-Allow-Origin"] == SHOP

    # Another shopper's token reads neither the decision nor the stream, posts nothing.
    other = browser("c-someone-else")
    status, refused, _ = await long_poll(http, stack, event["event_id"], other)
    assert (status, refused["error"]) == (403, "forbidden")
    stream_url = stack.url(f"/v1/shoppers/{shopper}/offers/stream")
    async with http.get(stream_url, headers=other) as response:
        assert response.status == 403
    status, refused = await post_cart(http, stack, cart(shopper), other)
    assert (status, refused["error"]) == (403, "forbidden")


async def test_a_browser_event_source_streams_with_the_key_and_token_in_the_url(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    shopper = f"c-{uuid.uuid4().hex[:8]}"
    token = mint_token(SIGNING, shopper, now=time.time(), ttl_seconds=300)
    url = stack.url(f"/v1/shoppers/{shopper}/offers/stream")
    params = {"key": PUBLIC, "shopper_token": token}
    async with http.get(url, params=params, headers={"Origin": SHOP}) as stream:
        assert stream.status == 200
        assert stream.headers["Access-Control-Allow-Origin"] == SHOP
        assert await stream.content.readline() == b": subscribed\n"
        event = cart(shopper)
        assert (await post_cart(http, stack, event, browser(shopper)))[0] == 202
        streamed = await asyncio.wait_for(next_sse_decision(stream), DECISION_DEADLINE_SECONDS)
        assert streamed["trigger_event_id"] == event["event_id"]

    secret_in_url = {"key": SECRET}
    async with http.get(url, params=secret_in_url) as response:
        assert response.status == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sk-wrong-0123456789abcdef"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {PUBLIC}", "Origin": SHOP},  # no shopper token
    ],
    ids=["no-key", "wrong-key", "not-bearer", "publishable-without-token"],
)
async def test_a_missing_or_wrong_key_is_401(
    stack: Stack, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    status, body = await post_cart(http, stack, cart("c-1"), headers)
    assert (status, body["error"]) == (401, "unauthorized")
    async with http.get(stack.url("/v1/decisions/any"), headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_disallowed_origin_is_refused_and_gets_no_cors_headers(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    evil = "https://evil.example"
    async with http.post(
        stack.url("/v1/events/carts"), json=cart("c-1"), headers=browser("c-1", origin=evil)
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response.headers

    preflight_headers = {
        "Origin": evil,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, x-basketlift-shopper-token",
    }
    async with http.options(stack.url("/v1/events/carts"), headers=preflight_headers) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers

    async with http.options(
        stack.url("/v1/events/carts"), headers={**preflight_headers, "Origin": SHOP}
    ) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == SHOP
        assert "X-Basketlift-Shopper-Token" in response.headers["Access-Control-Allow-Headers"]


async def test_an_invalid_event_is_400_with_its_reason(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    event = cart("c-1")
    del event["items"]
    status, body = await post_cart(http, stack, event, secret())
    assert status == 400
    assert body["error"] == "invalid_event"
    assert body["reason"] == "missing_field"
    assert "items" in body["detail"]

    async with http.post(
        stack.url("/v1/events/orders"), data=b"{not json", headers=secret()
    ) as response:
        assert response.status == 400
        assert (await response.json())["reason"] == "invalid_json"

    oversized = b'{"pad": "' + b"x" * MAX_EVENT_BYTES + b'"}'
    async with http.post(
        stack.url("/v1/events/clicks"), data=oversized, headers=secret()
    ) as response:
        assert response.status == 413
        assert (await response.json())["reason"] == "too_large"


async def test_a_decision_not_made_is_404_after_the_wait_and_wait_ms_is_bounded(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    url = stack.url("/v1/decisions/no-such-event?wait_ms=50")
    async with http.get(url, headers=secret()) as response:
        assert response.status == 404
    url = stack.url("/v1/decisions/no-such-event?wait_ms=2001")
    async with http.get(url, headers=secret()) as response:
        assert response.status == 400


async def test_metrics_and_health_are_open_and_count_the_traffic(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    event = cart(f"c-{uuid.uuid4().hex[:8]}")
    assert (await post_cart(http, stack, event, secret()))[0] == 202
    status, _, _ = await long_poll(http, stack, event["event_id"], secret())
    assert status == 200
    async with http.get(stack.url("/health")) as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
    async with http.get(stack.url("/metrics")) as response:
        assert response.status == 200
        text = await response.text()
    assert metric_total(text, "basketlift_gateway_events_produced_total", topic="carts") >= 1
    assert metric_total(text, "basketlift_gateway_decision_lookups_total", outcome="hit") >= 1
    assert metric_total(text, "basketlift_gateway_decisions_indexed_total") >= 1
    assert metric_total(text, "basketlift_gateway_requests_total") >= 3
    assert "basketlift_gateway_sse_clients" in text
    assert "basketlift_events" not in text.replace("basketlift_gateway_events", "")


async def test_sigterm_ends_open_streams_and_the_gateway_exits_0(
    stack: Stack, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gateway = start_gateway(stack.deployment, tmp_path, BASKETLIFT_GATEWAY_SECRET_KEYS=SECRET)
    try:
        gateway.wait_healthy()
        url = gateway.base_url + "/v1/shoppers/c-1/offers/stream"
        async with http.get(url, headers=secret()) as stream:
            assert await stream.content.readline() == b": subscribed\n"
            # aiohttp waits 60 s for unfinished handlers; stop() kills (-9) after 30 s.
            status = await asyncio.to_thread(gateway.stop, 30.0)
            assert status == 0, gateway.log_tail()
            await stream.content.read()  # returns once the server has ended the stream
            assert stream.content.at_eof()
    finally:
        gateway.stop()


async def test_without_keys_the_loopback_gateway_serves_without_a_key(
    stack: Stack, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gateway = start_gateway(stack.deployment, tmp_path)  # no BASKETLIFT_GATEWAY_* keys
    try:
        gateway.wait_healthy()
        event = cart(f"c-{uuid.uuid4().hex[:8]}")
        # A page the gateway serves itself sends its own origin: not refused when open.
        headers = {"Origin": gateway.base_url}
        async with http.post(
            gateway.base_url + "/v1/events/carts", json=event, headers=headers
        ) as response:
            assert response.status == 202, await response.text()
        status, decision, _ = await long_poll(http, gateway, event["event_id"], {})
        assert status == 200, decision
    finally:
        gateway.stop()

"""The gateway without Kafka: its health, its Server-Sent Events framing, the files it
serves (widget, demo page), who may read the store summary and the store's decision stream,
and a stream client that falls behind being dropped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.gateway import metrics
from streams.gateway.auth import SHOPPER_TOKEN_HEADER, GatewayAuth
from streams.gateway.index import SUBSCRIPTION_QUEUE, IndexedDecision
from streams.gateway.server import Gateway, sse_message
from streams.gateway.tokens import mint_token
from streams.kafka.security import plaintext_access
from streams.resources import WIDGET_JS
from streams.settings import Settings


async def fail_to_follow() -> None:
    raise RuntimeError("the broker went away for good")


async def test_health_answers_503_until_ready_and_after_the_follower_stopped(
    clean_env: pytest.MonkeyPatch,
) -> None:
    gateway = Gateway(Settings(), plaintext_access("127.0.0.1:1"), GatewayAuth())
    request = cast(Any, None)  # health reads nothing of the request
    assert (await gateway.health(request)).status == 503  # no producer yet
    gateway.producer = cast(Any, object())
    starting = await gateway.health(request)
    assert starting.status == 503 and b"not yet following" in cast(bytes, starting.body)
    gateway.follower.ready.set()
    assert (await gateway.health(request)).status == 200

    stopped = asyncio.create_task(fail_to_follow())
    await asyncio.gather(stopped, return_exceptions=True)
    gateway.follower_task = stopped
    failing = await gateway.health(request)
    assert failing.status == 503
    assert orjson.loads(cast(bytes, failing.body))["status"] == "failing"


def test_an_sse_message_is_one_decision_with_its_id_and_no_stray_line_breaks() -> None:
    decision = IndexedDecision("d-1\nevent: forged", "e-1", "c-1", b'{\n"decision_id": "d-1"}')
    message = sse_message(decision)
    assert message == b'id: d-1 event: forged\nevent: decision\ndata: {"decision_id": "d-1"}\n\n'


SECRET = "sk-unit-0123456789abcdef0123"
PUBLIC = "pk-unit-0123456789abcdef0123"
SIGNING = "signing-unit-0123456789abcdef"
SHOP = "https://shop.example"
KEYED = GatewayAuth(
    secret_keys=(SECRET,),
    public_keys=(PUBLIC,),
    allowed_origins=frozenset({SHOP}),
    signing_key=SIGNING,
)


@asynccontextmanager
async def serving(
    auth: GatewayAuth,
) -> AsyncIterator[tuple[Gateway, TestClient[web.Request, web.Application]]]:
    """A gateway and its application on a test server, without its Kafka clients."""
    gateway = Gateway(Settings(), plaintext_access("127.0.0.1:1"), auth)
    app = gateway.application()
    app.cleanup_ctx.remove(gateway.kafka_clients)
    async with TestClient(TestServer(app)) as client:
        yield gateway, client


@asynccontextmanager
async def client_of(auth: GatewayAuth) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The gateway's application on a test server, without its Kafka clients."""
    async with serving(auth) as (_gateway, client):
        yield client


async def test_the_widget_is_public_typed_and_revalidated_by_its_etag(
    clean_env: pytest.MonkeyPatch,
) -> None:
    async with client_of(KEYED) as client:
        response = await client.get("/basketlift.js", headers={"Origin": "https://evil.example"})
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert await response.read() == WIDGET_JS.read_bytes()
        etag = response.headers["ETag"]
        again = await client.get("/basketlift.js", headers={"If-None-Match": etag})
        assert again.status == 304
        assert await again.read() == b""


async def test_the_demo_is_served_by_an_open_gateway_only(clean_env: pytest.MonkeyPatch) -> None:
    async with client_of(GatewayAuth()) as client:
        page = await client.get("/demo/")
        assert page.status == 200
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert (await client.get("/demo/demo.js")).status == 200
        redirect = await client.get("/demo", allow_redirects=False)
        assert (redirect.status, redirect.headers["Location"]) == (302, "/demo/")
        assert (await client.get("/demo/other.js")).status == 404
    async with client_of(KEYED) as client:
        refused = await client.get("/demo/")
        assert refused.status == 404
        assert "without keys" in (await refused.json())["detail"]


STORE_STREAM = "/v1/store/decisions/stream"


def shoppers_decision(n: int) -> IndexedDecision:
    """A decision of shopper c-<n>, as the index holds it."""
    return IndexedDecision(f"d-{n}", f"e-{n}", f"c-{n}", b'{"decision_id": "d-%d"}' % n)


async def next_message(stream: Any) -> bytes:
    """The next Server-Sent Events message (up to its blank line) of a response."""
    message: bytes = await stream.content.readuntil(b"\n\n")
    return message


def shopper_headers() -> dict[str, str]:
    """A browser's headers: the publishable key and a valid token for shopper c-1."""
    token = mint_token(SIGNING, "c-1", now=time.time(), ttl_seconds=60)
    return {"Authorization": f"Bearer {PUBLIC}", SHOPPER_TOKEN_HEADER: token, "Origin": SHOP}


@pytest.mark.parametrize("path", ["/v1/store/summary", STORE_STREAM])
async def test_the_whole_store_needs_a_secret_key_not_a_shopper_token(
    clean_env: pytest.MonkeyPatch, path: str
) -> None:
    async with client_of(KEYED) as client:
        assert (await client.get(path)).status == 401
        refused = await client.get(path, headers=shopper_headers())
        assert refused.status == 403
        assert "needs a secret key" in (await refused.json())["detail"]
        async with client.get(path, headers={"Authorization": f"Bearer {SECRET}"}) as answered:
            assert answered.status == 200
    async with client_of(GatewayAuth()) as client, client.get(path) as answered:
        assert answered.status == 200  # open on loopback: the demo page's case


async def test_the_store_summary_starts_empty(clean_env: pytest.MonkeyPatch) -> None:
    async with client_of(KEYED) as client:
        answered = await client.get(
            "/v1/store/summary", headers={"Authorization": f"Bearer {SECRET}"}
        )
        summary = await answered.json()
        assert summary["orders"] == 0 and summary["lift"] is None


async def test_the_store_stream_refuses_a_key_in_its_url(clean_env: pytest.MonkeyPatch) -> None:
    async with client_of(KEYED) as client:
        token = shopper_headers()[SHOPPER_TOKEN_HEADER]
        for key in (PUBLIC, SECRET):
            in_url = await client.get(STORE_STREAM, params={"key": key, "shopper_token": token})
            assert in_url.status == 401


async def test_the_store_stream_sends_every_shoppers_decisions_and_the_summary(
    clean_env: pytest.MonkeyPatch,
) -> None:
    async with (
        serving(GatewayAuth()) as (gateway, client),  # the demo's open gateway
        client.get(STORE_STREAM) as stream,
    ):
        assert stream.status == 200
        assert await next_message(stream) == b": subscribed\nretry: 2000\n\n"
        event, data, _blank, _end = (await next_message(stream)).split(b"\n")
        assert event == b"event: summary"
        figures = orjson.loads(data.removeprefix(b"data: "))
        assert figures["orders"] == 0 and "recent_decisions" not in figures
        gateway.index.add(shoppers_decision(1))
        gateway.index.add(shoppers_decision(2))
        received = [await next_message(stream), await next_message(stream)]
        assert received == [sse_message(shoppers_decision(n)) for n in (1, 2)]
        clients = {"stream": "store"}
        assert metrics.REGISTRY.get_sample_value("basketlift_gateway_sse_clients", clients) == 1


async def test_a_stream_client_that_falls_too_far_behind_is_disconnected(
    clean_env: pytest.MonkeyPatch,
) -> None:
    def dropped() -> float:
        value = metrics.REGISTRY.get_sample_value(
            "basketlift_gateway_sse_dropped_total", {"stream": "store"}
        )
        return value or 0.0

    before = dropped()
    async with serving(GatewayAuth()) as (gateway, client):
        async with client.get(STORE_STREAM) as stream:
            assert await next_message(stream) == b": subscribed\nretry: 2000\n\n"
            # More decisions than a stream may queue, without the stream getting a turn.
            for n in range(SUBSCRIPTION_QUEUE + 1):
                gateway.index.add(shoppers_decision(n))
            rest = b""
            with contextlib.suppress(aiohttp.ClientPayloadError):  # aborted mid-stream
                rest = await stream.content.read()
            assert b"event: decision" not in rest  # nothing queued was written after the drop
        assert dropped() == before + 1
        assert gateway.index.subscriber_count == 0

"""The gateway without Kafka: its health, its Server-Sent Events framing, the files it
serves (widget, demo page) and who may read the store summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.gateway.auth import SHOPPER_TOKEN_HEADER, GatewayAuth
from streams.gateway.index import IndexedDecision
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
async def client_of(auth: GatewayAuth) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The gateway's application on a test server, without its Kafka clients."""
    gateway = Gateway(Settings(), plaintext_access("127.0.0.1:1"), auth)
    app = gateway.application()
    app.cleanup_ctx.remove(gateway.kafka_clients)
    async with TestClient(TestServer(app)) as client:
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


async def test_the_store_summary_needs_a_secret_key_not_a_shopper_token(
    clean_env: pytest.MonkeyPatch,
) -> None:
    token = mint_token(SIGNING, "c-1", now=time.time(), ttl_seconds=60)
    shopper = {"Authorization": f"Bearer {PUBLIC}", SHOPPER_TOKEN_HEADER: token, "Origin": SHOP}
    async with client_of(KEYED) as client:
        assert (await client.get("/v1/store/summary")).status == 401
        refused = await client.get("/v1/store/summary", headers=shopper)
        assert refused.status == 403
        answered = await client.get(
            "/v1/store/summary", headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert answered.status == 200
        summary = await answered.json()
        assert summary["orders"] == 0 and summary["lift"] is None
    async with client_of(GatewayAuth()) as client:  # open on loopback: the demo page's case
        assert (await client.get("/v1/store/summary")).status == 200

"""The gateway's health and its Server-Sent Events framing, without Kafka."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest

from streams.gateway.auth import GatewayAuth
from streams.gateway.index import IndexedDecision
from streams.gateway.server import Gateway, sse_message
from streams.kafka.security import plaintext_access
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

"""`ensure_topics` against the real broker: created topics are visible, failures are loud."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.devbroker import BrokerError
from streams.kafka import admin as kafka_admin
from streams.kafka.security import plaintext_access

pytestmark = pytest.mark.integration


async def describe(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Partition count of each topic, from a fresh admin client."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await kafka_admin.existing_partitions(admin, topics)
    finally:
        await admin.close()


async def delete(bootstrap: str, topics: list[str]) -> None:
    """Delete whichever of `topics` exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        present = set(await admin.list_topics())
        if present & set(topics):
            await admin.delete_topics(sorted(present & set(topics)))
    finally:
        await admin.close()


def test_created_topics_are_visible_with_every_partition_when_it_returns(bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    topics = {f"{prefix}.a": {}, f"{prefix}.b": {"cleanup.policy": "compact"}}
    try:
        first = asyncio.run(kafka_admin.ensure_topics(plaintext_access(bootstrap), topics, 3))
        assert first == {f"{prefix}.a": "created", f"{prefix}.b": "created"}
        assert asyncio.run(describe(bootstrap, list(topics))) == dict.fromkeys(topics, 3)
        again = asyncio.run(kafka_admin.ensure_topics(plaintext_access(bootstrap), topics, 3))
        assert again == dict.fromkeys(topics, "exists")
        with pytest.raises(BrokerError, match="partition count other than the configured 4"):
            asyncio.run(kafka_admin.ensure_topics(plaintext_access(bootstrap), topics, 4))
    finally:
        asyncio.run(delete(bootstrap, list(topics)))


def test_a_topic_the_broker_refuses_is_an_error_naming_it(bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.refused"
    try:
        with pytest.raises(BrokerError, match=rf"{topic}.*cleanup\.policy"):
            asyncio.run(
                kafka_admin.ensure_topics(
                    plaintext_access(bootstrap), {topic: {"cleanup.policy": "x"}}, 2
                )
            )
        assert asyncio.run(describe(bootstrap, [topic])) == {}
    finally:
        asyncio.run(delete(bootstrap, [topic]))

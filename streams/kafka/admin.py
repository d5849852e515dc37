"""Topic administration for every Kafka cluster the worker runs against: which topics the
contract needs, creating the missing ones, checking partition counts, and whether a broker
answers. The local development broker (streams.devbroker) uses it too; nothing here starts
or assumes a local broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.security import KafkaAccess
from streams.settings import Settings
from streams.units import DAY_MS


class BrokerError(RuntimeError):
    """The local broker could not be assembled, started or reached."""


async def broker_ready(access: KafkaAccess, timeout: float = 2.0) -> bool:
    """True when a metadata request to the broker succeeds."""
    # aiokafka logs every refused connection at ERROR; while polling they are expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    client = AIOKafkaClient(**access.client_options(), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        return bool(metadata.brokers())
    except Exception:
        return False
    finally:
        await client.close()


def contract_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Every contract topic with its topic-level configs."""
    big = {"max.message.bytes": str(MAX_KAFKA_MESSAGE_BYTES)}
    topics: dict[str, dict[str, str]] = {
        name: dict(big) for name in settings.inbound_topics.values()
    }
    topics[settings.topic_catalog]["cleanup.policy"] = "compact"
    topics[settings.topic_offers] = {}
    topics[settings.topic_deadletter] = {"retention.ms": str(30 * DAY_MS)}
    return topics


def admin_client(access: KafkaAccess, request_timeout_ms: int = 30000) -> AIOKafkaAdminClient:
    """An admin client (not started) with the access's options."""
    return AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=request_timeout_ms)


async def ensure_topics(
    access: KafkaAccess,
    topics: Mapping[str, Mapping[str, str]],
    partitions: int,
    *,
    replication_factor: int = 1,
) -> dict[str, str]:
    """Create missing topics; map each to "created" or "exists"; raise on a partition mismatch."""
    admin = admin_client(access)
    await admin.start()
    try:
        existing = await existing_partitions(admin, list(topics))
        wrong = {t: n for t, n in existing.items() if n != partitions}
        if wrong:
            detail = ", ".join(f"{t} has {n}" for t, n in sorted(wrong.items()))
            raise BrokerError(
                f"topics exist with a partition count other than the configured {partitions}: "
                f"{detail}. Faust needs source and internal topics co-partitioned; recreate "
                "them or set BASKETLIFT_PARTITIONS to match."
            )
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [
                NewTopic(
                    t,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs=dict(topics[t]),
                )
                for t in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                response = await admin.create_topics(new, timeout_ms=30000)
                failed = creation_errors(response.topic_errors)
                if failed:
                    raise BrokerError(f"could not create topics: {failed}")
            await wait_until_visible(admin, missing, partitions)
        return {t: ("created" if t in missing else "exists") for t in topics}
    finally:
        await admin.close()


async def ensure_contract_topics(access: KafkaAccess, settings: Settings) -> dict[str, str]:
    """`ensure_topics` for the contract topics, with the configured partitions and
    replication factor."""
    return await ensure_topics(
        access,
        contract_topics(settings),
        settings.partitions,
        replication_factor=settings.replication_factor,
    )


# The Kafka error code that means "the topic is there" (whoever created it).
_TOPIC_ALREADY_EXISTS = 36


def creation_errors(topic_errors: list[tuple[Any, ...]]) -> dict[str, str]:
    """Topic -> error from a CreateTopics response's (topic, code, message[, ...]) entries."""
    return {
        str(entry[0]): f"error {entry[1]}: {entry[2] if len(entry) > 2 else ''}".strip()
        for entry in topic_errors
        if entry[1] not in (0, _TOPIC_ALREADY_EXISTS)
    }


async def wait_until_visible(
    admin: AIOKafkaAdminClient, topics: list[str], partitions: int, timeout: float = 60.0
) -> None:
    """Wait until the broker's metadata shows every topic with all partitions led.

    A created topic reaches the broker's metadata a moment later (much later on a broker busy
    deleting old topics); a worker that joins its group before then is assigned nothing of it.
    """
    deadline = time.monotonic() + timeout
    pending = sorted(topics)
    while True:
        described = await admin.describe_topics(pending)
        pending = [
            d["topic"]
            for d in described
            if d.get("error_code")
            or len(d["partitions"]) != partitions
            or any(p["leader"] < 0 for p in d["partitions"])
        ]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics created but not visible after {timeout:.0f}s: {pending}")
        await asyncio.sleep(0.2)


async def existing_partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Partition counts of those of `topics` that exist."""
    present = set(await admin.list_topics())
    wanted = [t for t in topics if t in present]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}


async def topic_partition_counts(access: KafkaAccess, topics: list[str]) -> dict[str, int]:
    """Partition counts of those of `topics` that exist."""
    admin = admin_client(access)
    await admin.start()
    try:
        return await existing_partitions(admin, topics)
    finally:
        await admin.close()


async def list_topic_partitions(access: KafkaAccess) -> dict[str, int]:
    """All non-internal topics on the broker with their partition counts."""
    admin = admin_client(access)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        return await existing_partitions(admin, names)
    finally:
        await admin.close()

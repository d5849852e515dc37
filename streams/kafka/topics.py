"""Every topic a worker needs, contract and internal, with what it must look like.

The contract topics come from the settings (`streams.kafka.admin.contract_topics`); the
internal ones from the Faust app as the worker builds it: the channels of its agents that
are internal (re-key and delta topics), the changelog of every table and the leader
assignor's topic (`streams.kafka.faustcompat.leader_topic`). By default the worker creates
every one that is missing before Faust starts (`ensure_worker_topics`); with
BASKETLIFT_CREATE_TOPICS=false it creates none of them and only checks them
(`topic_problems`); `basketlift topics plan` prints them for whoever creates them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import faust
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from faust.types import TopicT
from mode.utils.times import want_seconds

from streams.kafka.admin import admin_client, contract_topics, ensure_topics, existing_partitions
from streams.kafka.faustcompat import leader_topic
from streams.kafka.security import KafkaAccess
from streams.settings import Settings

__all__ = [
    "TopicSpec",
    "ensure_worker_topics",
    "kafka_topics_commands",
    "plan_rows",
    "topic_problems",
    "worker_topics",
]


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the worker needs it."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    """Topic-level configs that must hold (cleanup.policy, retention.ms, ...)."""
    role: str = "contract"
    """`contract` (shared with producers and consumers) or `internal` (this app's own)."""

    @property
    def cleanup_policy(self) -> str:
        """cleanup.policy (Kafka's default: delete)."""
        return self.config.get("cleanup.policy", "delete")

    @property
    def retention(self) -> str:
        """retention.ms as set, or `broker default`."""
        return self.config.get("retention.ms", "broker default")


def faust_topic_config(topic: TopicT) -> dict[str, str]:
    """The configs Faust creates `topic` with (its `config`, cleanup and retention flags)."""
    config: dict[str, str] = {}
    policies = sorted(
        name for name, flag in (("compact", topic.compacting), ("delete", topic.deleting)) if flag
    )
    if policies:
        config["cleanup.policy"] = ",".join(policies)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    config.update({k: str(v) for k, v in (topic.config or {}).items()})
    return config


def internal_topics(app: faust.App) -> list[TopicT]:
    """The internal topics Faust would declare for `app`: internal agent channels, table
    changelogs and the leader assignor's topic."""
    topics: list[TopicT] = [
        agent.channel
        for agent in app.agents.values()
        if isinstance(agent.channel, faust.Topic) and agent.channel.internal
    ]
    topics.extend(table.changelog_topic for table in app.tables.values())
    leader = leader_topic(app)
    if leader is not None:
        topics.append(leader)
    return topics


def worker_topics(settings: Settings, app: faust.App) -> list[TopicSpec]:
    """Every topic a worker of `app` needs: the contract's, then its internal ones."""
    specs = [
        TopicSpec(name, settings.partitions, config)
        for name, config in contract_topics(settings).items()
    ]
    seen = {spec.name for spec in specs}
    for topic in internal_topics(app):
        name = topic.get_topic_name()
        if name in seen:
            continue
        seen.add(name)
        specs.append(
            TopicSpec(
                name,
                topic.partitions or app.conf.topic_partitions,
                faust_topic_config(topic),
                role="internal",
            )
        )
    return specs


async def ensure_worker_topics(
    access: KafkaAccess, settings: Settings, specs: Iterable[TopicSpec]
) -> dict[str, str]:
    """Create the missing topics of `specs` (``worker_topics``) and wait until the broker
    shows them; map each to "created" or "exists" (``admin.ensure_topics``, per partition
    count: the leader assignor's topic has one).

    Faust would declare the internal ones itself, but only as it subscribes: its first
    assignment can run on metadata from before they existed, leave them out ("Ignoring
    missing topic") and the group rebalances again once the consumer's metadata shows them,
    seconds later, pausing the worker in the middle of its traffic. Created beforehand,
    they are in the consumer's first metadata.
    """
    by_partitions: dict[int, dict[str, Mapping[str, str]]] = {}
    for spec in specs:
        by_partitions.setdefault(spec.partitions, {})[spec.name] = spec.config
    outcome: dict[str, str] = {}
    for partitions, topics in sorted(by_partitions.items()):
        outcome.update(
            await ensure_topics(
                access, topics, partitions, replication_factor=settings.replication_factor
            )
        )
    return outcome


async def topic_problems(access: KafkaAccess, specs: Iterable[TopicSpec]) -> list[str]:
    """What is wrong with the topics on the cluster, one phrase per topic: missing, another
    partition count, a config that differs. Empty when every topic is as specified."""
    wanted = {spec.name: spec for spec in specs}
    admin = admin_client(access)
    await admin.start()
    try:
        present = await existing_partitions(admin, list(wanted))
        configs = await described_configs(admin, sorted(present)) if present else {}
    finally:
        await admin.close()
    problems = []
    for name, spec in wanted.items():
        if name not in present:
            problems.append(f"{name} is missing")
            continue
        if present[name] != spec.partitions:
            problems.append(f"{name} has {present[name]} partitions, not {spec.partitions}")
        actual = configs.get(name, {})
        problems.extend(
            f"{name} has {key}={actual.get(key)!r}, not {value!r}"
            for key, value in spec.config.items()
            if not config_matches(key, value, actual.get(key))
        )
    return problems


def config_matches(key: str, wanted: str, actual: str | None) -> bool:
    """True when a topic's config value is the wanted one (cleanup policies in any order)."""
    if actual is None:
        return False
    if key == "cleanup.policy":
        return set(wanted.split(",")) == set(actual.split(","))
    return wanted == actual


async def described_configs(admin: object, topics: list[str]) -> dict[str, dict[str, str]]:
    """Topic -> its config values (defaults included), from DescribeConfigs."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    responses = await admin.describe_configs(resources)  # type: ignore[attr-defined]
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            # (error_code, error_message, resource_type, resource_name, config_entries)
            name, entries = resource[3], resource[4]
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


def plan_rows(specs: Iterable[TopicSpec]) -> list[tuple[str, str, str, str, str]]:
    """(topic, role, partitions, cleanup.policy, retention.ms) of each topic, for a table."""
    return [
        (spec.name, spec.role, str(spec.partitions), spec.cleanup_policy, spec.retention)
        for spec in specs
    ]


def kafka_topics_commands(
    specs: Iterable[TopicSpec], bootstrap_servers: str, replication_factor: int
) -> list[str]:
    """One `kafka-topics.sh --create` command per topic (add `--command-config` with the
    cluster's client properties where it requires authentication)."""
    commands = []
    for spec in specs:
        words = [
            "kafka-topics.sh",
            "--bootstrap-server",
            bootstrap_servers,
            "--create",
            "--if-not-exists",
            "--topic",
            spec.name,
            "--partitions",
            str(spec.partitions),
            "--replication-factor",
            str(replication_factor),
        ]
        for key, value in spec.config.items():
            words += ["--config", f"{key}={value}"]
        commands.append(shlex.join(words))
    return commands

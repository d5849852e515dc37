"""The worker's wiring root: the settings, read once, every domain config built once from
them, the worker-wide runtime objects, and the Faust app.

Every module of the worker takes these from here; none reads the environment itself.
The agents, in the order data flows through them, are registered in `streams.topology`.
"""

from __future__ import annotations

import faust
from faust.types import TableT
from faust.web.base import BlueprintManager

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.config import DomainConfigs, domain_configs
from streams.kafka.faustcompat import (
    install_exactly_once_fixes,
    install_inline_delivery,
    install_shared_rocksdb_memory,
    new_changelog_topic,
)
from streams.kafka.publisher import DirectPublisher
from streams.kafka.security import KafkaAccess, kafka_access
from streams.ops import metrics
from streams.ops.access import ApiGuard
from streams.runtime.clock import EventClock
from streams.runtime.gate import CommitGate
from streams.settings import Settings, get_settings

TABLE_WRITE_BUFFER_BYTES = 8 * 1024 * 1024
"""Memtable size of one table partition's RocksDB database before it is flushed."""


def table_store_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of every table partition's database: small memtables (two of
    `TABLE_WRITE_BUFFER_BYTES`, each database flushing on its own), within the worker's
    budget for all of them (`install_shared_rocksdb_memory`, from `create_app`). Faust's
    defaults are three 64 MiB memtables and a 2 GiB cache per database, and a worker opens
    one database per table and partition. The memory store ignores them."""
    return {
        "write_buffer_size": min(TABLE_WRITE_BUFFER_BYTES, settings.rocksdb_memtables_mib << 20),
        "max_write_buffer_number": 2,
    }


def raw_table(name: str, partitions: int) -> TableT:
    """A table keyed by the UTF-8 id itself, holding bytes the domain code encodes (orjson).

    Raw keys make Kafka's partitioner place a key's changelog record exactly where ingest
    routed its events. Faust derives table serializers from the types (JSON by default),
    so they are set here, before the changelog topic is first created.
    """
    table = app.Table(
        name,
        key_type=str,
        value_type=bytes,
        partitions=partitions,
        default=None,
        options=table_store_options(settings),
    )
    table.key_serializer = "raw"  # type: ignore[attr-defined]
    table.value_serializer = "raw"  # type: ignore[attr-defined]
    # app.Table already built the changelog topic (TableManager.add reads it) with the
    # type-derived serializers (JSON keys): rebuild it so that changelog recovery decodes
    # the raw keys and table_route hashes the same key bytes as the changelog records.
    table.changelog_topic = new_changelog_topic(table)
    return table


def create_app(
    settings: Settings, commit_gate: CommitGate, access: KafkaAccess | None = None
) -> faust.App:
    """Build the Faust app from `settings` (no agents yet; `streams.topology` registers them);
    its clients connect as `access` says (default: as the settings say), like every other
    client of the worker."""
    if access is None:
        access = kafka_access(settings)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=access.faust_credentials(),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        processing_guarantee=settings.processing_guarantee,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        broker_session_timeout=settings.broker_session_timeout_seconds,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_seconds,
        broker_rebalance_timeout=settings.broker_rebalance_timeout_seconds,
        # Faust's leader skips a topic its metadata lacks ("Ignoring missing topic") and the
        # group only rebalances once a metadata refresh shows it: by default after 5 minutes.
        consumer_metadata_max_age_ms=int(settings.metadata_refresh_seconds * 1000),
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_seconds,
        consumer_max_fetch_size=MAX_KAFKA_MESSAGE_BYTES,
        producer_max_request_size=MAX_KAFKA_MESSAGE_BYTES,
        # Table states and delta messages are KBs each; Kafka's default 16 KiB batches would
        # hold only a few of them per request.
        producer_max_batch_size=1024 * 1024,
        producer_linger_ms=settings.producer_linger_ms,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        # With BASKETLIFT_CREATE_TOPICS=false the worker verified at start-up that every
        # topic exists (streams.kafka.topics); Faust must not try to create any.
        topic_allow_declare=settings.create_topics,
        autodiscover=False,
        # Faust's built-in web views are off: /table/... serves raw table values (profiles,
        # offer state) to anyone, /router/... the cluster's layout, and the index, /stats,
        # /assignment, /graph and /performance internals. Routing a request to the worker
        # owning a key (table_route) does not use them.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
    )
    # The settings above leave Faust's production index ("/") on, as would any built-in
    # view a later Faust adds: start from no blueprints at all. Only the pages registered
    # with app.page (streams.topology) are served.
    app.web.blueprints = BlueprintManager()
    if settings.store.startswith("rocksdb"):
        # One read cache and one memtable budget for all tables' databases, so that the
        # worker's memory does not grow with the tables, partitions and keys it holds.
        install_shared_rocksdb_memory(
            settings.rocksdb_block_cache_mib << 20, settings.rocksdb_memtables_mib << 20
        )
    install_exactly_once_fixes(
        app, commit_gate, fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms
    )
    install_inline_delivery(app)
    return app


settings: Settings = get_settings()
"""The worker's settings (BASKETLIFT_* environment variables), read once."""
configs: DomainConfigs = domain_configs(settings)
"""Every domain's configuration, built once from the settings (streams.config)."""
commit_gate = CommitGate(
    on_held=metrics.COMMIT_HOLD_SECONDS.observe, on_committed=metrics.COMMIT_SECONDS.observe
)
"""Holds Faust's commits off while a batch is in flight (streams.runtime.gate); the time each
commit holds new batches off is in basketlift_commit_hold_seconds, its whole duration in
basketlift_commit_seconds."""
kafka: KafkaAccess = kafka_access(settings)
"""How every Kafka client of the worker connects (streams.kafka.security), built once."""
direct_publisher = DirectPublisher(kafka)
"""Sends offer decisions outside the transaction (streams.kafka.publisher); every commit
first waits until what it sent is delivered."""
commit_gate.add_before_commit(direct_publisher.delivered)
event_clock = EventClock(settings.max_future_skew_ms)
"""The latest event time this worker has processed (streams.runtime.clock)."""
api_guard = ApiGuard(settings.api_bearer_token)
"""Who may read the data endpoints (streams.ops.access): the API token, read once."""
app = create_app(settings, commit_gate, kafka)

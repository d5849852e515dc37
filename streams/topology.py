"""The complete worker, in the order data flows: read this file to follow an event.

Every inbound topic has one ingest agent (and one for its re-key topic). A batch goes
through the boundary (validation, dead letters, re-keying: ``streams.ingest.agents``), then
redeliveries are dropped (``streams.ingest.dedupe``), then the topic's steps below run in
the order listed, each staging its writes and sends in the batch's ``BatchContext``
(``streams.runtime.batch``), which is applied once all of them succeeded.

    shop.carts    boundary -> dedupe -> cart prices for the graph -> a `cart` decision
    shop.orders   boundary -> dedupe -> profile + co-purchase deltas -> attribution and a
                                        `confirmation` decision
    shop.clicks   boundary -> dedupe -> category affinity -> offer impressions and fatigue
    shop.privacy  boundary -> consent, profile erasure -> offer state erasure
    shop.catalog  boundary (the catalog view reads the topic itself)
    <app>-copurchase-deltas   product agent: each product absorbs its deltas

The order of the steps matters: a confirmation decision sees the profile with its order
already applied, and erasure removes the profile before the offer state.
Alongside: the replicated views (catalog, products) feed the ranker snapshot; the web pages
(metrics, health, state, offers), the watchdog and the broker contact watch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any

from faust.types import AgentT

from streams.app import api_guard, app, direct_publisher, settings
from streams.catalog import view as catalog_view
from streams.copurchase import agents as copurchase
from streams.copurchase import view as products_view
from streams.copurchase import web as products_web
from streams.copurchase.topics import deltas_topic
from streams.ingest.agents import make_ingest_agent
from streams.ingest.handlers import BatchPreparation, EventHandler
from streams.ingest.topics import inbound_topics, rekey_topics
from streams.offers import agents as offers
from streams.offers import live as offers_live
from streams.offers import web as offers_web
from streams.offers.topics import latest_decisions_table
from streams.ops import brokerwatch, metrics, watchdog
from streams.ops import web as ops_web
from streams.profiles import agents as profiles
from streams.profiles import web as profiles_web
from streams.profiles.topics import profiles_table

__all__ = ["BEFORE_STEPS", "INGEST_AGENTS", "PIPELINE", "PRODUCT_AGENT", "REKEY_AGENTS", "app"]

PIPELINE: dict[str, Sequence[EventHandler]] = {
    "carts": (profiles.handle_carts, offers.decide_for_carts),
    "orders": (profiles.handle_orders, offers.decide_for_orders),
    "clicks": (profiles.handle_clicks, offers.offer_clicks),
    "privacy": (profiles.handle_privacy, offers.forget_offers),
    "catalog": (),
}
"""Per inbound topic, the steps a batch of its valid, first-delivered events goes through."""

BEFORE_STEPS: dict[str, Sequence[BatchPreparation]] = {
    "carts": (offers.recover_published_decisions,),
    "orders": (offers.recover_published_decisions,),
}
"""Per inbound topic, what runs before a batch's deduplication and steps: a partition's
decisions published before a crash or a rebalance are read back (streams.offers.published)."""

INGEST_AGENTS: Mapping[str, AgentT] = {
    logical: make_ingest_agent(logical, topic, PIPELINE, BEFORE_STEPS, from_rekey=False)
    for logical, topic in inbound_topics.items()
}
REKEY_AGENTS: Mapping[str, AgentT] = {
    logical: make_ingest_agent(logical, topic, PIPELINE, BEFORE_STEPS, from_rekey=True)
    for logical, topic in rekey_topics.items()
}
PRODUCT_AGENT = app.agent(deltas_topic, name="basketlift.copurchase.apply")(copurchase.apply_deltas)
metrics.init_topic_labels([topic.get_topic_name() for topic in inbound_topics.values()])
metrics.BUILD_INFO.labels(version=version("basketlift"), app_id=settings.app_id).set(1)

# Decisions leave outside the transaction (streams.kafka.publisher): a rebalance waits until
# they are delivered before giving partitions away, and a new assignment reads them back.


@app.on_partitions_revoked.connect
async def deliver_published_decisions(_app: Any, /, *_revoked: Any, signal: Any, **_: Any) -> None:
    """Before partitions go to another worker, every decision published is on the broker."""
    await direct_publisher.delivered()


@app.on_partitions_assigned.connect
async def read_published_decisions_again(
    _app: Any, /, *_assigned: Any, signal: Any, **_: Any
) -> None:
    """After an assignment, each partition's published decisions (kept or newly assigned)
    are read before its first batch (streams.offers.agents.recover_published_decisions)."""
    offers.partitions_assigned()


@app.on_before_shutdown.connect
async def stop_publisher(_app: Any, /, *_: Any, signal: Any, **__: Any) -> None:
    """After the final commit: deliver what is left and close the decision producer."""
    await direct_publisher.stop()


# Alongside the pipeline: the replicated views, the periodic work, the web pages.
app.task(catalog_view.start_catalog_view)
app.task(products_view.start_products_view)
app.timer(settings.index_refresh_seconds)(offers_live.refresh_ranking_snapshot)
app.timer(settings.stall_check_seconds)(watchdog.watch_progress)
app.timer(brokerwatch.WATCH_EVERY_S)(brokerwatch.watch_broker_contact)
ops_web.install_endpoints()
# The data endpoints: the guard (API token, id length) answers before any routing.
app.page("/state/products/{product_id}")(api_guard.protect(products_web.product_state))
app.page("/state/shoppers/{shopper_id}")(
    api_guard.protect(
        app.table_route(table=profiles_table, match_info="shopper_id")(profiles_web.shopper_state)
    )
)
app.page("/offers/{shopper_id}")(
    api_guard.protect(
        app.table_route(table=latest_decisions_table, match_info="shopper_id")(
            offers_web.latest_offers
        )
    )
)

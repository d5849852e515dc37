"""Shopper-partition handlers: orders, clicks and privacy update profiles and emit deltas.

They run inside the ingest agents (streams.ingest) for events already validated and on their
shopper's partition. Per batch, each profile is read once and written once, and co-purchase
deltas go out as one message per (source partition, product): the transaction of that
partition carries them, so under exactly-once nothing is sent twice after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas import CartEvent, ClickEvent, OrderEvent, PrivacyEvent
from streams import metrics
from streams.catalog.view import list_price
from streams.copurchase import model as copurchase
from streams.copurchase.agents import config as copurchase_config
from streams.copurchase.topics import deltas_topic
from streams.copurchase.view import products_view
from streams.decodedcache import DecodedCache
from streams.eventcontext import acting_for
from streams.ingest.handlers import ValidEvent, handles
from streams.ingest.routing import partition_for_key
from streams.profiles import model as profiles
from streams.profiles.topics import consent_table, profiles_table, sessions_table
from streams.settings import get_settings

settings = get_settings()
profile_config = profiles.ProfileConfig(
    typical_orders=settings.profile_typical_orders,
    new_max_orders=settings.segment_new_max_orders,
    high_spender_typical_order=settings.segment_high_spender_typical_order,
    high_ltv_spend=settings.segment_high_ltv_spend,
    discount_seeker_share=settings.segment_discount_seeker_share,
    discount_seeker_min_orders=settings.segment_discount_seeker_min_orders,
    lapsed_days=settings.segment_lapsed_days,
    price_band_edges=(settings.price_band_budget_below, settings.price_band_premium_from),
)


def consent_granted(shopper_id: str) -> bool:
    """Whether we may keep a profile of this shopper (call inside `acting_for`)."""
    stored = consent_table.get(shopper_id)
    current = None if stored is None else stored == b"1"
    return profiles.is_granted(current, settings.consent_default_granted)


def decode_profile(raw: bytes) -> profiles.ShopperProfile:
    """A profile from its stored JSON."""
    return profiles.ShopperProfile.from_dict(orjson.loads(raw))


# Active shoppers' profiles are read once per cart: decoded once while their bytes stay equal.
decoded_profiles = DecodedCache(decode_profile, settings.profile_cache_size)


def load_profile(shopper_id: str) -> profiles.ShopperProfile:
    """The stored profile, or an empty one (call inside `acting_for`)."""
    raw = profiles_table.get(shopper_id)
    if raw is None:
        return profiles.ShopperProfile.empty(shopper_id)
    return decoded_profiles.get(shopper_id, raw)


def load_session(key: str) -> profiles.SessionState:
    """Dedupe state of a key that keeps no profile (call inside `acting_for`)."""
    raw = sessions_table.get(key)
    if raw is None:
        return profiles.SessionState(key, ())
    return profiles.SessionState(key, tuple(orjson.loads(raw)))


@dataclass
class ShopperBatch:
    """What one batch changed, so each key is written once at the end."""

    changed_profiles: dict[str, tuple[profiles.ShopperProfile, Any]] = field(default_factory=dict)
    changed_sessions: dict[str, tuple[profiles.SessionState, Any]] = field(default_factory=dict)
    deltas: dict[int, tuple[dict[str, copurchase.ProductDelta], Any]] = field(default_factory=dict)

    def profile(self, shopper_id: str, source: Any) -> profiles.ShopperProfile:
        """The profile as this batch has it so far."""
        if shopper_id in self.changed_profiles:
            return self.changed_profiles[shopper_id][0]
        with acting_for(source):
            return load_profile(shopper_id)

    def session(self, key: str, source: Any) -> profiles.SessionState:
        """The dedupe state as this batch has it so far."""
        if key in self.changed_sessions:
            return self.changed_sessions[key][0]
        with acting_for(source):
            return load_session(key)

    def add_deltas(
        self, partition: int, deltas: dict[str, copurchase.ProductDelta], source: Any
    ) -> None:
        """Accumulate deltas per source partition (one message per product at the end)."""
        bucket, _ = self.deltas.get(partition, ({}, source))
        copurchase.merge_delta_maps(bucket, deltas, copurchase_config.half_life_days)
        self.deltas[partition] = (bucket, source)

    async def flush(self) -> None:
        """Write every touched key once and send the deltas."""
        for shopper_id, (profile, source) in self.changed_profiles.items():
            raw = orjson.dumps(profile.to_dict())
            with acting_for(source):
                profiles_table[shopper_id] = raw
            decoded_profiles.remember(shopper_id, raw, profile)
        metrics.PROFILE_UPDATES.inc(len(self.changed_profiles))
        for key, (session, source) in self.changed_sessions.items():
            with acting_for(source):
                sessions_table[key] = orjson.dumps(list(session.recent_event_ids))
        for bucket, source in self.deltas.values():
            by_destination: dict[int, list[dict[str, Any]]] = {}
            for product_id, delta in bucket.items():
                destination = partition_for_key(product_id.encode(), settings.partitions)
                by_destination.setdefault(destination, []).append(delta.to_dict())
            with acting_for(source):
                # One message per destination partition: thousands of tiny sends cost ~3 ms
                # each in Faust's producer path, a handful of larger ones almost nothing.
                for destination, deltas in by_destination.items():
                    await deltas_topic.send(
                        key=None, value=orjson.dumps(deltas), partition=destination
                    )


def delete_key(table: Any, key: str) -> None:
    """Delete a key if present; the changelog gets a tombstone (call inside `acting_for`)."""
    if table.get(key) is not None:
        del table[key]


def order_facts(order: OrderEvent) -> profiles.OrderFacts:
    """The profile's view of an order, with catalog list prices for discount detection."""
    return profiles.order_facts_from_event(order, list_price)


def is_duplicate(
    batch: ShopperBatch, event_id: str, shopper_id: str | None, key: str, granted: bool, source: Any
) -> bool:
    """True if this event was already processed; otherwise remember it where we can."""
    if shopper_id is not None and granted:
        return batch.profile(shopper_id, source).has_seen(event_id)
    session = batch.session(key, source)
    if session.has_seen(event_id):
        return True
    batch.changed_sessions[key] = (
        session.with_event(event_id, profile_config.max_recent_event_ids),
        source,
    )
    return False


@handles("orders")
async def handle_orders(valid: Sequence[ValidEvent]) -> None:
    """Profiles and co-purchase deltas from completed orders."""
    batch = ShopperBatch()
    for record, event in valid:
        assert isinstance(event, OrderEvent)
        source = record.source
        shopper_id = event.shopper_id
        with acting_for(source):
            granted = shopper_id is not None and consent_granted(shopper_id)
        if is_duplicate(batch, event.event_id, shopper_id, event.routing_key, granted, source):
            metrics.DUPLICATES.labels(topic=record.topic).inc()
            continue
        facts = copurchase.OrderFacts.from_lines(event.ts, event.items)
        recent: dict[str, int] = {}
        if shopper_id is not None and granted:
            profile = batch.profile(shopper_id, source)
            recent = dict(profile.recent_products)
            batch.changed_profiles[shopper_id] = (
                profile.with_order(order_facts(event), profile_config),
                source,
            )
        deltas = copurchase.deltas_for_order(facts, recent, copurchase_config)
        deltas[copurchase.TOTAL_ORDERS_KEY] = copurchase.total_orders_delta(event.ts)
        batch.add_deltas(record.partition, deltas, source)
    await batch.flush()


def price_news(event: CartEvent) -> dict[str, copurchase.ProductDelta]:
    """Price-only deltas for cart items whose price the catalog and graph do not know yet."""
    news: dict[str, copurchase.ProductDelta] = {}
    for item in event.items:
        if list_price(item.product_id) is not None:
            continue  # the catalog is authoritative for its products
        known = products_view.get(item.product_id)
        if known is not None and (
            known.last_price == item.unit_price or known.last_price_ts >= event.ts
        ):
            continue
        news[item.product_id] = copurchase.ProductDelta(
            item.product_id, event.ts, 0.0, {}, item.unit_price, event.ts, item.category
        )
    return news


@handles("carts")
async def handle_carts(valid: Sequence[ValidEvent]) -> None:
    """Prices last seen in carts fill in for products the catalog lacks."""
    batch = ShopperBatch()
    for record, event in valid:
        assert isinstance(event, CartEvent)
        news = price_news(event)
        if news:
            batch.add_deltas(record.partition, news, record.source)
    await batch.flush()


@handles("clicks")
async def handle_clicks(valid: Sequence[ValidEvent]) -> None:
    """Category affinity from browsing (consenting, identified shoppers only)."""
    batch = ShopperBatch()
    for record, event in valid:
        assert isinstance(event, ClickEvent)
        shopper_id = event.shopper_id
        if shopper_id is None:
            continue
        source = record.source
        with acting_for(source):
            if not consent_granted(shopper_id):
                continue
        profile = batch.profile(shopper_id, source)
        if profile.has_seen(event.event_id):
            metrics.DUPLICATES.labels(topic=record.topic).inc()
            continue
        batch.changed_profiles[shopper_id] = (
            profile.with_click(profiles.click_facts_from_event(event), profile_config),
            source,
        )
    await batch.flush()


@handles("privacy")
async def handle_privacy(valid: Sequence[ValidEvent]) -> None:
    """Consent changes and erasure, applied in order; deletes leave changelog tombstones."""
    for record, event in valid:
        assert isinstance(event, PrivacyEvent)
        shopper_id = event.shopper_id
        with acting_for(record.source):
            if event.action == "grant":
                consent_table[shopper_id] = b"1"
            elif event.action == "revoke":
                consent_table[shopper_id] = b"0"
                delete_key(profiles_table, shopper_id)
            else:  # erase: forget the shopper in every table keyed by them
                for table in (profiles_table, consent_table, sessions_table):
                    delete_key(table, shopper_id)
            if event.action != "grant":
                decoded_profiles.forget(shopper_id)
        metrics.ERASURES.labels(action=event.action).inc()

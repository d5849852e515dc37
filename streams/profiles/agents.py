"""Shopper-partition handlers: orders, clicks and privacy update profiles and emit deltas.

They run inside the ingest agents (streams.ingest) for events already validated and on their
shopper's partition, never for a redelivered event (streams.ingest.dedupe). Per batch, each
profile is read once and staged once in the batch's `BatchContext` (written only when every
handler of the batch succeeded), and co-purchase deltas go out as messages of at most
`DELTA_MESSAGE_BYTES` per destination partition: the transaction of the source partition
carries them, so under exactly-once nothing is sent twice after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
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
from streams.ingest.dedupe import DEDUPED_TOPICS, dedupe_key
from streams.ingest.handlers import ValidEvent, handles
from streams.ingest.routing import partition_for_key
from streams.ingest.topics import dedupe_table
from streams.profiles import model as profiles
from streams.profiles.topics import consent_table, profiles_table
from streams.runtime.batch import BatchContext
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


def consent_granted(batch: BatchContext, shopper_id: str, source: Any) -> bool:
    """Whether we may keep a profile of this shopper, as the batch has it so far."""
    stored = batch.get(consent_table, shopper_id, source)
    current = None if stored is None else stored == b"1"
    return profiles.is_granted(current, settings.consent_default_granted)


def decode_profile(raw: bytes) -> profiles.ShopperProfile:
    """A profile from its stored JSON."""
    return profiles.ShopperProfile.from_dict(orjson.loads(raw))


# Active shoppers' profiles are read once per cart: decoded once while their bytes stay equal.
decoded_profiles = DecodedCache(decode_profile, settings.profile_cache_size)


def load_profile(batch: BatchContext, shopper_id: str, source: Any) -> profiles.ShopperProfile:
    """The profile as the batch has it so far, or an empty one."""
    raw = batch.get(profiles_table, shopper_id, source)
    if raw is None:
        return profiles.ShopperProfile.empty(shopper_id)
    return decoded_profiles.get(shopper_id, raw)


def has_profile(batch: BatchContext, shopper_id: str, source: Any) -> bool:
    """Whether a profile is stored for this shopper, as the batch has it so far."""
    return batch.get(profiles_table, shopper_id, source) is not None


@dataclass
class ShopperBatch:
    """The profiles and co-purchase deltas a handler changed, staged once per key at the end."""

    context: BatchContext
    changed_profiles: dict[str, tuple[profiles.ShopperProfile, Any]] = field(default_factory=dict)
    deltas: dict[int, tuple[dict[str, copurchase.ProductDelta], Any]] = field(default_factory=dict)

    def profile(self, shopper_id: str, source: Any) -> profiles.ShopperProfile:
        """The profile as this batch has it so far."""
        if shopper_id in self.changed_profiles:
            return self.changed_profiles[shopper_id][0]
        return load_profile(self.context, shopper_id, source)

    def add_deltas(
        self, partition: int, deltas: dict[str, copurchase.ProductDelta], source: Any
    ) -> None:
        """Accumulate deltas per source partition (one message per product at the end)."""
        bucket, _ = self.deltas.get(partition, ({}, source))
        copurchase.merge_delta_maps(bucket, deltas, copurchase_config.half_life_days)
        self.deltas[partition] = (bucket, source)

    def stage(self) -> None:
        """Stage every changed profile once and the deltas as size-bounded messages."""
        context = self.context
        for shopper_id, (profile, source) in self.changed_profiles.items():
            raw = orjson.dumps(profile.to_dict())
            context.put(profiles_table, shopper_id, raw, source)
            context.after_apply(partial(decoded_profiles.remember, shopper_id, raw, profile))
        if self.changed_profiles:
            context.after_apply(partial(metrics.PROFILE_UPDATES.inc, len(self.changed_profiles)))
        for bucket, source in self.deltas.values():
            by_destination: dict[int, list[copurchase.ProductDelta]] = {}
            for product_id, delta in bucket.items():
                destination = partition_for_key(product_id.encode(), settings.partitions)
                by_destination.setdefault(destination, []).append(delta)
            # Few larger messages per destination partition: thousands of tiny sends cost
            # ~3 ms each in Faust's producer path; each stays under the message size limit.
            for destination, deltas in by_destination.items():
                for message in copurchase.delta_messages(deltas):
                    context.send(
                        deltas_topic, key=None, value=message, source=source, partition=destination
                    )


def order_facts(order: OrderEvent) -> profiles.OrderFacts:
    """The profile's view of an order, with catalog list prices for discount detection."""
    return profiles.order_facts_from_event(order, list_price)


@handles("orders")
async def handle_orders(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Profiles and co-purchase deltas from completed orders (redeliveries never get here)."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, OrderEvent)
        source = record.source
        shopper_id = event.shopper_id
        facts = copurchase.OrderFacts.from_lines(event.ts, event.items)
        recent: dict[str, int] = {}
        if shopper_id is not None and consent_granted(context, shopper_id, source):
            profile = batch.profile(shopper_id, source)
            recent = dict(profile.recent_products)
            batch.changed_profiles[shopper_id] = (
                profile.with_order(order_facts(event), profile_config),
                source,
            )
        deltas = copurchase.deltas_for_order(facts, recent, copurchase_config)
        deltas[copurchase.TOTAL_ORDERS_KEY] = copurchase.total_orders_delta(event.ts)
        batch.add_deltas(record.partition, deltas, source)
    batch.stage()


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
async def handle_carts(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Prices last seen in carts fill in for products the catalog lacks."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, CartEvent)
        news = price_news(event)
        if news:
            batch.add_deltas(record.partition, news, record.source)
    batch.stage()


@handles("clicks")
async def handle_clicks(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Category affinity from browsing (consenting, identified shoppers only)."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, ClickEvent)
        shopper_id = event.shopper_id
        source = record.source
        if shopper_id is None or not consent_granted(context, shopper_id, source):
            continue
        profile = batch.profile(shopper_id, source)
        batch.changed_profiles[shopper_id] = (
            profile.with_click(profiles.click_facts_from_event(event), profile_config),
            source,
        )
    batch.stage()


@handles("privacy")
async def handle_privacy(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Consent changes and erasure, applied in order; deletes leave changelog tombstones."""
    for record, event in valid:
        assert isinstance(event, PrivacyEvent)
        shopper_id = event.shopper_id
        source = record.source
        if event.action == "grant":
            context.put(consent_table, shopper_id, b"1", source)
        elif event.action == "revoke":
            context.put(consent_table, shopper_id, b"0", source)
            context.delete(profiles_table, shopper_id, source)
        else:  # erase: forget the shopper in every table keyed by them
            context.delete(profiles_table, shopper_id, source)
            context.delete(consent_table, shopper_id, source)
            for logical in DEDUPED_TOPICS:
                context.delete(dedupe_table, dedupe_key(logical, shopper_id), source)
        if event.action != "grant":
            context.after_apply(partial(decoded_profiles.forget, shopper_id))
        context.after_apply(metrics.ERASURES.labels(action=event.action).inc)

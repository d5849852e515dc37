"""Shopper-partition handlers: orders, clicks and privacy update profiles and emit deltas.

They are steps of the pipeline (``streams.topology`` lists them); each loads a shopper's
state, applies the pure steps of ``streams.profiles.step`` and ``streams.copurchase.step``,
and stages the result. They run for events already validated and on their
shopper's partition, never for a redelivered event (streams.ingest.dedupe). Per batch, each
profile is read once and staged once in the batch's `BatchContext` (written only when every
handler of the batch succeeded), and co-purchase deltas go out as messages of at most
`DELTA_MESSAGE_BYTES` per destination partition: the transaction of the source partition
carries them, so under exactly-once nothing is sent twice after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from schemas import CartEvent, ClickEvent, OrderEvent, PrivacyEvent
from streams.app import configs, settings
from streams.catalog.view import list_price
from streams.copurchase import model as copurchase
from streams.copurchase import step as copurchase_step
from streams.copurchase.agents import config as copurchase_config
from streams.copurchase.topics import deltas_topic
from streams.copurchase.view import products_view
from streams.ingest.dedupe import DEDUPED_TOPICS, dedupe_key
from streams.ingest.handlers import ValidEvent
from streams.ingest.routing import partition_for_key
from streams.ingest.topics import dedupe_table
from streams.ops import metrics
from streams.profiles import model as profiles
from streams.profiles import step as profile_step
from streams.profiles.step import ShopperState
from streams.profiles.topics import consent_table, profiles_table
from streams.runtime.batch import BatchContext
from streams.runtime.decodedcache import DecodedCache

profile_config = configs.profile


def stored_consent(batch: BatchContext, shopper_id: str, source: Any) -> profiles.ConsentState:
    """The shopper's recorded consent as the batch has it: True, False, or None (none)."""
    stored = batch.get(consent_table, shopper_id, source)
    return None if stored is None else stored == b"1"


def consent_granted(batch: BatchContext, shopper_id: str, source: Any) -> bool:
    """Whether we may keep a profile of this shopper, as the batch has it so far."""
    current = stored_consent(batch, shopper_id, source)
    return profiles.is_granted(current, settings.consent_default_granted)


def decode_profile(raw: bytes) -> profiles.ShopperProfile:
    """A profile from its stored JSON."""
    return profiles.ShopperProfile.from_dict(orjson.loads(raw))


# Active shoppers' profiles are read once per cart: decoded once while their bytes stay equal.
decoded_profiles = DecodedCache(decode_profile, settings.profile_cache_size)


def load_shopper(batch: BatchContext, shopper_id: str, source: Any) -> ShopperState:
    """A shopper's consent and profile as the batch has them so far."""
    raw = batch.get(profiles_table, shopper_id, source)
    profile = None if raw is None else decoded_profiles.get(shopper_id, raw)
    return ShopperState(shopper_id, stored_consent(batch, shopper_id, source), profile)


CONSENT_BYTES = {True: b"1", False: b"0"}


@dataclass
class ShopperBatch:
    """The shoppers and co-purchase deltas a handler changed, staged once per key at the end."""

    context: BatchContext
    shoppers: dict[str, tuple[ShopperState, ShopperState, Any]] = field(default_factory=dict)
    """shopper id -> (as loaded, as changed, the event of the last change)."""
    deltas: dict[int, tuple[dict[str, copurchase.ProductDelta], Any]] = field(default_factory=dict)

    def shopper(self, shopper_id: str, source: Any) -> ShopperState:
        """The shopper's state as this batch has it so far."""
        if shopper_id in self.shoppers:
            return self.shoppers[shopper_id][1]
        return load_shopper(self.context, shopper_id, source)

    def update(self, state: ShopperState, source: Any) -> None:
        """Record the shopper's new state (staged at `stage`)."""
        held = self.shoppers.get(state.shopper_id)
        loaded = held[0] if held is not None else self.shopper(state.shopper_id, source)
        self.shoppers[state.shopper_id] = (loaded, state, source)

    def add_deltas(
        self, partition: int, deltas: dict[str, copurchase.ProductDelta], source: Any
    ) -> None:
        """Accumulate deltas per source partition (one message per product at the end)."""
        bucket, _ = self.deltas.get(partition, ({}, source))
        copurchase_step.merge_into(bucket, deltas, copurchase_config)
        self.deltas[partition] = (bucket, source)

    def stage(self) -> None:
        """Stage every changed profile and consent once, and the deltas as size-bounded
        messages."""
        context = self.context
        profiles_written = 0
        for shopper_id, (loaded, state, source) in self.shoppers.items():
            if state.consent != loaded.consent:
                if state.consent is None:
                    context.delete(consent_table, shopper_id, source)
                else:
                    context.put(consent_table, shopper_id, CONSENT_BYTES[state.consent], source)
            if state.profile is loaded.profile:
                continue
            if state.profile is None:
                context.delete(profiles_table, shopper_id, source)
                context.after_apply(partial(decoded_profiles.forget, shopper_id))
                continue
            raw = orjson.dumps(state.profile.to_dict())
            context.put(profiles_table, shopper_id, raw, source)
            context.after_apply(partial(decoded_profiles.remember, shopper_id, raw, state.profile))
            profiles_written += 1
        if profiles_written:
            context.after_apply(partial(metrics.PROFILE_UPDATES.inc, profiles_written))
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


async def handle_orders(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Profiles and co-purchase deltas from completed orders (streams.profiles.step,
    streams.copurchase.step); redeliveries never get here."""
    batch = ShopperBatch(context)
    default_granted = settings.consent_default_granted
    for record, event in valid:
        assert isinstance(event, OrderEvent)
        source = record.source
        bought_before: Mapping[str, int] = {}
        if event.shopper_id is not None:
            state, bought_before = profile_step.apply_order(
                batch.shopper(event.shopper_id, source),
                order_facts(event),
                profile_config,
                default_granted,
            )
            batch.update(state, source)
        facts = copurchase.OrderFacts.from_lines(event.ts, event.items)
        deltas = copurchase_step.order_deltas(facts, bought_before, copurchase_config)
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


async def handle_carts(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Prices last seen in carts fill in for products the catalog lacks."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, CartEvent)
        news = price_news(event)
        if news:
            batch.add_deltas(record.partition, news, record.source)
    batch.stage()


async def handle_clicks(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Category affinity from browsing (identified shoppers who may be profiled)."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, ClickEvent)
        if event.shopper_id is None:
            continue
        state = profile_step.apply_click(
            batch.shopper(event.shopper_id, record.source),
            profiles.click_facts_from_event(event),
            profile_config,
            settings.consent_default_granted,
        )
        batch.update(state, record.source)
    batch.stage()


async def handle_privacy(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Consent changes and erasure, in order (streams.profiles.step); deletes leave changelog
    tombstones, and erasure also forgets the event ids remembered for the shopper."""
    batch = ShopperBatch(context)
    for record, event in valid:
        assert isinstance(event, PrivacyEvent)
        source = record.source
        state = profile_step.apply_privacy(
            batch.shopper(event.shopper_id, source),
            event.action,
            settings.consent_default_granted,
        )
        batch.update(state, source)
        if event.action == "erase":
            for logical in DEDUPED_TOPICS:
                context.delete(dedupe_table, dedupe_key(logical, event.shopper_id), source)
        context.after_apply(metrics.ERASURES.labels(action=event.action).inc)
    batch.stage()

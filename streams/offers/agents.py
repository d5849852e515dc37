"""Offer decisions on the stream: one per cart event and per order event, to `shop.offers`.

These handlers run inside the ingest agents (streams.ingest), after the profile handlers of
the same batch, for events already validated and on their shopper's partition. Per batch,
each shopper's latest decision and fatigue state are written once. Clicks feed fatigue;
privacy requests delete what this domain keeps about a shopper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas import CartEvent, ClickEvent, OrderEvent, PrivacyEvent, encode
from streams import metrics
from streams.eventcontext import acting_for
from streams.ingest.agents import send_dead_letter
from streams.ingest.handlers import ValidEvent, handles
from streams.offers import decisions
from streams.offers.fatigue import FatigueConfig, FatigueState
from streams.offers.live import live_snapshot
from streams.offers.ranker import RankerConfig
from streams.offers.topics import fatigue_table, latest_decisions_table, offers_topic
from streams.profiles.agents import consent_granted, delete_key, load_profile
from streams.profiles.topics import profiles_table
from streams.settings import get_settings

log = logging.getLogger(__name__)
decision_log = logging.getLogger("basketlift.decisions")
settings = get_settings()
DECISION_LOG_LEVEL = logging.getLevelNamesMapping().get(settings.decision_log_level.upper(), 20)

decision_config = decisions.DecisionConfig(
    ranker=RankerConfig(
        top_n=settings.offers_top_n, max_per_category=settings.offers_max_per_category
    ),
    post_purchase_exclude_days=settings.post_purchase_exclude_days,
    model_version=settings.model_version,
)
fatigue_config = FatigueConfig(
    max_impressions=settings.fatigue_max_impressions,
    window_days=settings.fatigue_window_days,
    suppress_days=settings.fatigue_suppress_days,
)


def load_fatigue(shopper_id: str) -> FatigueState:
    """The stored fatigue state, or an empty one (call inside `acting_for`)."""
    raw = fatigue_table.get(shopper_id)
    return FatigueState.from_dict(orjson.loads(raw)) if raw else FatigueState()


def load_latest_decision(shopper_id: str) -> dict[str, Any] | None:
    """The latest decision sent for a shopper, as JSON (call inside `acting_for`)."""
    raw = latest_decisions_table.get(shopper_id)
    return orjson.loads(raw) if raw else None


@dataclass
class OffersBatch:
    """Per-shopper state this batch read or changed, so each key is written once."""

    fatigue: dict[str, tuple[FatigueState, Any, bool]] = field(default_factory=dict)
    latest: dict[str, tuple[bytes, Any]] = field(default_factory=dict)

    def fatigue_of(self, shopper_id: str, source: Any) -> FatigueState:
        """The shopper's fatigue state as this batch has it so far."""
        if shopper_id in self.fatigue:
            return self.fatigue[shopper_id][0]
        with acting_for(source):
            state = load_fatigue(shopper_id)
        self.fatigue[shopper_id] = (state, source, False)
        return state

    def set_fatigue(self, shopper_id: str, state: FatigueState, source: Any) -> None:
        """Record a changed fatigue state (written at flush)."""
        self.fatigue[shopper_id] = (state, source, True)

    def flush(self, now_ms: int) -> None:
        """Write every changed key once: fatigue (pruned; empty = deleted) and decisions."""
        for shopper_id, (state, source, changed) in self.fatigue.items():
            if not changed:
                continue
            state = state.pruned(now_ms, fatigue_config)
            with acting_for(source):
                if state.products:
                    fatigue_table[shopper_id] = orjson.dumps(state.to_dict())
                else:
                    delete_key(fatigue_table, shopper_id)
        for shopper_id, (payload, source) in self.latest.items():
            with acting_for(source):
                latest_decisions_table[shopper_id] = payload


def cohort_of(event: decisions.Trigger) -> decisions.Cohort:
    """Which experiment arm the trigger's shopper (or session) is in."""
    return "treatment"


async def decide(record: Any, event: decisions.Trigger, batch: OffersBatch) -> None:
    """Rank, send one decision for this trigger, log and count it."""
    source = record.source
    shopper_id = event.shopper_id
    profile = None
    suppressed: frozenset[str] = frozenset()
    if shopper_id is not None:
        with acting_for(source):
            granted = consent_granted(shopper_id)
            # No stored profile (new shopper) ranks like an anonymous cart, as offline.
            profile = load_profile(shopper_id) if granted and shopper_id in profiles_table else None
        if granted:
            fatigue = batch.fatigue_of(shopper_id, source)
            suppressed = fatigue.suppressed(event.ts, fatigue_config)
            if isinstance(event, OrderEvent) and fatigue.products:
                for item in event.items:
                    fatigue = fatigue.with_purchase(item.product_id)
                batch.set_fatigue(shopper_id, fatigue, source)
    cohort = cohort_of(event)
    offers = []
    if cohort == "treatment":
        offers = decisions.choose_offers(
            event, live_snapshot.current(), profile, suppressed, decision_config
        )
    decision = decisions.make_decision(
        event,
        offers,
        cohort=cohort,
        model_version=decision_config.model_version,
        now_ms=int(time.time() * 1000),
    )
    payload = encode(decision)
    with acting_for(source):
        await offers_topic.send(key=decision.routing_key.encode(), value=payload)
    received = getattr(source.message, "time_in", None)
    if received is not None:
        metrics.DECISION_LATENCY.labels(placement=decision.placement).observe(
            time.monotonic() - received
        )
    metrics.DECISIONS.labels(placement=decision.placement, cohort=decision.cohort).inc()
    for offer in decision.offers:
        metrics.OFFERS.labels(placement=decision.placement, kind=offer.kind).inc()
    if decision_log.isEnabledFor(DECISION_LOG_LEVEL):
        record_log = decisions.decision_log_record(
            decision, record.topic, record.partition, record.offset
        )
        decision_log.log(DECISION_LOG_LEVEL, "decision %s", orjson.dumps(record_log).decode())
    if shopper_id is not None:
        batch.latest[shopper_id] = (payload, source)


async def decide_batch(valid: Sequence[ValidEvent]) -> None:
    """One decision per trigger; a trigger whose decision fails is dead-lettered, not lost."""
    batch = OffersBatch()
    latest_ts = 0
    for record, event in valid:
        assert isinstance(event, CartEvent | OrderEvent)
        latest_ts = max(latest_ts, event.ts)
        try:
            await decide(record, event, batch)
        except Exception as exc:
            log.exception(
                "no decision for %s[%d]@%d", record.topic, record.partition, record.offset
            )
            metrics.PROCESSING_ERRORS.labels(topic=record.topic).inc()
            await send_dead_letter(record, f"decision_error: {exc!r}"[:500])
    batch.flush(latest_ts)


@handles("carts")
async def decide_for_carts(valid: Sequence[ValidEvent]) -> None:
    """A `cart` placement decision (cross-sell) for every cart event."""
    await decide_batch(valid)


@handles("orders")
async def decide_for_orders(valid: Sequence[ValidEvent]) -> None:
    """A `confirmation` placement decision (post-purchase) for every order event."""
    await decide_batch(valid)


@handles("clicks")
async def fatigue_from_clicks(valid: Sequence[ValidEvent]) -> None:
    """Offer impressions and dismissals of identified, consenting shoppers feed fatigue."""
    batch = OffersBatch()
    latest_ts = 0
    for record, event in valid:
        assert isinstance(event, ClickEvent)
        shopper_id = event.shopper_id
        if shopper_id is None or event.action not in ("offer_impression", "offer_dismiss"):
            continue
        source = record.source
        with acting_for(source):
            if not consent_granted(shopper_id):
                continue
            product_id = event.product_id or decisions.product_of_offer(
                load_latest_decision(shopper_id), event.offer_id or ""
            )
        if product_id is None:
            # Without product_id, only offers of the shopper's latest decision are known.
            metrics.FATIGUE_UPDATES.labels(action="unknown_offer").inc()
            continue
        latest_ts = max(latest_ts, event.ts)
        state = batch.fatigue_of(shopper_id, source)
        if event.action == "offer_impression":
            state = state.with_impression(product_id, event.ts, fatigue_config)
        else:
            state = state.with_dismissal(product_id, event.ts)
        batch.set_fatigue(shopper_id, state, source)
        metrics.FATIGUE_UPDATES.labels(action=event.action).inc()
    batch.flush(latest_ts)


@handles("privacy")
async def forget_offers(valid: Sequence[ValidEvent]) -> None:
    """Revoke drops the shopper's fatigue state; erase drops it and their latest decision."""
    for record, event in valid:
        assert isinstance(event, PrivacyEvent)
        if event.action == "grant":
            continue
        with acting_for(record.source):
            delete_key(fatigue_table, event.shopper_id)
            if event.action == "erase":
                delete_key(latest_decisions_table, event.shopper_id)

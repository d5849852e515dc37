"""Offer decisions on the stream: one per cart event and per order event, to `shop.offers`.

These handlers run inside the ingest agents (streams.ingest), after the profile handlers of
the same batch (this module imports them first), for events already validated and on their
shopper's partition. Per batch, each key's ledger, fatigue state and latest decision are
written once. A decision: the cohort (holdout: empty), the rules and the ranker (cart) or
post-purchase ranking (order), calibrated by observed acceptance, and the nudges (cart).
Orders are attributed to the offers the shopper was shown; clicks feed fatigue and the
impression counters; privacy requests delete what this domain keeps about a shopper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import orjson

from schemas import CartEvent, ClickEvent, OrderEvent, PrivacyEvent, encode
from streams import metrics
from streams.catalog.view import catalog_view, list_price
from streams.copurchase.view import products_view
from streams.experiment import AttributionConfig, OfferLedger, cohort_for
from streams.experiment.window import SlidingMean
from streams.ingest.handlers import ValidEvent, handles
from streams.nudges import NudgeConfig, parse_tiers
from streams.offers import decisions
from streams.offers.fatigue import FatigueConfig, FatigueState
from streams.offers.live import live_snapshot
from streams.offers.ranking import ObservedCounts, RankerConfig
from streams.offers.topics import (
    fatigue_table,
    latest_decisions_table,
    ledger_table,
    offers_topic,
)
from streams.profiles.agents import consent_granted, has_profile, load_profile, profile_config
from streams.profiles.model import order_value
from streams.rules import EMPTY_RULES, RuleFileWatcher, RuleSet
from streams.runtime.batch import BatchContext
from streams.settings import get_settings
from streams.units import HOUR_MS

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
    acceptance_prior_strength=settings.acceptance_prior_strength,
    nudges=NudgeConfig(
        shipping_base=settings.free_shipping_base,
        shipping_minimum=settings.free_shipping_min,
        shipping_maximum=settings.free_shipping_max,
        shipping_factor=settings.free_shipping_factor,
        shipping_max_gap_share=settings.free_shipping_max_gap_share,
        tiers=parse_tiers(settings.loyalty_tiers),
        tier_proximity_min=settings.loyalty_proximity_min,
        tier_proximity_max=settings.loyalty_proximity_max,
    ),
    profile=profile_config,
)
fatigue_config = FatigueConfig(
    max_impressions=settings.fatigue_max_impressions,
    window_days=settings.fatigue_window_days,
    suppress_days=settings.fatigue_suppress_days,
)
attribution_config = AttributionConfig(
    cart_window_ms=int(settings.attribution_cart_hours * HOUR_MS),
    confirmation_window_ms=int(settings.attribution_confirmation_days * 24 * HOUR_MS),
)
rules_watcher = (
    RuleFileWatcher(settings.rules_file, check_interval_s=settings.rules_check_seconds)
    if settings.rules_file is not None
    else None
)
# Offers (shown, accepted) per placement and product on this worker: a sample of all
# shoppers (those of its partitions), kept in memory; it restarts from zero with the worker.
acceptance_counts: dict[str, ObservedCounts] = {p: ObservedCounts() for p in metrics.PLACEMENTS}


def count_acceptance(placement: str, product_id: str, shown: int, accepted: int) -> None:
    """Add to the (shown, accepted) counts of a product at a placement."""
    counts = acceptance_counts.get(placement)
    if counts is None:
        counts = acceptance_counts[placement] = ObservedCounts()
    counts.add(product_id, shown, accepted)


aov_windows = {cohort: SlidingMean(settings.aov_window_seconds) for cohort in metrics.COHORTS}
metrics.HOLDOUT_FRACTION.set(settings.holdout_fraction)


def current_rules() -> RuleSet:
    """The rules in force (reloaded when the file changes; the last good set otherwise)."""
    return rules_watcher.current() if rules_watcher is not None else EMPTY_RULES


def catalog_facts(
    product_id: str,
) -> tuple[float | None, str | None, bool | None, float | None] | None:
    """(price, category, in_stock, margin) from the catalog, else from the co-purchase view."""
    entry = catalog_view.get(product_id)
    if entry is not None:
        return entry.unit_price, entry.category, entry.in_stock, entry.margin
    state = products_view.get(product_id)
    if state is not None:
        return state.last_price, state.category, None, None
    return None


def cohort_of(event: decisions.Trigger | ClickEvent) -> decisions.Cohort:
    """The experiment arm of the event's shopper (or session, when anonymous)."""
    unit = event.shopper_id or event.session_id or ""
    return cohort_for(unit, settings.holdout_salt, settings.holdout_fraction)


def decode_fatigue(raw: bytes | None) -> FatigueState:
    """A stored fatigue state, or an empty one."""
    return FatigueState.from_dict(orjson.loads(raw)) if raw else FatigueState()


def decode_ledger(raw: bytes | None) -> OfferLedger:
    """The offers recently shown to a shopper or session, or none."""
    return OfferLedger.from_dict(orjson.loads(raw)) if raw else OfferLedger()


S = TypeVar("S", FatigueState, OfferLedger)


@dataclass
class BatchedStates(Generic[S]):
    """One table's states a handler read or changed; each changed key is staged once."""

    context: BatchContext
    table: Any
    decode: Callable[[bytes | None], S]
    prune: Callable[[S, int], S | None]
    """The state to store at a time; None when nothing is left (the key is deleted)."""
    states: dict[str, tuple[S, Any, bool]] = field(default_factory=dict)

    def get(self, key: str, source: Any) -> S:
        """The key's state as this batch has it so far."""
        if key not in self.states:
            raw = self.context.get(self.table, key, source)
            self.states[key] = (self.decode(raw), source, False)
        return self.states[key][0]

    def set(self, key: str, state: S, source: Any) -> None:
        """Record a changed state (staged at `stage`)."""
        self.states[key] = (state, source, True)

    def stage(self, now_ms: int) -> None:
        """Stage every changed key once, pruned; keys with nothing left are deleted."""
        for key, (state, source, changed) in self.states.items():
            if not changed:
                continue
            kept = self.prune(state, now_ms)
            if kept is None:
                self.context.delete(self.table, key, source)
            else:
                self.context.put(self.table, key, orjson.dumps(kept.to_dict()), source)


def pruned_fatigue(state: FatigueState, now_ms: int) -> FatigueState | None:
    """The fatigue state worth keeping at `now_ms`, None when every entry has expired."""
    kept = state.pruned(now_ms, fatigue_config)
    return kept if kept.products else None


def pruned_ledger(ledger: OfferLedger, now_ms: int) -> OfferLedger | None:
    """The offers still within an attribution window at `now_ms`, None when none are."""
    kept = ledger.pruned(now_ms, attribution_config)
    return kept if kept.offers else None


class OffersBatch:
    """Per-key state a handler read or changed, so each key is staged once."""

    def __init__(self, context: BatchContext) -> None:
        self.context = context
        self.fatigue = BatchedStates(context, fatigue_table, decode_fatigue, pruned_fatigue)
        self.ledgers = BatchedStates(context, ledger_table, decode_ledger, pruned_ledger)
        self.latest: dict[str, tuple[int, bytes, Any]] = {}

    def keep_latest(self, shopper_id: str, decided_ms: int, payload: bytes, source: Any) -> None:
        """Remember a decision for the pull API if it is the shopper's newest in this batch."""
        kept = self.latest.get(shopper_id)
        if kept is None or decided_ms >= kept[0]:
            self.latest[shopper_id] = (decided_ms, payload, source)

    def stage(self, now_ms: int) -> None:
        """Stage every changed key once (pruned; empty states are deleted)."""
        self.fatigue.stage(now_ms)
        self.ledgers.stage(now_ms)
        for shopper_id, (decided_ms, payload, source) in self.latest.items():
            stored = self.context.get(latest_decisions_table, shopper_id, source)
            # Cart and order decisions come from different agents whose batches apply in
            # any order: a newer stored decision must not be overwritten by an older one.
            if stored is None or int(orjson.loads(stored).get("ts", 0)) <= decided_ms:
                self.context.put(latest_decisions_table, shopper_id, payload, source)


def count_order_value(cohort: str, value: float) -> None:
    """An order's value in its cohort's histogram and sliding AOV window."""
    metrics.ORDER_VALUE.labels(cohort=cohort).observe(value)
    now_s = time.time()
    aov_windows[cohort].add(now_s, value)
    for name, window in aov_windows.items():
        mean = window.mean(now_s)
        if mean is not None:
            metrics.AOV.labels(cohort=name).set(mean)


def count_attributions(attributions: Sequence[Any]) -> None:
    """Offers credited with an order: accepted counts, revenue and observed acceptance."""
    for credit in attributions:
        placement = credit.placement or "unknown"
        metrics.OFFERS_ACCEPTED.labels(placement=placement, kind=credit.kind or "unknown").inc()
        metrics.OFFER_REVENUE.inc(credit.revenue)
        if credit.placement is not None:
            count_acceptance(credit.placement, credit.product_id, 0, 1)


def attribute_order(
    event: OrderEvent, cohort: str, key: str, batch: OffersBatch, source: Any
) -> None:
    """Credit the order's lines to offers shown before; count order value per cohort."""
    batch.context.after_apply(partial(count_order_value, cohort, order_value(event.items)))
    ledger = batch.ledgers.get(key, source)
    ledger, attributions = ledger.with_order(event.items, event.ts, attribution_config)
    batch.context.after_apply(partial(count_attributions, attributions))
    if event.shopper_id is None:
        ledger = OfferLedger()  # a guest's session ends with its order
    batch.ledgers.set(key, ledger, source)


def decide(record: Any, event: decisions.Trigger, batch: OffersBatch) -> None:
    """Attribute (orders), decide, stage one decision for this trigger, its log and counts."""
    context = batch.context
    source = record.source
    shopper_id = event.shopper_id
    key = event.routing_key
    cohort = cohort_of(event)
    if isinstance(event, OrderEvent):
        attribute_order(event, cohort, key, batch, source)
    profile = None
    suppressed: frozenset[str] = frozenset()
    if shopper_id is not None:
        granted = consent_granted(context, shopper_id, source)
        # No stored profile (new shopper) ranks like an anonymous cart, as offline.
        if granted and has_profile(context, shopper_id, source):
            profile = load_profile(context, shopper_id, source)
        if granted:
            fatigue = batch.fatigue.get(shopper_id, source)
            suppressed = fatigue.suppressed(event.ts, fatigue_config)
            if isinstance(event, OrderEvent) and fatigue.products:
                for item in event.items:
                    fatigue = fatigue.with_purchase(item.product_id)
                batch.fatigue.set(shopper_id, fatigue, source)
    offers: list[decisions.AnyOffer] = []
    nudges: list[Any] = []
    if cohort == "treatment":
        rules = current_rules()
        # Segments only matter to rules with segment conditions: not derived otherwise.
        segments = (
            profile.segments(event.ts, profile_config)
            if profile is not None and rules.rules
            else ()
        )
        offers = decisions.choose_offers(
            event,
            live_snapshot.current(),
            profile,
            suppressed,
            decision_config,
            rules=rules,
            segments=segments,
            catalog_lookup=catalog_facts,
            acceptance=acceptance_counts,
        )
        nudges = decisions.choose_nudges(event, profile, decision_config, list_price)
    received = getattr(source.message, "time_in", None)
    elapsed_s = time.monotonic() - received if received is not None else 0.0
    decision = decisions.make_decision(
        event,
        offers,
        cohort=cohort,
        model_version=decision_config.model_version,
        # Event time, like all state: the trigger's ts plus the time taken to decide (live,
        # that is the wall clock of the decision; in a replay it stays in the replay's time).
        now_ms=event.ts + int(elapsed_s * 1000),
        nudges=nudges,
    )
    payload = encode(decision)
    context.send(offers_topic, key=decision.routing_key.encode(), value=payload, source=source)
    context.after_apply(partial(count_decision, decision, received))
    if decision.offers and (shopper_id is not None or decision.placement == "cart"):
        ledger = batch.ledgers.get(key, source)
        batch.ledgers.set(
            key,
            ledger.with_decision(decision.offers, decision.placement, event.ts, attribution_config),
            source,
        )
    if decision_log.isEnabledFor(DECISION_LOG_LEVEL):
        record_log = decisions.decision_log_record(
            decision, record.topic, record.partition, record.offset
        )
        line = orjson.dumps(record_log).decode()
        context.after_apply(partial(decision_log.log, DECISION_LOG_LEVEL, "decision %s", line))
    if shopper_id is not None:
        batch.keep_latest(shopper_id, decision.ts, payload, source)


def count_decision(decision: Any, received: float | None) -> None:
    """Metrics of one decision sent, and its offers counted as shown for calibration."""
    placement = decision.placement
    if received is not None:
        metrics.DECISION_LATENCY.labels(placement=placement).observe(time.monotonic() - received)
    metrics.DECISIONS.labels(placement=placement, cohort=decision.cohort).inc()
    for offer in decision.offers:
        metrics.OFFERS.labels(placement=placement, kind=offer.kind).inc()
        count_acceptance(placement, offer.product_id, 1, 0)
    for nudge in decision.nudges:
        metrics.NUDGES.labels(kind=nudge.kind).inc()


def decide_batch(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """One decision per trigger, staged with the batch (a failure fails the whole batch)."""
    batch = OffersBatch(context)
    latest_ts = 0
    for record, event in valid:
        assert isinstance(event, CartEvent | OrderEvent)
        latest_ts = max(latest_ts, event.ts)
        decide(record, event, batch)
    batch.stage(latest_ts)


@handles("carts")
async def decide_for_carts(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """A `cart` placement decision (cross-sell, bundles, nudges) for every cart event."""
    decide_batch(valid, context)


@handles("orders")
async def decide_for_orders(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Attribution, then a `confirmation` decision (post-purchase) for every order event."""
    decide_batch(valid, context)


def count_interaction(action: str, shown: Any) -> None:
    """An offer click, dismissal or impression, by the placement (and kind) it was shown in."""
    placement = shown.placement if shown else "unknown"
    metrics.OFFER_INTERACTIONS.labels(action=action, placement=placement).inc()
    if action == "offer_impression":
        metrics.OFFER_IMPRESSIONS.labels(
            placement=placement, kind=shown.kind if shown else "unknown"
        ).inc()


@handles("clicks")
async def offer_clicks(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Offer impressions are counted; impressions and dismissals of consenting, identified
    shoppers feed fatigue."""
    batch = OffersBatch(context)
    latest_ts = 0
    for record, event in valid:
        assert isinstance(event, ClickEvent)
        if event.action not in ("offer_impression", "offer_click", "offer_dismiss"):
            continue
        source = record.source
        shown = batch.ledgers.get(event.routing_key, source).find(event.offer_id or "")
        context.after_apply(partial(count_interaction, event.action, shown))
        if event.action == "offer_click":
            continue
        shopper_id = event.shopper_id
        if shopper_id is None or not consent_granted(context, shopper_id, source):
            continue
        product_id = event.product_id or (shown.product_id if shown else None)
        if product_id is None:
            stored = context.get(latest_decisions_table, shopper_id, source)
            product_id = decisions.product_of_offer(
                orjson.loads(stored) if stored else None, event.offer_id or ""
            )
        if product_id is None:
            context.after_apply(metrics.FATIGUE_UPDATES.labels(action="unknown_offer").inc)
            continue
        latest_ts = max(latest_ts, event.ts)
        state = batch.fatigue.get(shopper_id, source)
        if event.action == "offer_impression":
            state = state.with_impression(product_id, event.ts, fatigue_config)
        else:
            state = state.with_dismissal(product_id, event.ts)
        batch.fatigue.set(shopper_id, state, source)
        context.after_apply(metrics.FATIGUE_UPDATES.labels(action=event.action).inc)
    batch.stage(latest_ts)


@handles("privacy")
async def forget_offers(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """Revoke drops fatigue and the offer ledger; erase also drops the latest decision."""
    for record, event in valid:
        assert isinstance(event, PrivacyEvent)
        if event.action == "grant":
            continue
        source = record.source
        context.delete(fatigue_table, event.shopper_id, source)
        context.delete(ledger_table, event.shopper_id, source)
        if event.action == "erase":
            context.delete(latest_decisions_table, event.shopper_id, source)

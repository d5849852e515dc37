"""Offer decisions on the stream: one per cart event and per order event, to `shop.offers`.

These are steps of the pipeline (``streams.topology`` lists them), run after the profile
steps of the same batch, for events already validated, deduplicated and on their shopper's
partition. Each loads a trigger's inputs, calls the pure ``streams.offers.step.decide`` and
stages the result in the batch's ``BatchContext``: per batch, each key's ledger, fatigue
state and latest decision are written once. Clicks feed fatigue and the impression counters;
privacy requests delete what this domain keeps about a shopper.

A decision is published outside the transaction, to the partition of ``shop.offers`` with
the number of its trigger's partition, so that readers see it at once
(``streams.kafka.publisher``). Before a partition's first batch after an assignment,
`recover_published_decisions` reads back what was published there since the committed lower
bound, and a trigger processed again keeps the decision it already got
(``streams.offers.published``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import orjson

from schemas import CartEvent, ClickEvent, OfferDecision, OrderEvent, PrivacyEvent, encode
from schemas.eventtime import wall_clock_ms
from streams.app import configs, direct_publisher, kafka, settings
from streams.catalog.view import catalog_view, list_price
from streams.copurchase.view import products_view
from streams.experiment import OfferLedger, cohort_for
from streams.experiment.window import SlidingMean
from streams.ingest.handlers import ValidEvent
from streams.kafka.reader import read_partition_tails
from streams.offers import decisions, step
from streams.offers.fatigue import FatigueState
from streams.offers.live import live_snapshot
from streams.offers.published import PublishedDecisions, published_from_key
from streams.offers.ranking import ObservedCounts
from streams.offers.step import OffersWorld
from streams.offers.topics import (
    fatigue_table,
    latest_decisions_table,
    ledger_table,
    offers_topic,
    published_from_table,
)
from streams.ops import metrics
from streams.profiles.agents import consent_granted, load_shopper
from streams.rules import EMPTY_RULES, RuleFileWatcher, RuleSet
from streams.runtime.acting import acting_for
from streams.runtime.batch import BatchContext

log = logging.getLogger(__name__)
decision_log = logging.getLogger("basketlift.decisions")
DECISION_LOG_LEVEL = logging.getLevelNamesMapping().get(settings.decision_log_level.upper(), 20)

offers_config = configs.offers
decision_config = offers_config.decision
fatigue_config = offers_config.fatigue
attribution_config = offers_config.attribution
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


published_decisions = PublishedDecisions()
"""Decisions published for events this worker may process again (streams.offers.published)."""
_recovery_lock = asyncio.Lock()
OFFERS_TOPIC_NAME = offers_topic.get_topic_name()


def partitions_assigned() -> None:
    """A new assignment: every partition's published decisions are read again."""
    published_decisions.assigned()


async def recover_published_decisions(valid: Sequence[ValidEvent]) -> None:
    """Before a partition's first batch after an assignment, read the decisions published on
    it since its committed lower bound (all of the last lookback when there is none yet).

    Runs before the batch reads any state (it waits for the broker); the reads of one
    partition never run twice at once.
    """
    if not any(published_decisions.needs_loading(record.partition) for record, _ in valid):
        return
    async with _recovery_lock:
        sources: dict[int, Any] = {}
        for record, _event in valid:
            if published_decisions.needs_loading(record.partition):
                sources.setdefault(record.partition, record.source)
        if not sources:
            return
        starts: dict[int, int | None] = {}
        for partition, source in sources.items():
            with acting_for(source):
                stored = published_from_table.get(published_from_key(partition))
            starts[partition] = int(stored) if stored else None
        tails = await read_partition_tails(
            kafka,
            OFFERS_TOPIC_NAME,
            starts,
            since_ms=wall_clock_ms() - settings.decision_recovery_lookback_ms,
        )
        for partition, values in tails.items():
            found = published_decisions.load(partition, values)
            metrics.DECISION_RECOVERY_READS.inc()
            log.info(
                "%s[%d]: %d decisions published from offset %s read back",
                OFFERS_TOPIC_NAME,
                partition,
                found,
                starts[partition] if starts[partition] is not None else "(lookback)",
            )


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
        self.published: dict[int, Any] = {}
        """Partitions this batch publishes decisions on, with a source event of each."""

    def published_on(self, partition: int, source: Any) -> None:
        """Note that a decision is published on the partition (see `stage`)."""
        self.published.setdefault(partition, source)

    def keep_latest(self, shopper_id: str, decided_ms: int, payload: bytes, source: Any) -> None:
        """Remember a decision for the pull API if it is the shopper's newest in this batch."""
        kept = self.latest.get(shopper_id)
        if kept is None or decided_ms >= kept[0]:
            self.latest[shopper_id] = (decided_ms, payload, source)

    def stage(self, now_ms: int) -> None:
        """Stage every changed key once (pruned; empty states are deleted), and for each
        partition published on, the lower bound of what the committed state may lack.

        That bound is the offset after this worker's last decision the broker acknowledged
        on the partition: those were made by batches applied before this one, so they are
        committed whenever this batch is; every later one lies at or after it.
        """
        self.fatigue.stage(now_ms)
        self.ledgers.stage(now_ms)
        for partition, source in self.published.items():
            end = direct_publisher.delivered_end(OFFERS_TOPIC_NAME, partition)
            if end is not None:
                key = published_from_key(partition)
                self.context.put(published_from_table, key, str(end).encode(), source)
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


def offers_world() -> OffersWorld:
    """What decisions read now: the live ranker snapshot, rules, catalog and acceptance."""
    return OffersWorld(
        live_snapshot.current(), current_rules(), catalog_facts, list_price, acceptance_counts
    )


def decide(record: Any, event: decisions.Trigger, batch: OffersBatch, world: OffersWorld) -> None:
    """Load the trigger's inputs, decide (streams.offers.step), stage the writes and the send."""
    context = batch.context
    source = record.source
    shopper_id = event.shopper_id
    key = event.routing_key
    shopper = load_shopper(context, shopper_id, source) if shopper_id is not None else None
    may_profile = shopper is not None and shopper.may_profile(settings.consent_default_granted)
    received = getattr(source.message, "time_in", None)
    elapsed_ms = int((time.monotonic() - received) * 1000) if received is not None else 0
    inputs = step.DecisionInputs(
        trigger=event,
        cohort=cohort_of(event),
        may_profile=may_profile,
        # No stored profile (new shopper) ranks like an anonymous cart, as offline.
        profile=shopper.profile if shopper is not None and may_profile else None,
        fatigue=(
            batch.fatigue.get(shopper_id, source)
            if shopper_id is not None and may_profile
            else FatigueState()
        ),
        ledger=batch.ledgers.get(key, source),
        # Event time, like all state: the trigger's ts plus the time taken so far (live, that
        # is the wall clock of the decision; in a replay it stays in the replay's time).
        decided_at_ms=event.ts + elapsed_ms,
    )
    partition = record.partition
    decision_id = decisions.decision_id_for(event.event_id, decisions.placement_of(event))
    published = published_decisions.find(partition, decision_id)
    made = OfferDecision.model_validate_json(published) if published is not None else None
    outcome = step.decide(inputs, world, offers_config, made)
    decision = outcome.decision
    if outcome.fatigue is not None and shopper_id is not None:
        batch.fatigue.set(shopper_id, outcome.fatigue, source)
    if outcome.ledger is not None:
        batch.ledgers.set(key, outcome.ledger, source)
    if published is None:
        payload = encode(decision)
        context.publish(
            OFFERS_TOPIC_NAME, partition=partition, key=decision.routing_key.encode(), value=payload
        )
        batch.published_on(partition, source)
    else:
        payload = published
        context.after_apply(partial(published_decisions.used, partition, decision_id))
        context.after_apply(metrics.DECISIONS_RECOVERED.inc)
    if outcome.order_value is not None:
        context.after_apply(partial(count_order_value, inputs.cohort, outcome.order_value))
    if outcome.attributions:
        context.after_apply(partial(count_attributions, outcome.attributions))
    context.after_apply(partial(count_decision, decision, received))
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
    world = offers_world()
    latest_ts = 0
    for record, event in valid:
        assert isinstance(event, CartEvent | OrderEvent)
        latest_ts = max(latest_ts, event.ts)
        decide(record, event, batch, world)
    batch.stage(latest_ts)


async def decide_for_carts(valid: Sequence[ValidEvent], context: BatchContext) -> None:
    """A `cart` placement decision (cross-sell, bundles, nudges) for every cart event."""
    decide_batch(valid, context)


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

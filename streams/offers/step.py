"""What a cart or an order does in the offers domain: one decision, and the shopper's offer
state after it (pure: no tables, no clocks, no settings).

``decide`` takes everything a decision depends on and returns the decision with the new
fatigue state and offer ledger; the handler loads the inputs, calls it, stages the writes
and sends the decision. Its rules, in order:

1. An order is first attributed to the offers in the ledger (explicit ``offer_id`` lines,
   else a purchase of an offered product within the placement's window); the offers it used
   are forgotten. A guest's ledger ends with their order (the session is over).
2. Only shoppers who may be profiled have a fatigue state: what it suppresses is never
   offered, and products they buy are forgiven (their exposure no longer counts).
3. A treatment decision has the rules' offers and the ranker's, merged by expected revenue,
   and the nudges (cart only); a holdout decision has neither. Segments are derived only when
   a rule could use them.
4. The offers shown enter the ledger (an identified shopper's, or a cart's session), so a
   later order can be attributed to them.
The decision id depends only on the trigger's event id and placement. A decision already
published for the trigger (``streams.offers.published``: made before a crash or a
rebalance threw its batch away) is passed as `made`: it is kept as it is (same id, same
content) instead of being made again, and the ledger changes as it did the first time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from schemas import Nudge, OfferDecision, OrderEvent
from schemas.events import Cohort
from streams.experiment import AttributionConfig, OfferLedger
from streams.experiment.attribution import Attribution
from streams.offers import decisions
from streams.offers.fatigue import FatigueConfig, FatigueState
from streams.offers.snapshot import RankingSnapshot
from streams.profiles.model import ShopperProfile, order_value
from streams.rules import CatalogLookup, RuleSet

__all__ = ["DecisionInputs", "DecisionOutcome", "OffersConfig", "OffersWorld", "decide"]


@dataclass(frozen=True, slots=True)
class OffersConfig:
    """How the offers domain decides, forgets and attributes."""

    decision: decisions.DecisionConfig
    fatigue: FatigueConfig
    attribution: AttributionConfig


@dataclass(frozen=True, slots=True)
class OffersWorld:
    """What every decision reads and none changes: the ranker's snapshot, the rules in force,
    the catalog, and the acceptance observed per placement."""

    snapshot: RankingSnapshot
    rules: RuleSet
    catalog_lookup: CatalogLookup
    list_price: Callable[[str], float | None]
    acceptance: Mapping[str, Mapping[str, tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """One trigger and the state of its shopper (or session) before it."""

    trigger: decisions.Trigger
    cohort: Cohort
    may_profile: bool
    """An identified shopper whose consent allows a profile (and so fatigue)."""
    profile: ShopperProfile | None
    """Their stored profile; None for guests, new shoppers and those not profiled."""
    fatigue: FatigueState
    ledger: OfferLedger
    """The offers recently shown under the trigger's routing key."""
    decided_at_ms: int
    """The decision's time: event time, the trigger's ts plus the time taken so far."""


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """The decision and what changed because of it."""

    decision: OfferDecision
    fatigue: FatigueState | None
    """The new fatigue state; None when unchanged."""
    ledger: OfferLedger | None
    """The new ledger; None when unchanged."""
    attributions: tuple[Attribution, ...] = ()
    order_value: float | None = None
    """The order's value (orders only), for the AOV per cohort."""


def decide(
    inputs: DecisionInputs,
    world: OffersWorld,
    config: OffersConfig,
    made: OfferDecision | None = None,
) -> DecisionOutcome:
    """The decision for one trigger and the shopper's offer state after it (module rules);
    `made`: the decision already published for this trigger, kept instead of a new one."""
    trigger = inputs.trigger
    ledger = inputs.ledger
    ledger_changed = False
    attributions: tuple[Attribution, ...] = ()
    value = None
    if isinstance(trigger, OrderEvent):
        value = order_value(trigger.items)
        ledger, credited = ledger.with_order(trigger.items, trigger.ts, config.attribution)
        attributions = tuple(credited)
        if trigger.shopper_id is None:
            ledger = OfferLedger()
        ledger_changed = True

    fatigue: FatigueState | None = None
    suppressed: Collection[str] = frozenset()
    if inputs.may_profile:
        suppressed = inputs.fatigue.suppressed(trigger.ts, config.fatigue)
        if isinstance(trigger, OrderEvent) and inputs.fatigue.products:
            fatigue = inputs.fatigue
            for item in trigger.items:
                fatigue = fatigue.with_purchase(item.product_id)

    decision = made if made is not None else choose(inputs, suppressed, world, config)
    if decision.offers and (trigger.shopper_id is not None or decision.placement == "cart"):
        ledger = ledger.with_decision(
            decision.offers, decision.placement, trigger.ts, config.attribution
        )
        ledger_changed = True
    return DecisionOutcome(
        decision, fatigue, ledger if ledger_changed else None, attributions, value
    )


def choose(
    inputs: DecisionInputs,
    suppressed: Collection[str],
    world: OffersWorld,
    config: OffersConfig,
) -> OfferDecision:
    """A new decision for the trigger: offers and nudges for treatment, none for holdout."""
    trigger = inputs.trigger
    offers: list[decisions.AnyOffer] = []
    nudges: list[Nudge] = []
    if inputs.cohort == "treatment":
        profile = inputs.profile
        rules = world.rules
        segments = (
            profile.segments(trigger.ts, config.decision.profile)
            if profile is not None and rules.rules
            else ()
        )
        offers = decisions.choose_offers(
            trigger,
            world.snapshot,
            profile,
            suppressed,
            config.decision,
            rules=rules,
            segments=segments,
            catalog_lookup=world.catalog_lookup,
            acceptance=world.acceptance,
        )
        nudges = decisions.choose_nudges(trigger, profile, config.decision, world.list_price)
    return decisions.make_decision(
        trigger,
        offers,
        cohort=inputs.cohort,
        model_version=config.decision.model_version,
        now_ms=inputs.decided_at_ms,
        nudges=nudges,
    )

"""streams/offers/step.py: one trigger in, one decision and the shopper's offer state out."""

from __future__ import annotations

from dataclasses import replace

from streams.experiment import AttributionConfig, OfferLedger
from streams.offers import decisions
from streams.offers.fatigue import FatigueConfig, FatigueState
from streams.offers.step import DecisionInputs, OffersConfig, OffersWorld, decide
from streams.rules import EMPTY_RULES
from tests.unit.offers.test_decisions import T0, cart_event, order_event, snapshot

CONFIG = OffersConfig(decisions.DecisionConfig(), FatigueConfig(), AttributionConfig())
WORLD = OffersWorld(snapshot(), EMPTY_RULES, lambda product_id: None, lambda p: None, {})


def inputs(trigger: decisions.Trigger, **changes: object) -> DecisionInputs:
    base = DecisionInputs(
        trigger=trigger,
        cohort="treatment",
        may_profile=True,
        profile=None,
        fatigue=FatigueState(),
        ledger=OfferLedger(),
        decided_at_ms=trigger.ts + 7,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_cart_decision_enters_the_ledger_and_is_the_same_when_made_again() -> None:
    outcome = decide(inputs(cart_event("a")), WORLD, CONFIG)
    decision = outcome.decision
    assert decision.placement == "cart" and decision.offers
    assert decision.ts == T0 + 7
    assert outcome.ledger is not None
    assert [e.offer_id for e in outcome.ledger.offers] == [o.offer_id for o in decision.offers]
    assert outcome.fatigue is None and outcome.order_value is None
    assert decide(inputs(cart_event("a")), WORLD, CONFIG) == outcome


def test_holdout_gets_an_empty_decision_and_changes_nothing() -> None:
    outcome = decide(inputs(cart_event("a"), cohort="holdout"), WORLD, CONFIG)
    assert outcome.decision.offers == [] and outcome.decision.nudges == []
    assert outcome.ledger is None and outcome.fatigue is None


def test_an_order_is_attributed_to_the_offer_shown_and_uses_it_up() -> None:
    shown = decide(inputs(cart_event("a")), WORLD, CONFIG)
    assert shown.ledger is not None
    bought = shown.decision.offers[0].product_id
    outcome = decide(inputs(order_event("a", bought), ledger=shown.ledger), WORLD, CONFIG)
    assert [credit.product_id for credit in outcome.attributions] == [bought]
    assert outcome.order_value == 10.0
    assert outcome.ledger is not None
    assert bought not in {e.product_id for e in outcome.ledger.offers if e.placement == "cart"}


def test_a_guests_ledger_ends_with_their_order() -> None:
    shown = decide(inputs(cart_event("a", shopper=None)), WORLD, CONFIG)
    assert shown.ledger is not None and shown.ledger.offers
    outcome = decide(
        inputs(order_event("a", shopper=None), ledger=shown.ledger, may_profile=False),
        WORLD,
        CONFIG,
    )
    assert outcome.ledger == OfferLedger()


def test_fatigue_suppresses_only_for_profiled_shoppers_and_purchases_forgive() -> None:
    first = decide(inputs(cart_event("a")), WORLD, CONFIG).decision.offers[0].product_id
    tired = FatigueState().with_dismissal(first, T0 - 1000)
    offered = decide(inputs(cart_event("a"), fatigue=tired), WORLD, CONFIG).decision.offers
    assert first not in [o.product_id for o in offered]
    ignored = decide(inputs(cart_event("a"), fatigue=tired, may_profile=False), WORLD, CONFIG)
    assert ignored.decision.offers[0].product_id == first
    forgiven = decide(inputs(order_event("a", first), fatigue=tired), WORLD, CONFIG)
    assert forgiven.fatigue is not None and first not in forgiven.fatigue.products


def test_a_decision_already_made_is_kept_and_enters_the_ledger_as_it_did() -> None:
    first = decide(inputs(cart_event("a")), WORLD, CONFIG)
    # Deciding again later (another decision time, no candidates left) would differ ...
    later = inputs(cart_event("a"), decided_at_ms=T0 + 900, fatigue=FatigueState())
    bare_world = replace(WORLD, snapshot=replace(snapshot(), total_orders=0.0))
    assert decide(later, bare_world, CONFIG).decision != first.decision
    # ... but the decision already published is kept, with the same ledger change.
    again = decide(later, bare_world, CONFIG, made=first.decision)
    assert again.decision == first.decision
    assert again.ledger == first.ledger

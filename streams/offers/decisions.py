"""From a triggering cart or order to a contract-shaped offer decision: pure, no Faust.

One cart event gives one ``placement="cart"`` decision of ``cross_sell`` offers; one order
event gives one ``placement="confirmation"`` decision of ``post_purchase`` offers, which skip
the order's products and those the shopper bought in the last ``post_purchase_exclude_days``.
The decision id is derived from the trigger's event id and the placement, so a redelivered
event (or a batch reprocessed after a crash) yields the same ids: consumers can dedupe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from schemas import CartEvent, Nudge, Offer, OfferDecision, OrderEvent
from schemas.events import Cohort, OfferKind, Placement
from streams.nudges import NudgeConfig, NudgeProposal, propose_nudges
from streams.offers import ranking
from streams.offers.snapshot import RankingSnapshot
from streams.profiles.model import ProfileConfig, ShopperProfile
from streams.rules import EMPTY_RULES, CatalogLookup, RuleOffer, RuleSet

Trigger = CartEvent | OrderEvent

KIND_OF_PLACEMENT: Final[Mapping[str, OfferKind]] = {
    "cart": "cross_sell",
    "confirmation": "post_purchase",
}
MONEY_DECIMALS: Final = 2
RATE_DECIMALS: Final = 6


AnyOffer = ranking.Offer | RuleOffer


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """How decisions are made (ranker settings, post-purchase window, feedback, nudges)."""

    ranker: ranking.RankerConfig = ranking.DEFAULT_RANKER_CONFIG
    post_purchase_exclude_days: float = 30.0
    model_version: str = "ranker-1"
    acceptance_prior_strength: float = 50.0
    """The ranker's p_accept counts as this many shown offers against observed acceptance."""
    nudges: NudgeConfig = field(default_factory=NudgeConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)


def placement_of(trigger: Trigger) -> Placement:
    """``cart`` for a cart event, ``confirmation`` for an order event."""
    return "cart" if isinstance(trigger, CartEvent) else "confirmation"


def decision_id_for(trigger_event_id: str, placement: str) -> str:
    """A stable id: the same trigger and placement always give the same decision id."""
    digest = hashlib.blake2b(f"{placement}\x00{trigger_event_id}".encode(), digest_size=10)
    return f"d-{digest.hexdigest()}"


def with_acceptance_note(
    offers: Sequence[ranking.Offer], observed: Mapping[str, tuple[int, int]]
) -> list[ranking.Offer]:
    """Offers whose reason also says how often they were accepted, where it is known."""
    out = []
    for offer in offers:
        counts = observed.get(offer.product_id)
        if counts is not None and counts[0] > 0:
            note = f"; accepted {counts[1]} of {counts[0]} times shown"
            offer = offer.with_reason(offer.reason + note)
        out.append(offer)
    return out


def choose_offers(
    trigger: Trigger,
    snapshot: RankingSnapshot,
    profile: ShopperProfile | None,
    suppressed: Collection[str],
    config: DecisionConfig,
    *,
    rules: RuleSet = EMPTY_RULES,
    segments: Collection[str] = (),
    catalog_lookup: CatalogLookup | None = None,
    acceptance: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> list[AnyOffer]:
    """The offers for this trigger: rule offers and ranked ones merged by expected revenue.

    Cart: the rules (bundles, pins, exclusions) run on the cart, the ranker ranks the rest.
    Confirmation: ranked post-purchase offers, never the order's products or ones bought in
    the last ``post_purchase_exclude_days``. Either way p_accept is calibrated by observed
    acceptance, and fatigued (``suppressed``) products are never offered.
    """
    placement = placement_of(trigger)
    top_n = config.ranker.top_n
    observed = acceptance.get(placement) if acceptance else None
    exclude: set[str] = set()
    outcome = None
    if isinstance(trigger, OrderEvent):
        exclude |= ranking.post_purchase_exclusions(
            trigger.items, profile, trigger.ts, config.post_purchase_exclude_days
        )
    elif rules.rules and catalog_lookup is not None:
        outcome = rules.apply(
            [item.product_id for item in trigger.items],
            [item.category for item in trigger.items],
            segments,
            catalog_lookup,
        )
        exclude |= outcome.ranker_exclude
    ranked = ranking.rank_offers(
        trigger.items,
        snapshot.index,
        snapshot.total_orders,
        profile=profile,
        exclude=exclude,
        suppressed=suppressed,
        config=config.ranker,
        observed=observed,
        observed_strength=config.acceptance_prior_strength,
    )
    if observed is not None:
        ranked = with_acceptance_note(ranked, observed)
    if outcome is None:
        return list(ranked)
    suppressed_set = frozenset(suppressed)
    rule_offers = [o for o in outcome.offers if o.product_id not in suppressed_set]
    outcome = replace(outcome, offers=tuple(rule_offers))
    return list(outcome.merge(ranked, top_n, config.ranker.max_per_category))


def cart_value(trigger: CartEvent, list_price: Callable[[str], float | None]) -> float:
    """Sum of quantity x unit price (the catalog price where the cart has none)."""
    total = 0.0
    for item in trigger.items:
        price = item.unit_price if item.unit_price is not None else list_price(item.product_id)
        if price is not None:
            total += item.quantity * price
    return total


def choose_nudges(
    trigger: Trigger,
    profile: ShopperProfile | None,
    config: DecisionConfig,
    list_price: Callable[[str], float | None],
) -> list[Nudge]:
    """Free-shipping and loyalty-tier nudges for a cart (none after an order).

    Without a profile (anonymous, revoked, new) only the store's base free-shipping
    threshold applies, and no tier prompt.
    """
    if not isinstance(trigger, CartEvent):
        return []
    typical = profile.typical_order_value() if profile is not None else None
    spend = profile.trailing_spend(trigger.ts, config.profile) if profile is not None else None
    proposals = propose_nudges(
        cart_value(trigger, list_price), typical, spend, config.nudges, trigger.currency
    )
    return [contract_nudge(p) for p in proposals]


def contract_nudge(proposal: NudgeProposal) -> Nudge:
    """A nudge proposal in the contract's shape."""
    return Nudge(
        kind=proposal.kind,
        threshold=proposal.threshold,
        gap=proposal.gap,
        message=proposal.message,
    )


def contract_offer(decision_id: str, rank: int, offer: AnyOffer, kind: OfferKind) -> Offer:
    """An offer in the contract's shape (``offer_id`` = ``<decision_id>:<rank>``).

    A rule's offer keeps its own kind (``bundle`` when discounted); ranked ones get `kind`.
    """
    if isinstance(offer, RuleOffer):
        kind = offer.offer_kind
    unit_price = round(offer.unit_price, MONEY_DECIMALS)
    offer_price = round(offer.offer_price, MONEY_DECIMALS)
    discount = 0.0 if unit_price <= 0 else max(0.0, 1.0 - offer_price / unit_price)
    p_accept = round(min(max(offer.p_accept, 0.0), 1.0), RATE_DECIMALS)
    return Offer(
        offer_id=f"{decision_id}:{rank}",
        kind=kind,
        product_id=offer.product_id,
        unit_price=unit_price,
        discount_pct=round(min(discount, 1.0), 4),
        offer_price=offer_price,
        p_accept=p_accept,
        # From the published (rounded) numbers, so that readers can recompute it exactly.
        expected_revenue=round(p_accept * offer_price, RATE_DECIMALS),
        reason=offer.reason[:500],
    )


def make_decision(
    trigger: Trigger,
    offers: Sequence[AnyOffer],
    *,
    cohort: Cohort,
    model_version: str,
    now_ms: int,
    nudges: Sequence[Nudge] = (),
) -> OfferDecision:
    """The decision for a trigger, in the contract's shape (holdout: no offers, no nudges)."""
    placement = placement_of(trigger)
    decision_id = decision_id_for(trigger.event_id, placement)
    kind = KIND_OF_PLACEMENT[placement]
    chosen = [] if cohort == "holdout" else offers
    return OfferDecision(
        decision_id=decision_id,
        ts=now_ms,
        trigger_event_id=trigger.event_id,
        shopper_id=trigger.shopper_id,
        session_id=trigger.session_id,
        cart_id=trigger.cart_id if isinstance(trigger, CartEvent) else None,
        order_id=trigger.order_id if isinstance(trigger, OrderEvent) else None,
        placement=placement,
        cohort=cohort,
        model_version=model_version,
        offers=[contract_offer(decision_id, i, o, kind) for i, o in enumerate(chosen, 1)],
        nudges=[] if cohort == "holdout" else list(nudges),
    )


def decision_log_record(
    decision: OfferDecision, trigger_topic: str, partition: int, offset: int
) -> dict[str, Any]:
    """The structured log line of a decision: ids, trigger, offers and their reasons.

    Shopper and session ids are left out on purpose: logs are not erased with the shopper
    (``GET /offers/{shopper_id}`` answers "what did this shopper get").
    """
    return {
        "decision_id": decision.decision_id,
        "trigger": {
            "topic": trigger_topic,
            "partition": partition,
            "offset": offset,
            "event_id": decision.trigger_event_id,
        },
        "placement": decision.placement,
        "cohort": decision.cohort,
        "model_version": decision.model_version,
        "offers": [
            {
                "offer_id": o.offer_id,
                "product_id": o.product_id,
                "kind": o.kind,
                "offer_price": o.offer_price,
                "p_accept": o.p_accept,
                "expected_revenue": o.expected_revenue,
                "reason": o.reason,
            }
            for o in decision.offers
        ],
        "nudges": [n.kind for n in decision.nudges],
    }


def product_of_offer(decision: Mapping[str, Any] | None, offer_id: str) -> str | None:
    """The product behind an offer id, looked up in a stored decision (its JSON form)."""
    if not decision:
        return None
    for offer in decision.get("offers", ()):
        if offer.get("offer_id") == offer_id:
            product = offer.get("product_id")
            return product if isinstance(product, str) else None
    return None

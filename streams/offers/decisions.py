"""From a triggering cart or order to a contract-shaped offer decision: pure, no Faust.

One cart event gives one ``placement="cart"`` decision of ``cross_sell`` offers; one order
event gives one ``placement="confirmation"`` decision of ``post_purchase`` offers, which skip
the order's products and those the shopper bought in the last ``post_purchase_exclude_days``.
The decision id is derived from the trigger's event id and the placement, so a redelivered
event (or a batch reprocessed after a crash) yields the same ids: consumers can dedupe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from schemas import CartEvent, Offer, OfferDecision, OrderEvent
from streams.offers import ranker
from streams.offers.snapshot import RankingSnapshot
from streams.profiles.model import ShopperProfile

Placement = Literal["cart", "confirmation"]
OfferKind = Literal["cross_sell", "bundle", "post_purchase"]
Cohort = Literal["treatment", "holdout"]
Trigger = CartEvent | OrderEvent

KIND_OF_PLACEMENT: Final[Mapping[str, OfferKind]] = {
    "cart": "cross_sell",
    "confirmation": "post_purchase",
}
MONEY_DECIMALS: Final = 2
RATE_DECIMALS: Final = 6


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """How decisions are made (ranker settings plus the post-purchase window)."""

    ranker: ranker.RankerConfig = ranker.DEFAULT_RANKER_CONFIG
    post_purchase_exclude_days: float = 30.0
    model_version: str = "ranker-1"


def placement_of(trigger: Trigger) -> Placement:
    """``cart`` for a cart event, ``confirmation`` for an order event."""
    return "cart" if isinstance(trigger, CartEvent) else "confirmation"


def decision_id_for(trigger_event_id: str, placement: str) -> str:
    """A stable id: the same trigger and placement always give the same decision id."""
    digest = hashlib.blake2b(f"{placement}\x00{trigger_event_id}".encode(), digest_size=10)
    return f"d-{digest.hexdigest()}"


def choose_offers(
    trigger: Trigger,
    snapshot: RankingSnapshot,
    profile: ShopperProfile | None,
    suppressed: Collection[str],
    config: DecisionConfig,
) -> list[ranker.Offer]:
    """The ranked offers for this trigger (the cart, or the order for post-purchase)."""
    exclude: Collection[str] = ()
    if isinstance(trigger, OrderEvent):
        exclude = ranker.post_purchase_exclusions(
            trigger.items, profile, trigger.ts, config.post_purchase_exclude_days
        )
    return ranker.rank_offers(
        trigger.items,
        snapshot.index,
        snapshot.total_orders,
        profile=profile,
        exclude=exclude,
        suppressed=suppressed,
        config=config.ranker,
    )


def contract_offer(decision_id: str, rank: int, offer: ranker.Offer, kind: OfferKind) -> Offer:
    """A ranked offer in the contract's shape (``offer_id`` = ``<decision_id>:<rank>``)."""
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
    offers: Sequence[ranker.Offer],
    *,
    cohort: Cohort,
    model_version: str,
    now_ms: int,
) -> OfferDecision:
    """The decision for a trigger, in the contract's shape (holdout: no offers)."""
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
        nudges=[],
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

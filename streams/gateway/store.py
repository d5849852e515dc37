"""The store's live experiment as the gateway sees it: orders, AOV per cohort, the lift.

`StoreLedger` is fed every decision and every order the gateway reads from its start on and
answers `GET /v1/store/summary` and the `summary` events of the store's decision stream
(the demo page's side panel). An order's cohort is that of
its confirmation decision (`trigger_event_id` is the order's `event_id`), as in the lift
report (`streams.experiment.report`); the two arrive on different topics in either order,
so each waits, in a bounded map, for the other. The lift and its interval come from
`streams.experiment.lift` (Welch: closed form, cheap enough to recompute as orders arrive).

Memory is bounded whatever the traffic: the last `capacity` order values per cohort, the
last `capacity` unpaired orders and unpaired confirmation decisions, the last `recent`
decisions. Pure: no Kafka, no HTTP.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from typing import Any, Final, TypeVar

from schemas import OfferDecision, OrderEvent
from streams.experiment.lift import lift_with_ci
from streams.profiles.model import order_value

__all__ = ["COHORTS", "StoreLedger"]

COHORTS: Final = ("treatment", "holdout")
LIFT_CONFIDENCE: Final = 0.95
V = TypeVar("V")


class StoreLedger:
    """Orders paired with their cohort, decisions counted, the most recent ones kept."""

    def __init__(self, capacity: int = 50_000, recent: int = 20) -> None:
        if capacity < 1 or recent < 1:
            raise ValueError("capacity and recent must be at least 1")
        self.capacity = capacity
        self.values: dict[str, deque[float]] = {c: deque(maxlen=capacity) for c in COHORTS}
        self.orders_seen = 0
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self._order_values: OrderedDict[str, float] = OrderedDict()
        """Orders waiting for their confirmation decision: event_id -> value."""
        self._cohorts: OrderedDict[str, str] = OrderedDict()
        """Confirmation decisions waiting for their order: trigger_event_id -> cohort."""
        self._summary: dict[str, Any] | None = None
        self.changes = 0
        """Decisions and orders taken so far: a stream sends a new summary when it moved."""

    def add_decision(self, decision: OfferDecision) -> None:
        """Count a decision, keep it among the recent ones, pair a confirmation with its order."""
        self._summary = None
        self.changes += 1
        self.decisions[(decision.placement, decision.cohort)] += 1
        self.recent.appendleft(
            {
                "decision_id": decision.decision_id,
                "ts": decision.ts,
                "shopper": decision.routing_key,
                "placement": decision.placement,
                "cohort": decision.cohort,
                "offers": [offer.product_id for offer in decision.offers],
                "nudges": [nudge.message for nudge in decision.nudges],
            }
        )
        if decision.placement != "confirmation":
            return
        value = self._order_values.pop(decision.trigger_event_id, None)
        if value is not None:
            self.values[decision.cohort].append(value)
        else:
            _put(self._cohorts, decision.trigger_event_id, decision.cohort, self.capacity)

    def add_order(self, order: OrderEvent) -> None:
        """Count an order and pair it with its confirmation decision (now or when it comes)."""
        self._summary = None
        self.changes += 1
        self.orders_seen += 1
        value = order_value(order.items)
        cohort = self._cohorts.pop(order.event_id, None)
        if cohort is not None:
            self.values[cohort].append(value)
        else:
            _put(self._order_values, order.event_id, value, self.capacity)

    def summary(self) -> dict[str, Any]:
        """Orders, AOV per cohort, the lift with its interval (None below two orders in a
        cohort), decisions by placement and cohort, the recent decisions (newest first)."""
        if self._summary is None:
            self._summary = self._summarize()
        return self._summary

    def _summarize(self) -> dict[str, Any]:
        cohorts = {}
        for cohort in COHORTS:
            values = self.values[cohort]
            cohorts[cohort] = {
                "orders": len(values),
                "aov": round(sum(values) / len(values), 2) if values else None,
            }
        lift: dict[str, Any] | None = None
        treatment, holdout = self.values["treatment"], self.values["holdout"]
        if len(treatment) >= 2 and len(holdout) >= 2 and sum(holdout) > 0 and sum(treatment) > 0:
            result = lift_with_ci(treatment, holdout, method="welch", confidence=LIFT_CONFIDENCE)
            lift = result.interval()
        decisions = [
            {"placement": placement, "cohort": cohort, "count": count}
            for (placement, cohort), count in sorted(self.decisions.items())
        ]
        return {
            "orders": self.orders_seen,
            "cohorts": cohorts,
            "lift": lift,
            "decisions": decisions,
            "recent_decisions": list(self.recent),
        }


def _put(waiting: OrderedDict[str, V], key: str, value: V, capacity: int) -> None:
    """Add to a bounded waiting map, forgetting the oldest entry when it is full."""
    waiting[key] = value
    if len(waiting) > capacity:
        waiting.popitem(last=False)

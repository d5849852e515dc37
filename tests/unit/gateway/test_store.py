"""The store ledger behind /v1/store/summary: an order counts in the cohort of its
confirmation decision whichever arrives first; AOV per cohort; the lift once both cohorts
have two orders; bounded memory."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import OfferDecision, OrderEvent
from streams.experiment.lift import lift_with_ci
from streams.gateway.store import StoreLedger

TS = 1_763_740_800_000


def order(event_id: str, value: float, shopper: str = "s-1") -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "event_id": event_id,
            "ts": TS,
            "shopper_id": shopper,
            "order_id": f"o-{event_id}",
            "currency": "GBP",
            "items": [{"product_id": "p-1", "quantity": 1, "unit_price": value}],
        }
    )


def decision(
    trigger: str, cohort: str, placement: str = "confirmation", **extra: Any
) -> OfferDecision:
    return OfferDecision.model_validate(
        {
            "decision_id": f"d-{trigger}",
            "ts": TS,
            "trigger_event_id": trigger,
            "shopper_id": "s-1",
            "placement": placement,
            "cohort": cohort,
            "model_version": "1",
            **extra,
        }
    )


def test_an_order_counts_in_its_confirmations_cohort_whichever_comes_first() -> None:
    ledger = StoreLedger()
    ledger.add_order(order("o1", 10.0))
    ledger.add_decision(decision("o1", "treatment"))
    ledger.add_decision(decision("o2", "holdout"))
    ledger.add_order(order("o2", 30.0))
    ledger.add_order(order("o3", 99.0))  # no confirmation (yet): in no cohort
    summary = ledger.summary()
    assert summary["orders"] == 3
    assert summary["cohorts"] == {
        "treatment": {"orders": 1, "aov": 10.0},
        "holdout": {"orders": 1, "aov": 30.0},
    }
    assert summary["lift"] is None  # one order per cohort: no interval


def test_the_lift_is_the_experiment_codes_welch_interval_once_each_cohort_has_two() -> None:
    ledger = StoreLedger()
    treatment, holdout = [12.0, 18.0, 15.0], [10.0, 11.0]
    for n, value in enumerate(treatment):
        ledger.add_decision(decision(f"t{n}", "treatment"))
        ledger.add_order(order(f"t{n}", value))
    for n, value in enumerate(holdout):
        ledger.add_order(order(f"h{n}", value))
        ledger.add_decision(decision(f"h{n}", "holdout"))
    expected = lift_with_ci(treatment, holdout, method="welch")
    lift = ledger.summary()["lift"]
    assert lift is not None
    assert lift["lift"] == pytest.approx(expected.lift)
    assert (lift["ci_low"], lift["ci_high"]) == pytest.approx((expected.ci_low, expected.ci_high))
    assert lift["method"] == "welch"
    assert ledger.summary()["cohorts"]["treatment"]["aov"] == 15.0


def test_decisions_are_counted_and_the_recent_ones_listed_newest_first() -> None:
    ledger = StoreLedger(recent=2)
    offer = {
        "offer_id": "d-c1:1",
        "kind": "cross_sell",
        "product_id": "p-9",
        "unit_price": 3.0,
        "discount_pct": 0.0,
        "offer_price": 3.0,
        "p_accept": 0.1,
        "expected_revenue": 0.3,
        "reason": "bought with p-1",
    }
    nudge = {"kind": "free_shipping", "threshold": 50.0, "gap": 8.0, "message": "Add 8.00 GBP"}
    ledger.add_decision(decision("c0", "treatment", "cart"))
    ledger.add_decision(decision("c1", "treatment", "cart", offers=[offer], nudges=[nudge]))
    ledger.add_decision(decision("c2", "holdout", "cart"))
    summary = ledger.summary()
    assert summary["decisions"] == [
        {"placement": "cart", "cohort": "holdout", "count": 1},
        {"placement": "cart", "cohort": "treatment", "count": 2},
    ]
    recent = summary["recent_decisions"]
    assert [d["decision_id"] for d in recent] == ["d-c2", "d-c1"]
    assert recent[1]["offers"] == ["p-9"] and recent[1]["nudges"] == ["Add 8.00 GBP"]


def test_memory_is_bounded_unpaired_orders_and_values_alike() -> None:
    ledger = StoreLedger(capacity=2)
    for n in range(3):
        ledger.add_order(order(f"o{n}", 1.0 + n))
    ledger.add_decision(decision("o0", "treatment"))  # o0 was forgotten: nothing to pair
    assert ledger.summary()["cohorts"]["treatment"]["orders"] == 0
    for n in range(5):
        ledger.add_decision(decision(f"x{n}", "treatment"))
        ledger.add_order(order(f"x{n}", 10.0 * (n + 1)))
    assert ledger.summary()["cohorts"]["treatment"] == {"orders": 2, "aov": 45.0}

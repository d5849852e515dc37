"""streams/experiment/report.py: the lift report from decisions and orders."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import OfferDecision, OrderEvent
from streams.experiment.report import ReportConfig, build_report, report_lines
from streams.units import HOUR_MS

T0 = 1_763_740_800_000


def decision(
    trigger: str,
    shopper: str,
    placement: str,
    cohort: str,
    ts: int,
    offers: list[tuple[str, float]] = (),  # type: ignore[assignment]
    nudge_threshold: float | None = None,
) -> OfferDecision:
    decision_id = f"d-{trigger}"
    kind = "cross_sell" if placement == "cart" else "post_purchase"
    data: dict[str, Any] = {
        "decision_id": decision_id,
        "ts": ts,
        "trigger_event_id": trigger,
        "shopper_id": shopper,
        "placement": placement,
        "cohort": cohort,
        "model_version": "1",
        "offers": [
            {
                "offer_id": f"{decision_id}:{n}",
                "kind": kind,
                "product_id": product,
                "unit_price": price,
                "discount_pct": 0.0,
                "offer_price": price,
                "p_accept": 0.1,
                "expected_revenue": 0.1 * price,
                "reason": "test",
            }
            for n, (product, price) in enumerate(offers, 1)
        ],
    }
    if nudge_threshold is not None:
        data["nudges"] = [
            {"kind": "free_shipping", "threshold": nudge_threshold, "gap": 1.0, "message": "m"}
        ]
    return OfferDecision.model_validate(data)


def order(
    event_id: str, shopper: str, ts: int, lines: list[tuple[str, float, str | None]]
) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "event_id": event_id,
            "ts": ts,
            "shopper_id": shopper,
            "order_id": f"ord-{event_id}",
            "currency": "GBP",
            "items": [
                {"product_id": p, "quantity": 1, "unit_price": price, "offer_id": offer_id}
                for p, price, offer_id in lines
            ],
        }
    )


def scenario() -> tuple[list[OfferDecision], list[OrderEvent]]:
    decisions = [
        decision("c-1", "s-1", "cart", "treatment", T0, [("x", 10.0), ("y", 5.0)], 40.0),
        decision("c-2", "s-2", "cart", "treatment", T0, [("x", 10.0)]),
        decision("c-3", "s-3", "cart", "holdout", T0),
        decision("o-1", "s-1", "confirmation", "treatment", T0 + HOUR_MS + 1),
        decision("o-2", "s-2", "confirmation", "treatment", T0 + 30 * HOUR_MS + 1),
        decision("o-3", "s-3", "confirmation", "holdout", T0 + HOUR_MS + 1),
        decision("o-4", "s-4", "confirmation", "holdout", T0 + HOUR_MS + 1),
    ]
    orders = [
        # s-1 buys the offer explicitly and y by the window: both credited.
        order(
            "o-1",
            "s-1",
            T0 + HOUR_MS,
            [("a", 30.0, None), ("x", 10.0, "d-c-1:1"), ("y", 5.0, None)],
        ),
        # s-2 buys x 30 h later: outside the 24 h cart window, not credited.
        order("o-2", "s-2", T0 + 30 * HOUR_MS, [("a", 30.0, None), ("x", 10.0, None)]),
        order("o-3", "s-3", T0 + HOUR_MS, [("a", 30.0, None)]),
        order("o-4", "s-4", T0 + HOUR_MS, [("b", 20.0, None)]),
        order("o-9", "s-9", T0 + HOUR_MS, [("b", 99.0, None)]),  # no decision: unassigned
    ]
    return decisions, orders


def test_cohorts_aov_and_revenue_per_shopper() -> None:
    report = build_report(*scenario())
    cohorts = report["cohorts"]
    assert cohorts["treatment"] == {
        "orders": 2,
        "shoppers": 2,
        "revenue": 85.0,
        "aov": 42.5,
        "revenue_per_shopper": 42.5,
    }
    assert cohorts["holdout"]["aov"] == 25.0 and cohorts["holdout"]["orders"] == 2
    assert cohorts["unassigned"]["orders"] == 1
    assert report["lift"]["lift"] == pytest.approx(42.5 / 25.0 - 1)


def test_acceptance_counts_explicit_and_windowed_credits_only() -> None:
    report = build_report(*scenario())
    cart = report["placements"]["cart"]
    assert cart["shown"] == 3
    assert cart["accepted"] == 2  # x explicitly, y by the window; s-2's x was too late
    assert cart["accepted_revenue"] == 15.0
    assert cart["revenue_per_impression"] == pytest.approx(5.0)
    assert report["holdout_decisions_with_offers"] == 0


def test_nudge_conversion_counts_orders_reaching_the_threshold() -> None:
    report = build_report(*scenario())
    assert report["nudges"]["free_shipping_shown"] == 1
    assert report["nudges"]["free_shipping_converted"] == 1  # s-1 ordered 45.00 >= 40.00


def test_holdout_decisions_with_offers_are_reported() -> None:
    decisions, orders = scenario()
    bad = decision("c-4", "s-4", "cart", "holdout", T0).model_copy(
        update={"offers": decisions[0].offers}
    )
    report = build_report([*decisions, bad], orders)
    assert report["holdout_decisions_with_offers"] == 1


def test_welch_and_bootstrap_agree_on_a_clear_lift() -> None:
    decisions: list[OfferDecision] = []
    orders: list[OrderEvent] = []
    for n in range(200):
        cohort = "treatment" if n % 2 else "holdout"
        value = (30.0 if cohort == "treatment" else 20.0) + (n % 7)
        decisions.append(decision(f"o-{n}", f"s-{n}", "confirmation", cohort, T0 + n + 1))
        orders.append(order(f"o-{n}", f"s-{n}", T0 + n, [("a", value, None)]))
    for method in ("bootstrap", "welch"):
        lift = build_report(decisions, orders, ReportConfig(method=method))["lift"]  # type: ignore[arg-type]
        assert lift["ci_low"] > 0.3 and lift["ci_high"] < 0.6, (method, lift)
        assert lift["significant"]


def test_report_lines_render_every_section() -> None:
    text = "\n".join(report_lines(build_report(*scenario())))
    assert "AOV lift: +70.00%" in text
    assert "cart: shown 3, accepted 2" in text
    assert "free-shipping nudges: 1 shown, 1 reached" in text

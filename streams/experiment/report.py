"""The lift report: AOV per cohort with a confidence interval, acceptance per placement.

Pure: it reads decisions (`shop.offers`) and orders (`shop.orders`) as contract models and
uses the stream's own attribution code (``OfferLedger``), so the report and the workers'
metrics count the same way.

- Cohort of an order: the cohort of its confirmation decision (every order gets one);
  orders without one (sent before Basketlift ran, or outside the time range) are counted
  as ``unassigned`` and left out of the comparison.
- AOV: mean order value (quantity x unit price, shipping excluded); revenue per shopper:
  total value / distinct shoppers (or sessions) with an order; lift = AOV(treatment) /
  AOV(holdout) - 1 with a 95% interval (bootstrap by default, or Welch).
- Shown offers: every offer in a treatment decision (the frontend may not render all of
  them; ``offer_impression`` clicks, where sent, are counted by the workers' metrics).
  Accepted: order lines with the offer's ``offer_id``, or a purchase of an offered product
  by the same shopper/session within the window of its placement. Acceptance rate =
  accepted / shown; revenue per shown offer = accepted revenue / shown.
- Nudge conversion: of the free-shipping nudges shown, the share whose shopper's next order
  within the cart window reached the nudge's threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import OfferDecision, OrderEvent
from streams.experiment.attribution import (
    DEFAULT_ATTRIBUTION_CONFIG,
    AttributionConfig,
    OfferLedger,
)
from streams.experiment.lift import LiftMethod, lift_with_ci
from streams.profiles.model import order_value

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """How the report attributes and estimates."""

    attribution: AttributionConfig = DEFAULT_ATTRIBUTION_CONFIG
    method: LiftMethod = "bootstrap"
    confidence: float = 0.95
    seed: int = 0
    resamples: int = 2000


def _cohort_rows(values: dict[str, list[float]], shoppers: dict[str, set[str]]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for cohort in ("treatment", "holdout", "unassigned"):
        orders = values.get(cohort, [])
        revenue = sum(orders)
        people = len(shoppers.get(cohort, set()))
        rows[cohort] = {
            "orders": len(orders),
            "shoppers": people,
            "revenue": round(revenue, 2),
            "aov": round(revenue / len(orders), 4) if orders else None,
            "revenue_per_shopper": round(revenue / people, 4) if people else None,
        }
    return rows


def build_report(
    decisions: Iterable[OfferDecision],
    orders: Iterable[OrderEvent],
    config: ReportConfig | None = None,
) -> Row:
    """The report as one JSON-able dict (see the module docstring)."""
    config = config or ReportConfig()
    decisions = sorted(decisions, key=lambda d: (d.ts, d.decision_id))
    orders = sorted(orders, key=lambda o: (o.ts, o.event_id))
    cohort_of_order = {
        d.trigger_event_id: d.cohort for d in decisions if d.placement == "confirmation"
    }
    values: dict[str, list[float]] = defaultdict(list)
    shoppers: dict[str, set[str]] = defaultdict(set)
    for order in orders:
        cohort = cohort_of_order.get(order.event_id, "unassigned")
        values[cohort].append(order_value(order.items))
        shoppers[cohort].add(order.routing_key)

    shown: dict[str, int] = defaultdict(int)
    accepted: dict[str, int] = defaultdict(int)
    accepted_revenue: dict[str, float] = defaultdict(float)
    nudges_shown = nudges_converted = 0
    open_nudges: dict[str, list[tuple[int, float]]] = defaultdict(list)
    ledgers: dict[str, OfferLedger] = defaultdict(OfferLedger)
    holdout_with_offers = 0
    # One pass in event time: decisions add to the ledgers, orders are attributed.
    timeline: list[tuple[int, int, Any]] = [(d.ts, 0, d) for d in decisions]
    timeline += [(o.ts, 1, o) for o in orders]
    timeline.sort(key=lambda item: (item[0], item[1]))
    window_ms = config.attribution.cart_window_ms
    for _ts, _kind, item in timeline:
        if isinstance(item, OfferDecision):
            if item.cohort == "holdout":
                holdout_with_offers += bool(item.offers or item.nudges)
                continue
            key = item.routing_key
            if item.offers:
                shown[item.placement] += len(item.offers)
                ledgers[key] = ledgers[key].with_decision(
                    item.offers, item.placement, item.ts, config.attribution
                )
            for nudge in item.nudges:
                if nudge.kind == "free_shipping":
                    nudges_shown += 1
                    open_nudges[key].append((item.ts, nudge.threshold))
        else:
            key = item.routing_key
            ledgers[key], credits = ledgers[key].with_order(item.items, item.ts, config.attribution)
            for credit in credits:
                placement = credit.placement or "unknown"
                accepted[placement] += 1
                accepted_revenue[placement] += credit.revenue
            value = order_value(item.items)
            waiting = open_nudges.pop(key, [])
            nudges_converted += sum(
                1 for ts, threshold in waiting if item.ts - ts <= window_ms and value >= threshold
            )

    treatment, holdout = values.get("treatment", []), values.get("holdout", [])
    lift: Row | None = None
    if len(treatment) >= 2 and len(holdout) >= 2:
        result = lift_with_ci(
            treatment,
            holdout,
            method=config.method,
            confidence=config.confidence,
            seed=config.seed,
            resamples=config.resamples,
        )
        lift = result.interval()
    placements: dict[str, Row] = {}
    for placement in sorted(set(shown) | set(accepted)):
        n = shown.get(placement, 0)
        placements[placement] = {
            "shown": n,
            "accepted": accepted.get(placement, 0),
            "acceptance_rate": accepted.get(placement, 0) / n if n else None,
            "accepted_revenue": round(accepted_revenue.get(placement, 0.0), 2),
            "revenue_per_impression": accepted_revenue.get(placement, 0.0) / n if n else None,
        }
    return {
        "cohorts": _cohort_rows(values, shoppers),
        "lift": lift,
        "placements": placements,
        "nudges": {
            "free_shipping_shown": nudges_shown,
            "free_shipping_converted": nudges_converted,
            "conversion": nudges_converted / nudges_shown if nudges_shown else None,
        },
        "decisions": len(decisions),
        "holdout_decisions_with_offers": holdout_with_offers,
    }


def report_lines(report: Row) -> Sequence[str]:
    """A plain-text rendering of the report, a line each."""
    lines = ["cohort       orders  shoppers        AOV  revenue/shopper"]
    for cohort, row in report["cohorts"].items():
        aov = "-" if row["aov"] is None else f"{row['aov']:.2f}"
        rps = "-" if row["revenue_per_shopper"] is None else f"{row['revenue_per_shopper']:.2f}"
        lines.append(f"{cohort:<12} {row['orders']:>6} {row['shoppers']:>9} {aov:>10} {rps:>16}")
    lift = report["lift"]
    if lift is None:
        lines.append("lift: not enough orders in both cohorts")
    else:
        lines.append(
            f"AOV lift: {lift['lift']:+.2%} ({lift['confidence']:.0%} CI "
            f"{lift['ci_low']:+.2%} .. {lift['ci_high']:+.2%}, {lift['method']})"
        )
    for placement, row in report["placements"].items():
        rate = "-" if row["acceptance_rate"] is None else f"{row['acceptance_rate']:.2%}"
        rpi = (
            "-" if row["revenue_per_impression"] is None else f"{row['revenue_per_impression']:.4f}"
        )
        lines.append(
            f"{placement}: shown {row['shown']}, accepted {row['accepted']} ({rate}), "
            f"revenue per impression {rpi}"
        )
    nudges = report["nudges"]
    conversion = "-" if nudges["conversion"] is None else f"{nudges['conversion']:.2%}"
    lines.append(
        f"free-shipping nudges: {nudges['free_shipping_shown']} shown, "
        f"{nudges['free_shipping_converted']} reached the threshold ({conversion})"
    )
    return lines


def write_report_plot(report: Row, path: str) -> None:
    """A PNG: AOV per cohort with the lift's interval in the title, acceptance per placement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    cohorts = [c for c in ("treatment", "holdout") if report["cohorts"][c]["aov"] is not None]
    left.bar(cohorts, [report["cohorts"][c]["aov"] for c in cohorts], color=["#2a7", "#888"])
    left.set_ylabel("average order value")
    lift = report["lift"]
    if lift is not None:
        left.set_title(f"lift {lift['lift']:+.1%} [{lift['ci_low']:+.1%}, {lift['ci_high']:+.1%}]")
    placements = list(report["placements"])
    rates = [report["placements"][p]["acceptance_rate"] or 0.0 for p in placements]
    right.bar(placements, rates, color="#37a")
    right.set_ylabel("acceptance rate (accepted / shown)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

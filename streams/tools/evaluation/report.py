"""Showing an evaluation: a rich table side by side, and a PNG bar chart (matplotlib, Agg)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from streams.tools.evaluation.runner import BASELINE, EvaluationReport

__all__ = ["report_table", "write_plot"]

_METRICS: tuple[tuple[str, str], ...] = (
    ("hit_at_k", "hit@{k}"),
    ("revenue_per_impression", "revenue / impression"),
    ("coverage", "coverage"),
    ("decisions_per_second", "decisions / s"),
)


def _split_label(report: EvaluationReport) -> str:
    return datetime.fromtimestamp(report.split_at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def report_table(report: EvaluationReport) -> Table:
    """The rankers side by side, with hit@k and revenue per impression vs the baseline."""
    cases = next(iter(report.results.values())).cases if report.results else 0
    state = "frozen at the split" if report.refresh_days <= 0 else (
        f"refreshed every {report.refresh_days:g} d"
    )  # fmt: skip
    table = Table(
        title=(
            f"Offline evaluation, k={report.k}: {report.train_orders:,} training orders before "
            f"{_split_label(report)} UTC, {cases:,} test cases (seed {report.seed}, state {state})"
        ),
        title_justify="left",
    )
    table.add_column("ranker", no_wrap=True, min_width=16)
    table.add_column(f"hit@{report.k}", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("rev/imp", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("cover", justify="right", no_wrap=True)
    table.add_column("ECE", justify="right", no_wrap=True)
    table.add_column("dec/s", justify="right", no_wrap=True)
    table.caption = (
        f"rev/imp: revenue per impression; ratio: to {BASELINE}; cover: distinct "
        "products offered / products in training; ECE: expected calibration error of p_accept "
        "(deciles; accepted = bought in the order; --json has the deciles); dec/s: decisions "
        "per second"
    )
    ratios = report.ratios()
    for name, result in report.results.items():
        ratio = ratios[name]
        table.add_row(
            name,
            f"{result.hit_at_k:.4f}",
            _times(ratio["hit_at_k"]),
            f"{result.revenue_per_impression:.4f}",
            _times(ratio["revenue_per_impression"]),
            f"{result.coverage:.3f}",
            f"{result.expected_calibration_error:.3f}",
            f"{result.decisions_per_second:.0f}",
        )
    return table


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def write_plot(report: EvaluationReport, path: Path) -> None:
    """A PNG with one bar chart per metric (the rankers side by side, values on the bars)
    and, last, the reliability curve: each ranker's mean p_accept against the observed
    acceptance per decile of p_accept (log-log; the diagonal is perfect calibration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.results)
    ratios = report.ratios()
    colours = {
        "popularity": "#9e9e9e",
        "copurchase_count": "#4c78a8",
        "copurchase_plain": "#54a24b",
        "basketlift": "#f58518",
        "basketlift_fitted": "#e45756",
    }
    panels = len(_METRICS) + 1
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.6))
    for axis, (key, label) in zip(axes, _METRICS, strict=False):
        values = [float(report.results[name].metrics()[key]) for name in names]
        bars = axis.bar(
            names, values, color=[colours.get(name, "#72b7b2") for name in names], width=0.6
        )
        axis.set_title(label.format(k=report.k), fontsize=12)
        axis.tick_params(axis="x", labelrotation=15, labelsize=9)
        axis.set_ylim(0, max(values, default=0.0) * 1.3 or 1.0)
        axis.spines[["top", "right"]].set_visible(False)
        for name, bar, value in zip(names, bars, values, strict=True):
            text = f"{value:,.0f}" if key == "decisions_per_second" else f"{value:.4f}"
            ratio = ratios[name].get(key)
            if ratio is not None and name != BASELINE:
                text += f"\n({ratio:.2f}x)"
            axis.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=9,
                xytext=(0, 2),
                textcoords="offset points",
            )
    _reliability_panel(axes[-1], report, colours)
    cases = next(iter(report.results.values())).cases if report.results else 0
    figure.suptitle(
        f"Basketlift offline evaluation: split {_split_label(report)} UTC, k={report.k}, "
        f"{cases:,} test cases, {report.train_orders:,} training orders "
        f"(ratios: to {BASELINE})",
        fontsize=12,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _reliability_panel(axis: Any, report: EvaluationReport, colours: dict[str, str]) -> None:
    """Mean p_accept (x) against observed acceptance (y) per decile, one line per ranker."""
    axis.set_title("reliability: acceptance by decile of p_accept", fontsize=11)
    low, high = 1.0, 0.0
    for name, result in report.results.items():
        groups = [g for g in result.calibration() if g.mean_predicted > 0]
        if not groups:
            continue
        x = [g.mean_predicted for g in groups]
        # A decile without an acceptance is drawn at half of one acceptance in it (log axis).
        y = [max(g.observed, 0.5 / g.offers) for g in groups]
        low, high = min(low, *x, *y), max(high, *x, *y)
        axis.plot(
            x,
            y,
            marker="o",
            markersize=3,
            color=colours.get(name, "#72b7b2"),
            label=f"{name} (ECE {result.expected_calibration_error:.3f})",
        )
    if high > 0:
        axis.plot([low, high], [low, high], color="#555555", linestyle=":", linewidth=1)
        axis.set_xscale("log")
        axis.set_yscale("log")
    axis.set_xlabel("mean p_accept", fontsize=9)
    axis.set_ylabel("accepted (bought in the order)", fontsize=9)
    axis.spines[["top", "right"]].set_visible(False)
    axis.legend(fontsize=7, loc="upper left")

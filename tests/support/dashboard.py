"""The Grafana dashboard's PromQL, ready to send to a real Prometheus, and PromQL helpers.

`dashboard_expressions()` reads deploy/grafana/basketlift.json and returns every panel
target's expression with Grafana's interval variables replaced by concrete durations, so
that the expressions can be evaluated by Prometheus itself (or parsed by promtool).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_PATH = ROOT / "deploy" / "grafana" / "basketlift.json"

# Grafana's built-in interval variables, in both spellings ($x and ${x}).
_GRAFANA_INTERVALS = ("__rate_interval", "__interval", "__range")

# Tokens of PromQL that are not metric names: operators, modifiers and literals. Function
# and aggregation names are recognised by the "(" that follows them.
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "Inf",
        "NaN",
    }
)


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    """The dashboard JSON as a dict."""
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def substitute_grafana_variables(expr: str, rate_interval: str = "5m") -> str:
    """Replace Grafana's interval variables with a fixed duration."""
    for name in _GRAFANA_INTERVALS:
        expr = expr.replace("${" + name + "}", rate_interval).replace("$" + name, rate_interval)
    return expr


def dashboard_expressions(rate_interval: str = "5m", path: Path = DASHBOARD_PATH) -> list[str]:
    """Every panel target's PromQL expression, in dashboard order, ready for Prometheus.

    `rate_interval` replaces `$__rate_interval` (and `$__interval`, `$__range`); it must
    span at least two scrapes of the Prometheus the expressions are sent to.
    """
    expressions = []
    for panel in iter_panels(load_dashboard(path)):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if expr:
                expressions.append(substitute_grafana_variables(expr, rate_interval))
    return expressions


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (recording-rule names included).

    A lexical scan, not a parser: it drops string literals, label matchers, ranges and
    grouping clauses, then keeps identifiers that are neither keywords nor followed by "("
    (functions and aggregations). Enough for the expressions this project writes.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        if token in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(token)
    return names

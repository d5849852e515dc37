"""deploy/grafana: the dashboard parses, every panel queries something, every expression
parses with promtool and reads only metrics the workers expose; provisioning is complete."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.dashboard import (
    DASHBOARD_PATH,
    dashboard_expressions,
    iter_panels,
    load_dashboard,
    metric_names,
    substitute_grafana_variables,
)
from tests.unit.deploy.helpers import (
    DEPLOY,
    PROMETHEUS_SYNTHETIC,
    exposed_metric_names,
    run_promtool,
)

PROVISIONING = DEPLOY / "grafana" / "provisioning"


def check_expressions(promtool: str, expressions: list[str], directory: Path) -> None:
    """Parse expressions with promtool, as recording rules of a throwaway rule file.

    JSON is YAML, so the rule file needs no YAML library.
    """
    rules = [
        {"record": f"dashboard:expression_{index}:check", "expr": expr}
        for index, expr in enumerate(expressions)
    ]
    path = directory / "dashboard_rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run_promtool(promtool, "check", "rules", path)
    assert f"SUCCESS: {len(expressions)} rules found" in output


def test_dashboard_parses_and_has_identity() -> None:
    dashboard = json.loads(DASHBOARD_PATH.read_text())
    assert dashboard["uid"] == "basketlift"
    assert dashboard["title"] == "Basketlift"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_has_a_target_and_a_unique_id() -> None:
    panels = list(iter_panels(load_dashboard()))
    assert len(panels) > 20
    ids = Counter(panel["id"] for panel in panels)
    assert [pid for pid, count in ids.items() if count > 1] == []
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["title"], panel["id"]
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no target"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target.get("expr", "").strip(), f"empty query in {panel['title']!r}"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_covers_the_issue() -> None:
    """Traffic, latency, errors, lag and the business KPIs are all on the dashboard."""
    used = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    for name in (
        "basketlift_events_total",
        "basketlift_decision_latency_seconds_bucket",
        "basketlift_deadletters_total",
        "basketlift_consumer_lag",
        "basketlift_decisions_total",
        "basketlift_order_value_sum",
        "basketlift_offers_accepted_total",
        "basketlift_offer_revenue_total",
        "basketlift_offer_impressions_total",
    ):
        assert name in used, name
    expressions = " ".join(dashboard_expressions())
    assert "histogram_quantile(0.99" in expressions and "histogram_quantile(0.5" in expressions


def test_every_expression_parses(promtool: str, tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert expressions
    assert not any("$" in expr for expr in expressions), "unsubstituted Grafana variable"
    check_expressions(promtool, expressions, tmp_path)


def test_the_parse_check_rejects_a_broken_expression(promtool: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="promtool check rules"):
        check_expressions(promtool, ["sum(rate(basketlift_events_total[5m])"], tmp_path)


def test_every_metric_is_exposed_by_the_workers() -> None:
    exposed = exposed_metric_names() | PROMETHEUS_SYNTHETIC
    used = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    missing = sorted(used - exposed)
    assert not missing, f"metrics the dashboard reads but streams/ops/metrics.py lacks: {missing}"


def test_metric_names_scanner() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (placement, le) (rate(a_bucket{le="0.05",x=~"y|z"}'
        "[5m]))) / on (placement) group_left (kind) sum(b_total offset 1h) > bool 0 "
        "or vector(0) unless basketlift:x:rate5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "basketlift:x:rate5m"}
    assert substitute_grafana_variables("rate(x[$__rate_interval]) ${__range}", "2m") == (
        "rate(x[2m]) 2m"
    )


def test_provisioning_points_at_prometheus_and_the_dashboard_folder() -> None:
    datasource = (PROVISIONING / "datasources" / "prometheus.yml").read_text()
    assert "type: prometheus" in datasource and "apiVersion: 1" in datasource
    provider = (PROVISIONING / "dashboards" / "basketlift.yml").read_text()
    assert "type: file" in provider and "path: /var/lib/grafana/dashboards" in provider

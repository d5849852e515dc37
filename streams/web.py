"""Operational endpoints on Faust's web server: `/metrics` (Prometheus) and `/health`."""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import setup_prometheus_sensors

from streams import metrics
from streams.app import app

# Faust's own stream/table/consumer sensor shares the project's registry and serves /metrics.
setup_prometheus_sensors(app, pattern="/metrics", registry=metrics.REGISTRY, name_prefix="faust")


def health_problems() -> list[str]:
    """Why this worker cannot serve right now; empty when healthy."""
    problems = []
    if not app.producer.started if app.producer else True:
        problems.append("producer not started")
    try:
        assigned = app.consumer.assignment()
    except Exception:
        assigned = set()
    if not assigned:
        problems.append("no partitions assigned")
    if app.rebalancing:
        problems.append("rebalancing")
    if getattr(app, "in_recovery", False):
        problems.append("tables recovering from changelogs")
    return problems


@app.page("/health")
async def health(self: Any, request: Any) -> Any:
    """200 when partitions are assigned and tables recovered, else 503 with the reasons."""
    problems = health_problems()
    body = {
        "status": "ok" if not problems else "unavailable",
        "problems": problems,
        "app_id": app.conf.id,
    }
    return self.json(body, status=200 if not problems else 503)

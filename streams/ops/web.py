"""Operational endpoints on Faust's web server: `/metrics` (Prometheus), `/health` (ready to
serve) and `/live` (making progress)."""

from __future__ import annotations

from typing import Any

from faust.exceptions import ConsumerNotStarted
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app, settings
from streams.catalog.view import catalog_view
from streams.copurchase.view import products_view
from streams.ops import metrics
from streams.ops.brokerwatch import broker_watch
from streams.ops.consumer import WorkerCollector
from streams.ops.httplog import install_rejection_log_limit
from streams.ops.watchdog import progress_watch


async def metrics_page(self: Any, request: Any) -> Any:
    """Prometheus text exposition of the project's registry."""
    return self.bytes(
        generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def health_problems() -> list[str]:
    """Why this worker cannot serve right now; empty when healthy."""
    problems = []
    try:
        assigned = app.consumer.assignment()
    except ConsumerNotStarted:
        assigned = set()
    if not assigned:
        problems.append("no partitions assigned")
    if app.rebalancing:
        problems.append("rebalancing")
    if app.in_recovery:
        problems.append("tables recovering from changelogs")
    for name, view in (("catalog", catalog_view), ("products", products_view)):
        if not view.ready.is_set():
            problems.append(f"{name} view still loading")
    unreachable = broker_watch.problem(app.consumer, settings.broker_unreachable_seconds)
    if unreachable is not None:
        problems.append(unreachable)
    return problems


async def live(self: Any, request: Any) -> Any:
    """200 while the worker makes progress; 503 once partitions stalled for a while."""
    problem = progress_watch.liveness_problem(settings.stall_liveness_checks)
    body = {"status": "ok" if problem is None else "stalled", "problem": problem}
    return self.json(body, status=200 if problem is None else 503)


async def health(self: Any, request: Any) -> Any:
    """200 when partitions are assigned, tables recovered, views loaded and the broker in
    contact; else 503 with the reasons."""
    problems = health_problems()
    body = {
        "status": "ok" if not problems else "unavailable",
        "problems": problems,
        "app_id": app.conf.id,
    }
    return self.json(body, status=200 if not problems else 503)


def install_endpoints() -> None:
    """Register /metrics (or Faust's own sensor on it), /live and /health, export the worker's
    internals, and rate-limit the log of malformed HTTP requests (called by streams.topology).
    """
    # Requests aiohttp cannot parse (e.g. a request line over 8 KB) are logged as one
    # rate-limited warning, not as an error with a traceback per request.
    install_rejection_log_limit()
    if settings.faust_sensor:
        # Faust's per-message Prometheus sensor: detailed, but it runs for every message and
        # lowers ingest throughput (bench/ingest_throughput.py), so it is opt-in. It serves
        # /metrics from our registry.
        setup_prometheus_sensors(
            app, pattern="/metrics", registry=metrics.REGISTRY, name_prefix="faust"
        )
    else:
        app.page("/metrics")(metrics_page)
    metrics.REGISTRY.register(
        WorkerCollector(
            app,
            {"products": products_view, "catalog": catalog_view},
            ready=lambda: not health_problems(),
        )
    )
    app.page("/live")(live)
    app.page("/health")(health)

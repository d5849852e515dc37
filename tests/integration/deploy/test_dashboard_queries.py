"""A real Prometheus (Debian's package) scrapes a real worker on a real broker while traffic
flows: every expression of the Grafana dashboard must return data, the core ones numbers,
and the recording and alert rules must load and evaluate."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import sample_slice, send_events, wait_for_metric
from tests.support.dashboard import dashboard_expressions
from tests.support.kafka import Deployment, free_port, produce_records, start_worker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]
RATE_WINDOW = "20s"
CORE = [
    'sum(up{job="basketlift"})',
    "sum(basketlift_worker_ready)",
    f"sum(rate(basketlift_decisions_total[{RATE_WINDOW}]))",
    f"sum(rate(basketlift_events_total[{RATE_WINDOW}]))",
    f"sum(rate(basketlift_order_value_count[{RATE_WINDOW}]))",
    "max(basketlift_index_products)",
    "max(basketlift_holdout_fraction)",
]
"""Expressions that must be numbers > 0 while traffic flows (the rest may be 0 or NaN)."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed (CI installs Debian's package)")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return found


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    rules = [str(ROOT / "deploy/prometheus/rules.yml"), str(ROOT / "deploy/prometheus/alerts.yml")]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rules,
        "scrape_configs": [{"job_name": "basketlift", "static_configs": [{"targets": [target]}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            pass
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        time.sleep(0.3)
    process.kill()
    raise AssertionError("prometheus did not become ready")


def test_every_dashboard_query_returns_data_from_a_live_worker(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(300)
    worker = start_worker(deployment, tmp_path, BASKETLIFT_INDEX_REFRESH_SECONDS="0.5")
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        worker.wait_healthy()
        prometheus, base = start_prometheus(tmp_path, f"127.0.0.1:{deployment.web_port}")
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog_events(log)])
        orders = list(log.orders)
        send_events(deployment, [("orders", event_key(o), order_event(o)) for o in orders[:150]])
        wait_for_metric(worker, "basketlift_decisions_total", 150)
        # Traffic for a while: carts, orders, offer clicks and one bad message.
        deadline = time.monotonic() + 25
        n = 0
        while time.monotonic() < deadline:
            order = orders[150 + n % 150]
            event = order_event(order)
            key = event_key(order)
            cart = {
                "event_id": f"cart-{n}",
                "ts": event["ts"] - 1000,
                "shopper_id": event["shopper_id"],
                "session_id": event["session_id"],
                "cart_id": f"k-{n}",
                "currency": "GBP",
                "items": event["items"][:-1] or event["items"],
            }
            click = {
                "event_id": f"click-{n}",
                "ts": event["ts"] - 500,
                "shopper_id": event["shopper_id"],
                "session_id": event["session_id"],
                "action": "offer_impression",
                "offer_id": f"d-unknown:{n}",
            }
            event = {**event, "event_id": f"order-again-{n}"}
            send_events(
                deployment, [("carts", key, cart), ("clicks", key, click), ("orders", key, event)]
            )
            n += 1
            time.sleep(0.5)
        bad = [(deployment.topic("orders"), b"k", b"{not json")]
        asyncio.run(produce_records(deployment.access, bad))
        time.sleep(3)

        empty = []
        for expr in dashboard_expressions(rate_interval=RATE_WINDOW):
            if not query(base, expr):
                empty.append(expr)
        assert not empty, empty
        for expr in CORE:
            values = [float(r["value"][1]) for r in query(base, expr)]
            assert values and all(math.isfinite(v) and v > 0 for v in values), (expr, values)
        rules = json.loads(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10).read())
        groups = rules["data"]["groups"]
        assert groups, "the rule files did not load"
        unhealthy = [
            r["name"]
            for g in groups
            for r in g["rules"]
            if r.get("health") not in ("ok", "unknown")
        ]
        assert not unhealthy, unhealthy
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        worker.stop()

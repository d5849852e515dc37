"""streams/tools/replay/worker_metrics.py: reading a worker's /metrics and /health."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streams.tools.replay.worker_metrics import (
    decisions_pending,
    fetch_consumed,
    fetch_metrics_text,
    health_status,
    parse_consumed,
)


def exposition() -> tuple[str, dict[str, float], dict[str, float]]:
    """Metrics text shaped like a worker's, with the valid/invalid totals it should yield."""
    registry = CollectorRegistry()
    events = Counter("basketlift_events", "valid", ["topic"], registry=registry)
    invalid = Counter(
        "basketlift_events_invalid", "invalid", ["topic", "reason"], registry=registry
    )
    # Neighbours that must not be counted.
    rerouted = Counter("basketlift_events_rerouted", "rerouted", ["topic"], registry=registry)
    deadletters = Counter("basketlift_deadletters", "dead", ["topic"], registry=registry)
    batch = Histogram("basketlift_batch_size_events", "size", ["topic"], registry=registry)
    Gauge("basketlift_build_info", "info", ["version", "app_id"], registry=registry).labels(
        "0.1.0", "basketlift"
    ).set(1)

    valid = {"shop.carts": 1500.0, "shop.orders": 250.0, "shop.catalog": 0.0}
    for topic, count in valid.items():
        events.labels(topic=topic).inc(count)
        rerouted.labels(topic=topic).inc(7)
        batch.labels(topic=topic).observe(100)
    per_reason = {
        ("shop.carts", "invalid_json"): 3.0,
        ("shop.carts", "missing_field"): 4.0,
        ("shop.orders", "too_large"): 1.0,
    }
    for (topic, reason), count in per_reason.items():
        invalid.labels(topic=topic, reason=reason).inc(count)
        deadletters.labels(topic=topic).inc(count)
    expected_invalid: dict[str, float] = {}
    for (topic, _reason), count in per_reason.items():
        expected_invalid[topic] = expected_invalid.get(topic, 0.0) + count
    return generate_latest(registry).decode(), valid, expected_invalid


def test_parse_consumed() -> None:
    text, valid, invalid = exposition()
    assert "basketlift_events_total{" in text
    counts = parse_consumed(text)
    assert dict(counts.valid) == valid
    assert dict(counts.invalid) == invalid
    assert counts.total("shop.carts") == valid["shop.carts"] + invalid["shop.carts"]
    assert counts.total("shop.orders") == valid["shop.orders"] + invalid["shop.orders"]
    assert counts.total("shop.catalog") == 0.0
    assert counts.total("shop.never-seen") == 0.0


def test_parse_consumed_of_nothing() -> None:
    counts = parse_consumed("")
    assert dict(counts.valid) == {}
    assert dict(counts.invalid) == {}
    assert counts.total("shop.carts") == 0.0


@pytest.fixture
def dead_url(dead_port: int) -> str:
    return f"http://127.0.0.1:{dead_port}"


def test_nobody_listening(dead_url: str) -> None:
    assert health_status(dead_url + "/health", timeout=2) is None
    assert fetch_metrics_text(dead_url + "/metrics", timeout=2) is None
    assert fetch_consumed(dead_url + "/metrics") is None


class FakeWorker(BaseHTTPRequestHandler):
    """Serves /metrics and /health like a worker; the health status is configurable."""

    metrics_text = ""
    health = 200

    def do_GET(self) -> None:
        if self.path == "/metrics":
            status, body = 200, self.metrics_text.encode()
        elif self.path == "/health":
            status, body = self.health, b'{"status": "whatever"}'
        else:
            status, body = 404, b"no"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_worker() -> Iterator[tuple[str, type[FakeWorker]]]:
    handler = type("Handler", (FakeWorker,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_fetch_consumed_from_a_worker(fake_worker) -> None:
    url, handler = fake_worker
    text, valid, invalid = exposition()
    handler.metrics_text = text
    counts = fetch_consumed(url + "/metrics")
    assert counts is not None
    assert dict(counts.valid) == valid
    assert dict(counts.invalid) == invalid


@pytest.mark.parametrize("status", [200, 503])
def test_health_status_reports_http_status(fake_worker, status: int) -> None:
    url, handler = fake_worker
    handler.health = status
    assert health_status(url + "/health") == status


def test_decisions_pending_counts_valid_triggers_not_yet_decided() -> None:
    text, valid, _ = exposition()
    registry = CollectorRegistry()
    decisions = Counter("basketlift_decisions", "d", ["placement", "cohort"], registry=registry)
    decisions.labels(placement="cart", cohort="treatment").inc(1200)
    decisions.labels(placement="cart", cohort="holdout").inc(100)
    decisions.labels(placement="confirmation", cohort="treatment").inc(250)
    with_decisions = text + generate_latest(registry).decode()
    triggers = ("shop.carts", "shop.orders")
    # 1,500 carts + 250 orders validated, 1,550 decided; invalid events never get one.
    assert decisions_pending(with_decisions, triggers) == 200.0
    decisions.labels(placement="cart", cohort="treatment").inc(200)
    assert decisions_pending(text + generate_latest(registry).decode(), triggers) == 0.0
    assert decisions_pending(text, triggers) == valid["shop.carts"] + valid["shop.orders"]


def test_readings_compare_only_within_one_worker_process() -> None:
    text, _, _ = exposition()
    first = parse_consumed(text + "process_start_time_seconds 1700000000.5\n")
    again = parse_consumed(text + "process_start_time_seconds 1700000000.5\n")
    restarted = parse_consumed(text + "process_start_time_seconds 1700000900.25\n")
    assert first.process_start == 1700000000.5
    assert first.same_process(again)
    assert not first.same_process(restarted)
    assert not parse_consumed(text).same_process(parse_consumed(text))  # start not exported

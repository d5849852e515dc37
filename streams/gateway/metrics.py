"""The gateway's Prometheus metrics, in a registry of its own (served at the gateway's
`/metrics`; a worker's series never appear there, nor the gateway's on a worker)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

REQUESTS = Counter(
    "basketlift_gateway_requests",
    "HTTP requests answered, by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
EVENTS_PRODUCED = Counter(
    "basketlift_gateway_events_produced",
    "Events accepted by POST /v1/events and produced to Kafka.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "basketlift_gateway_events_rejected",
    "Events refused by POST /v1/events with 400, by reason (schemas.decode reasons).",
    ["topic", "reason"],
    registry=REGISTRY,
)
DECISION_LOOKUPS = Counter(
    "basketlift_gateway_decision_lookups",
    "GET /v1/decisions answers: hit (found, at once or while waiting) or miss (404).",
    ["outcome"],
    registry=REGISTRY,
)
DECISION_WAIT_SECONDS = Histogram(
    "basketlift_gateway_decision_wait_seconds",
    "Time a GET /v1/decisions long-poll waited before its answer.",
    ["outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
    registry=REGISTRY,
)
DECISIONS_INDEXED = Counter(
    "basketlift_gateway_decisions_indexed",
    "Decisions read from the offers topic and kept (duplicates by decision_id left out).",
    registry=REGISTRY,
)
DECISIONS_DUPLICATE = Counter(
    "basketlift_gateway_decisions_duplicate",
    "Decisions read again (same decision_id or trigger) and ignored: the first is kept.",
    registry=REGISTRY,
)
DECISIONS_INVALID = Counter(
    "basketlift_gateway_decisions_invalid",
    "Records of the offers topic that are not valid decisions (logged and skipped).",
    registry=REGISTRY,
)
ORDERS_READ = Counter(
    "basketlift_gateway_orders_read",
    "Records of the orders topic read for the store summary, by outcome (counted, invalid).",
    ["outcome"],
    registry=REGISTRY,
)
INDEX_SIZE = Gauge(
    "basketlift_gateway_index_decisions",
    "Decisions held in the gateway's index (bounded by BASKETLIFT_GATEWAY_INDEX_SIZE).",
    registry=REGISTRY,
)
SSE_CLIENTS = Gauge(
    "basketlift_gateway_sse_clients",
    "Server-Sent Events streams open now, by stream (shopper: one shopper's decisions;"
    " store: every decision and the store summary).",
    ["stream"],
    registry=REGISTRY,
)
SSE_DROPPED = Counter(
    "basketlift_gateway_sse_dropped",
    "Server-Sent Events clients disconnected for falling more than 256 decisions behind,"
    " by stream.",
    ["stream"],
    registry=REGISTRY,
)

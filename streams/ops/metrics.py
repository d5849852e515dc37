"""The project's Prometheus metrics, all in one registry served at `/metrics`."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# `*_created` series double the exposition size and no dashboard or alert uses them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

EVENTS = Counter(
    "basketlift_events",
    "Valid inbound events accepted at the boundary.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_INVALID = Counter(
    "basketlift_events_invalid",
    "Inbound events rejected at the boundary and sent to the dead-letter topic.",
    ["topic", "reason"],
    registry=REGISTRY,
)
EVENTS_REROUTED = Counter(
    "basketlift_events_rerouted",
    "Valid events that arrived on a partition other than their routing key's and were re-keyed.",
    ["topic"],
    registry=REGISTRY,
)
PROCESSING_ERRORS = Counter(
    "basketlift_processing_errors",
    "Valid events whose processing raised; they go to the dead-letter topic.",
    ["topic"],
    registry=REGISTRY,
)
DEADLETTERS = Counter(
    "basketlift_deadletters",
    "Records written to the dead-letter topic.",
    ["topic"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "basketlift_batch_size_events",
    "Events per batch taken from a stream.",
    ["topic"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "basketlift_batch_duration_seconds",
    "Time to validate and process one batch.",
    ["topic"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "basketlift_build_info",
    "Always 1; labels carry the running version and app id.",
    ["version", "app_id"],
    registry=REGISTRY,
)


def init_topic_labels(topics: list[str]) -> None:
    """Create the per-topic series at zero so dashboards show them before the first event."""
    for topic in topics:
        EVENTS.labels(topic=topic)
        EVENTS_REROUTED.labels(topic=topic)
        PROCESSING_ERRORS.labels(topic=topic)
        DEADLETTERS.labels(topic=topic)


DUPLICATES = Counter(
    "basketlift_events_duplicate",
    "Valid events skipped because their event_id was already processed (dedupe window).",
    ["topic"],
    registry=REGISTRY,
)
PRODUCT_UPDATES = Counter(
    "basketlift_product_updates",
    "Product states written (one per product per batch of co-purchase deltas).",
    registry=REGISTRY,
)
PROFILE_UPDATES = Counter(
    "basketlift_profile_updates",
    "Shopper profiles written (one per shopper per batch).",
    registry=REGISTRY,
)
ERASURES = Counter(
    "basketlift_privacy_actions",
    "Consent and erasure requests applied.",
    ["action"],
    registry=REGISTRY,
)

PLACEMENTS = ("cart", "confirmation")
DECISIONS = Counter(
    "basketlift_decisions",
    "Offer decisions sent to the offers topic.",
    ["placement", "cohort"],
    registry=REGISTRY,
)
OFFERS = Counter(
    "basketlift_offers",
    "Offers inside the decisions sent.",
    ["placement", "kind"],
    registry=REGISTRY,
)
DECISIONS_RECOVERED = Counter(
    "basketlift_decisions_recovered",
    "Decisions found already published when their trigger was processed again (after a"
    " crash or a rebalance threw its batch away): kept as they were, not sent again.",
    registry=REGISTRY,
)
DECISION_RECOVERY_READS = Counter(
    "basketlift_decision_recovery_reads",
    "Partitions of the offers topic read back before their first batch after an assignment.",
    registry=REGISTRY,
)
DECISION_LATENCY = Histogram(
    "basketlift_decision_latency_seconds",
    "From the worker receiving the triggering event to the decision being handed to its"
    " producer (published outside the transaction).",
    ["placement"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
COMMIT_HOLD_SECONDS = Histogram(
    "basketlift_commit_hold_seconds",
    "How long each commit (offsets and, under exactly-once, the transactions) held new batches"
    " off: from asking for the gate, through waiting for the batches in flight, to its"
    " transactions taking no further record (under exactly-once, before they have ended)."
    " Events arriving meanwhile wait that long on top of their own processing.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "basketlift_commit_seconds",
    "How long each commit took, from asking for the gate until its offsets and (under"
    " exactly-once) its transactions were committed. New batches run during the part after"
    " basketlift_commit_hold_seconds; their table writes wait for the next transactions.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "basketlift_gc_pause_seconds",
    "Garbage collections of the worker process and how long each held the interpreter (the"
    " event loop waits meanwhile), by generation (2: a full collection).",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
GC_FROZEN_OBJECTS = Gauge(
    "basketlift_gc_frozen_objects",
    "Objects moved out of the garbage collector's reach (gc.freeze) at the last full build of"
    " the ranker's index (BASKETLIFT_GC_FREEZE).",
    registry=REGISTRY,
)


GC_THRESHOLD = Gauge(
    "basketlift_gc_threshold",
    "The garbage collector's thresholds in force (gc.get_threshold): generation 0, tracked"
    " allocations between young collections (BASKETLIFT_GC_YOUNG_THRESHOLD); 1 and 2,"
    " collections of the generation below between collections of this one.",
    ["generation"],
    registry=REGISTRY,
)


def observe_gc_pause(generation: int, seconds: float) -> None:
    """One garbage collection's duration (streams.runtime.gcpauses)."""
    GC_PAUSE.labels(generation=str(generation)).observe(seconds)


def show_gc_thresholds(thresholds: tuple[int, ...]) -> None:
    """The collector's thresholds, one per generation (``gc.get_threshold()``)."""
    for generation, threshold in enumerate(thresholds):
        GC_THRESHOLD.labels(generation=str(generation)).set(threshold)


INDEX_REBUILDS = Counter(
    "basketlift_index_rebuilds",
    "Rebuilds of the ranker's product index from the product and catalog views.",
    registry=REGISTRY,
)
INDEX_BUILD_SECONDS = Histogram(
    "basketlift_index_build_seconds",
    "Time to bring the ranker's product index up to date with copies of the product and"
    " catalog views (in a thread, decisions keep the previous index meanwhile), by kind: full"
    " (grows with the catalog), incremental (grows with the products changed) or unchanged.",
    ["kind"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
INDEX_PRODUCTS_INDEXED = Counter(
    "basketlift_index_products_indexed",
    "Products indexed by the ranker's index refreshes, by kind (full: every product).",
    ["kind"],
    registry=REGISTRY,
)
INDEX_PRODUCTS = Gauge(
    "basketlift_index_products",
    "Products in the ranker's current index.",
    registry=REGISTRY,
)
INDEX_AGE = Gauge(
    "basketlift_index_build_timestamp_seconds",
    "Unix time the current ranker index was built.",
    registry=REGISTRY,
)
INDEX_STALE = Gauge(
    "basketlift_index_stale_records",
    "View records (products, catalog) not yet in the ranker's index at its last check.",
    registry=REGISTRY,
)
STALLED_PARTITIONS = Gauge(
    "basketlift_stalled_partitions",
    "Source partitions with records pending whose committed offset did not move since the"
    " last check.",
    registry=REGISTRY,
)
WORKER_READ_ERRORS = Counter(
    "basketlift_worker_read_errors",
    "Reads of the worker's own consumer state (for the progress watch or /metrics) that"
    " failed on an unexpected error; each is logged with its traceback.",
    ["source"],
    registry=REGISTRY,
)
BROKER_CONTACT_AGE = Gauge(
    "basketlift_broker_last_contact_age_seconds",
    "Seconds since this worker's last successful fetch or metadata response from Kafka.",
    registry=REGISTRY,
)
INDEX_CHECKED = Gauge(
    "basketlift_index_checked_timestamp_seconds",
    "Unix time the ranker index was last compared with the views.",
    registry=REGISTRY,
)
FATIGUE_UPDATES = Counter(
    "basketlift_fatigue_updates",
    "Offer impressions and dismissals applied to shoppers' fatigue state.",
    ["action"],
    registry=REGISTRY,
)

for _placement in PLACEMENTS:
    DECISION_LATENCY.labels(placement=_placement)
    DECISIONS.labels(placement=_placement, cohort="treatment")
EVENT_TIMES_REFUSED = Counter(
    "basketlift_event_times_refused",
    "Event times more than BASKETLIFT_MAX_FUTURE_SKEW_SECONDS ahead of the wall clock that a"
    " shared clock refused: clock=event_clock (the worker's), clock=product_delta (a"
    " co-purchase delta, not applied). The boundary rejects such events, so any count means"
    " an event got past it or this host's clock is behind the producing worker's.",
    ["clock"],
    registry=REGISTRY,
)
for _clock in ("event_clock", "product_delta"):
    EVENT_TIMES_REFUSED.labels(clock=_clock)
DELTAS_SKIPPED = Counter(
    "basketlift_deltas_redelivered",
    "Co-purchase deltas skipped because the product state already contained them.",
    registry=REGISTRY,
)

COHORTS = ("treatment", "holdout")
OFFER_IMPRESSIONS = Counter(
    "basketlift_offer_impressions",
    "Offer impressions reported by the frontend (shop.clicks offer_impression).",
    ["placement", "kind"],
    registry=REGISTRY,
)
OFFER_INTERACTIONS = Counter(
    "basketlift_offer_interactions",
    "Offer clicks from shop.clicks by action (offer_impression, offer_click, offer_dismiss).",
    ["action", "placement"],
    registry=REGISTRY,
)
OFFERS_ACCEPTED = Counter(
    "basketlift_offers_accepted",
    "Order lines credited to an offer (explicit offer_id, or bought within the window).",
    ["placement", "kind"],
    registry=REGISTRY,
)
OFFER_REVENUE = Counter(
    "basketlift_offer_revenue",
    "Revenue (quantity x unit price) of order lines credited to offers.",
    registry=REGISTRY,
)
ORDER_VALUE = Histogram(
    "basketlift_order_value",
    "Order value (sum of quantity x unit price, shipping excluded) by experiment cohort.",
    ["cohort"],
    buckets=(5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2500, 5000),
    registry=REGISTRY,
)
AOV = Gauge(
    "basketlift_aov",
    "Average order value per cohort over the last BASKETLIFT_AOV_WINDOW_SECONDS on this worker.",
    ["cohort"],
    registry=REGISTRY,
)
NUDGES = Counter(
    "basketlift_nudges",
    "Nudges inside the decisions sent.",
    ["kind"],
    registry=REGISTRY,
)
HOLDOUT_FRACTION = Gauge(
    "basketlift_holdout_fraction",
    "The configured share of shoppers in the holdout cohort.",
    registry=REGISTRY,
)

for _cohort in COHORTS:
    ORDER_VALUE.labels(cohort=_cohort)
    for _placement in PLACEMENTS:
        DECISIONS.labels(placement=_placement, cohort=_cohort)
for _kind in ("free_shipping", "loyalty_tier"):
    NUDGES.labels(kind=_kind)
for _placement, _kind in (
    ("cart", "cross_sell"),
    ("cart", "bundle"),
    ("confirmation", "post_purchase"),
):
    OFFERS.labels(placement=_placement, kind=_kind)
    OFFER_IMPRESSIONS.labels(placement=_placement, kind=_kind)
    OFFERS_ACCEPTED.labels(placement=_placement, kind=_kind)

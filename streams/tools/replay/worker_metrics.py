"""Reading a worker's `/metrics` from the command-line tools, to know what it has consumed."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class ConsumedCounts:
    """Per source topic: valid events counted and invalid ones dead-lettered."""

    valid: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    invalid: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    process_start: float | None = None
    """When the worker process started (unix time; None: not exported): the counters are
    that process's, so two readings compare only when this is the same."""

    def same_process(self, other: ConsumedCounts) -> bool:
        """True when both readings come from one worker process (known to be the same)."""
        return self.process_start is not None and self.process_start == other.process_start

    def total(self, topic: str) -> float:
        """Valid plus invalid events seen on `topic`."""
        return self.valid.get(topic, 0.0) + self.invalid.get(topic, 0.0)


def parse_consumed(text: str) -> ConsumedCounts:
    """basketlift_events_total, basketlift_events_invalid_total and the process start time."""
    counts = ConsumedCounts()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "basketlift_events_total":
                counts.valid[sample.labels["topic"]] += sample.value
            elif sample.name == "basketlift_events_invalid_total":
                counts.invalid[sample.labels["topic"]] += sample.value
            elif sample.name == "process_start_time_seconds":
                counts.process_start = sample.value
    return counts


def fetch_metrics_text(url: str, timeout: float = 5.0) -> str | None:
    """GET a worker's /metrics; None when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def fetch_consumed(url: str) -> ConsumedCounts | None:
    """The worker's consumed counts, or None when it does not answer."""
    text = fetch_metrics_text(url)
    return parse_consumed(text) if text is not None else None


def health_status(url: str, timeout: float = 3.0) -> int | None:
    """HTTP status of a worker's /health, or None when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def decision_counts(text: str) -> dict[tuple[str, str], float]:
    """basketlift_decisions_total per (placement, cohort) from a /metrics text."""
    counts: dict[tuple[str, str], float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "basketlift_decisions_total":
                counts[(sample.labels["placement"], sample.labels["cohort"])] += sample.value
    return dict(counts)


def decisions_pending(text: str, trigger_topics: tuple[str, ...]) -> float:
    """Valid events on the trigger topics (carts, orders) not yet answered by a decision.

    An event is counted when its batch is validated, its decision a little later: a reader
    that wants every decision waits until this reaches 0.
    """
    consumed = parse_consumed(text)
    valid = sum(consumed.valid.get(topic, 0.0) for topic in trigger_topics)
    return max(valid - sum(decision_counts(text).values()), 0.0)

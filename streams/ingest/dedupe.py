"""Redelivered events are recognised before any domain sees them (pure; no Faust).

Producers retry, and an at-least-once producer or a replayed log can deliver the same event
twice. Every cart, order and click is processed once per `event_id`: the ids seen recently
are remembered per (topic, routing key), and an event whose id is among them is a
duplicate: it gets no second decision, changes no state and is counted once, in
`basketlift_events_duplicate_total`. The window is the last `max_ids` ids of that topic and
key; a redelivery older than that is no longer recognised. Topics are kept apart so that a
shopper's many cart changes do not push the ids of their orders out of the window, and so
that the cart and order agents never write the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from streams.profiles.model import remember_event

__all__ = ["DEDUPED_TOPICS", "Deduplicated", "dedupe_key", "split_duplicates"]

DEDUPED_TOPICS = frozenset({"carts", "orders", "clicks"})
"""Logical topics whose events are deduplicated (privacy actions are idempotent; catalog
events are state, not occurrences)."""

T = TypeVar("T")


def dedupe_key(logical_topic: str, routing_key: str) -> str:
    """The dedupe table's key: the topic, a colon, the routing key (topics have no colon)."""
    return f"{logical_topic}:{routing_key}"


@dataclass(slots=True)
class Deduplicated(Generic[T]):
    """A batch split into first deliveries and redeliveries, and the windows it changed."""

    fresh: list[T] = field(default_factory=list)
    duplicates: list[T] = field(default_factory=list)
    windows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Dedupe key -> the ids to remember now, for every key a fresh event changed."""


def split_duplicates(
    items: Iterable[tuple[str, str, T]],
    load: Callable[[str], tuple[str, ...]],
    max_ids: int,
) -> Deduplicated[T]:
    """Split (dedupe key, event id, item) triples, in order, into fresh and duplicate items.

    `load` gives a key's remembered ids (read once per key). An id repeated inside the batch
    is a duplicate from its second occurrence on.
    """
    result: Deduplicated[T] = Deduplicated()
    windows: dict[str, tuple[str, ...]] = {}
    for key, event_id, item in items:
        window = windows[key] if key in windows else load(key)
        if event_id in window:
            result.duplicates.append(item)
            windows[key] = window
            continue
        windows[key] = result.windows[key] = remember_event(window, event_id, max_ids)
        result.fresh.append(item)
    return result

"""Decisions already published for events the worker is about to process (again).

Decisions leave the worker outside its transaction (``streams.kafka.publisher``), so a
frontend sees them within milliseconds. When a batch is thrown away (a crash, or a rebalance
that moves its partition before the commit), its events are processed again from the last
committed offsets, but the decisions made for them are already on ``shop.offers``.
Deciding again could give another decision (the ranker's index and the acceptance counts
move on), and a cart would then have two different ones. So before a partition's first
batch, the worker reads the decisions published on that partition of ``shop.offers`` since
the committed state's lower bound (`PUBLISHED_FROM` key, written with every batch that
published), and a decision found there for an event is kept rather than made again: same
``decision_id``, same content, not published twice. What such a decision changes in the
state (the offer ledger) is applied from it as if it had just been made.

This module keeps those decisions per partition; the worker (``streams.offers.agents``)
loads and uses them. Pure: no Kafka, no Faust.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

__all__ = ["PublishedDecisions", "published_from_key"]


def published_from_key(partition: int) -> str:
    """The table key under which a partition's lower bound offset is kept."""
    return f"partition-{partition}"


class PublishedDecisions:
    """Per partition: not loaded yet, or the decisions found published (by decision id).

    A partition must be loaded before its first batch after every assignment (`assigned`
    forgets what was loaded: another worker may have published meanwhile).
    """

    def __init__(self) -> None:
        self._loaded: dict[int, dict[str, bytes]] = {}

    def assigned(self) -> None:
        """A new assignment: every partition, assigned anew or kept, must be loaded again
        before it is processed."""
        self._loaded.clear()

    def needs_loading(self, partition: int) -> bool:
        """Whether the partition's published decisions have not been read yet."""
        return partition not in self._loaded

    def load(self, partition: int, payloads: Iterable[bytes]) -> int:
        """Keep the decisions read from the partition (contract JSON); how many."""
        found: dict[str, bytes] = {}
        for payload in payloads:
            decision_id = orjson.loads(payload).get("decision_id")
            if isinstance(decision_id, str):
                found[decision_id] = payload
        self._loaded[partition] = found
        return len(found)

    def find(self, partition: int, decision_id: str) -> bytes | None:
        """The payload published for this decision id on the partition, if any."""
        found = self._loaded.get(partition)
        return found.get(decision_id) if found else None

    def used(self, partition: int, decision_id: str) -> None:
        """The decision was taken over (it will not be needed again)."""
        found = self._loaded.get(partition)
        if found:
            found.pop(decision_id, None)

    @property
    def waiting(self) -> int:
        """Decisions loaded and not taken over (yet)."""
        return sum(len(found) for found in self._loaded.values())

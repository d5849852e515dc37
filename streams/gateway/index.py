"""The gateway's memory of recent decisions: looked up by trigger event, streamed by shopper.

`DecisionIndex` holds the last `capacity` decisions read from shop.offers, keyed by
`trigger_event_id` and evicted least recently added first, so its memory is bounded whatever
the traffic. A decision whose `decision_id` was already added (a republished decision: the
worker may publish one again after a crash) is ignored, and so is a second decision for the
same trigger: the first one stays, as the storefront may already have shown it.

`wait` answers a long-poll: the decision at once when it is there, else as soon as it is
added, else None after the timeout. `subscribe` gives a live stream (Server-Sent Events)
of one shopper's decisions (a routing key) or of the whole store's (`STORE`): every
decision added for it from then on, in a bounded queue; a client too slow to drain it is
dropped (`Subscription.overflowed`, and its `on_overflow` called at once) rather than
holding memory. Pure asyncio: no Kafka, no HTTP.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["STORE", "DecisionIndex", "IndexedDecision", "Subscription"]

SUBSCRIPTION_QUEUE = 256
"""Decisions a stream client may fall behind by before it is dropped."""
STORE: Final = None
"""The routing key of a store-wide stream: every shopper's decisions."""


@dataclass(frozen=True, slots=True)
class IndexedDecision:
    """One decision as the gateway serves it: its ids, its shopper and its JSON."""

    decision_id: str
    trigger_event_id: str
    routing_key: str
    json: bytes


@dataclass(eq=False)
class Subscription:
    """One live stream's queue of decisions for one routing key, or for every one
    (`STORE`); compared by identity."""

    routing_key: str | None
    queue: asyncio.Queue[IndexedDecision] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIPTION_QUEUE)
    )
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a decision could not be queued: the stream ends (the client reconnects)."""
    on_overflow: Callable[[], object] | None = None
    """Called once, when the queue overflows: ends the stream at once, even while its
    writer waits on a client that does not read."""

    def offer(self, decision: IndexedDecision) -> None:
        """Queue a decision, or mark the stream overflowed (and queue nothing more)."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(decision)
        except asyncio.QueueFull:
            self.overflowed.set()
            if self.on_overflow is not None:
                self.on_overflow()


class DecisionIndex:
    """Recent decisions by trigger event id (LRU by count), waiters and live streams."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._by_trigger: OrderedDict[str, IndexedDecision] = OrderedDict()
        self._decision_ids: OrderedDict[str, None] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[IndexedDecision]]] = {}
        self._subscriptions: dict[str | None, set[Subscription]] = {}

    def __len__(self) -> int:
        return len(self._by_trigger)

    @property
    def subscriber_count(self) -> int:
        """Live streams open now."""
        return sum(len(subs) for subs in self._subscriptions.values())

    def get(self, trigger_event_id: str) -> IndexedDecision | None:
        """The decision for this trigger, if it is known."""
        return self._by_trigger.get(trigger_event_id)

    def add(self, decision: IndexedDecision) -> bool:
        """Keep a decision, wake its waiters and stream it; False (and nothing done) when
        its decision id or its trigger is already known."""
        if (
            decision.decision_id in self._decision_ids
            or decision.trigger_event_id in self._by_trigger
        ):
            return False
        self._by_trigger[decision.trigger_event_id] = decision
        self._decision_ids[decision.decision_id] = None
        while len(self._by_trigger) > self.capacity:
            self._by_trigger.popitem(last=False)
        while len(self._decision_ids) > self.capacity:
            self._decision_ids.popitem(last=False)
        for waiter in self._waiters.pop(decision.trigger_event_id, []):
            if not waiter.done():
                waiter.set_result(decision)
        for key in (decision.routing_key, STORE):
            for subscription in list(self._subscriptions.get(key, ())):
                subscription.offer(decision)
        return True

    async def wait(self, trigger_event_id: str, timeout: float) -> IndexedDecision | None:
        """The decision for this trigger as soon as it is known, or None after `timeout`
        seconds without it."""
        found = self._by_trigger.get(trigger_event_id)
        if found is not None or timeout <= 0:
            return found
        waiter: asyncio.Future[IndexedDecision] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(trigger_event_id, [])
        waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._waiters.get(trigger_event_id) is waiters:
                del self._waiters[trigger_event_id]

    def subscribe(self, routing_key: str | None) -> Subscription:
        """A live stream of the decisions added for `routing_key` (every one's for
        `STORE`) from now on."""
        subscription = Subscription(routing_key)
        self._subscriptions.setdefault(routing_key, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """End a live stream (its queue is no longer fed)."""
        subscriptions = self._subscriptions.get(subscription.routing_key)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.routing_key]

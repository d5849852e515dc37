"""A worker cut off from Kafka says so: `/health` answers 503 `broker_unreachable`.

Contact is a successful response from the broker to the worker's consumer: a metadata
response (aiokafka calls the `ClusterMetadata` listener registered here) or a fetch response
(aiokafka stamps each assigned partition's state with its time; empty responses to an idle
partition count, and arrive every fetch wait). With neither for
`BASKETLIFT_BROKER_UNREACHABLE_SECONDS` the worker is not ready; the next response makes it
ready again. `basketlift_broker_last_contact_age_seconds` exports the time since.
Without this, a worker stays healthy through a broker outage while deciding nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.exceptions import ConsumerNotStarted

from streams.app import app
from streams.kafka.faustcompat import consumer_thread_loop, kafka_consumer, metadata_cluster
from streams.ops import metrics
from streams.ops.consumer import BrokerContact, fetch_response_times

log = logging.getLogger(__name__)

WATCH_EVERY_S = 1.0
"""How often the watch reads fetch times and checks that its metadata listener is in place."""


class BrokerWatch:
    """The broker contact of the app's consumer, and the aiokafka consumer it listens to."""

    def __init__(self, contact: BrokerContact) -> None:
        self.contact = contact
        self.listening_to: Any = None
        """The aiokafka consumer whose metadata carries the listener (None: not yet)."""

    def observe(self, consumer: Any) -> None:
        """Take in the latest fetch response; put the metadata listener on a new consumer.

        The listener is added on the consumer thread's loop, where aiokafka iterates its
        listeners, never from this thread.
        """
        try:
            kafka = kafka_consumer(consumer)
        except ConsumerNotStarted:
            return
        if kafka is not self.listening_to:
            cluster = metadata_cluster(kafka)
            consumer_thread_loop(consumer).call_soon_threadsafe(
                cluster.add_listener, self.contact.metadata_updated
            )
            self.listening_to = kafka
        try:
            times = fetch_response_times(kafka)
        except RuntimeError:  # the assignment changed while it was read: next time
            log.debug("cannot read fetch times", exc_info=True)
            return
        if times:
            self.contact.heard(max(times))

    def problem(self, consumer: Any, threshold: float) -> str | None:
        """`broker_unreachable: ...` when out of contact for longer than `threshold`."""
        self.observe(consumer)
        return self.contact.unreachable_problem(threshold)


broker_watch = BrokerWatch(BrokerContact())
metrics.BROKER_CONTACT_AGE.set_function(broker_watch.contact.age)


async def watch_broker_contact() -> None:
    """Keep the contact time current between `/health` requests (for the gauge)."""
    broker_watch.observe(app.consumer)

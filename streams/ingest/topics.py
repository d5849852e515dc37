"""Every topic the ingest domain reads or writes, declared in one place (raw bytes in and out)."""

from __future__ import annotations

from faust.types import TopicT

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.app import app, raw_table, settings


def raw_topic(name: str, *, internal: bool = False) -> TopicT:
    """A topic of undecoded bytes; decoding happens at the boundary, not in Faust."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
        internal=internal,
        config={"max.message.bytes": str(MAX_KAFKA_MESSAGE_BYTES)} if internal else None,
    )


inbound_topics = {logical: raw_topic(name) for logical, name in settings.inbound_topics.items()}
# Valid events that arrived on the wrong partition are re-sent here keyed by their routing key.
rekey_topics = {
    logical: raw_topic(f"{settings.app_id}-rekey-{logical}", internal=True)
    for logical in ("carts", "orders", "clicks", "privacy")
}
deadletter_topic = raw_topic(settings.topic_deadletter)
offers_topic = raw_topic(settings.topic_offers)
# "<logical topic>:<routing key>" -> the event ids seen recently (streams.ingest.dedupe).
dedupe_table = raw_table("event-dedupe", settings.partitions)

"""Message size limits: the contract's limit on one event, and Kafka's on one message.

These are two different limits, each defined once here:

- ``MAX_EVENT_BYTES`` (1 MiB) is the contract's: an inbound event value longer than this
  is rejected at the boundary (``schemas.decode``) and dead-lettered with reason
  ``too_large``.
- ``MAX_KAFKA_MESSAGE_BYTES`` (8 MiB) is the transport's: the largest message Basketlift's
  topics accept (``max.message.bytes``), its producers send (``max_request_size``) and its
  consumers fetch. It is above ``MAX_EVENT_BYTES`` so that an oversized event still
  reaches the worker and is dead-lettered with a reason instead of being refused at the
  producer, where nobody would see why.

Pure constants (no imports from ``streams``): the contract package defines them and the
stream imports them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_EVENT_BYTES", "MAX_KAFKA_MESSAGE_BYTES"]

MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_KAFKA_MESSAGE_BYTES: Final = 8 * 1024 * 1024

"""Order-log replay: read real order logs, clean them, and turn them into contract events.

Pure Python, pyarrow and numpy: nothing here imports Faust or Kafka (the Kafka side of a
replay lives in ``streams.tools.replay.run`` and friends, which are not imported here).
"""

from streams.tools.replay.categories import category_from_title
from streams.tools.replay.events import (
    CART_STEP_MS,
    CURRENCY,
    FALLBACK_CATEGORY,
    LOGICAL_TOPICS,
    MAX_CART_SPAN_MS,
    Event,
    cart_events,
    catalog_events,
    event_key,
    order_event,
    replay_events,
    session_id_of,
    shopper_id_of,
)
from streams.tools.replay.orderlog import (
    ORDERS_OPTIONAL_COLUMNS,
    ORDERS_REQUIRED_COLUMNS,
    ORDERS_SCHEMA,
    SERVICE_STOCK_CODES,
    UK_TIMEZONE,
    Order,
    OrderLine,
    OrderLog,
    OrderLogError,
    OrderLogFormat,
    detect_order_log_format,
    read_online_retail,
    read_order_log,
    read_orders_file,
    write_orders_file,
)

__all__ = [
    "CART_STEP_MS",
    "CURRENCY",
    "FALLBACK_CATEGORY",
    "LOGICAL_TOPICS",
    "MAX_CART_SPAN_MS",
    "ORDERS_OPTIONAL_COLUMNS",
    "ORDERS_REQUIRED_COLUMNS",
    "ORDERS_SCHEMA",
    "SERVICE_STOCK_CODES",
    "UK_TIMEZONE",
    "Event",
    "Order",
    "OrderLine",
    "OrderLog",
    "OrderLogError",
    "OrderLogFormat",
    "cart_events",
    "catalog_events",
    "category_from_title",
    "detect_order_log_format",
    "event_key",
    "order_event",
    "read_online_retail",
    "read_order_log",
    "read_orders_file",
    "replay_events",
    "session_id_of",
    "shopper_id_of",
    "write_orders_file",
]

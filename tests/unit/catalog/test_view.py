"""streams/catalog/view.py: the catalog view keeps only events the boundary would accept."""

from __future__ import annotations

import json
from typing import Any

from streams.catalog.view import decode_catalog

YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z


def catalog_at(examples: dict[str, Any], ts: int) -> bytes:
    return json.dumps(dict(examples["catalog"], ts=ts)).encode()


def test_a_catalog_event_from_the_future_is_not_served(examples) -> None:
    # The ingest agent dead-letters it (ts_in_future); the view must not show its price.
    assert decode_catalog(catalog_at(examples, YEAR_2984_MS)) is None
    facts = decode_catalog(catalog_at(examples, examples["catalog"]["ts"]))
    assert facts is not None and facts.unit_price == examples["catalog"]["unit_price"]


def test_a_catalog_event_in_epoch_seconds_is_not_served(examples) -> None:
    assert decode_catalog(catalog_at(examples, examples["catalog"]["ts"] // 1000)) is None

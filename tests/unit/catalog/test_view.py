"""streams/catalog/view.py: the catalog view keeps only events the boundary would accept."""

from __future__ import annotations

import gc
import json
from typing import Any

from streams.catalog.facts import CatalogFacts
from streams.catalog.view import catalog_view, decode_catalog, list_price
from tests.support.collector import settle_collector

YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z


def catalog_at(examples: dict[str, Any], ts: int) -> bytes:
    return json.dumps(dict(examples["catalog"], ts=ts)).encode()


def test_a_catalog_event_from_the_future_is_not_served(examples) -> None:
    # The ingest agent dead-letters it (ts_in_future); the view must not show its price.
    assert decode_catalog(catalog_at(examples, YEAR_2984_MS)) is None
    packed = decode_catalog(catalog_at(examples, examples["catalog"]["ts"]))
    assert packed is not None
    assert catalog_view.unpack(packed).unit_price == examples["catalog"]["unit_price"]


def test_a_catalog_event_in_epoch_seconds_is_not_served(examples) -> None:
    assert decode_catalog(catalog_at(examples, examples["catalog"]["ts"] // 1000)) is None


def test_the_view_holds_the_facts_packed_where_the_collector_does_not_track_them(
    examples,
) -> None:
    packed = decode_catalog(catalog_at(examples, examples["catalog"]["ts"]))
    settle_collector()
    assert packed is not None and not gc.is_tracked(packed)
    facts = catalog_view.unpack(packed)
    assert facts == CatalogFacts(
        examples["catalog"]["unit_price"],
        examples["catalog"]["category"],
        examples["catalog"].get("in_stock", True),
        examples["catalog"].get("margin"),
        examples["catalog"].get("title"),
    )
    assert CatalogFacts.from_packed(facts.packed()) == facts


def test_list_price_reads_the_packed_facts_of_the_view(examples) -> None:
    packed = decode_catalog(catalog_at(examples, examples["catalog"]["ts"]))
    assert packed is not None
    key = "test-list-price-product"
    catalog_view.data[key] = packed
    try:
        assert list_price(key) == examples["catalog"]["unit_price"]
    finally:
        del catalog_view.data[key]
    assert list_price(key) is None

"""Fixtures of the offers agent tests: the replicated views filled directly (no Kafka)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas import CatalogEvent
from streams.catalog.facts import CatalogFacts
from streams.catalog.view import catalog_view
from streams.copurchase.model import TOTAL_ORDERS_KEY, ProductState
from streams.copurchase.view import products_view
from streams.offers import live

T0 = 1_763_740_800_000


@pytest.fixture
def views() -> Iterator[None]:
    """p-1 goes with p-2 (often), p-3 and p-9 (out of stock); p-4 is dear and popular."""
    products = {
        "p-1": ProductState("p-1", 100.0, {"p-2": 40.0, "p-3": 20.0, "p-9": 60.0}, T0),
        "p-2": ProductState("p-2", 80.0, {"p-1": 40.0}, T0),
        "p-3": ProductState("p-3", 50.0, {"p-1": 20.0}, T0),
        "p-4": ProductState("p-4", 90.0, {}, T0),
        "p-9": ProductState("p-9", 90.0, {"p-1": 60.0}, T0),
        TOTAL_ORDERS_KEY: ProductState(TOTAL_ORDERS_KEY, 1000.0, {}, T0),
    }
    catalog = {
        pid: CatalogEvent(
            event_id=f"{pid}@1",
            ts=T0,
            product_id=pid,
            category=cat,
            unit_price=price,
            in_stock=pid != "p-9",
        )
        for pid, cat, price in [
            ("p-1", "kitchen", 12.5),
            ("p-2", "kitchen", 6.0),
            ("p-3", "garden", 30.0),
            ("p-4", "garden", 45.0),
            ("p-9", "kitchen", 10.0),
        ]
    }
    products_view.data.update({pid: state.packed() for pid, state in products.items()})
    catalog_view.data.update(
        {pid: CatalogFacts.of(event).packed() for pid, event in catalog.items()}
    )
    live.live_snapshot.snapshot = None
    yield
    for key in products:
        products_view.data.pop(key, None)
    for key in catalog:
        catalog_view.data.pop(key, None)
    live.live_snapshot.snapshot = None

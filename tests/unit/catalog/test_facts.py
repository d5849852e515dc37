"""Catalog facts (streams.catalog.facts): what a worker keeps per catalogued product."""

from __future__ import annotations

import tracemalloc

from schemas import CatalogEvent
from streams.catalog.facts import CatalogFacts


def event(n: int, category: str = "kitchen") -> CatalogEvent:
    return CatalogEvent(
        event_id=f"cat-{n}",
        ts=1_700_000_000_000,
        product_id=f"p-{n}",
        title=f"Product number {n}",
        category=category,
        unit_price=2.5 + n,
        in_stock=n % 2 == 0,
        margin=0.3,
    )


def test_the_facts_keep_what_decisions_read() -> None:
    facts = CatalogFacts.of(event(3))
    assert facts == CatalogFacts(5.5, "kitchen", False, 0.3, "Product number 3")


def test_category_names_are_shared_between_products() -> None:
    a = CatalogFacts.of(event(1, "".join(["gar", "den"])))
    b = CatalogFacts.of(event(2, "".join(["ga", "rden"])))
    assert a.category is b.category


def allocated(make: object) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()  # type: ignore[operator]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept
    return int(after - before)


def test_facts_take_a_fraction_of_the_memory_of_the_validated_events() -> None:
    events = [event(n) for n in range(2_000)]
    as_events = allocated(lambda: {e.product_id: e.model_copy() for e in events})
    as_facts = allocated(lambda: {e.product_id: CatalogFacts.of(e) for e in events})
    assert as_facts * 4 < as_events, (as_facts, as_events)

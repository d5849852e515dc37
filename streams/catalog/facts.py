"""What a worker keeps of each catalog event: the facts decisions read, compactly.

Every worker holds the whole catalog in memory (``streams.catalog.view``), so its size per
product is the catalog's share of the worker's memory. Kept as validated ``CatalogEvent``s
the view took about 1.5 KB per product (pydantic keeps a ``__dict__``, the set of fields
given, the event id and time); as ``CatalogFacts`` (the five fields the worker reads, in
slots, category names interned: a store has a few hundred categories for hundreds of
thousands of products) about 0.3 KB with a 40-character title, key and dict slot included
(tracemalloc over 20,000 decoded events). The view holds them packed (`PackedCatalogFacts`,
a plain tuple of the same values), which the cyclic garbage collector stops tracking: a full
collection then does not visit the catalog.
Pure: no Faust.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TypeAlias

from schemas import CatalogEvent

PackedCatalogFacts: TypeAlias = tuple[float, str, bool, float | None, str | None]
"""`CatalogFacts` as a plain tuple, in field order (`CatalogFacts.packed`)."""


def packed_unit_price(packed: PackedCatalogFacts) -> float:
    """The unit price of packed facts, without unpacking them (read per cart line)."""
    return packed[0]


@dataclass(frozen=True, slots=True)
class CatalogFacts:
    """A product's catalog facts: price, category, stock, margin and title."""

    unit_price: float
    category: str
    in_stock: bool
    margin: float | None = None
    """Share of the price, 0..1, when the catalog gives it."""
    title: str | None = None

    @classmethod
    def of(cls, event: CatalogEvent) -> CatalogFacts:
        """The facts of a validated catalog event."""
        return cls(
            event.unit_price,
            sys.intern(event.category),
            event.in_stock,
            event.margin,
            event.title,
        )

    def packed(self) -> PackedCatalogFacts:
        """These facts as a plain tuple (`from_packed` gives them back)."""
        return (self.unit_price, self.category, self.in_stock, self.margin, self.title)

    @classmethod
    def from_packed(cls, packed: PackedCatalogFacts) -> CatalogFacts:
        """The facts `packed` gave."""
        return cls(*packed)

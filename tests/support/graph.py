"""Comparing co-purchase graphs (product states or merged deltas) up to float rounding."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol


class GraphEntry(Protocol):
    """What ProductState and ProductDelta share."""

    @property
    def as_of_ts(self) -> int: ...

    @property
    def purchases(self) -> float: ...

    @property
    def neighbours(self) -> Mapping[str, float]: ...

    @property
    def last_price(self) -> float | None: ...

    @property
    def last_price_ts(self) -> int: ...

    @property
    def category(self) -> str | None: ...


def assert_graphs_close(expected: Mapping[str, GraphEntry], got: Mapping[str, GraphEntry]) -> None:
    """Same products, times, neighbours and price facts; weights equal up to rounding."""
    assert set(got) == set(expected)
    for product_id, want in expected.items():
        have = got[product_id]
        assert have.as_of_ts == want.as_of_ts, product_id
        assert math.isclose(have.purchases, want.purchases, rel_tol=1e-9), product_id
        assert set(have.neighbours) == set(want.neighbours), product_id
        for other, weight in want.neighbours.items():
            assert math.isclose(have.neighbours[other], weight, rel_tol=1e-9), (product_id, other)
        assert (have.last_price, have.last_price_ts, have.category) == (
            want.last_price,
            want.last_price_ts,
            want.category,
        ), product_id

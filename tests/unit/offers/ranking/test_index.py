"""The ranker's product index (streams.offers.ranking.index.ProductIndex): rows read back as
built, and a large catalog adds no objects for the garbage collector to visit."""

from __future__ import annotations

import numpy as np

from streams.offers.ranking import ProductFacts, ProductIndex
from tests.support.collector import tracked_objects


def facts(products: int) -> list[ProductFacts]:
    """Products in 20 categories, each with up to 5 neighbours."""
    ids = [f"p{i:05d}" for i in range(products)]
    return [
        ProductFacts(
            pid,
            price=1.0 + i % 17,
            category=f"c{i % 20}",
            purchases=float(1 + i % 7),
            neighbours=tuple((ids[(i + d) % products], float(d)) for d in range(1, 6)),
        )
        for i, pid in enumerate(ids)
    ]


def test_a_row_reads_back_the_neighbours_it_was_built_from() -> None:
    index = ProductIndex(facts(50))
    code = index.code_of["p00010"]
    row = index.row(code)
    assert len(row.codes) == 5
    assert [index.product_ids[c] for c in row.codes.tolist()] == [
        f"p{i:05d}" for i in range(11, 16)
    ]
    np.testing.assert_array_equal(row.weights, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert row.purchases == 1 + 10 % 7 and row.floor == 0.0
    assert index.facts("p00010") == ProductFacts(
        "p00010", 11.0, "c10", None, 4.0, tuple((f"p{i:05d}", float(i - 10)) for i in range(11, 16))
    )


def test_the_collector_tracks_no_object_per_product() -> None:
    # A full collection visits every tracked object and holds the event loop meanwhile:
    # the index of a large catalog must not add one (or more) per product.
    small_facts, large_facts = facts(20), facts(4_000)
    before = tracked_objects()
    small = ProductIndex(small_facts)
    with_small = tracked_objects()
    large = ProductIndex(large_facts)
    with_large = tracked_objects()
    assert len(small) == 20 and len(large) == 4_000
    grown_by_small, grown_by_large = with_small - before, with_large - with_small
    assert grown_by_large < grown_by_small + 200, (grown_by_small, grown_by_large)

"""ObservedCounts: a mapping of (shown, accepted) that stays in step with its index arrays."""

from __future__ import annotations

import numpy as np

from streams.offers.ranking import ObservedCounts, ProductFacts, ProductIndex


def index_of(*product_ids: str) -> ProductIndex:
    return ProductIndex([ProductFacts(p, 10.0, "c", None, 5.0) for p in product_ids])


def by_product(counts: ObservedCounts, index: ProductIndex) -> dict[str, tuple[float, float]]:
    shown, accepted = counts.arrays_for(index)
    return {
        p: (float(shown[index.code_of[p]]), float(accepted[index.code_of[p]]))
        for p in index.product_ids
    }


def test_counts_add_up_as_a_mapping() -> None:
    counts = ObservedCounts({"a": (2, 1)})
    counts.add("a", 3, 0)
    counts.add("b", 1, 1)
    assert dict(counts) == {"a": (5, 1), "b": (1, 1)}
    assert len(counts) == 2 and counts.get("zzz") is None


def test_arrays_follow_every_add_and_are_rebuilt_for_a_new_index() -> None:
    counts = ObservedCounts({"a": (2, 1), "not-indexed": (9, 9)})
    first = index_of("a", "b")
    assert by_product(counts, first) == {"a": (2.0, 1.0), "b": (0.0, 0.0)}
    counts.add("b", 4, 1)  # updates the arrays in place
    counts.add("c", 1, 0)  # not in this index: the mapping only
    assert by_product(counts, first) == {"a": (2.0, 1.0), "b": (4.0, 1.0)}
    second = index_of("c", "b", "a")  # other codes: arrays built anew from the mapping
    assert by_product(counts, second) == {"c": (1.0, 0.0), "b": (4.0, 1.0), "a": (2.0, 1.0)}
    shown, _ = counts.arrays_for(second)
    assert shown.dtype == np.float64 and len(shown) == len(second)

"""streams.ops.metrics: the garbage collector's thresholds shown per generation."""

from __future__ import annotations

from streams.ops.metrics import REGISTRY, show_gc_thresholds


def threshold(generation: str) -> float | None:
    return REGISTRY.get_sample_value("basketlift_gc_threshold", {"generation": generation})


def test_each_generations_threshold_is_shown_under_its_label() -> None:
    show_gc_thresholds((10_000, 10, 12))
    assert [threshold(g) for g in ("0", "1", "2")] == [10_000, 10, 12]
    show_gc_thresholds((700, 10, 10))
    assert threshold("0") == 700 and threshold("2") == 10

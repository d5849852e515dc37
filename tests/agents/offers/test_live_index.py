"""The ranker's live index (streams.offers.live): how long each build takes is measured."""

from __future__ import annotations

from streams.offers import live
from streams.ops.metrics import REGISTRY


def _builds_observed() -> float:
    """Index refreshes timed, of every kind (full, incremental, unchanged)."""
    return sum(
        REGISTRY.get_sample_value("basketlift_index_build_seconds_count", {"kind": kind}) or 0.0
        for kind in ("full", "incremental", "unchanged")
    )


def test_each_index_build_is_timed_in_the_build_seconds_histogram(views: None) -> None:
    before = _builds_observed()
    snapshot = live.live_snapshot.current()
    assert len(snapshot.index) > 0
    assert _builds_observed() == before + 1
    live.live_snapshot.current()  # the installed index is reused: no second build
    assert _builds_observed() == before + 1

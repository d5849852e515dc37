"""The ranker's live index (streams.offers.live): how long each build takes is measured, and
a full build moves what is alive out of the garbage collector's reach."""

from __future__ import annotations

import pytest

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


def test_a_full_build_freezes_what_is_alive_when_the_setting_is_on(
    views: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen: list[int] = []
    monkeypatch.setattr(live, "freeze_survivors", lambda: frozen.append(1) or 12345)
    on = live.LiveSnapshot(freeze_after_full_build=True)
    on.current()  # the first build is a full one
    assert frozen == [1]
    assert REGISTRY.get_sample_value("basketlift_gc_frozen_objects") == 12345
    off = live.LiveSnapshot(freeze_after_full_build=False)
    off.current()
    assert frozen == [1]

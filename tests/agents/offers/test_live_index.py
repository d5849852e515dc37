"""The ranker's live index (streams.offers.live): how long each build takes is measured, and
a full build moves what is alive out of the garbage collector's reach."""

from __future__ import annotations

import pytest

from streams.offers import live
from streams.offers.snapshot import Refresh
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


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The freezes the live snapshot asks for (whether with a full collection), recorded
    instead of made; each reports 12345 objects frozen."""
    asked: list[bool] = []

    def freeze(full_collection: bool = True) -> int:
        asked.append(full_collection)
        return 12345

    monkeypatch.setattr(live, "freeze_survivors", freeze)
    return asked


def test_a_full_build_freezes_what_is_alive_when_the_setting_is_on(
    views: None, frozen: list[bool]
) -> None:
    on = live.LiveSnapshot(freeze_after_full_build=True)
    on.current()  # the first build is a full one
    assert frozen == [True]
    assert REGISTRY.get_sample_value("basketlift_gc_frozen_objects") == 12345
    off = live.LiveSnapshot(freeze_after_full_build=False)
    off.current()
    assert frozen == [True]


def test_full_builds_in_a_row_run_the_freezes_full_collection_once_per_interval(
    views: None, frozen: list[bool]
) -> None:
    hourly = live.LiveSnapshot(freeze_after_full_build=True, full_collection_every_s=3600.0)
    full = Refresh(hourly.current(), "full", 1)
    hourly._install(full, (0, 0))  # a second full build at once: frozen, not collected
    hourly._install(Refresh(full.snapshot, "incremental", 1), (0, 0))  # no freeze
    assert frozen == [True, False]
    always = live.LiveSnapshot(freeze_after_full_build=True, full_collection_every_s=0.0)
    always.current()
    always._install(full, (0, 0))
    assert frozen == [True, False, True, True]

"""streams.runtime.gcpauses: collections are timed by generation; survivors can be frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.runtime.gcpauses import (
    GcPauseObserver,
    freeze_survivors,
    observe_gc_pauses,
    set_young_threshold,
)


@pytest.fixture
def recorded() -> Iterator[list[tuple[int, float]]]:
    pauses: list[tuple[int, float]] = []
    observer = observe_gc_pauses(lambda generation, seconds: pauses.append((generation, seconds)))
    yield pauses
    gc.callbacks.remove(observer)


def test_every_collection_is_reported_with_its_generation_and_duration(
    recorded: list[tuple[int, float]],
) -> None:
    gc.collect(0)
    gc.collect(2)
    assert [generation for generation, _ in recorded] == [0, 2]
    assert all(seconds >= 0 for _, seconds in recorded)


def test_a_stop_without_a_start_is_not_reported() -> None:
    pauses: list[tuple[int, float]] = []
    observer = GcPauseObserver(lambda generation, seconds: pauses.append((generation, seconds)))
    observer("stop", {"generation": 1})
    observer("start", {"generation": 1})
    observer("stop", {"generation": 1})
    assert [generation for generation, _ in pauses] == [1]


def test_frozen_objects_are_out_of_the_collectors_reach() -> None:
    survivors = [[n] for n in range(1000)]  # containers: tracked by the collector
    probe = survivors[7]

    def in_a_generation() -> bool:
        return any(o is probe for g in range(3) for o in gc.get_objects(g))

    assert in_a_generation()
    try:
        frozen = freeze_survivors()
        assert frozen >= len(survivors) == 1000
        assert frozen == gc.get_freeze_count()
        assert not in_a_generation()  # collections no longer visit it
    finally:
        gc.unfreeze()


class _Node:
    """A container that can be weakly referenced and put in a reference cycle."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_cycles_that_die_while_frozen_are_freed_by_the_next_freeze() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle: reference counting cannot free it
    probe = weakref.ref(first)
    try:
        freeze_survivors()
        del first, second  # the cycle is garbage now, but frozen
        gc.collect()  # an ordinary full collection skips the frozen generation
        assert probe() is not None
        freeze_survivors()  # the next freeze collects it
        assert probe() is None
    finally:
        gc.unfreeze()


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_the_young_threshold_changes_only_the_young_generation() -> None:
    gc.set_threshold(700, 11, 12)
    set_young_threshold(10_000)
    assert gc.get_threshold() == (10_000, 11, 12)


@pytest.mark.usefixtures("thresholds")
def test_objects_made_in_fewer_allocations_than_the_threshold_stay_young() -> None:
    # What the worker relies on: a batch's objects, made between two young collections,
    # are still in the young generation when the batch drops them.
    set_young_threshold(50_000)
    gc.collect()
    batch = [[n] for n in range(5_000)]
    young = {id(o) for o in gc.get_objects(0)}
    assert all(id(o) in young for o in batch)


@pytest.mark.usefixtures("thresholds")
def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="allocations must be >= 1"):
        set_young_threshold(0)

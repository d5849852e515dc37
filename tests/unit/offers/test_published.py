"""streams.offers.published: decisions read back per partition, forgotten on assignment."""

from __future__ import annotations

import orjson

from streams.offers.published import PublishedDecisions, published_from_key


def payload(decision_id: str, trigger: str) -> bytes:
    return orjson.dumps({"decision_id": decision_id, "trigger_event_id": trigger})


def test_a_partition_is_loaded_once_and_its_decisions_are_found_by_id() -> None:
    published = PublishedDecisions()
    assert published.needs_loading(3)
    assert published.load(3, [payload("d-1", "c-1"), payload("d-2", "c-2")]) == 2
    assert not published.needs_loading(3) and published.needs_loading(4)
    assert published.find(3, "d-2") == payload("d-2", "c-2")
    assert published.find(4, "d-2") is None, "each partition has its own decisions"
    assert published.find(3, "d-9") is None


def test_a_used_decision_is_dropped_and_an_assignment_forgets_every_partition() -> None:
    published = PublishedDecisions()
    published.load(0, [payload("d-1", "c-1"), payload("d-2", "c-2")])
    published.load(1, [])
    published.used(0, "d-1")
    assert published.find(0, "d-1") is None and published.waiting == 1
    published.assigned()
    assert published.needs_loading(0) and published.needs_loading(1)
    assert published.find(0, "d-2") is None and published.waiting == 0


def test_the_lower_bound_key_names_the_partition() -> None:
    assert published_from_key(5) == "partition-5" != published_from_key(50)

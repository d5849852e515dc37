"""streams.ingest.dedupe: redeliveries recognised per (topic, routing key) within a window."""

from __future__ import annotations

from streams.ingest.dedupe import DEDUPED_TOPICS, dedupe_key, split_duplicates


def test_first_deliveries_pass_and_repeats_inside_and_across_batches_do_not() -> None:
    stored = {"carts:s-1": ("c-0",)}
    items = [
        ("carts:s-1", "c-0", "redelivered from before"),
        ("carts:s-1", "c-1", "first"),
        ("carts:s-1", "c-1", "repeated in the batch"),
        ("carts:s-2", "c-1", "same id, other shopper"),
    ]
    loads: list[str] = []

    def load(key: str) -> tuple[str, ...]:
        loads.append(key)
        return stored.get(key, ())

    outcome = split_duplicates(items, load, max_ids=10)
    assert outcome.fresh == ["first", "same id, other shopper"]
    assert outcome.duplicates == ["redelivered from before", "repeated in the batch"]
    assert outcome.windows == {"carts:s-1": ("c-0", "c-1"), "carts:s-2": ("c-1",)}
    assert loads == ["carts:s-1", "carts:s-2"]  # each key read once


def test_the_window_keeps_the_latest_ids_only() -> None:
    items = [("orders:s", f"o-{n}", n) for n in range(5)]
    outcome = split_duplicates(items, lambda key: (), max_ids=3)
    assert outcome.windows == {"orders:s": ("o-2", "o-3", "o-4")}
    again = split_duplicates(
        [("orders:s", "o-0", "old"), ("orders:s", "o-4", "new")],
        lambda key: outcome.windows[key],
        max_ids=3,
    )
    assert again.fresh == ["old"]  # fell out of the window: no longer recognised
    assert again.duplicates == ["new"]


def test_a_batch_of_only_duplicates_changes_no_window() -> None:
    outcome = split_duplicates([("clicks:s", "k-1", 1)], lambda key: ("k-1",), max_ids=5)
    assert outcome.fresh == [] and outcome.windows == {}


def test_topics_and_keys_do_not_collide() -> None:
    """Topic names hold no colon, so the key splits back into one (topic, routing key)."""
    routing_keys = ["s-1", "s:1", ":", "carts:s-1", "ü-😀"]
    keys = {dedupe_key(t, k) for t in DEDUPED_TOPICS for k in routing_keys}
    assert len(keys) == len(DEDUPED_TOPICS) * len(routing_keys)
    assert all(":" not in topic for topic in DEDUPED_TOPICS)

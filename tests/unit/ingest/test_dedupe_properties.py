"""Properties of `split_duplicates` against a plain recount of what each key remembers.

The rule (streams.ingest.dedupe): per dedupe key, the last `max_ids` first deliveries are
remembered, starting from what the table holds; an event whose id is remembered is a
duplicate (within the batch too, from its second occurrence on), anything else is fresh
and remembered. Ids are drawn from a small Unicode pool so that repeats are common, and the
window is small so that ids fall out of it.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from streams.ingest.dedupe import dedupe_key, split_duplicates
from tests.support.strategies import ids


@st.composite
def batches(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, str, int]], dict[str, tuple[str, ...]], int]:
    """(key, event id, position) triples, each key's stored window, and the window size."""
    max_ids = draw(st.integers(1, 6))
    keys = [
        dedupe_key(topic, routing)
        for topic, routing in draw(
            st.lists(
                st.tuples(st.sampled_from(["carts", "orders", "clicks"]), ids()),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
    ]
    pool = draw(st.lists(ids(), min_size=1, max_size=8, unique=True))
    stored = {
        key: tuple(draw(st.lists(st.sampled_from(pool), max_size=max_ids, unique=True)))
        for key in keys
        if draw(st.booleans())
    }
    pairs = draw(st.lists(st.tuples(st.sampled_from(keys), st.sampled_from(pool)), max_size=40))
    return [(key, event_id, n) for n, (key, event_id) in enumerate(pairs)], stored, max_ids


@given(batches())
def test_split_equals_a_recount_of_the_last_first_deliveries_per_key(
    batch: tuple[list[tuple[str, str, int]], dict[str, tuple[str, ...]], int],
) -> None:
    items, stored, max_ids = batch
    loads: Counter[str] = Counter()

    def load(key: str) -> tuple[str, ...]:
        loads[key] += 1
        return stored.get(key, ())

    outcome = split_duplicates(items, load, max_ids)

    remembered = {key: list(ids_) for key, ids_ in stored.items()}
    fresh, duplicates, changed = [], [], set()
    for key, event_id, position in items:
        window = remembered.setdefault(key, [])
        if event_id in set(window[-max_ids:]):
            duplicates.append(position)
        else:
            fresh.append(position)
            window.append(event_id)
            changed.add(key)
    assert outcome.fresh == fresh
    assert outcome.duplicates == duplicates
    assert outcome.windows == {key: tuple(remembered[key][-max_ids:]) for key in changed}
    assert set(loads) == {key for key, _, _ in items}
    assert set(loads.values()) <= {1}, "a key's window is read once per batch"

"""Properties of `delta_messages`: bounded messages that add up to exactly the deltas given.

Deltas of Unicode products (ids up to the contract's 200 characters) with up to a few
hundred neighbours are packed into messages of a drawn size limit, small enough that deltas
are split by neighbours. Decoded and merged per product, the messages must give back the
input: the same purchases, neighbour weights and price facts, each neighbour in exactly one
part; and no message is over the limit.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.copurchase.model import (
    DELTA_MESSAGE_BYTES,
    NO_PRICE_TS,
    CopurchaseConfig,
    OrderFacts,
    ProductDelta,
    delta_messages,
    deltas_for_order,
)
from tests.support.strategies import ids, limit_order, money, timestamps

WEIGHTS = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0]),
    st.floats(min_value=1e-300, max_value=1e9, allow_nan=False, allow_infinity=False),
)


@st.composite
def product_deltas(draw: st.DrawFn) -> list[ProductDelta]:
    """Deltas of distinct products, some with many neighbours, some with none or no price."""
    products = draw(st.lists(ids(), min_size=1, max_size=6, unique=True))
    deltas = []
    for product_id in products:
        priced = draw(st.booleans())
        deltas.append(
            ProductDelta(
                product_id,
                draw(timestamps()),
                draw(st.sampled_from([0.0, 1.0, 3.0]) | WEIGHTS),
                draw(st.dictionaries(ids(), WEIGHTS, max_size=draw(st.sampled_from([3, 300])))),
                draw(money()) if priced else None,
                draw(timestamps()) if priced else NO_PRICE_TS,
                draw(st.none() | ids()),
            )
        )
    return deltas


def smallest_fitting_limit(deltas: list[ProductDelta]) -> int:
    """The size every single-neighbour part fits in: a delta's fields and its largest entry."""
    largest = 0
    for delta in deltas:
        single = [dict([item]) for item in delta.neighbours.items()] or [{}]
        for neighbours in single:
            largest = max(
                largest, len(orjson.dumps(replace(delta, neighbours=neighbours).to_dict()))
            )
    return largest + 2  # the list's brackets


def merged_parts(messages: list[bytes]) -> dict[str, ProductDelta]:
    """The messages decoded, parts of one product added up; every neighbour in one part."""
    merged: dict[str, ProductDelta] = {}
    for message in messages:
        for data in orjson.loads(message):
            part = ProductDelta.from_dict(data)
            held = merged.get(part.product_id)
            if held is None:
                merged[part.product_id] = part
                continue
            assert not set(held.neighbours) & set(part.neighbours), "a neighbour sent twice"
            assert part.purchases == 0.0 and part.last_price is None, "price facts sent twice"
            merged[part.product_id] = held.merge(part, 0.0)
    return merged


def assert_round_trip(deltas: list[ProductDelta], messages: list[bytes], limit: int) -> None:
    for message in messages:
        assert len(message) <= limit, f"a {len(message)}-byte message over {limit}"
        assert orjson.loads(message), "an empty message"
    merged = merged_parts(messages)
    assert set(merged) == {delta.product_id for delta in deltas}
    for delta in deltas:
        got = merged[delta.product_id]
        assert got.as_of_ts == delta.as_of_ts
        assert got.purchases == delta.purchases
        assert got.neighbours == delta.neighbours
        if delta.last_price is None:
            assert got.last_price is None and got.category == delta.category
        else:
            assert (got.last_price, got.last_price_ts, got.category) == (
                delta.last_price,
                delta.last_price_ts,
                delta.category,
            )


@given(deltas=product_deltas(), data=st.data())
def test_messages_stay_within_the_limit_and_add_up_to_the_deltas(
    deltas: list[ProductDelta], data: st.DataObject
) -> None:
    smallest = smallest_fitting_limit(deltas)
    # Limits that the first k whole deltas fill exactly, or would by one byte more.
    whole = [len(orjson.dumps(delta.to_dict())) for delta in deltas]
    exact = {2 + sum(whole[:k]) + k - 1 for k in range(1, len(whole) + 1)}
    edges = sorted(limit for edge in exact for limit in (edge - 1, edge) if limit >= smallest)
    limit = data.draw(
        st.integers(smallest, 4 * smallest)
        | st.just(DELTA_MESSAGE_BYTES)
        | (st.sampled_from(edges) if edges else st.nothing())
    )
    assert_round_trip(deltas, delta_messages(deltas, limit), limit)


def test_an_order_at_the_item_limit_fits_default_messages() -> None:
    order = limit_order()
    deltas = deltas_for_order(OrderFacts.from_lines(order.ts, order.items), {}, CopurchaseConfig())
    messages = delta_messages(deltas.values())
    assert len(messages) > 1  # ~1,000 paired products x 999 neighbours do not fit one message
    assert_round_trip(list(deltas.values()), messages, DELTA_MESSAGE_BYTES)

"""Frozen neighbour lists (streams.copurchase.model.FrozenNeighbours) and the product view's
decoding: the same state as a dict-backed one, in a fraction of the memory, held packed where
the garbage collector does not track it."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import orjson
import pytest

from streams.copurchase.model import FrozenNeighbours, ProductState
from streams.copurchase.view import decode_product
from tests.support.collector import settle_collector


def state(n: int, k: int = 50) -> ProductState:
    return ProductState(
        f"p{n:05d}",
        purchases=3.0 + n,
        neighbours={f"p{(n * 7 + i) % 9000:05d}": 0.5 + i for i in range(k)},
        as_of_ts=1_700_000_000_000,
        last_price=4.2,
        category="kitchen",
        applied_through=(2, 17),
    )


def test_it_reads_like_the_dict_it_was_made_from() -> None:
    weights = {"b": 2.0, "a": 1.5, "c": 0.25}
    frozen = FrozenNeighbours(weights)
    assert frozen == weights and weights == frozen
    assert list(frozen) == ["b", "a", "c"]
    assert list(frozen.items()) == [("b", 2.0), ("a", 1.5), ("c", 0.25)]
    assert frozen["a"] == 1.5 and frozen.get("zz") is None and "c" in frozen
    assert len(frozen) == 3
    with pytest.raises(KeyError):
        frozen["zz"]


def test_product_ids_are_shared_between_lists() -> None:
    one = FrozenNeighbours({"".join(["p0", "0042"]): 1.0})
    two = FrozenNeighbours({"".join(["p00", "042"]): 2.0})
    assert next(iter(one)) is next(iter(two)) is sys.intern("p00042")


def test_the_view_decodes_the_same_state_and_it_encodes_back_the_same() -> None:
    original = state(3)
    packed = decode_product(orjson.dumps(original.to_dict()))
    assert packed is not None
    decoded = ProductState.from_packed(packed)
    assert isinstance(decoded.neighbours, FrozenNeighbours)
    assert decoded == original
    assert decoded.to_dict() == original.to_dict()
    assert decoded.decayed_to(original.as_of_ts + 10**9, 90.0) == original.decayed_to(
        original.as_of_ts + 10**9, 90.0
    )


@pytest.mark.parametrize("weights", [{"b": "heavy"}, {"b": None}, ["b", 1.0]])
def test_a_bad_neighbour_list_is_refused_as_when_not_frozen(weights: object) -> None:
    data = dict(state(1).to_dict(), w=weights)
    with pytest.raises(ValueError, match="not a ProductState dict"):
        ProductState.from_dict(data, frozen=True)
    assert decode_product(orjson.dumps(data)) is None


@pytest.mark.parametrize("frozen", [True, False])
def test_a_packed_state_unpacks_to_the_same_state(frozen: bool) -> None:
    original = ProductState.from_dict(state(5).to_dict(), frozen=frozen)
    again = ProductState.from_packed(original.packed())
    assert again == original and again.to_dict() == original.to_dict()
    assert list(again.neighbours) == list(original.neighbours)  # order kept
    empty = ProductState("lonely", as_of_ts=7)
    assert ProductState.from_packed(empty.packed()) == empty


def test_the_garbage_collector_stops_tracking_a_packed_state() -> None:
    # What the view holds for every product: once a collection has seen it, full collections
    # no longer visit it (a ProductState and its FrozenNeighbours are tracked for life).
    packed = decode_product(orjson.dumps(state(9).to_dict()))
    unpacked = ProductState.from_packed(packed) if packed is not None else None
    settle_collector()
    assert packed is not None and not gc.is_tracked(packed)
    assert gc.is_tracked(unpacked)


def test_frozen_states_take_a_fraction_of_the_memory() -> None:
    raw = [orjson.dumps(state(n).to_dict()) for n in range(1_000)]

    def allocated(frozen: bool) -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [ProductState.from_dict(orjson.loads(r), frozen=frozen) for r in raw]
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(kept) == len(raw)
        return after - before

    allocated(True)  # the ids interned once, as a view holding every product has them
    assert allocated(True) * 2 < allocated(False)

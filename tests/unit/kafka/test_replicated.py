"""The replicated views (streams.kafka.replicated.ReplicatedTopicView) as the worker makes
them: values held packed, which the garbage collector does not visit, and unpacked by `get`."""

from __future__ import annotations

import orjson

from streams.catalog.view import catalog_view
from streams.copurchase.model import ProductState
from streams.copurchase.view import products_view
from streams.kafka.replicated import ReplicatedTopicView
from tests.support.collector import tracked_objects


def product_record(n: int) -> tuple[bytes, bytes]:
    state = ProductState(
        f"p{n:05d}",
        purchases=1.0 + n,
        neighbours={f"p{(n + d) % 5000:05d}": float(d) for d in range(1, 9)},
        as_of_ts=1_700_000_000_000 + n,
        last_price=2.5,
        category="kitchen",
        applied_through=(n % 8, n),
    )
    return state.product_id.encode(), orjson.dumps(state.to_dict())


def catalog_record(n: int) -> tuple[bytes, bytes]:
    event = {
        "event_id": f"c{n}",
        "ts": 1_700_000_000_000,
        "product_id": f"p{n:05d}",
        "category": f"c{n % 30}",
        "unit_price": 1.5 + n % 11,
        "in_stock": n % 5 != 0,
        "title": f"Product {n}",
    }
    return event["product_id"].encode(), orjson.dumps(event)  # type: ignore[union-attr]


def view_like(worker_view: ReplicatedTopicView) -> ReplicatedTopicView:  # type: ignore[type-arg]
    """A view with the worker view's decoding, not connected to anything."""
    return ReplicatedTopicView("unused", None, worker_view.decode, worker_view.unpack)  # type: ignore[arg-type]


def test_get_returns_what_was_applied_and_a_tombstone_deletes() -> None:
    view = view_like(products_view)
    key, value = product_record(7)
    view.apply(key, value)
    assert view.get("p00007") == ProductState.from_dict(orjson.loads(value))
    view.apply(key, None)
    assert view.get("p00007") is None and not view.data
    catalog = view_like(catalog_view)
    catalog.apply(*catalog_record(3))
    facts = catalog.get("p00003")
    assert facts is not None and facts.unit_price == 4.5 and facts.title == "Product 3"


def test_thousands_of_products_add_no_object_for_the_collector_to_visit() -> None:
    for worker_view, record in ((products_view, product_record), (catalog_view, catalog_record)):
        view = view_like(worker_view)
        before = tracked_objects()
        for n in range(3_000):
            view.apply(*record(n))
        grown = tracked_objects() - before
        assert len(view.data) == 3_000
        assert grown < 100, (worker_view.topic, grown)

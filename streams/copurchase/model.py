"""The co-purchase graph's domain logic: pure, typed, no Faust or Kafka.

WHAT IS COUNTED. For each product: how often it was bought (``purchases``, once per order
whatever the quantity) and, for each neighbour, how strongly it was bought together with
it. Two distinct products of one order count 1 in both directions. A product the same
shopper bought in an earlier order at most ``cross_order_days`` before counts
``cross_order_weight`` in both directions with each product of the new order (not when it
is in the new order too, so a product never pairs with itself). An order becomes one
``ProductDelta`` per product touched (``deltas_for_order``); a batch's deltas are merged
into one per product (``merge_delta_maps``) and each is applied to that product's
``ProductState``.

DECAY AND EVENT TIME. Every value is kept "as of" a timestamp (``as_of_ts``, event time in
epoch ms, never wall-clock time): it is the sum of contributions c_i made at event times
t_i <= as_of_ts, each weighted by decay_factor(as_of_ts - t_i). Combining a value as of
``a`` with one as of ``b`` brings both to max(a, b): the older side is multiplied by the
decay over the difference. So a late (out-of-order) contribution at t merged into a value
as of T >= t is multiplied by decay(T - t), and a newer one at t > T first decays the
stored value to t and moves ``as_of_ts`` to t. Because decay(x) * decay(y) == decay(x + y),
the result is sum c_i * decay(max t - t_i) whatever order the contributions arrive in (up
to float rounding; exactly so without decay, where sums of 1s and 0.5s are exact). Values
are never moved back in time. Price and category come from the line with the latest
timestamp (equal timestamps: the larger price, then category), also order-independent. A
line without a category does replace a known one: price and category are one record.

What decay cannot repair: an order arriving after a later order of the same shopper pairs
only with products bought before it (``recent_products`` entries at or after its time are
ignored), so cross-order pairs assume each shopper's orders arrive roughly in time order.

PAIRS IN LARGE ORDERS. An order of n distinct products makes n * (n - 1) pairs, so one
order at the contract's 10,000 items would make 100 million. Only the order's
``max_paired_products`` (default 1,000) highest-priced products form pairs (ties: the
smaller product_id), with each other and with the shopper's earlier products; the others
count their purchase, price and category and pair with nothing. Orders that large are bulk
or wholesale orders whose pairs say little about what goes together; in the shipped UCI
data (54,716 invoices) one exceeds 1,000 distinct products (1,110).

PRUNING. A product keeps at most K (``neighbours_k``) neighbours: after each update, when
it has more than K, the K strongest are kept (equal weights: the smaller product_id wins,
so the outcome is deterministic) and the rest are dropped. This biases counts. A pair
dropped while weak restarts from zero if it is bought again, so long-tail pairs are
under-counted, and a pair that keeps being dropped never builds up. A pair that stays in
the top K is never dropped and its count is exact. With decay, old strong pairs fade and
make room for new ones; without decay a full list only admits a newcomer whose weight in
one (batched) update reaches the weakest kept weight. Pruning is also the one step whose
outcome depends on arrival order (which pairs were weak when). This is acceptable for
ranking: offers only ever use the top few neighbours of a product, which are the pairs
least affected, and memory is products x K instead of products squared. Purchase counts
are never pruned.

MESSAGES. ``delta_messages`` packs deltas into JSON lists of at most a given size; a delta
too large for one message is split by neighbours into parts (the first carries the
purchases and the price; the others only neighbours). Parts add up to the whole delta:
applying them one after the other, or merged, gives the same sums (pruning aside, as above).

WIRE FORMAT. ``to_dict`` gives compact JSON-able dicts (deltas cross Kafka once per product
per batch): ``p`` product_id, ``t`` as_of_ts, ``n`` purchases, ``w`` neighbour weights,
``lp`` last price, ``lt`` its timestamp, ``c`` category, and on product states ``at``
[partition, offset] of the last delta message applied; zero, empty and null fields are
left out and whole-number weights are written as integers.
"""

from __future__ import annotations

import heapq
import math
import sys
from array import array
from collections.abc import ItemsView, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeAlias

import orjson

from streams.units import DAY_MS

__all__ = [
    "NO_PRICE_TS",
    "CopurchaseConfig",
    "FrozenNeighbours",
    "OrderFacts",
    "OrderLine",
    "OrderedProduct",
    "PackedProductState",
    "ProductDelta",
    "ProductState",
    "decay_factor",
    "delta_messages",
    "deltas_for_order",
    "merge_delta_maps",
    "packed_as_of_ts",
    "recent_products_within",
    "with_order",
]

# last_price_ts of a product whose price is unknown: earlier than any real event.
NO_PRICE_TS: Final = -1
# Whole numbers below this are written as JSON integers without losing anything.
_EXACT_INT_LIMIT: Final = 2.0**53


class FrozenNeighbours(Mapping[str, float]):
    """Neighbour weights, read-only and compact, for states kept long and in bulk (the
    replicated product view, which every worker holds for the whole catalog).

    Product ids are interned (one string per product, however many lists name it) and kept
    in a tuple, the weights as doubles in an ``array``, both in the order given: about 16
    bytes per neighbour, against about 100 in a dict whose keys were decoded from JSON (a
    key string and a float object each, and the hash table). A lookup scans the ids (these
    states are read by iteration; a list holds at most K ids). It equals any mapping with
    the same items.
    """

    __slots__ = ("_ids", "_weights")

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._ids: tuple[str, ...] = tuple(map(sys.intern, weights))
        self._weights = array("d", list(weights.values()))

    def __getitem__(self, product_id: str) -> float:
        try:
            return self._weights[self._ids.index(product_id)]
        except ValueError:
            raise KeyError(product_id) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def items(self) -> ItemsView[str, float]:
        """(product id, weight) pairs, in the order given, without a lookup each."""
        return _FrozenItems(self)

    def parts(self) -> tuple[tuple[str, ...], bytes]:
        """(ids, weights as native doubles): what `from_parts` takes back."""
        return self._ids, self._weights.tobytes()

    @classmethod
    def from_parts(cls, ids: tuple[str, ...], weights: bytes) -> FrozenNeighbours:
        """The neighbours `parts` gave (the ids as they are: already interned)."""
        neighbours = cls.__new__(cls)
        neighbours._ids = ids
        neighbours._weights = array("d")
        neighbours._weights.frombytes(weights)
        return neighbours

    def __repr__(self) -> str:
        return f"FrozenNeighbours({dict(self.items())!r})"


class _FrozenItems(ItemsView[str, float]):
    _mapping: FrozenNeighbours

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return zip(self._mapping._ids, self._mapping._weights, strict=True)


@dataclass(frozen=True, slots=True)
class CopurchaseConfig:
    """How the graph counts: decay, cross-order pairs and the neighbour-list cap."""

    half_life_days: float = 90.0
    cross_order_weight: float = 0.5
    cross_order_days: float = 30.0
    neighbours_k: int = 50
    max_paired_products: int = 1_000
    """Products of one order that form pairs, at most (see PAIRS IN LARGE ORDERS)."""

    def __post_init__(self) -> None:
        for name in ("half_life_days", "cross_order_weight", "cross_order_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        k = self.neighbours_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"neighbours_k must be an integer >= 1, got {k!r}")
        cap = self.max_paired_products
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 2:
            raise ValueError(f"max_paired_products must be an integer >= 2, got {cap!r}")


def decay_factor(elapsed_ms: int, half_life_days: float) -> float:
    """Weight left after `elapsed_ms` of event time; 1.0 without decay or elapsed time."""
    if half_life_days == 0 or elapsed_ms <= 0:
        return 1.0
    return float(0.5 ** (elapsed_ms / (half_life_days * DAY_MS)))


# --------------------------------------------------------------------------- orders


class OrderLine(Protocol):
    """What `OrderFacts.from_lines` reads from a line (schemas.OrderItem fits)."""

    @property
    def product_id(self) -> str: ...

    @property
    def unit_price(self) -> float: ...

    @property
    def category(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OrderedProduct:
    """One distinct product of an order, with the price and category it was sold at."""

    product_id: str
    unit_price: float
    category: str | None = None


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the graph needs of an order: its event time and its distinct products."""

    ts_ms: int
    products: tuple[OrderedProduct, ...]

    def __post_init__(self) -> None:
        ids = [product.product_id for product in self.products]
        if len(set(ids)) != len(ids):
            raise ValueError(f"an order's products must be distinct, got {ids!r}")

    @classmethod
    def from_lines(cls, ts_ms: int, lines: Iterable[OrderLine]) -> OrderFacts:
        """An order's facts from its lines; repeated products keep the last price/category."""
        by_id: dict[str, OrderedProduct] = {}
        for line in lines:
            by_id[line.product_id] = OrderedProduct(line.product_id, line.unit_price, line.category)
        return cls(ts_ms, tuple(by_id.values()))

    @property
    def product_ids(self) -> tuple[str, ...]:
        """The order's product ids, in line order."""
        return tuple(product.product_id for product in self.products)

    def paired_ids(self, max_paired: int) -> tuple[str, ...]:
        """The products that form pairs: all, or the `max_paired` highest-priced ones.

        Ties in price go to the smaller product_id, so the choice depends on the order's
        content only, never on its line order. The result keeps line order.
        """
        if len(self.products) <= max_paired:
            return self.product_ids
        ranked = sorted(self.products, key=lambda p: (-p.unit_price, p.product_id))
        chosen = {product.product_id for product in ranked[:max_paired]}
        return tuple(pid for pid in self.product_ids if pid in chosen)


def recent_products_within(recent: Mapping[str, int], now_ms: int, days: float) -> dict[str, int]:
    """The entries of `recent` bought at most `days` before `now_ms` (later ones are kept)."""
    window_ms = days * DAY_MS
    return {product_id: ts for product_id, ts in recent.items() if now_ms - ts <= window_ms}


def with_order(recent: Mapping[str, int], order: OrderFacts, days: float) -> dict[str, int]:
    """A shopper's product -> last-bought-ts map after `order`, trimmed to `days` before it."""
    updated = recent_products_within(recent, order.ts_ms, days)
    for product_id in order.product_ids:
        # max, not overwrite: a late, older order must not move a purchase back in time.
        if product_id not in updated or updated[product_id] < order.ts_ms:
            updated[product_id] = order.ts_ms
    return updated


# --------------------------------------------------------------------------- arithmetic

_PriceFacts = tuple[float | None, int, str | None]


def _price_rank(facts: _PriceFacts) -> tuple[bool, int, float, bool, str]:
    price, ts, category = facts
    return (
        price is not None,
        ts,
        0.0 if price is None else price,
        category is not None,
        category or "",
    )


def _latest_price(own: _PriceFacts, other: _PriceFacts) -> _PriceFacts:
    # A total order on the facts, so that the winner does not depend on arrival order.
    return own if _price_rank(own) >= _price_rank(other) else other


def _common_reference(
    own_ts: int, other_ts: int, half_life_days: float
) -> tuple[int, float, float]:
    """The later of two as-of times and the factors that bring each side to it."""
    as_of = max(own_ts, other_ts)
    return (
        as_of,
        decay_factor(as_of - own_ts, half_life_days),
        decay_factor(as_of - other_ts, half_life_days),
    )


def _scaled(weights: Mapping[str, float], factor: float) -> dict[str, float]:
    if factor == 1.0:
        return dict(weights)
    return {product_id: weight * factor for product_id, weight in weights.items()}


def _add_scaled(into: dict[str, float], weights: Mapping[str, float], factor: float) -> None:
    get = into.get  # bound once: this loop is the fold's and the product agent's hottest
    if factor == 1.0:  # weight * 1.0 == weight exactly: the same sums without the product
        for product_id, weight in weights.items():
            into[product_id] = get(product_id, 0.0) + weight
    else:
        for product_id, weight in weights.items():
            into[product_id] = get(product_id, 0.0) + weight * factor


def _strongest_first(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]


def _pruned(neighbours: dict[str, float], k: int) -> dict[str, float]:
    """The `k` strongest neighbours (ties: smaller product_id); `neighbours` itself if few.

    The result keeps the input's order. The k-th weight is found by sorting the bare floats
    (no key function): this runs for every touched product of every batch, where a keyed
    heap over (weight, id) pairs would cost several times as much.
    """
    if len(neighbours) <= k:
        return neighbours
    ranked = sorted(neighbours.values(), reverse=True)
    cut = ranked[k - 1]
    if ranked[k] < cut:  # every weight equal to the cut is among the k: no tie to break
        return {other: weight for other, weight in neighbours.items() if weight >= cut}
    # ranked is descending, so the cut's first position counts the weights above it.
    missing = k - ranked.index(cut)
    at_cut = sorted(other for other, weight in neighbours.items() if weight == cut)
    chosen = set(at_cut[:missing])
    return {o: w for o, w in neighbours.items() if w > cut or o in chosen}


def _check_same_product(own: str, other: str) -> None:
    if own != other:
        raise ValueError(f"cannot combine product {own!r} with a delta of product {other!r}")


# --------------------------------------------------------------------------- wire format


def _json_number(value: float) -> float | int:
    if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return int(value)
    return value


def _encode(
    product_id: str,
    as_of_ts: int,
    purchases: float,
    neighbours: Mapping[str, float],
    price: _PriceFacts,
) -> dict[str, Any]:
    data: dict[str, Any] = {"p": product_id, "t": as_of_ts}
    if purchases:
        data["n"] = _json_number(purchases)
    if neighbours:
        data["w"] = {other: _json_number(weight) for other, weight in neighbours.items()}
    last_price, last_price_ts, category = price
    if last_price is not None:
        data["lp"] = last_price
        data["lt"] = last_price_ts
    if category is not None:
        data["c"] = category
    return data


def _decode(
    kind: str, data: Mapping[str, Any], frozen: bool = False
) -> tuple[str, int, float, Mapping[str, float], _PriceFacts]:
    try:
        product_id = data["p"]
        if not isinstance(product_id, str):
            raise TypeError(f"p must be a string, got {product_id!r}")
        last_price = data.get("lp")
        category = data.get("c")
        if category is not None and not isinstance(category, str):
            raise TypeError(f"c must be a string, got {category!r}")
        return (
            product_id,
            int(data["t"]),
            float(data.get("n", 0.0)),
            FrozenNeighbours(data.get("w", {}))
            if frozen
            else {str(other): float(weight) for other, weight in data.get("w", {}).items()},
            (
                None if last_price is None else float(last_price),
                int(data.get("lt", NO_PRICE_TS)) if last_price is not None else NO_PRICE_TS,
                category,
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a {kind} dict ({exc!r}): {dict(data)!r}"[:500]) from exc


# --------------------------------------------------------------------------- deltas


@dataclass(slots=True)
class ProductDelta:
    """One product's change from some orders, as of `as_of_ts` (combine with `merge`)."""

    product_id: str
    as_of_ts: int
    purchases: float = 0.0
    neighbours: dict[str, float] = field(default_factory=dict)
    last_price: float | None = None
    last_price_ts: int = NO_PRICE_TS
    category: str | None = None

    def merge(self, other: ProductDelta, half_life_days: float) -> ProductDelta:
        """Both deltas combined, as of the later of their times; neither is changed."""
        merged = self.copy()
        merged._absorb(other, half_life_days)
        return merged

    def copy(self) -> ProductDelta:
        """An independent copy (its own neighbours dict)."""
        # Field by field, not dataclasses.replace: every delta of a batch is copied once.
        return ProductDelta(
            self.product_id,
            self.as_of_ts,
            self.purchases,
            dict(self.neighbours),
            self.last_price,
            self.last_price_ts,
            self.category,
        )

    def _price_facts(self) -> _PriceFacts:
        return self.last_price, self.last_price_ts, self.category

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-able dict (keys in the module docstring)."""
        return _encode(
            self.product_id, self.as_of_ts, self.purchases, self.neighbours, self._price_facts()
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProductDelta:
        """The delta `to_dict` wrote; ValueError when `data` is not one."""
        product_id, as_of_ts, purchases, neighbours, price = _decode("ProductDelta", data)
        return cls(product_id, as_of_ts, purchases, dict(neighbours), *price)

    def _absorb(self, other: ProductDelta, half_life_days: float) -> None:
        """Add `other` into this delta in place (only for deltas this module owns)."""
        _check_same_product(self.product_id, other.product_id)
        as_of, own, theirs = _common_reference(self.as_of_ts, other.as_of_ts, half_life_days)
        if own != 1.0:
            for product_id in self.neighbours:
                self.neighbours[product_id] *= own
        _add_scaled(self.neighbours, other.neighbours, theirs)
        self.purchases = self.purchases * own + other.purchases * theirs
        self.as_of_ts = as_of
        self.last_price, self.last_price_ts, self.category = _latest_price(
            self._price_facts(), other._price_facts()
        )


def _earlier_products(
    recent_products: Mapping[str, int], order: OrderFacts, days: float
) -> list[str]:
    """Products bought before `order`, at most `days` before it, and not in it."""
    window_ms = days * DAY_MS
    in_order = set(order.product_ids)
    return [
        product_id
        for product_id, bought_ts in recent_products.items()
        if 0 < order.ts_ms - bought_ts <= window_ms and product_id not in in_order
    ]


# The graph also counts orders as a whole under this key (it cannot be a product id from
# the contract in practice: it starts with a NUL), decayed like everything else, so base rates
# (purchases / total orders) are available wherever the graph is.
TOTAL_ORDERS_KEY: Final = "\x00orders"


def total_orders_delta(ts_ms: int) -> ProductDelta:
    """The delta that counts one more order in the graph's total."""
    return ProductDelta(TOTAL_ORDERS_KEY, ts_ms, 1.0)


def deltas_for_order(
    order: OrderFacts, recent_products: Mapping[str, int], config: CopurchaseConfig
) -> dict[str, ProductDelta]:
    """One delta per product the order touches: its products and the shopper's recent ones.

    Every product of the order counts one purchase; only its paired products (all of them
    up to `config.max_paired_products`, see PAIRS IN LARGE ORDERS) form pairs, with each
    other and with the shopper's earlier products.
    """
    ts = order.ts_ms
    paired = order.paired_ids(config.max_paired_products)
    paired_set = set(paired) if len(paired) < len(order.products) else None
    cross_weight = config.cross_order_weight
    earlier = (
        _earlier_products(recent_products, order, config.cross_order_days) if cross_weight else []
    )
    # Each paired product's same-order neighbours are all the paired products but itself:
    # one shared template, copied (in C) and with that product removed, costs far less than
    # building each list anew (the order's n x n pairs are most of the fold's first step).
    same_order = dict.fromkeys(paired, 1.0)
    deltas: dict[str, ProductDelta] = {}
    for product in order.products:
        product_id = product.product_id
        neighbours: dict[str, float] = {}
        if paired_set is None or product_id in paired_set:
            neighbours = same_order.copy()
            del neighbours[product_id]
            for earlier_id in earlier:
                neighbours[earlier_id] = cross_weight
        deltas[product_id] = ProductDelta(
            product_id, ts, 1.0, neighbours, product.unit_price, ts, product.category
        )
    for earlier_id in earlier:
        deltas[earlier_id] = ProductDelta(earlier_id, ts, 0.0, dict.fromkeys(paired, cross_weight))
    return deltas


DELTA_MESSAGE_BYTES: Final = 1 << 20
"""Target size of one deltas message: well under the producer's and topic's limits."""


def delta_messages(
    deltas: Iterable[ProductDelta], max_bytes: int = DELTA_MESSAGE_BYTES
) -> list[bytes]:
    """The deltas as JSON-list messages of at most `max_bytes` each (see MESSAGES).

    Raises ValueError when one neighbour entry alone cannot fit (`max_bytes` absurdly small).
    """
    messages: list[bytes] = []
    held: list[bytes] = []
    size = 2  # the brackets
    for delta in deltas:
        for part in _encoded_parts(delta, max_bytes - 2):
            if held and size + 1 + len(part) > max_bytes:
                messages.append(b"[" + b",".join(held) + b"]")
                held, size = [], 2
            held.append(part)
            size += len(part) + (1 if len(held) > 1 else 0)
    if held:
        messages.append(b"[" + b",".join(held) + b"]")
    return messages


def _encoded_parts(delta: ProductDelta, max_bytes: int) -> list[bytes]:
    """`delta` encoded, split by neighbours into parts of at most `max_bytes` if needed."""
    encoded = orjson.dumps(delta.to_dict())
    if len(encoded) <= max_bytes:
        return [encoded]
    items = list(delta.neighbours.items())
    if len(items) <= 1:
        raise ValueError(
            f"delta of {delta.product_id!r} ({len(encoded):,} bytes) cannot fit {max_bytes:,}"
        )
    half = len(items) // 2
    head = replace(delta, neighbours=dict(items[:half]))
    tail = ProductDelta(delta.product_id, delta.as_of_ts, 0.0, dict(items[half:]))
    return _encoded_parts(head, max_bytes) + _encoded_parts(tail, max_bytes)


def merge_delta_maps(
    into: dict[str, ProductDelta], new: Mapping[str, ProductDelta], half_life_days: float
) -> None:
    """Merge `new` into the batch accumulator `into` IN PLACE, keeping one delta per product.

    `into` and the deltas it holds are changed (it owns them: deltas taken from `new` are
    copied on the way in); `new` and its deltas are never changed.
    """
    for product_id, delta in new.items():
        held = into.get(product_id)
        if held is None:
            _check_same_product(product_id, delta.product_id)
            into[product_id] = delta.copy()
        else:
            held._absorb(delta, half_life_days)


# --------------------------------------------------------------------------- state


PackedProductState: TypeAlias = tuple[
    str, float, tuple[str, ...], bytes, int, float | None, int, str | None, tuple[int, int] | None
]
"""A `ProductState` as a plain tuple of strings, numbers and bytes (`ProductState.packed`):
how the replicated product view holds every product on every worker. The cyclic garbage
collector stops tracking a tuple of such values, so a full collection does not visit the
catalog's states (a `ProductState` and its `FrozenNeighbours` are two tracked objects
each; ``bench/results/gc_pauses.md``)."""


def packed_as_of_ts(packed: PackedProductState) -> int:
    """The `as_of_ts` of a packed state, without unpacking it."""
    return packed[4]


@dataclass(frozen=True, slots=True)
class ProductState:
    """A product's purchases and at most K neighbour weights, as of `as_of_ts`.

    Immutable by convention too: `neighbours` is never changed after construction; every
    update returns a new state.
    """

    product_id: str
    purchases: float = 0.0
    neighbours: Mapping[str, float] = field(default_factory=dict)
    as_of_ts: int = 0
    last_price: float | None = None
    last_price_ts: int = NO_PRICE_TS
    category: str | None = None
    applied_through: tuple[int, int] | None = None
    """(partition, offset) of the last delta message applied: the stream's position in the
    state itself, so that re-delivered deltas are recognised and skipped (see the agent)."""

    @classmethod
    def empty(cls, product_id: str) -> ProductState:
        """The state of a product nobody has bought yet."""
        return cls(product_id)

    def apply(self, delta: ProductDelta, config: CopurchaseConfig) -> ProductState:
        """The state after `delta`: both brought to the later time, added, pruned to K."""
        _check_same_product(self.product_id, delta.product_id)
        as_of, own, theirs = _common_reference(self.as_of_ts, delta.as_of_ts, config.half_life_days)
        neighbours = _scaled(self.neighbours, own)
        _add_scaled(neighbours, delta.neighbours, theirs)
        last_price, last_price_ts, category = _latest_price(
            self._price_facts(), delta._price_facts()
        )
        return ProductState(
            self.product_id,
            self.purchases * own + delta.purchases * theirs,
            _pruned(neighbours, config.neighbours_k),
            as_of,
            last_price,
            last_price_ts,
            category,
            self.applied_through,
        )

    def already_applied(self, partition: int, offset: int) -> bool:
        """True if the delta message at (partition, offset) is already in this state."""
        applied = self.applied_through
        return applied is not None and applied[0] == partition and offset <= applied[1]

    def with_applied_through(self, partition: int, offset: int) -> ProductState:
        """This state, marked as containing every delta up to (partition, offset)."""
        return replace(self, applied_through=(partition, offset))

    def decayed_to(self, ts_ms: int, half_life_days: float) -> ProductState:
        """The values as of `ts_ms`; the state itself when `ts_ms` is not later than as_of_ts."""
        if ts_ms <= self.as_of_ts:
            # Moving back in time would have to un-count contributions made after ts_ms.
            return self
        factor = decay_factor(ts_ms - self.as_of_ts, half_life_days)
        return replace(
            self,
            purchases=self.purchases * factor,
            neighbours=_scaled(self.neighbours, factor),
            as_of_ts=ts_ms,
        )

    def valued_at(self, ts_ms: int, half_life_days: float) -> ProductState:
        """The values scaled to `ts_ms`, earlier or later than as_of_ts (earlier: scaled up,
        as if the decay since `ts_ms` were undone). An index whose counts are all as of one
        base time takes states updated after it this way (``streams.offers.snapshot``)."""
        if ts_ms == self.as_of_ts or half_life_days == 0:
            return replace(self, as_of_ts=ts_ms)
        factor = float(0.5 ** ((ts_ms - self.as_of_ts) / (half_life_days * DAY_MS)))
        return replace(
            self,
            purchases=self.purchases * factor,
            neighbours=_scaled(self.neighbours, factor),
            as_of_ts=ts_ms,
        )

    def top_neighbours(self, n: int | None = None) -> list[tuple[str, float]]:
        """The `n` (default all) strongest neighbours, strongest first, ties by product_id."""
        if n is not None and n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        if n is None or n >= len(self.neighbours):
            return sorted(self.neighbours.items(), key=_strongest_first)
        return heapq.nsmallest(n, self.neighbours.items(), key=_strongest_first)

    def _price_facts(self) -> _PriceFacts:
        return self.last_price, self.last_price_ts, self.category

    def packed(self) -> PackedProductState:
        """This state as a `PackedProductState` (`from_packed` gives it back)."""
        neighbours = self.neighbours
        if not isinstance(neighbours, FrozenNeighbours):
            neighbours = FrozenNeighbours(neighbours)
        ids, weights = neighbours.parts()
        return (
            self.product_id,
            self.purchases,
            ids,
            weights,
            self.as_of_ts,
            self.last_price,
            self.last_price_ts,
            self.category,
            self.applied_through,
        )

    @classmethod
    def from_packed(cls, packed: PackedProductState) -> ProductState:
        """The state `packed` gave, its neighbours frozen."""
        product_id, purchases, ids, weights, as_of_ts, price, price_ts, category, through = packed
        neighbours = FrozenNeighbours.from_parts(ids, weights)
        return cls(product_id, purchases, neighbours, as_of_ts, price, price_ts, category, through)

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-able dict (keys in the module docstring)."""
        data = _encode(
            self.product_id, self.as_of_ts, self.purchases, self.neighbours, self._price_facts()
        )
        if self.applied_through is not None:
            data["at"] = list(self.applied_through)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, frozen: bool = False) -> ProductState:
        """The state `to_dict` wrote; ValueError when `data` is not one. `frozen`: its
        neighbours in a `FrozenNeighbours` (decoded straight from `data`)."""
        product_id, as_of_ts, purchases, neighbours, price = _decode("ProductState", data, frozen)
        applied = data.get("at")
        try:
            through = None if applied is None else (int(applied[0]), int(applied[1]))
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"not a ProductState dict (at={applied!r}): {exc!r}") from exc
        return cls(product_id, purchases, neighbours, as_of_ts, *price, through)

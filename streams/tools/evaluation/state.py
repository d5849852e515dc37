"""The live state, rebuilt offline: training orders folded through the stream's own steps.

Nothing here re-implements counting. Each order goes through exactly the steps the
workers' handlers run:

- ``streams.profiles.step.apply_order`` keeps the shopper's profile and gives the products
  they bought before the order (guest orders get no profile);
- ``streams.copurchase.step.order_deltas`` turns the order into one delta per product,
  pairing it with those earlier products (cross-order pairs), plus the delta that counts
  the order in the graph's decayed order total (the base-rate denominator,
  ``TOTAL_ORDERS_KEY``);
- every ``batch_orders`` orders (the workers' ``BASKETLIFT_BATCH_MAX``) the batch's deltas
  are merged per product (``streams.copurchase.step.merge_into``) and each product absorbs
  its merged delta once (``streams.copurchase.step.absorb``), which is when top-K pruning
  happens, as in the product agent.

The merge walks a batch newest first. The result does not depend on that (merging is
order-independent by construction, see the model's docstring), but it is much cheaper:
merging an older delta into a newer one only scales the older one, whereas the other way
round rescales everything accumulated so far on every step.

Fold cost is dominated by the pair counting itself (sum over orders of products x
(products + the shopper's recent products)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from streams.copurchase import step as copurchase_step
from streams.copurchase.model import (
    TOTAL_ORDERS_KEY,
    CopurchaseConfig,
    OrderFacts,
    ProductDelta,
    ProductState,
)
from streams.profiles import step as profile_step
from streams.profiles.model import OrderFacts as ProfileOrderFacts
from streams.profiles.model import OrderLineFacts, ProfileConfig, ShopperProfile
from streams.tools.replay.orderlog import Order

__all__ = [
    "DEFAULT_BATCH_ORDERS",
    "TOTAL_ORDERS_KEY",
    "LiveState",
    "fold_orders",
    "profile_order_facts",
]

DEFAULT_BATCH_ORDERS = 500
"""Orders per fold batch: the workers' default BASKETLIFT_BATCH_MAX."""


@dataclass
class LiveState:
    """Product states (with the order total under ``TOTAL_ORDERS_KEY``) and shopper profiles."""

    products: dict[str, ProductState] = field(default_factory=dict)
    profiles: dict[str, ShopperProfile] = field(default_factory=dict)
    orders_folded: int = 0
    last_ts_ms: int | None = None

    def total_orders_state(self) -> ProductState:
        """The decayed order count as a state (its ``purchases``), empty before any order."""
        return self.products.get(TOTAL_ORDERS_KEY) or ProductState.empty(TOTAL_ORDERS_KEY)

    def product_states(self) -> dict[str, ProductState]:
        """The real products only (the order total left out)."""
        return {key: state for key, state in self.products.items() if key != TOTAL_ORDERS_KEY}


def profile_order_facts(order: Order) -> ProfileOrderFacts:
    """The profile's view of an order (no catalog: list prices unknown, shipping 0)."""
    return ProfileOrderFacts(
        event_id=order.order_id,
        ts_ms=order.ts_ms,
        lines=tuple(
            OrderLineFacts(line.product_id, line.quantity, line.unit_price, line.category)
            for line in order.lines
        ),
    )


def _order_deltas(
    order: Order,
    state: LiveState,
    copurchase: CopurchaseConfig,
    profile_config: ProfileConfig,
    consent_default_granted: bool,
) -> dict[str, ProductDelta]:
    """One order's deltas, updating the shopper's profile like the shopper-side handler."""
    bought_before: Mapping[str, int] = {}
    shopper_id = order.shopper_id
    if shopper_id is not None:
        shopper = profile_step.ShopperState(shopper_id, None, state.profiles.get(shopper_id))
        shopper, bought_before = profile_step.apply_order(
            shopper, profile_order_facts(order), profile_config, consent_default_granted
        )
        if shopper.profile is not None:
            state.profiles[shopper_id] = shopper.profile
    facts = OrderFacts.from_lines(order.ts_ms, order.lines)
    return copurchase_step.order_deltas(facts, bought_before, copurchase)


def _apply_batch(
    state: LiveState, pending: list[dict[str, ProductDelta]], copurchase: CopurchaseConfig
) -> None:
    merged: dict[str, ProductDelta] = {}
    for deltas in reversed(pending):  # newest first: see the module docstring
        copurchase_step.merge_into(merged, deltas, copurchase)
    products = state.products
    for product_id, delta in merged.items():
        held = products.get(product_id) or ProductState.empty(product_id)
        products[product_id] = copurchase_step.absorb(held, [delta], copurchase)
    pending.clear()


def fold_orders(
    orders: Iterable[Order],
    state: LiveState | None = None,
    copurchase: CopurchaseConfig | None = None,
    profile_config: ProfileConfig | None = None,
    batch_orders: int = DEFAULT_BATCH_ORDERS,
    progress: Callable[[int], None] | None = None,
    consent_default_granted: bool = True,
) -> LiveState:
    """Fold orders (in the given order, normally by time) into `state` (a new one if None).

    `progress`, if given, is called with the number of orders folded after each batch.
    `consent_default_granted`: the order log has no privacy events, so every shopper has
    the default consent (the worker's BASKETLIFT_CONSENT_DEFAULT_GRANTED).
    """
    if batch_orders < 1:
        raise ValueError(f"batch_orders must be >= 1, got {batch_orders!r}")
    copurchase = copurchase or CopurchaseConfig()
    profile_config = profile_config or ProfileConfig()
    state = state if state is not None else LiveState()
    pending: list[dict[str, ProductDelta]] = []
    for order in orders:
        pending.append(
            _order_deltas(order, state, copurchase, profile_config, consent_default_granted)
        )
        state.orders_folded += 1
        state.last_ts_ms = (
            order.ts_ms if state.last_ts_ms is None else max(state.last_ts_ms, order.ts_ms)
        )
        if len(pending) >= batch_orders:
            _apply_batch(state, pending, copurchase)
            if progress is not None:
                progress(state.orders_folded)
    if pending:
        _apply_batch(state, pending, copurchase)
        if progress is not None:
            progress(state.orders_folded)
    return state

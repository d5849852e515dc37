"""What orders do to the co-purchase graph: the domain's steps (pure).

Two steps, on the two sides of the deltas topic:
- ``order_deltas``: one order (with the shopper's products bought before it) becomes one
  delta per product it touches, plus one for the graph's order total. Deltas of a batch are
  merged per product (``merge_into``) before they travel.
- ``absorb``: a product's stored state takes the deltas that reached it, each named by its
  position (partition, offset) on the deltas topic. Deltas at or below the position the state
  already holds are skipped (redelivery after a crash); the rest are merged and applied once,
  so top-K pruning runs once per product per batch.
The worker's handlers and the offline evaluation run these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from streams.copurchase.model import (
    TOTAL_ORDERS_KEY,
    CopurchaseConfig,
    OrderFacts,
    ProductDelta,
    ProductState,
    deltas_for_order,
    merge_delta_maps,
    total_orders_delta,
)

__all__ = ["Absorbed", "PositionedDelta", "absorb", "absorb_new", "merge_into", "order_deltas"]


class PositionedDelta(NamedTuple):
    """A delta and the offset of the deltas-topic message that carried it."""

    offset: int
    delta: ProductDelta


class Absorbed(NamedTuple):
    """A product's state after a batch, and how many of its deltas were already in it."""

    state: ProductState | None
    """None when every delta was already applied (nothing to write)."""
    skipped: int


def order_deltas(
    order: OrderFacts, bought_before: Mapping[str, int], config: CopurchaseConfig
) -> dict[str, ProductDelta]:
    """One delta per product the order touches, and one counting the order in the total."""
    deltas = deltas_for_order(order, bought_before, config)
    deltas[TOTAL_ORDERS_KEY] = total_orders_delta(order.ts_ms)
    return deltas


def merge_into(
    batch: dict[str, ProductDelta], deltas: Mapping[str, ProductDelta], config: CopurchaseConfig
) -> None:
    """Merge one order's (or message's) deltas into a batch's, one delta per product."""
    merge_delta_maps(batch, deltas, config.half_life_days)


def absorb(
    state: ProductState, deltas: Sequence[ProductDelta], config: CopurchaseConfig
) -> ProductState:
    """`state` after `deltas`: merged into one, applied once (pruned to K once)."""
    merged = deltas[0]
    for delta in deltas[1:]:
        merged = merged.merge(delta, config.half_life_days)
    return state.apply(merged, config)


def absorb_new(
    state: ProductState,
    deltas: Sequence[PositionedDelta],
    partition: int,
    config: CopurchaseConfig,
) -> Absorbed:
    """`state` after the deltas of one deltas-topic partition not applied yet (see module)."""
    fresh = [item.delta for item in deltas if not state.already_applied(partition, item.offset)]
    skipped = len(deltas) - len(fresh)
    if not fresh:
        return Absorbed(None, skipped)
    through = max(item.offset for item in deltas)
    return Absorbed(absorb(state, fresh, config).with_applied_through(partition, through), skipped)

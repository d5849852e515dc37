"""What one event does to a shopper's stored state: the profile domain's steps (pure).

A shopper's state is their consent record and, while they may be profiled, their profile.
Each step takes that state, one event and the configuration, and returns the new state
(and, for an order, what the co-purchase graph needs from the shopper): the worker's
handlers load, step and stage the writes; the offline evaluation folds orders through the
same steps. Nothing here reads a table, a clock or the settings.

Rules the steps keep:
- A profile exists only while the shopper may be profiled (``model.is_granted``): a revoke
  or erase removes it, and orders and clicks of a shopper who may not be profiled build
  none. Such orders still count in the co-purchase graph, without cross-order pairs.
- Consent after a privacy action is ``model.consent_after``: explicit choices are kept as
  made; erase forgets the record too, so the configured default applies again.
- Guests (no shopper id) have no profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from streams.profiles.model import (
    ClickFacts,
    ConsentState,
    OrderFacts,
    ProfileConfig,
    ShopperProfile,
    consent_after,
    is_granted,
)

__all__ = ["NO_RECENT_PRODUCTS", "ShopperState", "apply_click", "apply_order", "apply_privacy"]

NO_RECENT_PRODUCTS: Final[Mapping[str, int]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ShopperState:
    """A shopper's consent record and profile (None: none stored)."""

    shopper_id: str
    consent: ConsentState = None
    profile: ShopperProfile | None = None

    def may_profile(self, default_granted: bool) -> bool:
        """Whether this shopper may be profiled: their recorded choice, else the default."""
        return is_granted(self.consent, default_granted)


def apply_order(
    state: ShopperState, order: OrderFacts, config: ProfileConfig, default_granted: bool
) -> tuple[ShopperState, Mapping[str, int]]:
    """The state after a completed order, and the shopper's products bought before it
    (product id -> time) for cross-order pairs: none when the shopper may not be profiled."""
    if not state.may_profile(default_granted):
        return state, NO_RECENT_PRODUCTS
    profile = state.profile or ShopperProfile.empty(state.shopper_id)
    return replace(state, profile=profile.with_order(order, config)), profile.recent_products


def apply_click(
    state: ShopperState, click: ClickFacts, config: ProfileConfig, default_granted: bool
) -> ShopperState:
    """The state after a behavioural event (affinity; only for shoppers who may be profiled)."""
    if not state.may_profile(default_granted):
        return state
    profile = state.profile or ShopperProfile.empty(state.shopper_id)
    return replace(state, profile=profile.with_click(click, config))


def apply_privacy(state: ShopperState, action: str, default_granted: bool) -> ShopperState:
    """The state after grant, revoke or erase: consent as recorded, the profile dropped when
    the shopper may no longer be profiled (revoke) or is forgotten (erase)."""
    consent = consent_after(action, state.consent, default_granted)
    if action == "erase":
        return ShopperState(state.shopper_id)
    profile = state.profile if is_granted(consent, default_granted) else None
    return ShopperState(state.shopper_id, consent, profile)

"""Threshold nudges: the gap to free shipping and to the next loyalty tier.

Pure, typed Python: nothing here imports Faust or Kafka. Money is computed in whole cents
(so ``50.00 - 49.99`` is exactly ``0.01``) and returned rounded to 2 decimals.

FREE SHIPPING. A shopper with a profile gets a personal threshold of about ``factor`` x their
typical order value (the profile's median recent order), rounded to a friendly amount and
clamped to ``[minimum, maximum]``; a shopper without one (anonymous, revoked, no order yet)
gets the store's ``base`` threshold. Rounding rule: to the *nearest* multiple of 5 when the
raw amount is below 100, of 10 from 100 on (halves round up: 52.50 -> 55, 105 -> 110).
Seed case: typical 42.00 x 1.2 = 50.40 -> 50.00; a 42.00 cart is then 8.00 short.
A cart is nudged only while it is below the threshold and the gap is at most
``max_gap_share`` x threshold (a shopper 45.00 short of 50.00 is not going to add it).

LOYALTY TIERS. Tiers are ``(name, threshold)`` pairs of trailing-365-day spend, strictly
increasing. The next tier is the first one above the shopper's spend; the shopper is
prompted only when the gap to it is within ``[proximity_min, proximity_max]`` x its
threshold (default ``[0, 0.3]``: within 30% of the tier, however close) and the cart
would close at least part of the gap (``cart_value > 0``). The gap is measured from the
spend so far (the cart is not bought yet), so the message stays true if the cart is
abandoned. A shopper at or above the highest tier gets no prompt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

__all__ = [
    "DEFAULT_NUDGE_CONFIG",
    "NudgeConfig",
    "NudgeKind",
    "NudgeProposal",
    "Tier",
    "free_shipping_nudge",
    "friendly_amount",
    "next_tier",
    "parse_tiers",
    "personal_threshold",
    "propose_nudges",
    "tier_nudge",
]

NudgeKind = Literal["free_shipping", "loyalty_tier"]
FRIENDLY_STEP_BELOW_100: Final = 5
FRIENDLY_STEP_FROM_100: Final = 10


@dataclass(frozen=True, slots=True)
class NudgeProposal:
    """A nudge to show; fields map 1:1 onto ``schemas.events.Nudge``."""

    kind: NudgeKind
    threshold: float
    gap: float
    message: str


class Tier(NamedTuple):
    """A loyalty tier: reached at ``threshold`` of trailing-365-day spend."""

    name: str
    threshold: float


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _positive(name: str, value: object) -> float:
    number = _finite(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _non_negative(name: str, value: object) -> float:
    number = _finite(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _share(name: str, value: object, *, allow_zero: bool) -> float:
    number = _finite(name, value)
    if not (0 <= number <= 1) or (number == 0 and not allow_zero):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def _cents(amount: float) -> int:
    return round(amount * 100)


def _money(cents: int) -> float:
    return cents / 100


def _currency(currency: str) -> str:
    if not currency or not currency.strip():
        raise ValueError("currency must not be empty")
    return currency.strip()


# --------------------------------------------------------------------------- free shipping


def friendly_amount(amount: float) -> float:
    """Round to the nearest multiple of 5 below 100, of 10 from 100 on (halves up)."""
    value = _non_negative("amount", amount)
    step = FRIENDLY_STEP_BELOW_100 if value < 100 else FRIENDLY_STEP_FROM_100
    # round(..., 6) first: 52.5 stored as 52.4999999 still counts as a half.
    return float(math.floor(round(value / step, 6) + 0.5) * step)


def personal_threshold(
    typical_order_value: float | None,
    base: float,
    minimum: float,
    maximum: float,
    factor: float = 1.2,
) -> float:
    """Free-shipping threshold: factor x typical order value, friendly-rounded and clamped."""
    base = _positive("base", base)
    minimum = _positive("minimum", minimum)
    maximum = _positive("maximum", maximum)
    factor = _positive("factor", factor)
    if minimum > maximum:
        raise ValueError(f"minimum ({minimum}) must not exceed maximum ({maximum})")
    if (
        typical_order_value is None
        or not math.isfinite(typical_order_value)
        or typical_order_value <= 0
    ):
        return _money(_cents(base))
    raw = friendly_amount(typical_order_value * factor)
    return _money(_cents(min(max(raw, minimum), maximum)))


def free_shipping_nudge(
    cart_value: float,
    threshold: float,
    max_gap_share: float = 0.3,
    currency: str = "GBP",
) -> NudgeProposal | None:
    """Nudge "Add X more for free shipping" when the cart is below but near the threshold."""
    cart = _cents(_non_negative("cart_value", cart_value))
    limit = _cents(_positive("threshold", threshold))
    share = _share("max_gap_share", max_gap_share, allow_zero=False)
    currency = _currency(currency)
    gap = limit - cart
    if gap <= 0 or gap > share * limit + 1e-9:
        return None
    return NudgeProposal(
        "free_shipping",
        _money(limit),
        _money(gap),
        f"Add {gap / 100:.2f} {currency} more for free shipping",
    )


# --------------------------------------------------------------------------- loyalty tiers


def _checked_tiers(tiers: Iterable[tuple[str, float]]) -> tuple[Tier, ...]:
    checked: list[Tier] = []
    names: set[str] = set()
    for position, (name, threshold) in enumerate(tiers, start=1):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"tier {position}: name must be a non-empty string, got {name!r}")
        name = name.strip()
        amount = _positive(f"tier '{name}' threshold", threshold)
        if name in names:
            raise ValueError(f"tier '{name}' is listed twice")
        if checked and amount <= checked[-1].threshold:
            previous = checked[-1]
            raise ValueError(
                f"tier thresholds must increase: '{name}' ({amount:g}) comes after"
                f" '{previous.name}' ({previous.threshold:g})"
            )
        names.add(name)
        checked.append(Tier(name, amount))
    return tuple(checked)


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """Parse "Silver:200,Gold:500,Platinum:1500"; an empty string means no tiers."""
    if not text.strip():
        return ()
    pairs: list[tuple[str, float]] = []
    for position, part in enumerate(text.split(","), start=1):
        item = part.strip()
        if not item:
            raise ValueError(f"tier {position} is empty (stray comma in {text!r})")
        name, sep, amount = item.rpartition(":")
        if not sep or not name.strip():
            raise ValueError(f"tier {position} {item!r}: expected NAME:THRESHOLD, e.g. Gold:500")
        try:
            threshold = float(amount)
        except ValueError:
            raise ValueError(
                f"tier '{name.strip()}': threshold must be a number, got {amount.strip()!r}"
            ) from None
        pairs.append((name, threshold))
    return _checked_tiers(pairs)


def next_tier(spend_365: float, tiers: Sequence[tuple[str, float]]) -> Tier | None:
    """The first tier whose threshold is above the spend; None at or above the top tier."""
    spend = _cents(_non_negative("spend_365", spend_365))
    for tier in _checked_tiers(tiers):
        if _cents(tier.threshold) > spend:
            return tier
    return None


def tier_nudge(
    spend_365: float,
    cart_value: float,
    tiers: Sequence[tuple[str, float]],
    proximity_min: float = 0.0,
    proximity_max: float = 0.3,
    currency: str = "GBP",
) -> NudgeProposal | None:
    """Prompt "Spend X more this year to reach T" near the next tier T, if the cart helps."""
    low = _share("proximity_min", proximity_min, allow_zero=True)
    high = _share("proximity_max", proximity_max, allow_zero=False)
    if low > high:
        raise ValueError(f"proximity_min ({low}) must not exceed proximity_max ({high})")
    cart = _cents(_non_negative("cart_value", cart_value))
    currency = _currency(currency)
    tier = next_tier(spend_365, tiers)
    if tier is None or cart <= 0:
        return None
    limit = _cents(tier.threshold)
    gap = limit - _cents(spend_365)
    if not (low * limit - 1e-9 <= gap <= high * limit + 1e-9):
        return None
    return NudgeProposal(
        "loyalty_tier",
        _money(limit),
        _money(gap),
        f"Spend {gap / 100:.2f} {currency} more this year to reach {tier.name}",
    )


# --------------------------------------------------------------------------- both


@dataclass(frozen=True, slots=True)
class NudgeConfig:
    """Every nudge knob in one place (built from settings by the caller)."""

    shipping_base: float = 50.0
    """The store's free-shipping threshold, for shoppers without a profile."""
    shipping_minimum: float = 20.0
    shipping_maximum: float = 150.0
    shipping_factor: float = 1.2
    shipping_max_gap_share: float = 0.3
    tiers: tuple[Tier, ...] = field(default_factory=tuple)
    tier_proximity_min: float = 0.0
    tier_proximity_max: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", _checked_tiers(self.tiers))
        # Validate the rest once, with the functions' own messages.
        personal_threshold(
            None,
            self.shipping_base,
            self.shipping_minimum,
            self.shipping_maximum,
            self.shipping_factor,
        )
        _share("shipping_max_gap_share", self.shipping_max_gap_share, allow_zero=False)
        tier_nudge(0.0, 0.0, (), self.tier_proximity_min, self.tier_proximity_max)


DEFAULT_NUDGE_CONFIG: Final = NudgeConfig()


def propose_nudges(
    cart_value: float,
    typical_order_value: float | None,
    spend_365: float | None,
    config: NudgeConfig = DEFAULT_NUDGE_CONFIG,
    currency: str = "GBP",
) -> tuple[NudgeProposal, ...]:
    """Both nudges for one cart: free shipping first, then the tier (spend None: no tier)."""
    threshold = personal_threshold(
        typical_order_value,
        config.shipping_base,
        config.shipping_minimum,
        config.shipping_maximum,
        config.shipping_factor,
    )
    proposals: list[NudgeProposal] = []
    shipping = free_shipping_nudge(cart_value, threshold, config.shipping_max_gap_share, currency)
    if shipping is not None:
        proposals.append(shipping)
    if spend_365 is not None and config.tiers:
        tier = tier_nudge(
            spend_365,
            cart_value,
            config.tiers,
            config.tier_proximity_min,
            config.tier_proximity_max,
            currency,
        )
        if tier is not None:
            proposals.append(tier)
    return tuple(proposals)

"""Offer rules and their evaluation: bundles, pins, exclusions and a margin floor.

Pure, typed Python: nothing here imports Faust or Kafka. A ``RuleSet`` comes from a rules
file (``streams.rules.parse``, reloaded by ``streams.rules.watch``); ``RuleSet.apply`` turns
a cart into rule offers and exclusions, and ``RuleOutcome.merge`` / ``merge_offers`` merge
them with the ranker's offers.

Semantics. A rule fires when its ``when`` holds: the cart contains one of ``products`` or a
product of one of ``categories`` (when either is given; a bundle must give one), and the
shopper is in one of ``segments`` (when given). It then offers ``offer`` at
``discount_pct`` off the catalog price, unless the product is in the cart, excluded,
out of stock (``in_stock is False``; unknown counts as in stock) or unknown to the catalog.
Exclusions always win over rules. A ``pin`` rule's offer goes first in the merged list,
ahead of anything ranked by expected revenue (pins in file order; they also bypass the
per-category cap, but count toward it).

Margin floor. With catalog margin ``m`` (share of the list price ``p``, so cost is
``p (1 - m)``), an offer price ``o`` keeps margin ``(o - cost) / o``. It must stay at least
``margin_floor``, i.e. ``o >= cost / (1 - margin_floor)``. A discount that would cross the
floor is REDUCED to the largest one that keeps it (the offer price is rounded up to the
cent); if even that leaves no discount (the product's own margin is at or below the
floor), a discounted offer is DROPPED (a "10% off" bundle with 0% off is no bundle; the
ranker may still offer the product at full price). Offers without a discount are not
affected. A product with unknown margin is dropped from discounted offers by default
(``unknown_margin = "drop"``) and discounted as configured with ``"allow"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, Protocol, TypeAlias, TypeVar

__all__ = [
    "DEFAULT_P_ACCEPT",
    "EMPTY_RULES",
    "RULE_KINDS",
    "CatalogFacts",
    "CatalogLookup",
    "RankedOffer",
    "Rule",
    "RuleKind",
    "RuleOffer",
    "RuleOutcome",
    "RuleSet",
    "UnknownMargin",
    "merge_offers",
]

RuleKind = Literal["bundle", "pin"]
RULE_KINDS: Final[tuple[RuleKind, ...]] = ("bundle", "pin")
UnknownMargin = Literal["drop", "allow"]
DEFAULT_P_ACCEPT: Final = 0.05
"""Placeholder acceptance of a rule offer when nothing better is known (not fitted)."""


class CatalogFacts(NamedTuple):
    """What a rule needs to know of a product; a plain 4-tuple in this order works too."""

    price: float | None
    category: str | None
    in_stock: bool | None
    margin: float | None
    """Share of the list price, 0..1; None: unknown."""


CatalogLookup: TypeAlias = Callable[
    [str], tuple[float | None, str | None, bool | None, float | None] | None
]
"""product_id -> (price, category, in_stock, margin), None when the product is unknown."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule."""

    name: str
    kind: RuleKind
    offer: str
    discount_pct: float
    p_accept: float | None = None
    label: str | None = None
    when_products: tuple[str, ...] = ()
    when_categories: tuple[str, ...] = ()
    when_segments: tuple[str, ...] = ()

    def trigger(
        self,
        cart_product_ids: Collection[str],
        cart_categories: Collection[str | None],
        segments: Collection[str],
    ) -> str | None:
        """How the rule fires on this cart ("" when unconditional on the cart); None if not."""
        if self.when_segments and not any(s in segments for s in self.when_segments):
            return None
        if not self.when_products and not self.when_categories:
            return ""
        for product_id in self.when_products:
            if product_id in cart_product_ids:
                return self.label or product_id
        for category in self.when_categories:
            if category in cart_categories:
                return self.label or f"a product of category '{category}'"
        return None


@dataclass(frozen=True, slots=True)
class RuleOffer:
    """An offer a rule makes; ``expected_revenue = p_accept x offer_price``."""

    rule: str
    rule_kind: RuleKind
    product_id: str
    category: str | None
    unit_price: float
    discount_pct: float
    offer_price: float
    p_accept: float
    expected_revenue: float
    reason: str
    pinned: bool

    @property
    def offer_kind(self) -> Literal["bundle", "cross_sell"]:
        """The contract's OfferKind: "bundle" when discounted, else "cross_sell"."""
        return "bundle" if self.discount_pct > 0 else "cross_sell"


class RankedOffer(Protocol):
    """What merging reads of a ranked offer (``streams.offers.Offer`` and RuleOffer fit)."""

    @property
    def product_id(self) -> str: ...

    @property
    def offer_price(self) -> float: ...

    @property
    def expected_revenue(self) -> float: ...

    @property
    def category(self) -> str | None: ...


R = TypeVar("R", bound=RankedOffer)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What the rules say about one cart: their offers and what must never be offered."""

    offers: tuple[RuleOffer, ...] = ()
    """Pinned first (file order), then by expected revenue."""
    excluded_product_ids: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    cart_product_ids: frozenset[str] = frozenset()

    @property
    def ranker_exclude(self) -> frozenset[str]:
        """Products the ranker need not rank: excluded ones and those the rules offer."""
        return self.excluded_product_ids | {offer.product_id for offer in self.offers}

    def merge(
        self,
        ranked_offers: Sequence[R],
        top_n: int,
        max_per_category: int,
        in_stock: Callable[[str], bool | None] | None = None,
    ) -> list[RuleOffer | R]:
        """``merge_offers`` with this outcome's offers, cart and exclusions."""
        return merge_offers(
            self.offers,
            ranked_offers,
            top_n,
            max_per_category,
            cart_product_ids=self.cart_product_ids,
            excluded_product_ids=self.excluded_product_ids,
            excluded_categories=self.excluded_categories,
            in_stock=in_stock,
        )


def _pct(share: float) -> str:
    return f"{round(share * 100, 1):g}%"


def _cents_up(amount: float) -> int:
    # 1e-6 absorbs float noise such as 45.00000000001 cents.
    return math.ceil(amount * 100 - 1e-6)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rules file; ``apply`` evaluates it on one cart."""

    rules: tuple[Rule, ...] = ()
    margin_floor: float = 0.0
    unknown_margin: UnknownMargin = "drop"
    default_p_accept: float = DEFAULT_P_ACCEPT
    excluded_product_ids: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    source: str = "<empty>"

    def excluded_in(self, catalog: Iterable[tuple[str, str | None]]) -> frozenset[str]:
        """Excluded products among (product_id, category) pairs, categories expanded."""
        return self.excluded_product_ids | {
            product_id
            for product_id, category in catalog
            if category is not None and category in self.excluded_categories
        }

    def _priced(self, rule: Rule, price: float, margin: float | None) -> tuple[int, float] | None:
        """Offer price in cents and the discount actually given; None: drop the offer."""
        price_cents = round(price * 100)
        wanted = round(price * (1 - rule.discount_pct) * 100)
        if rule.discount_pct <= 0:
            return price_cents, 0.0
        if margin is None:
            if self.unknown_margin == "drop":
                return None
            floor_cents = 0
        else:
            cost = price * (1 - margin)
            floor_cents = _cents_up(cost / (1 - self.margin_floor))
        offer_cents = max(wanted, floor_cents)
        if offer_cents >= price_cents:
            return None
        return offer_cents, round(1 - offer_cents / price_cents, 4)

    def apply(
        self,
        cart_product_ids: Collection[str],
        cart_categories: Collection[str | None],
        segments: Collection[str],
        catalog_lookup: CatalogLookup,
        p_accept: Callable[[str], float | None] | None = None,
    ) -> RuleOutcome:
        """The rules' offers and exclusions for one cart (see the module docstring)."""
        in_cart = frozenset(cart_product_ids)
        categories = frozenset(cart_categories)
        best: dict[str, tuple[tuple[int, float, int], RuleOffer]] = {}
        for position, rule in enumerate(self.rules):
            trigger = rule.trigger(in_cart, categories, segments)
            if trigger is None or rule.offer in in_cart or rule.offer in self.excluded_product_ids:
                continue
            facts = catalog_lookup(rule.offer)
            if facts is None:
                continue
            price, category, stocked, margin = facts
            if price is None or not math.isfinite(price) or price <= 0 or stocked is False:
                continue
            if category is not None and category in self.excluded_categories:
                continue
            priced = self._priced(rule, price, margin)
            if priced is None:
                continue
            offer_cents, discount = priced
            estimate = p_accept(rule.offer) if p_accept is not None else None
            if estimate is None:
                estimate = rule.p_accept if rule.p_accept is not None else self.default_p_accept
            estimate = min(max(float(estimate), 0.0), 1.0)
            offer_price = offer_cents / 100
            pinned = rule.kind == "pin"
            parts = [f"rule '{rule.name}':"]
            if pinned:
                parts.append("pinned" + (f", {_pct(discount)} off" if discount > 0 else ""))
            else:
                parts.append(f"{_pct(discount)} off")
            if discount > 0 and discount < round(rule.discount_pct, 4):
                parts.append(f"(reduced from {_pct(rule.discount_pct)} by the margin floor)")
            if trigger:
                parts.append(f"with {trigger} in cart")
            offer = RuleOffer(
                rule=rule.name,
                rule_kind=rule.kind,
                product_id=rule.offer,
                category=category,
                unit_price=round(price, 2),
                discount_pct=discount,
                offer_price=offer_price,
                p_accept=estimate,
                expected_revenue=estimate * offer_price,
                reason=" ".join(parts),
                pinned=pinned,
            )
            # One offer per product: a pin beats a bundle (earlier pin first), then the
            # higher expected revenue, then the earlier rule.
            key = (0 if pinned else 1, -offer.expected_revenue if not pinned else 0.0, position)
            current = best.get(rule.offer)
            if current is None or key < current[0]:
                best[rule.offer] = (key, offer)
        pins = [offer for key, offer in sorted(best.values(), key=lambda kv: kv[0]) if key[0] == 0]
        others = sorted(
            (offer for _, offer in best.values() if not offer.pinned),
            key=lambda offer: (-offer.expected_revenue, offer.product_id),
        )
        return RuleOutcome(
            offers=(*pins, *others),
            excluded_product_ids=self.excluded_product_ids,
            excluded_categories=self.excluded_categories,
            cart_product_ids=in_cart,
        )


EMPTY_RULES: Final = RuleSet()


def merge_offers(
    rule_offers: Sequence[RuleOffer],
    ranked_offers: Sequence[R],
    top_n: int,
    max_per_category: int,
    *,
    cart_product_ids: Collection[str] = (),
    excluded_product_ids: Collection[str] = (),
    excluded_categories: Collection[str] = (),
    in_stock: Callable[[str], bool | None] | None = None,
) -> list[RuleOffer | R]:
    """Pinned rule offers first, then rule and ranked offers by expected revenue; top_n.

    A rule offer replaces the ranked offer of the same product; no product appears twice;
    never a product in the cart, an excluded product or category, or one ``in_stock``
    reports False. At most ``max_per_category`` offers per category (pins are not capped
    but count; products without a category are not capped). Ties in expected revenue go
    to the rule offer, then to the smaller product id.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 0:
        raise ValueError(f"top_n must be an integer >= 0, got {top_n!r}")
    if isinstance(max_per_category, bool) or not isinstance(max_per_category, int):
        raise ValueError(f"max_per_category must be an integer >= 1, got {max_per_category!r}")
    if max_per_category < 1:
        raise ValueError(f"max_per_category must be an integer >= 1, got {max_per_category!r}")
    blocked = set(cart_product_ids) | set(excluded_product_ids)
    blocked_categories = set(excluded_categories)

    def allowed(offer: RankedOffer) -> bool:
        if offer.product_id in blocked:
            return False
        if offer.category is not None and offer.category in blocked_categories:
            return False
        return in_stock is None or in_stock(offer.product_id) is not False

    rules = [offer for offer in rule_offers if allowed(offer)]
    ruled = {offer.product_id for offer in rules}
    pins: list[RuleOffer] = []
    seen: set[str] = set()
    for offer in rules:
        if offer.pinned and offer.product_id not in seen:
            pins.append(offer)
            seen.add(offer.product_id)
    candidates: list[tuple[float, int, str, RuleOffer | R]] = []
    for offer in rules:
        if offer.product_id not in seen:
            candidates.append((-offer.expected_revenue, 0, offer.product_id, offer))
            seen.add(offer.product_id)
    for ranked in ranked_offers:
        if ranked.product_id in seen or ranked.product_id in ruled or not allowed(ranked):
            continue
        candidates.append((-ranked.expected_revenue, 1, ranked.product_id, ranked))
        seen.add(ranked.product_id)
    candidates.sort(key=lambda item: item[:3])
    merged: list[RuleOffer | R] = []
    per_category: dict[str, int] = {}
    for offer in pins:
        if len(merged) >= top_n:
            return merged
        merged.append(offer)
        if offer.category is not None:
            per_category[offer.category] = per_category.get(offer.category, 0) + 1
    for _, _, _, candidate in candidates:
        if len(merged) >= top_n:
            break
        category = candidate.category
        if category is not None:
            if per_category.get(category, 0) >= max_per_category:
                continue
            per_category[category] = per_category.get(category, 0) + 1
        merged.append(candidate)
    return merged

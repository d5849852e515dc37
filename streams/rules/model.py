"""Declarative offer rules (a TOML file): bundles, pins, exclusions and a margin floor.

Pure, typed Python: nothing here imports Faust or Kafka. ``deploy/rules.example.toml``
documents the file format with comments; in short::

    margin_floor = 0.15          # no discount may leave less margin than this (0 = none)
    unknown_margin = "drop"      # a discounted product with no known margin: drop | allow
    default_p_accept = 0.05      # acceptance when neither the caller nor the rule knows

    [exclude]                    # never offered, by rules or by the ranker
    products = ["gift-card-50"]
    categories = ["tobacco"]

    [[rule]]
    name = "mugs-bundle"
    kind = "bundle"              # bundle | pin
    offer = "espresso-mug-set"
    discount_pct = 0.10          # bundle: (0, 1); pin: [0, 1), default 0
    p_accept = 0.12              # optional, else default_p_accept
    label = "Moka pot"           # optional, names the trigger in the reason
    [rule.when]                  # every given condition must hold
    products = ["moka-pot-3"]    # any of these in the cart ...
    categories = ["coffee-makers"]  # ... or any product of these categories
    segments = ["discount_seeker"]  # the shopper is in at least one of these

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

import logging
import math
import os
import time
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, Protocol, TypeAlias, TypeVar

from streams.profiles.model import SEGMENTS

__all__ = [
    "DEFAULT_P_ACCEPT",
    "EMPTY_RULES",
    "CatalogFacts",
    "CatalogLookup",
    "RankedOffer",
    "Rule",
    "RuleFileWatcher",
    "RuleKind",
    "RuleOffer",
    "RuleOutcome",
    "RuleSet",
    "RulesError",
    "load_rules",
    "merge_offers",
    "parse_rules",
]

log = logging.getLogger(__name__)

RuleKind = Literal["bundle", "pin"]
RULE_KINDS: Final[tuple[RuleKind, ...]] = ("bundle", "pin")
UnknownMargin = Literal["drop", "allow"]
DEFAULT_P_ACCEPT: Final = 0.05
"""Placeholder acceptance of a rule offer when nothing better is known (not fitted)."""
FORMAT_VERSION: Final = 1

_TOP_KEYS: Final = (
    "version",
    "margin_floor",
    "unknown_margin",
    "default_p_accept",
    "exclude",
    "rule",
)
_EXCLUDE_KEYS: Final = ("products", "categories")
_RULE_KEYS: Final = ("name", "kind", "offer", "discount_pct", "p_accept", "label", "when")
_WHEN_KEYS: Final = ("products", "categories", "segments")


class RulesError(ValueError):
    """A rules file is invalid; ``problems`` lists every problem found, one line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun} in the rules file:\n{lines}")


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


# --------------------------------------------------------------------------- parsing


@dataclass(slots=True)
class _Checker:
    """Collects problems while reading one parsed TOML document."""

    problems: list[str] = field(default_factory=list)

    def unknown_keys(self, where: str, table: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in table:
            if key not in known:
                self.problems.append(
                    f"{where}unknown key '{key}' (expected one of: {', '.join(known)})"
                )

    def table(self, where: str, value: Any) -> Mapping[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{where} must be a table, got {_type_name(value)}")
            return None
        return value

    def string(self, where: str, value: Any, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.problems.append(f"{where} is missing")
            return None
        if not isinstance(value, str):
            self.problems.append(f"{where} must be a string, got {_type_name(value)}")
            return None
        if not value.strip():
            self.problems.append(f"{where} must not be empty")
            return None
        return value.strip()

    def strings(self, where: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problems.append(f"{where} must be a list of strings, got {_type_name(value)}")
            return ()
        result: list[str] = []
        for item in value:
            if not isinstance(item, str) or not item.strip():
                self.problems.append(
                    f"{where} must be a list of non-empty strings, got {item!r} in it"
                )
                continue
            if item.strip() not in result:
                result.append(item.strip())
        return tuple(result)

    def share(
        self,
        where: str,
        value: Any,
        *,
        low_open: bool,
        high_open: bool,
        default: float | None = None,
    ) -> float | None:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where} must be a number in {interval}, got {value!r}")
            return None
        number = float(value)
        ok = (
            math.isfinite(number)
            and (number > 0 if low_open else number >= 0)
            and (number < 1 if high_open else number <= 1)
        )
        if not ok:
            self.problems.append(f"{where} must be in {interval}, got {value!r}")
            return None
        return number


def _type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def _parse_rule(
    check: _Checker,
    position: int,
    raw: Any,
    names: set[str],
    excluded: frozenset[str],
) -> Rule | None:
    if not isinstance(raw, dict):
        check.problems.append(f"rule #{position} must be a table ([[rule]]), got {_type_name(raw)}")
        return None
    before = len(check.problems)
    raw_name = raw.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else None
    where = f"rule '{name}': " if name else f"rule #{position}: "
    if name is None:
        check.string(f"{where}name", raw_name, required=True)
    elif name in names:
        check.problems.append(f"rule '{name}': duplicate rule name (names must be unique)")
    else:
        names.add(name)
    check.unknown_keys(where, raw, _RULE_KEYS)
    kind = check.string(f"{where}kind", raw.get("kind"), required=True)
    if kind is not None and kind not in RULE_KINDS:
        check.problems.append(
            f"{where}unknown kind '{kind}' (expected one of: {', '.join(RULE_KINDS)})"
        )
        kind = None
    offer = check.string(f"{where}offer", raw.get("offer"), required=True)
    if offer is not None and offer in excluded:
        check.problems.append(f"{where}offer '{offer}' is excluded by exclude.products")
    if kind == "bundle":
        if raw.get("discount_pct") is None:
            check.problems.append(f"{where}discount_pct is missing (required for a bundle)")
        discount = check.share(
            f"{where}discount_pct", raw.get("discount_pct"), low_open=True, high_open=True
        )
    else:
        discount = check.share(
            f"{where}discount_pct",
            raw.get("discount_pct"),
            low_open=False,
            high_open=True,
            default=0.0,
        )
    p_accept = check.share(f"{where}p_accept", raw.get("p_accept"), low_open=False, high_open=False)
    label = check.string(f"{where}label", raw.get("label"))
    when = check.table(f"{where}when", raw.get("when"))
    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    if when is not None:
        check.unknown_keys(f"{where}when: ", when, _WHEN_KEYS)
        trigger_problems = len(check.problems)
        products = check.strings(f"{where}when.products", when.get("products"))
        categories = check.strings(f"{where}when.categories", when.get("categories"))
        trigger_problems = len(check.problems) - trigger_problems
        segments = check.strings(f"{where}when.segments", when.get("segments"))
        for segment in segments:
            if segment not in SEGMENTS:
                check.problems.append(
                    f"{where}when.segments: unknown segment '{segment}'"
                    f" (known: {', '.join(SEGMENTS)})"
                )
        if kind == "bundle" and not products and not categories and not trigger_problems:
            check.problems.append(
                f"{where}a bundle needs when.products or when.categories (its trigger)"
            )
        if offer is not None and offer in products:
            check.problems.append(
                f"{where}offer '{offer}' is also in when.products (it would be in the cart)"
            )
    if len(check.problems) > before or kind is None or offer is None or name is None:
        return None
    return Rule(
        name=name,
        kind=kind,
        offer=offer,
        discount_pct=discount if discount is not None else 0.0,
        p_accept=p_accept,
        label=label,
        when_products=products,
        when_categories=categories,
        when_segments=segments,
    )


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """Parse and validate a rules file's text; RulesError lists every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(source, [f"not valid TOML: {error}"]) from None
    check = _Checker()
    check.unknown_keys("", document, _TOP_KEYS)
    version = document.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or version != FORMAT_VERSION:
        check.problems.append(f"version must be {FORMAT_VERSION}, got {version!r}")
    floor = check.share(
        "margin_floor", document.get("margin_floor"), low_open=False, high_open=True, default=0.0
    )
    unknown_margin = check.string("unknown_margin", document.get("unknown_margin"))
    if unknown_margin is not None and unknown_margin not in ("drop", "allow"):
        check.problems.append(f"unknown_margin must be 'drop' or 'allow', got '{unknown_margin}'")
    default_p = check.share(
        "default_p_accept",
        document.get("default_p_accept"),
        low_open=False,
        high_open=False,
        default=DEFAULT_P_ACCEPT,
    )
    exclude = check.table("exclude", document.get("exclude"))
    excluded_products: tuple[str, ...] = ()
    excluded_categories: tuple[str, ...] = ()
    if exclude is not None:
        check.unknown_keys("exclude: ", exclude, _EXCLUDE_KEYS)
        excluded_products = check.strings("exclude.products", exclude.get("products"))
        excluded_categories = check.strings("exclude.categories", exclude.get("categories"))
    raw_rules = document.get("rule", [])
    rules: list[Rule] = []
    if not isinstance(raw_rules, list):
        check.problems.append(
            f"rule must be an array of tables ([[rule]]), got {_type_name(raw_rules)}"
        )
        raw_rules = []
    names: set[str] = set()
    for position, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(check, position, raw, names, frozenset(excluded_products))
        if rule is not None:
            rules.append(rule)
    if check.problems:
        raise RulesError(source, check.problems)
    return RuleSet(
        rules=tuple(rules),
        margin_floor=floor if floor is not None else 0.0,
        unknown_margin="allow" if unknown_margin == "allow" else "drop",
        default_p_accept=default_p if default_p is not None else DEFAULT_P_ACCEPT,
        excluded_product_ids=frozenset(excluded_products),
        excluded_categories=frozenset(excluded_categories),
        source=source,
    )


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read and validate a rules file (UTF-8 TOML); RulesError on problems, OSError on I/O."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise RulesError(str(file), [f"not UTF-8 text: {error}"]) from None
    return parse_rules(text, str(file))


# --------------------------------------------------------------------------- reloading


class RuleFileWatcher:
    """The rules of a file, reloaded when it changes; an invalid file keeps the last good set.

    ``current()`` stats the file (at most every ``check_interval_s`` seconds) and reloads it
    when its mtime, size or inode changed. A file that fails to load is logged (every
    problem) and not retried until it changes again; until a valid file was seen,
    ``current()`` is ``EMPTY_RULES``. Replace the file atomically (write, then rename) so a
    half-written file is never read; one would be rejected and retried after the next write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        """Watch `path`; the first ``current()`` loads it."""
        self.path = Path(path)
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._log = logger
        self._rules: RuleSet = EMPTY_RULES
        self._signature: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self._missing_logged = False
        self.last_error: Exception | None = None
        """Why the latest load attempt failed; None after a good load."""
        self.loads = 0
        """Successful loads so far."""

    def current(self) -> RuleSet:
        """The last good rule set, reloading first if the file changed."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self.check_interval_s:
            return self._rules
        self._checked_at = now
        try:
            stat = self.path.stat()
        except OSError as error:
            if not self._missing_logged:
                self._log.error(
                    "rules file %s cannot be read (%s); keeping %d rule(s) from %s",
                    self.path,
                    error,
                    len(self._rules.rules),
                    self._rules.source,
                )
                self._missing_logged = True
            self.last_error = error
            self._signature = None
            return self._rules
        self._missing_logged = False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return self._rules
        self._signature = signature
        try:
            rules = load_rules(self.path)
        except (RulesError, OSError) as error:
            self.last_error = error
            self._log.error(
                "rules file %s rejected, keeping %d rule(s) from the last good load: %s",
                self.path,
                len(self._rules.rules),
                error,
            )
            return self._rules
        self._rules = rules
        self.last_error = None
        self.loads += 1
        self._log.info("loaded %d rule(s) from %s", len(rules.rules), self.path)
        return rules

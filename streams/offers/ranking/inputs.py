"""What the ranker is given: its configuration, cart lines, catalog entries, product facts.

Plain frozen dataclasses and protocols (the contract's ``schemas.CartItem``, ``OrderItem`` and
``CatalogEvent`` fit the protocols). Pure: no numpy arrays, no Faust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from streams.offers.ranking.acceptance import AcceptanceModel

__all__ = [
    "DEFAULT_RANKER_CONFIG",
    "CartItem",
    "CartLine",
    "CatalogEntry",
    "ProductFacts",
    "RankerConfig",
    "check_int",
    "check_positive",
]


def check_int(name: str, value: object, minimum: int) -> None:
    """ValueError unless `value` is an int (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive(name: str, value: object) -> None:
    """ValueError unless `value` is a finite number > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class RankerConfig:
    """How offers are chosen. Defaults are modelling choices, none fitted to a data set."""

    top_n: int = 3
    """Offers per decision."""
    max_per_category: int = 2
    """At most this many offers from one category (products without one are not capped)."""
    prior_strength: float = 10.0
    """alpha, in orders: a rate measured on alpha orders counts as much as the base rate.
    10 is a conventional small-sample choice: a rate from fewer than ~10 orders is mostly
    noise, one from hundreds is kept nearly as measured. Results move little between 5
    and 20."""
    profile_prior_strength: float = 10.0
    """beta, in observations (prices, orders' worth of affinity): how many the shopper's
    own shares need before they outweigh the population's."""
    recent_days: float = 30.0
    """Window of the history evidence (the profile keeps products bought this recently)."""
    price_bins: int = 5
    """Price-level bins (purchase-weighted quantiles of the catalogue's prices); used when
    the index is built (``ProductIndex(..., price_bins=)``)."""
    use_history: bool = True
    """Use the shopper's recent purchases (re-order evidence and candidates)."""
    use_price_level: bool = True
    """Use the price level of the shopper's recent purchases and of the cart."""
    use_category_taste: bool = True
    """Use the profile's category affinity."""
    acceptance: AcceptanceModel | None = None
    """A fitted acceptance model (``streams.offers.ranking.acceptance``): p_accept is its
    logistic regression over the hand-built model's evidence and ranking is by
    p_accept x price ** its price exponent. None: the hand-built p_accept, ranked by
    expected revenue."""
    evidence: bool = False
    """Fill each offer's ``evidence`` (every piece behind its p_accept, for audits and
    explanations beyond the one-line ``reason``). Off, the ranker computes the reason alone,
    the same one: the decisions on the wire carry only the reason, and building a few dozen
    evidence records per decision to drop them is a measurable part of its cost
    (``bench/results/issue12_throughput.md``)."""

    def __post_init__(self) -> None:
        check_int("top_n", self.top_n, 1)
        check_int("max_per_category", self.max_per_category, 1)
        check_int("price_bins", self.price_bins, 1)
        for name in ("prior_strength", "profile_prior_strength", "recent_days"):
            check_positive(name, getattr(self, name))


DEFAULT_RANKER_CONFIG: Final = RankerConfig()


@dataclass(frozen=True, slots=True)
class CartItem:
    """One line of the cart (or of the just-completed order)."""

    product_id: str
    quantity: int = 1
    unit_price: float | None = None
    category: str | None = None


class CartLine(Protocol):
    """What the ranker reads from a cart or order line (``CartItem`` and the contract's
    ``schemas.CartItem`` / ``OrderItem`` fit; the quantity is not used)."""

    @property
    def product_id(self) -> str: ...

    @property
    def unit_price(self) -> float | None: ...

    @property
    def category(self) -> str | None: ...


class CatalogEntry(Protocol):
    """What the index reads from a catalog entry (``schemas.CatalogEvent`` fits)."""

    @property
    def unit_price(self) -> float: ...

    @property
    def category(self) -> str: ...

    @property
    def in_stock(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the ranker knows of one product (decayed counts all as of one time)."""

    product_id: str
    price: float | None
    """The catalog price, else the last price seen; None: unknown (never offered)."""
    category: str | None
    in_stock: bool | None = None
    """None: unknown, assumed in stock."""
    purchases: float = 0.0
    """Decayed number of orders containing the product."""
    neighbours: tuple[tuple[str, float], ...] = ()
    """(product_id, decayed co-purchase weight) pairs."""
    pruned: bool = False
    """True when the neighbour list may have been cut at K (absent pairs are then only known
    to weigh at most the weakest kept weight)."""

"""Reading and validating a rules file (TOML) into a ``RuleSet``; every problem is reported.

``streams/resources/rules.example.toml`` (printed by `basketlift rules example`) documents
the file format with comments; in short::

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

``parse_rules`` checks the whole document and raises one ``RulesError`` listing every
problem (unknown keys, wrong types, values out of range, duplicate rule names, unknown
segments, a bundle without a trigger), one line each; ``load_rules`` reads a file (UTF-8).
The meaning of a valid rule set is in ``streams.rules.model``. Pure: no Faust or Kafka.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from streams.profiles.model import SEGMENTS
from streams.rules.model import DEFAULT_P_ACCEPT, RULE_KINDS, Rule, RuleSet

__all__ = ["FORMAT_VERSION", "RulesError", "load_rules", "parse_rules"]

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

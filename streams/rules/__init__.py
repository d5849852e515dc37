"""Declarative offer rules from a TOML file: bundles, pins, exclusions, a margin floor.

``model``: the rules and their evaluation on a cart; ``parse``: reading and validating a
rules file; ``watch``: reloading it when it changes. Import from this package.
"""

from streams.rules.model import (
    DEFAULT_P_ACCEPT,
    EMPTY_RULES,
    CatalogFacts,
    CatalogLookup,
    RankedOffer,
    Rule,
    RuleKind,
    RuleOffer,
    RuleOutcome,
    RuleSet,
    merge_offers,
)
from streams.rules.parse import RulesError, load_rules, parse_rules
from streams.rules.watch import RuleFileWatcher

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

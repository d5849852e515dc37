"""Declarative offer rules from a TOML file: bundles, pins, exclusions, a margin floor."""

from streams.rules.model import (
    DEFAULT_P_ACCEPT,
    EMPTY_RULES,
    CatalogFacts,
    CatalogLookup,
    RankedOffer,
    Rule,
    RuleFileWatcher,
    RuleKind,
    RuleOffer,
    RuleOutcome,
    RulesError,
    RuleSet,
    load_rules,
    merge_offers,
    parse_rules,
)

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

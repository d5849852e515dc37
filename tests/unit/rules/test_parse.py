"""Parsing and validating the rules file: every problem is reported with the rule and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.resources import RULES_EXAMPLE
from streams.rules import RulesError, load_rules, parse_rules

VALID = """
margin_floor = 0.2
default_p_accept = 0.1

[exclude]
products = ["gift-card"]
categories = ["tobacco"]

[[rule]]
name = "mugs-bundle"
kind = "bundle"
offer = "mug"
discount_pct = 0.1
[rule.when]
products = ["moka-pot"]
segments = ["discount_seeker"]

[[rule]]
name = "pin-descaler"
kind = "pin"
offer = "descaler"
"""


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "test.toml")
    assert caught.value.source == "test.toml"
    assert str(caught.value).startswith("test.toml: ")
    return caught.value.problems


def rule(body: str, name: str = "r1") -> str:
    return f'[[rule]]\nname = "{name}"\n{body}\n'


def test_a_valid_file() -> None:
    rules = parse_rules(VALID)
    assert rules.margin_floor == 0.2
    assert rules.default_p_accept == 0.1
    assert rules.unknown_margin == "drop"
    assert rules.excluded_product_ids == {"gift-card"}
    assert rules.excluded_categories == {"tobacco"}
    bundle, pin = rules.rules
    assert (bundle.name, bundle.kind, bundle.offer, bundle.discount_pct) == (
        "mugs-bundle",
        "bundle",
        "mug",
        0.1,
    )
    assert bundle.when_products == ("moka-pot",)
    assert bundle.when_segments == ("discount_seeker",)
    assert (pin.kind, pin.discount_pct, pin.when_products) == ("pin", 0.0, ())


def test_the_example_file_is_valid() -> None:
    rules = load_rules(RULES_EXAMPLE)
    assert len(rules.rules) >= 3
    assert {r.kind for r in rules.rules} == {"bundle", "pin"}
    assert rules.source == str(RULES_EXAMPLE)


def test_an_empty_file_has_no_rules() -> None:
    rules = parse_rules("")
    assert rules.rules == ()
    assert rules.margin_floor == 0.0


def test_invalid_toml() -> None:
    (problem,) = problems_of("[[rule]\nname = 1")
    assert problem.startswith("not valid TOML: ")


def test_missing_fields() -> None:
    assert problems_of(rule('kind = "bundle"\ndiscount_pct = 0.1\nwhen.products = ["a"]')) == (
        "rule 'r1': offer is missing",
    )
    assert problems_of(rule('offer = "b"')) == ("rule 'r1': kind is missing",)
    assert problems_of(rule('kind = "bundle"\noffer = "b"\nwhen.products = ["a"]')) == (
        "rule 'r1': discount_pct is missing (required for a bundle)",
    )
    assert problems_of('[[rule]]\nkind = "pin"\noffer = "b"') == ("rule #1: name is missing",)
    assert problems_of(rule('kind = "bundle"\noffer = "b"\ndiscount_pct = 0.1')) == (
        "rule 'r1': a bundle needs when.products or when.categories (its trigger)",
    )


def test_wrong_types() -> None:
    assert problems_of(rule('kind = "pin"\noffer = 7')) == (
        "rule 'r1': offer must be a string, got an integer",
    )
    assert problems_of(rule('kind = "pin"\noffer = "b"\ndiscount_pct = "10%"')) == (
        "rule 'r1': discount_pct must be a number in [0, 1), got '10%'",
    )
    assert problems_of(rule('kind = "pin"\noffer = "b"\nwhen.products = "a"')) == (
        "rule 'r1': when.products must be a list of strings, got a string",
    )
    assert problems_of(rule('kind = "pin"\noffer = "b"\nwhen = 3')) == (
        "rule 'r1': when must be a table, got an integer",
    )
    assert problems_of("margin_floor = true") == (
        "margin_floor must be a number in [0, 1), got True",
    )
    assert problems_of('rule = "x"') == (
        "rule must be an array of tables ([[rule]]), got a string",
    )
    assert problems_of('exclude = ["a"]') == ("exclude must be a table, got a list",)


def test_unknown_kind() -> None:
    assert problems_of(rule('kind = "upsell"\noffer = "b"')) == (
        "rule 'r1': unknown kind 'upsell' (expected one of: bundle, pin)",
    )


def test_unknown_segment() -> None:
    (problem,) = problems_of(rule('kind = "pin"\noffer = "b"\nwhen.segments = ["vip"]'))
    assert problem.startswith("rule 'r1': when.segments: unknown segment 'vip' (known: new,")
    assert "discount_seeker" in problem


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("bundle", "1.5", "rule 'r1': discount_pct must be in (0, 1), got 1.5"),
        ("bundle", "0", "rule 'r1': discount_pct must be in (0, 1), got 0"),
        ("bundle", "1.0", "rule 'r1': discount_pct must be in (0, 1), got 1.0"),
        ("bundle", "-0.1", "rule 'r1': discount_pct must be in (0, 1), got -0.1"),
        ("pin", "1", "rule 'r1': discount_pct must be in [0, 1), got 1"),
        ("pin", "nan", "rule 'r1': discount_pct must be in [0, 1), got nan"),
    ],
)
def test_bad_discount(kind: str, value: str, message: str) -> None:
    text = rule(f'kind = "{kind}"\noffer = "b"\ndiscount_pct = {value}\nwhen.products = ["a"]')
    assert problems_of(text) == (message,)


def test_other_bad_values() -> None:
    assert problems_of(rule('kind = "pin"\noffer = "b"\np_accept = 2')) == (
        "rule 'r1': p_accept must be in [0, 1], got 2",
    )
    assert problems_of("margin_floor = 1.0") == ("margin_floor must be in [0, 1), got 1.0",)
    assert problems_of('unknown_margin = "keep"') == (
        "unknown_margin must be 'drop' or 'allow', got 'keep'",
    )
    assert problems_of("version = 2") == ("version must be 1, got 2",)
    assert problems_of(rule('kind = "pin"\noffer = ""')) == ("rule 'r1': offer must not be empty",)


def test_duplicate_rule_names() -> None:
    text = rule('kind = "pin"\noffer = "a"', "same") + rule('kind = "pin"\noffer = "b"', "same")
    assert problems_of(text) == ("rule 'same': duplicate rule name (names must be unique)",)


def test_unknown_keys_at_every_level() -> None:
    assert problems_of("margin_flor = 0.1") == (
        "unknown key 'margin_flor' (expected one of: version, margin_floor, unknown_margin,"
        " default_p_accept, exclude, rule)",
    )
    assert problems_of('[exclude]\nproduct = ["a"]') == (
        "exclude: unknown key 'product' (expected one of: products, categories)",
    )
    assert problems_of(rule('kind = "pin"\noffer = "b"\ndiscount = 0.1')) == (
        "rule 'r1': unknown key 'discount' (expected one of: name, kind, offer, discount_pct,"
        " p_accept, label, when)",
    )
    assert problems_of(rule('kind = "pin"\noffer = "b"\nwhen.segment = ["new"]')) == (
        "rule 'r1': when: unknown key 'segment' (expected one of: products, categories, segments)",
    )


def test_conflicts_between_keys() -> None:
    text = '[exclude]\nproducts = ["b"]\n' + rule('kind = "pin"\noffer = "b"')
    assert problems_of(text) == ("rule 'r1': offer 'b' is excluded by exclude.products",)
    text = rule('kind = "bundle"\noffer = "b"\ndiscount_pct = 0.1\nwhen.products = ["a", "b"]')
    assert problems_of(text) == (
        "rule 'r1': offer 'b' is also in when.products (it would be in the cart)",
    )


def test_every_problem_is_listed_at_once() -> None:
    text = (
        "margin_floor = 2\n"
        + rule('kind = "bundle"\noffer = "b"\ndiscount_pct = 1.5\nwhen.products = ["a"]', "x")
        + rule('kind = "teleport"\noffer = "c"', "y")
    )
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.toml")
    assert caught.value.problems == (
        "margin_floor must be in [0, 1), got 2",
        "rule 'x': discount_pct must be in (0, 1), got 1.5",
        "rule 'y': unknown kind 'teleport' (expected one of: bundle, pin)",
    )
    assert str(caught.value).splitlines()[0] == "rules.toml: 3 problems in the rules file:"
    assert isinstance(caught.value, ValueError)


def test_load_rules_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(rule('kind = "nope"\noffer = "b"'))
    with pytest.raises(RulesError, match=str(path)):
        load_rules(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(RulesError, match="not UTF-8"):
        load_rules(path)

"""The examples in the wire contract validate, round-trip, and match our fixture copy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import ALL_MODELS, InvalidEvent, Nudge, Offer, OfferDecision, decode_event, encode

FIXTURE = Path(__file__).with_name("contract_examples.json")
REPO = Path(__file__).resolve().parents[3]
CONTRACT = REPO / "docs" / "contract.md"
FIRST_AGREED = REPO.parent / "shared" / "contract.md"
"""Where the contract was first agreed, beside the checkout in the developers' workplace."""
EXAMPLES: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))


def _examples_in_contract(text: str) -> dict[str, Any]:
    """The first ```json block under each "### `shop.<name>`" heading."""
    found: dict[str, Any] = {}
    sections = re.split(r"^### `shop\.(\w+)`", text, flags=re.MULTILINE)
    for name, body in zip(sections[1::2], sections[2::2], strict=True):
        block = re.search(r"```json\n(.*?)```", body, flags=re.DOTALL)
        if block is not None:
            found[name] = json.loads(block.group(1))
    return found


def test_fixture_has_an_example_per_non_dead_letter_message() -> None:
    assert set(EXAMPLES) == set(ALL_MODELS) - {"deadletter"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_validates_and_round_trips(name: str) -> None:
    model = ALL_MODELS[name]
    example = EXAMPLES[name]
    event = decode_event(model, orjson.dumps(example))
    # exclude_unset: fields added to the contract later need not be in the example.
    assert event.model_dump(mode="json", exclude_unset=True) == example
    assert decode_event(model, encode(event)) == event


def test_offer_example_has_every_field() -> None:
    decision = decode_event(OfferDecision, orjson.dumps(EXAMPLES["offers"]))
    assert orjson.loads(encode(decision)) == EXAMPLES["offers"]
    assert decision.routing_key == "s-42"


def test_fixture_matches_the_contract() -> None:
    in_contract = _examples_in_contract(CONTRACT.read_text(encoding="utf-8"))
    assert in_contract == EXAMPLES, (
        f"the examples in {CONTRACT} changed: update {FIXTURE.name} and the models"
    )


@pytest.mark.skipif(not FIRST_AGREED.exists(), reason=f"no {FIRST_AGREED} beside the repo")
def test_the_first_agreed_contracts_examples_are_still_ours() -> None:
    """Optional: the copy the contract came from has the same examples (nothing removed)."""
    first = _examples_in_contract(FIRST_AGREED.read_text(encoding="utf-8"))
    assert first == EXAMPLES


def _decision(**changes: Any) -> bytes:
    return orjson.dumps({**EXAMPLES["offers"], **changes})


def test_holdout_decision_must_be_empty() -> None:
    holdout = decode_event(OfferDecision, _decision(cohort="holdout", offers=[], nudges=[]))
    assert holdout.offers == [] and holdout.nudges == []
    with pytest.raises(InvalidEvent) as caught:
        decode_event(OfferDecision, _decision(cohort="holdout"))
    assert caught.value.reason == "invalid_value"
    assert "holdout" in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"placement": "checkout"}, "invalid_value"),
        ({"cohort": "control"}, "invalid_value"),
        ({"shopper_id": None, "session_id": None}, "missing_field"),
        ({"offers": [{**EXAMPLES["offers"]["offers"][0], "kind": "upsell"}]}, "invalid_value"),
        ({"offers": [{**EXAMPLES["offers"]["offers"][0], "p_accept": 1.2}]}, "out_of_range"),
        ({"nudges": [{**EXAMPLES["offers"]["nudges"][0], "kind": "coupon"}]}, "invalid_value"),
    ],
)
def test_bad_decisions_are_rejected(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(OfferDecision, _decision(**changes))
    assert caught.value.reason == reason


def test_decision_built_in_code_serialises_every_field() -> None:
    decision = OfferDecision(
        decision_id="d-1",
        ts=1763740800012,
        trigger_event_id="o-55",
        shopper_id=None,
        session_id="w-7",
        order_id="ord-9",
        placement="confirmation",
        cohort="treatment",
        model_version="1",
        offers=[
            Offer(
                offer_id="d-1:1",
                kind="post_purchase",
                product_id="p-9",
                unit_price=30,
                discount_pct=0.1,
                offer_price=27.0,
                p_accept=0.05,
                expected_revenue=1.35,
                reason="bought with p-1 in 41 orders",
            )
        ],
        nudges=[Nudge(kind="loyalty_tier", threshold=100, gap=12.5, message="12.50 to Gold")],
    )
    wire = orjson.loads(encode(decision))
    assert set(wire) == set(EXAMPLES["offers"])
    assert wire["cart_id"] is None and wire["offers"][0]["unit_price"] == 30.0
    assert decision.routing_key == "w-7"

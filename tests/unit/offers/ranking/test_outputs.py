"""Offer helpers: ``Offer.with_reason`` changes the reason and nothing else."""

from __future__ import annotations

import dataclasses

from streams.offers.ranking.outputs import Evidence, Offer


def test_with_reason_keeps_every_other_field() -> None:
    # Every field gets a value different from its default, so that a field the method
    # forgets (one added to Offer later, say) shows up as a difference.
    offer = Offer(
        product_id="p-1",
        unit_price=12.5,
        offer_price=10.0,
        p_accept=0.25,
        expected_revenue=2.5,
        reason="bought with 'p-2' in 3 of 9 orders",
        category="mugs",
        evidence=(Evidence("base_rate", "p-1", 3.0, 9.0, 0.3, 0.0, 1.0),),
        score=2.5,
    )
    defaults = {f.name: f.default for f in dataclasses.fields(Offer)}
    assert all(getattr(offer, name) != default for name, default in defaults.items())

    changed = offer.with_reason("new reason")

    assert changed == dataclasses.replace(offer, reason="new reason")
    assert changed.reason == "new reason" and offer.reason != "new reason"

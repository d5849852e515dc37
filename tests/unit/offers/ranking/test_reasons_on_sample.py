"""The ranker's reasons on real carts: the same with and without the offers' evidence.

By default ``rank_offers`` computes each offer's reason alone (``_Model.reason``) instead
of deriving it from the evidence (``reason_for``); this checks that the two agree on the
shipped sample's carts, with their shoppers' profiles and observed acceptance, as the
worker ranks them (``bench.ranker``'s workload), where ties, categories standing in for
cold items and recent purchases all occur.
"""

from __future__ import annotations

from dataclasses import replace

from bench import ranker
from streams.offers.ranking import rank_offers


def test_reasons_without_evidence_equal_those_from_the_evidence() -> None:
    workload = ranker.prepare(carts=400)
    context = workload.context
    assert not context.config.evidence  # the worker's config: reasons only
    explained_config = replace(context.config, evidence=True)
    reasons: set[str] = set()
    offers_seen = 0
    for case, profile in zip(workload.cases, workload.profiles, strict=True):
        plain = workload.rank(case, profile)
        explained = rank_offers(
            case.cart,
            context.index,
            context.total_orders,
            profile=profile,
            config=explained_config,
            observed=workload.observed,
        )
        assert [replace(offer, evidence=()) for offer in explained] == plain
        assert all(offer.evidence for offer in explained)
        assert all(offer.evidence == () for offer in plain)
        offers_seen += len(plain)
        reasons.update(offer.reason.split(" ")[0] for offer in plain)
    assert offers_seen > 1000
    # Pair reasons ("bought with ...") and others occurred, so both paths were compared.
    assert "bought" in reasons and len(reasons) > 1, reasons

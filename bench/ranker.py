"""Ranker cost per decision, in one process, no broker: `rank_offers` on real-sample carts.

The shipped sample's orders are folded into state as the worker does
(``streams.tools.evaluation.state.fold_orders``) and indexed once; every order with two or
more products becomes a cart (the evaluation's cases: one product hidden, at most 20 kept)
with its shopper's profile. Carts are ranked as the worker ranks them: the default ranker
config, and the acceptance counts that one earlier pass over the carts leaves. Each round
ranks every cart once; the result is the median and the best per-decision time over the
rounds, and a fingerprint of the offers (so that two code versions can be compared for equal
output as well as speed).

    python -m bench.ranker [--rounds 7] [--carts 2000] [--name KEY]

Machines drift: compare two checkouts by running this alternately from each, not by
comparing against an old result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import machine, save_named_result
from streams.config import domain_configs
from streams.offers.ranking import ObservedCounts, rank_offers
from streams.offers.ranking.outputs import Offer
from streams.profiles.model import ShopperProfile
from streams.settings import Settings
from streams.tools.evaluation.protocol import (
    EvaluationCase,
    RankerContext,
    build_context,
    make_cases,
)
from streams.tools.evaluation.state import fold_orders
from streams.tools.replay.orderlog import read_order_log

SAMPLE = (
    Path(__file__).resolve().parents[1] / "streams/resources/sample/online_retail_sample.parquet"
)


@dataclass(frozen=True)
class Workload:
    """The indexed sample and the carts to rank, with what the worker would rank them with."""

    context: RankerContext
    cases: list[EvaluationCase]
    profiles: list[ShopperProfile | None]
    observed: ObservedCounts

    def rank(self, case: EvaluationCase, profile: ShopperProfile | None) -> list[Offer]:
        """One decision's offers, as the worker ranks them."""
        return rank_offers(
            case.cart,
            self.context.index,
            self.context.total_orders,
            profile=profile,
            config=self.context.config,
            observed=self.observed,
        )


def prepare(carts: int) -> Workload:
    """Fold the sample as the worker does, index it, and take its first `carts` carts."""
    configs = domain_configs(Settings())
    orders = sorted(read_order_log([SAMPLE]).orders, key=lambda order: order.ts_ms)
    state = fold_orders(
        orders,
        copurchase=configs.copurchase,
        profile_config=configs.profile,
        batch_orders=configs.batch_max,
        consent_default_granted=configs.consent_default_granted,
    )
    assert state.last_ts_ms is not None
    context = build_context(
        state,
        state.last_ts_ms,
        configs.offers.decision.ranker,
        configs.copurchase.half_life_days,
        configs.copurchase.neighbours_k,
    )
    cases = make_cases(orders, seed=0)[:carts]
    profiles = [state.profiles.get(c.shopper_id) if c.shopper_id else None for c in cases]
    # The worker ranks with its offers' observed acceptance: (shown, accepted) counts per
    # product, as one pass over the carts would leave them (every offer shown, none taken).
    workload = Workload(context, cases, profiles, ObservedCounts())
    for case, profile in zip(cases, profiles, strict=True):
        for offer in workload.rank(case, profile):
            workload.observed.add(offer.product_id, 1, 0)
    return workload


def time_rounds(workload: Workload, rounds: int) -> dict[str, Any]:
    """Rank every cart once per round; per-decision timings and the offers' fingerprint."""
    per_round_ms: list[float] = []
    digest = ""
    for _ in range(rounds):
        checksum = hashlib.sha256()
        started = time.perf_counter()
        for case, profile in zip(workload.cases, workload.profiles, strict=True):
            for offer in workload.rank(case, profile):
                checksum.update(f"{offer.product_id}:{offer.p_accept:.12g};".encode())
        per_round_ms.append((time.perf_counter() - started) * 1000 / len(workload.cases))
        digest = checksum.hexdigest()[:16]
    cases = workload.cases
    return {
        "carts": len(cases),
        "with_profile": sum(p is not None for p in workload.profiles),
        "avg_items": round(sum(len(c.cart) for c in cases) / len(cases), 1),
        "products_indexed": len(workload.context.index),
        "rounds": rounds,
        "ms_per_decision_median": round(statistics.median(per_round_ms), 4),
        "ms_per_decision_best": round(min(per_round_ms), 4),
        "ms_per_decision_rounds": [round(v, 4) for v in per_round_ms],
        "offers_checksum": digest,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--carts", type=int, default=2000)
    parser.add_argument("--name", default="default", help="Key of this run in the results.")
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()
    result = time_rounds(prepare(args.carts), args.rounds)
    # Other processes' load stretches every round: it is recorded with the timings.
    result["loadavg_start"] = [round(v, 2) for v in load_at_start]
    result["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result["machine"] = machine()
    print(result)
    path = save_named_result("ranker.json", args.name, result)
    print(f"saved under {args.name!r} in {path}")


if __name__ == "__main__":
    main()

"""Ranker cost per decision, in one process, no broker: `rank_offers` on real-sample carts.

The shipped sample's orders are folded into state as the worker does
(``streams.tools.evaluation.state.fold_orders``) and indexed once; every order with two or
more products becomes a cart (the evaluation's cases: one product hidden, at most 20 kept)
with its shopper's profile. Carts are ranked as the worker ranks them: the default ranker
config, and the acceptance counts that one earlier pass over the carts leaves. Each round
ranks every cart once; the result is the median and the best per-decision time over the
rounds, and a fingerprint of the offers (so that two code versions can be compared for equal
output as well as speed).

With ``--store-products 3000,250000`` the carts come instead from synthetic stores of those
catalog sizes (``bench.synthstore``: ``--store-orders`` orders by ``--store-shoppers``
shoppers), each indexed with its whole catalog as the worker's catalog view holds it
(products never ordered included). Every round ranks each size's carts once, the sizes one
after another, so machine drift falls on all of them alike; the headline is each size's
median over the smallest size's (how a decision's ranker cost grows with the catalog).

    python -m bench.ranker [--rounds 7] [--carts 2000] [--name KEY]
    python -m bench.ranker --store-products 3000,50000,250000 [--store-orders 10000]

Machines drift: compare two checkouts by running this alternately from each, not by
comparing against an old result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import machine, save_named_result
from bench.synthstore import StoreSpec, catalog_events, write_store
from schemas import CatalogEvent
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
from streams.tools.replay.orderlog import Order, read_order_log

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


def prepare(
    carts: int,
    orders: Sequence[Order] | None = None,
    catalog: Mapping[str, CatalogEvent] | None = None,
) -> Workload:
    """Fold the orders (default: the shipped sample's) as the worker does, index them with
    the `catalog` entries, and take the first `carts` carts."""
    configs = domain_configs(Settings())
    if orders is None:
        orders = read_order_log([SAMPLE]).orders
    orders = sorted(orders, key=lambda order: order.ts_ms)
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
        catalog=catalog,
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


def prepare_store(spec: StoreSpec, carts: int) -> Workload:
    """A synthetic store's workload: its orders folded, indexed with its whole catalog."""
    with tempfile.TemporaryDirectory(prefix="bench-ranker-") as tmp:
        path = Path(tmp) / "orders.parquet"
        write_store(spec, path)
        orders = read_order_log([path]).orders
    catalog = {
        event["product_id"]: CatalogEvent.model_validate(event) for event in catalog_events(spec)
    }
    return prepare(carts, orders, catalog)


def time_round(workload: Workload) -> tuple[float, str]:
    """Rank every cart once: milliseconds per decision and the offers' fingerprint."""
    checksum = hashlib.sha256()
    started = time.perf_counter()
    for case, profile in zip(workload.cases, workload.profiles, strict=True):
        for offer in workload.rank(case, profile):
            checksum.update(f"{offer.product_id}:{offer.p_accept:.12g};".encode())
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms / len(workload.cases), checksum.hexdigest()[:16]


def round_report(workload: Workload, per_round_ms: list[float], digest: str) -> dict[str, Any]:
    """A workload's per-decision timings over the rounds, and its offers' fingerprint."""
    cases = workload.cases
    return {
        "carts": len(cases),
        "with_profile": sum(p is not None for p in workload.profiles),
        "avg_items": round(sum(len(c.cart) for c in cases) / len(cases), 1),
        "products_indexed": len(workload.context.index),
        "rounds": len(per_round_ms),
        "ms_per_decision_median": round(statistics.median(per_round_ms), 4),
        "ms_per_decision_best": round(min(per_round_ms), 4),
        "ms_per_decision_rounds": [round(v, 4) for v in per_round_ms],
        "offers_checksum": digest,
    }


def time_rounds(workload: Workload, rounds: int) -> dict[str, Any]:
    """Rank every cart once per round; per-decision timings and the offers' fingerprint."""
    per_round_ms: list[float] = []
    digest = ""
    for _ in range(rounds):
        ms, digest = time_round(workload)
        per_round_ms.append(ms)
    return round_report(workload, per_round_ms, digest)


def time_sizes(workloads: Mapping[int, Workload], rounds: int) -> dict[str, Any]:
    """Rounds over every size in turn; each size's report and its median over the smallest's."""
    per_round: dict[int, list[float]] = {size: [] for size in workloads}
    digests = dict.fromkeys(workloads, "")
    for _ in range(rounds):
        for size, workload in workloads.items():
            ms, digests[size] = time_round(workload)
            per_round[size].append(ms)
    reports = {
        size: round_report(workload, per_round[size], digests[size])
        for size, workload in workloads.items()
    }
    smallest = reports[min(reports)]["ms_per_decision_median"]
    return {
        "sizes": [
            {
                "catalog_products": size,
                **report,
                "median_over_smallest": round(report["ms_per_decision_median"] / smallest, 3),
            }
            for size, report in sorted(reports.items())
        ]
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--carts", type=int, default=2000)
    parser.add_argument(
        "--store-products",
        help="Comma-separated catalog sizes of synthetic stores to rank instead of the sample.",
    )
    parser.add_argument("--store-orders", type=int, default=10_000, help="Orders per store.")
    parser.add_argument("--store-shoppers", type=int, default=5_000, help="Shoppers per store.")
    parser.add_argument("--seed", type=int, default=0, help="The synthetic stores' seed.")
    parser.add_argument("--name", default="default", help="Key of this run in the results.")
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()
    if args.store_products:
        try:
            sizes = sorted({int(p) for p in args.store_products.split(",") if p.strip()})
        except ValueError:
            parser.error(f"--store-products: not a list of integers: {args.store_products!r}")
        workloads = {}
        for products in sizes:
            spec = StoreSpec(
                products=products,
                shoppers=args.store_shoppers,
                orders=args.store_orders,
                seed=args.seed,
            )
            workloads[products] = prepare_store(spec, args.carts)
            print(f"store of {products:,} products prepared", flush=True)
        result = time_sizes(workloads, args.rounds)
        result["store"] = {
            "orders": args.store_orders,
            "shoppers": args.store_shoppers,
            "seed": args.seed,
        }
    else:
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

"""Index refresh: what keeping the ranker's index up to date costs, full build against refresh.

Pure (no broker, no worker): for each catalog size (``--products``) a synthetic product graph
is generated (seeded; power-law popularity, ``--categories`` categories, K=``--k``
neighbours per product drawn by popularity, log-normal prices, every product catalogued)
and indexed by ``streams.offers.snapshot.SnapshotMaintainer``, as the worker does: a full
build, then, for each change size (``--changes``), that many products get a new state
(new purchases and neighbour weights, as after orders) and the maintainer refreshes. Full
builds and refreshes alternate ``--repeats`` times in the same process, so their ratio is
measured under the same machine load; the headline is refresh time / full build time per
size. Also recorded: products indexed per refresh, the process's peak RSS, the machine and
the commit. Results are printed and merged into bench/results/index_refresh.json under
--name. Usage:

    .venv/bin/python -m bench.index_refresh [--products 10000,50000,250000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench.decision_latency import loadavg
from bench.harness import machine, save_named_result
from streams.catalog.facts import CatalogFacts, PackedCatalogFacts
from streams.copurchase.model import TOTAL_ORDERS_KEY, PackedProductState, ProductState
from streams.offers.snapshot import SnapshotConfig, SnapshotMaintainer

RESULTS_FILE = "index_refresh.json"
T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Entry:
    """A catalog entry (what the index reads of ``schemas.CatalogEvent``)."""

    unit_price: float
    category: str
    in_stock: bool = True


def synthetic_graph(
    products: int, k: int, categories: int, seed: int
) -> tuple[list[ProductState], dict[str, Entry]]:
    """Product states with K neighbours each (drawn by popularity) and a catalog entry each."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:07d}" for i in range(products)]
    popularity = 1.0 / np.arange(1, products + 1) ** 0.9
    popularity /= popularity.sum()
    purchases = rng.poisson(popularity * products * 8).astype(float) + 1.0
    category = rng.integers(0, categories, products)
    prices = np.round(np.exp(rng.normal(2.0, 0.8, products)), 2) + 0.01
    cdf = np.cumsum(popularity)
    drawn = np.minimum(np.searchsorted(cdf, rng.random((products, k))), products - 1)
    states = []
    for i, product_id in enumerate(ids):
        targets = np.unique(drawn[i])
        targets = targets[targets != i]
        weights = rng.gamma(1.0, 2.0, len(targets))
        states.append(
            ProductState(
                product_id,
                purchases=float(purchases[i]),
                neighbours={ids[t]: float(w) for t, w in zip(targets, weights, strict=True)},
                as_of_ts=T0,
                last_price=float(prices[i]),
                category=f"c{category[i]:03d}",
            )
        )
    states.append(ProductState(TOTAL_ORDERS_KEY, purchases=products * 2.0, as_of_ts=T0))
    catalog = {
        s.product_id: Entry(float(prices[i]), f"c{category[i]:03d}")
        for i, s in enumerate(states[:-1])
    }
    return states, catalog


def as_views(
    states: list[ProductState], catalog: dict[str, Entry]
) -> tuple[list[PackedProductState], dict[str, PackedCatalogFacts]]:
    """The graph packed, as the worker's views hold it (what the maintainer takes)."""
    return [state.packed() for state in states], {
        product_id: CatalogFacts(entry.unit_price, entry.category, entry.in_stock).packed()
        for product_id, entry in catalog.items()
    }


def changed(
    states: list[PackedProductState], count: int, rng: np.random.Generator
) -> list[PackedProductState]:
    """The states with `count` products (not the order total, last) replaced by updated ones."""
    out = list(states)
    for i in rng.choice(len(states) - 1, size=min(count, len(states) - 1), replace=False):
        state = ProductState.from_packed(out[i])
        out[i] = replace(
            state,
            purchases=state.purchases + 1.0,
            neighbours={p: w * 1.01 for p, w in state.neighbours.items()},
        ).packed()
    return out


def timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run_size(products: int, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    states, catalog = as_views(*synthetic_graph(products, args.k, args.categories, args.seed))
    generated_s = time.perf_counter() - started
    config = SnapshotConfig(half_life_days=90.0, neighbours_k=args.k, full_build_every_ms=3_600_000)
    rng = np.random.default_rng(args.seed + 1)
    full_s: list[float] = []
    refresh_s: dict[int, list[float]] = {c: [] for c in args.changes}
    indexed: dict[int, int] = {}
    for _ in range(args.repeats):
        maintainer = SnapshotMaintainer(config)
        seconds, result = timed(lambda: maintainer.refresh(states, catalog))  # noqa: B023
        assert result.kind == "full"
        full_s.append(seconds)
        current = states
        for count in args.changes:
            current = changed(current, count, rng)
            seconds, result = timed(lambda: maintainer.refresh(current, catalog))  # noqa: B023
            assert result.kind == "incremental", result.kind
            refresh_s[count].append(seconds)
            indexed[count] = result.changed
    full_median = statistics.median(full_s)
    return {
        "products": products,
        "k": args.k,
        "categories": args.categories,
        "generate_seconds": round(generated_s, 2),
        "full_build_seconds": [round(s, 4) for s in full_s],
        "full_build_median_seconds": round(full_median, 4),
        "refresh": {
            str(count): {
                "products_changed": count,
                "products_indexed": indexed[count],
                "seconds": [round(s, 4) for s in refresh_s[count]],
                "median_seconds": round(statistics.median(refresh_s[count]), 4),
                "over_full_build": round(statistics.median(refresh_s[count]) / full_median, 4),
            }
            for count in args.changes
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", default="10000,50000,250000")
    parser.add_argument("--changes", default="100,1000,10000")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--categories", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="default")
    args = parser.parse_args(argv)
    args.changes = [int(c) for c in args.changes.split(",")]
    sizes = [int(p) for p in args.products.split(",")]
    load_at_start = loadavg()
    results = []
    for products in sizes:
        size = run_size(products, args)
        results.append(size)
        line = ", ".join(
            f"{c} changed {r['median_seconds']:.3f}s ({r['over_full_build']:.3f}x)"
            for c, r in size["refresh"].items()
        )
        print(
            f"{products:>9,} products: full build {size['full_build_median_seconds']:.3f}s; "
            f"refresh: {line}",
            flush=True,
        )
    result = {
        "command": "python -m bench.index_refresh " + " ".join(argv or []),
        "sizes": results,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_start": load_at_start,
        "loadavg_end": loadavg(),
        "machine": machine(),
    }
    path = save_named_result(RESULTS_FILE, args.name, result)
    print(f"saved under {args.name!r} in {path}")


if __name__ == "__main__":
    main()

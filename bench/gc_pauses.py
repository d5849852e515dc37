"""Garbage-collector pauses against catalog size, in one process, no broker.

For each size, a synthetic product graph (``bench.index_refresh.synthetic_graph``: K
neighbours per product, every product catalogued) is indexed by the worker's
``SnapshotMaintainer`` as a full build would, and then full collections (``gc.collect()``)
are timed: as they are, and after ``streams.runtime.gcpauses.freeze_survivors`` (what the
worker does after each full build with ``BASKETLIFT_GC_FREEZE`` on). A full collection stops
a worker's event loop for as long as it runs, so its duration adds to the decisions waiting.

    python -m bench.gc_pauses [--products 10000,50000,100000] [--k 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from bench.harness import machine, save_named_result
from bench.index_refresh import as_views, synthetic_graph
from streams.offers.snapshot import SnapshotConfig, SnapshotMaintainer
from streams.runtime.gcpauses import freeze_survivors


def timed_collections(repeats: int) -> list[float]:
    """Seconds of `repeats` full collections in a row."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        gc.collect()
        seconds.append(round(time.perf_counter() - started, 5))
    return seconds


def run_size(products: int, k: int, categories: int, repeats: int, seed: int) -> dict[str, Any]:
    """Index one synthetic graph and time full collections before and after a freeze."""
    states, catalog = as_views(*synthetic_graph(products, k, categories, seed))
    maintainer = SnapshotMaintainer(
        SnapshotConfig(half_life_days=90.0, neighbours_k=k, full_build_every_ms=600_000)
    )
    maintainer.refresh(states, catalog)
    tracked = len(gc.get_objects())
    before = timed_collections(repeats)
    try:
        frozen = freeze_survivors()
        after = timed_collections(repeats)
    finally:
        gc.unfreeze()
    return {
        "products": products,
        "objects_tracked": tracked,
        "objects_frozen": frozen,
        "full_collection_s": before,
        "full_collection_after_freeze_s": after,
        "median_s": statistics.median(before),
        "median_after_freeze_s": statistics.median(after),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", default="10000,50000,100000", help="Comma separated.")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--categories", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="default", help="Key of this run in the results.")
    args = parser.parse_args(argv)
    sizes = []
    for products in (int(p) for p in args.products.split(",") if p.strip()):
        size = run_size(products, args.k, args.categories, args.repeats, args.seed)
        print(
            f"{products:>9,} products: {size['objects_tracked']:,} objects tracked, full"
            f" collection {size['median_s'] * 1000:.1f} ms, after freeze"
            f" {size['median_after_freeze_s'] * 1000:.2f} ms",
            flush=True,
        )
        sizes.append(size)
    result = {
        "command": "python -m bench.gc_pauses " + " ".join(argv or []),
        "args": vars(args),
        "sizes": sizes,
        "machine": machine(),
    }
    path = save_named_result("gc_pauses.json", args.name, result)
    print(f"saved under {args.name!r} in {path}")


if __name__ == "__main__":
    main()

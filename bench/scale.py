"""Scaling: what one worker costs as the catalog grows, on synthetic stores (bench.synthstore).

For each catalog size (``--products``, default 10k, 50k and 250k products) a synthetic store
is generated (``--orders`` orders by ``--shoppers`` shoppers, seeded) and replayed through one
fresh worker (``start_worker``: exactly-once, RocksDB, K = ``--k`` neighbours) on a fresh
deployment of the local broker. With ``--seed-profiles N``, N profiles (the store's own
shoppers' profiles folded offline, cycled under new shopper ids: bench.shoppers's
``seed_profiles``) are written to the profiles table's changelog before the worker starts,
and the worker restores them at start-up, as after a redeploy. Then three phases:

1. the full catalog (every product, also those never ordered: ``synthstore.catalog_events``)
   is produced and counted; the ranker index is then brought up to date;
2. the orders are produced and counted, the co-purchase deltas settle (no uncommitted
   delta, product updates quiet, as bench.decision_latency waits) and the index is up to
   date again;
3. cart events derived from the store's orders (all lines but the last) are sent at
   ``--rate`` carts/s for ``--seconds`` and every decision is timed (bench.decision_latency's
   ``run_rate``: the worker's histogram and ``read_committed`` end to end). With
   ``--soak-seconds`` the phase lasts that long instead and each cart comes from a shopper
   drawn at random over the seeded and the store's shoppers (bench.shoppers's
   ``carts_of_many_shoppers``), so it reads profiles across the whole table.

Reported per size: the seeding (profiles, bytes, time) and the time from worker start to
healthy (the restore, when seeded); the worker's RSS when healthy, after the catalog, after
the orders and after the decisions, and its peak (VmHWM); RSS sampled every
``--sample-seconds`` over phase 3 (first, min, max, last; max/min: flat is near 1);
memory per catalog product (RSS growth over phase 1 / products) and per profile (RSS growth
over phase 2 / shoppers with an order: an upper bound, since phase 2 also grows the product
graph; seeded profiles are already in the healthy RSS, which has no profile-free baseline);
the data directory on disk by table, per product (the ``copurchase-products`` table over the
catalog and over the products ordered; the catalog itself is only a replicated view in
memory) and per profile (the ``shopper-profiles`` table over the shoppers with an order plus
the seeded ones); the ranker index build time (``basketlift_index_build_seconds``: builds,
mean, bucket-interpolated p50/p99 and the largest bucket hit, per phase); decision p50/p99;
events/s of phases 1 and 2 (from the first send until the worker counted them all). Phases
and sizes run one after another, one worker at a time. Results are printed and merged into
bench/results/scale.json under --name; topics are deleted afterwards. Usage:

    .venv/bin/python -m bench.scale [--products 10000,50000,250000] [--orders 10000] \\
        [--seed-profiles 1000000 --soak-seconds 1800 --sample-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.decision_latency import (
    HISTOGRAM,
    Histogram,
    carts_source,
    loadavg,
    machine_report,
    measured_pids,
    read_histogram,
    run_rate,
    wait_settled,
)
from bench.harness import (
    WorkerProcess,
    ensure_broker,
    machine,
    metric_total,
    new_deployment,
    save_named_result,
    start_worker,
    wait_for_index,
)
from bench.shoppers import RssSampler, carts_of_many_shoppers, seed_profiles, template_profiles
from bench.state_replay import (
    code_report,
    code_version,
    default_group_timing_env,
    disk_usage,
    fill,
    proc_status_kib,
    table_bytes,
)
from bench.synthstore import StoreSpec, catalog_events, write_store
from streams.settings import Settings
from streams.tools.replay.events import event_key, order_event, shopper_id_of
from streams.tools.replay.orderlog import OrderLog, read_orders_file

BUILD_HISTOGRAM = "basketlift_index_build_seconds"
GC_HISTOGRAM = "basketlift_gc_pause_seconds"
RESULTS_FILE = "scale.json"
PRODUCT_TABLES = ("copurchase-products",)
"""Tables holding per-product state on disk (the catalog is a replicated view in memory)."""
PROFILE_TABLES = ("shopper-profiles",)


def rss_kib(worker: WorkerProcess) -> int | None:
    """The worker's resident set size now."""
    return proc_status_kib(worker.process.pid, "VmRSS")


def build_report(
    before: Histogram, after: Histogram, slowest_key: str = "slowest_build_at_most_s"
) -> dict[str, Any]:
    """Index builds (or collector pauses) between two readings: count, mean, p50/p99, and
    under `slowest_key` the bound of the bucket holding the slowest (the smallest bound whose
    cumulative count is all of them)."""
    builds = after.minus(before)
    out = builds.report()
    slowest = next(
        (le for le, n in sorted(builds.buckets.items()) if builds.count and n >= builds.count),
        None,
    )
    out[slowest_key] = "+Inf" if slowest == float("inf") else slowest
    return out


def full_collections(text: str) -> Histogram:
    """The worker's full (generation 2) garbage collections so far, from /metrics text."""
    return read_histogram(text, GC_HISTOGRAM, generation="2")


def per(numerator: int | None, count: int) -> int | None:
    """numerator / count rounded, or None."""
    return None if numerator is None or count <= 0 else round(numerator / count)


def run_size(
    products: int, args: argparse.Namespace, bootstrap: str, pids: dict[str, int | None]
) -> dict[str, Any]:
    """Generate one store and measure one worker through the three phases."""
    spec = StoreSpec(products=products, shoppers=args.shoppers, orders=args.orders, seed=args.seed)
    result: dict[str, Any] = {"products": products, "status": "ok"}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        workdir = Path(tmp)
        store_file = workdir / "store.parquet"
        started = time.monotonic()
        written = write_store(spec, store_file)
        log = read_orders_file(store_file)
        result["store"] = {
            **written,
            "shoppers_with_orders": log.shopper_count,
            "products_ordered": len({line.product_id for line in log.lines()}),
            "generate_and_read_s": round(time.monotonic() - started, 1),
        }
        print(f"[{products:,}] store: {result['store']}", flush=True)
        deployment = new_deployment(bootstrap, partitions=args.partitions)
        asyncio.run(deployment.create_topics())
        if args.seed_profiles:
            result["seeded"] = asyncio.run(
                seed_profiles(deployment, args.seed_profiles, template_profiles(log))
            )
            print(f"[{products:,}] seeded {result['seeded']}", flush=True)
        started = time.monotonic()
        worker = start_worker(
            deployment,
            workdir,
            BASKETLIFT_NEIGHBOURS_K=str(args.k),
            **default_group_timing_env(),
        )
        pids["worker"] = worker.process.pid
        rss: dict[str, int | None] = {}
        try:
            worker.wait_healthy(timeout=args.timeout)
            result["healthy_after_s"] = round(time.monotonic() - started, 1)
            time.sleep(2)
            rss["healthy"] = rss_kib(worker)
            text = worker.metrics_text()
            builds_start = read_histogram(text, BUILD_HISTOGRAM)
            gc_start = full_collections(text)

            events = [("catalog", e["product_id"], e) for e in catalog_events(spec)]
            t0 = time.monotonic()
            asyncio.run(fill(deployment, events))
            worker.wait_consumed({deployment.topic("catalog"): products}, timeout=args.timeout)
            catalog_s = time.monotonic() - t0
            wait_for_index(worker, time.time(), timeout=args.timeout)
            rss["catalog"] = rss_kib(worker)
            builds_catalog = read_histogram(worker.metrics_text(), BUILD_HISTOGRAM)
            print(f"[{products:,}] catalog counted in {catalog_s:.1f}s", flush=True)

            orders = [("orders", event_key(o), order_event(o)) for o in log.orders]
            t0 = time.monotonic()
            asyncio.run(fill(deployment, orders))
            worker.wait_consumed({deployment.topic("orders"): log.order_count}, args.timeout)
            orders_s = time.monotonic() - t0
            settle = wait_settled(worker, args.timeout)
            wait_for_index(worker, time.time(), timeout=args.timeout)
            time.sleep(2)
            rss["orders"] = rss_kib(worker)
            text = worker.metrics_text()
            builds_orders = read_histogram(text, BUILD_HISTOGRAM)
            gc_orders = full_collections(text)
            data_dir = workdir / "data"
            disk_after_load = disk_usage(data_dir)
            tables_after_load = table_bytes(data_dir)
            print(f"[{products:,}] orders counted in {orders_s:.1f}s, {settle}", flush=True)

            seconds, carts = decision_carts(log, args)
            with RssSampler(worker.process.pid, args.sample_seconds) as sampler:
                decisions = asyncio.run(
                    run_rate(worker, args.rate, seconds, carts, 0, args.drain_timeout, pids)
                )
            rss["decisions"] = rss_kib(worker)
            rss["peak"] = proc_status_kib(worker.process.pid, "VmHWM")
            end_text = worker.metrics_text()
            builds_end = read_histogram(end_text, BUILD_HISTOGRAM)
            gc_end = full_collections(end_text)
        except (AssertionError, SystemExit) as error:
            result["status"] = f"failed: {str(error)[:2000]}"
            print(result["status"], flush=True)
            return result
        finally:
            result["worker_exit_code"] = worker.stop(timeout=60)
            pids["worker"] = None
            if not args.keep_topics:
                asyncio.run(deployment.delete_topics())

    shoppers = log.shopper_count
    profiles = shoppers + args.seed_profiles
    catalog_growth = _delta(rss.get("catalog"), rss.get("healthy"))
    orders_growth = _delta(rss.get("orders"), rss.get("catalog"))
    state_tables = {k: v for k, v in tables_after_load.items() if k != "other"}
    product_disk = sum(v for k, v in state_tables.items() if k in PRODUCT_TABLES)
    profile_disk = sum(v for k, v in state_tables.items() if k in PROFILE_TABLES)
    worker_hist = decisions["worker_histogram_bucket_interpolated"]
    committed = decisions["end_to_end_read_committed"]
    result.update(
        {
            "rss_mib": {k: None if v is None else round(v / 1024, 1) for k, v in rss.items()},
            "memory_bytes_per_catalog_product": per(_kib_bytes(catalog_growth), products),
            "memory_bytes_per_profile_upper_bound": per(_kib_bytes(orders_growth), shoppers),
            "memory_bytes_per_product_all_state": per(
                _kib_bytes(_delta(rss.get("orders"), rss.get("healthy"))), products
            ),
            "disk": disk_after_load,
            "disk_bytes_by_table": tables_after_load,
            "disk_bytes_per_product": per(product_disk, products),
            "disk_bytes_per_ordered_product": per(
                product_disk, result["store"]["products_ordered"]
            ),
            "profiles": profiles,
            "disk_bytes_per_profile": per(profile_disk, profiles),
            "decision_phase_rss": sampler.report(),
            "index_products": metric_total(text, "basketlift_index_products"),
            "index_builds_catalog_phase": build_report(builds_start, builds_catalog),
            "index_builds_orders_phase": build_report(builds_catalog, builds_orders),
            "index_builds_decision_phase": build_report(builds_orders, builds_end),
            "gc_full_collections_load": build_report(gc_start, gc_orders, "slowest_at_most_s"),
            "gc_full_collections_decision_phase": build_report(
                gc_orders, gc_end, "slowest_at_most_s"
            ),
            "catalog_events_per_s": round(products / catalog_s, 1),
            "order_events_per_s": round(log.order_count / orders_s, 1),
            "catalog_s": round(catalog_s, 1),
            "orders_s": round(orders_s, 1),
            "settle": settle,
            "decision_worker_p50_ms": worker_hist.get("p50_ms"),
            "decision_worker_p99_ms": worker_hist.get("p99_ms"),
            "decision_read_committed_p50_ms": committed.get("p50_ms"),
            "decision_read_committed_p99_ms": committed.get("p99_ms"),
            "decisions": decisions,
        }
    )
    return result


def decision_carts(
    log: OrderLog, args: argparse.Namespace
) -> tuple[float, list[tuple[str, dict[str, Any]]]]:
    """Phase 3's sending time and carts: the store's carts under their own shoppers for
    ``--seconds``; with ``--soak-seconds``, for that long, each cart under a shopper drawn at
    random over the ``--seed-profiles`` seeded and the store's shoppers, so the soak reads
    profiles across the whole table (mostly ones no cache holds)."""
    if args.soak_seconds is None:
        return args.seconds, carts_source(log)
    store_shoppers = sorted({s for o in log.orders if (s := shopper_id_of(o)) is not None})
    carts = carts_of_many_shoppers(
        carts_source(log),
        args.seed_profiles,
        round(args.rate * args.soak_seconds),
        args.seed,
        store_shoppers,
    )
    return args.soak_seconds, carts


def _delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def _kib_bytes(kib: int | None) -> int | None:
    return None if kib is None else kib * 1024


def summary_table(sizes: list[dict[str, Any]]) -> str:
    """A Markdown table of the headline numbers per catalog size."""
    header = (
        "| products | shoppers (+ seeded) | healthy after s | RSS healthy / catalog / orders / "
        "peak MiB | phase 3 RSS first / min / max / last MiB (max/min) | B/product (mem) | "
        "B/profile (mem, upper) | B/product (disk) | B/profile (disk) | index build mean s "
        "(orders phase) | decision p50/p99 ms (worker) | read_committed p50/p99 ms | "
        "catalog ev/s | order ev/s |"
    )
    lines = [header, "|" + "---:|" * (header.count("|") - 1)]
    for size in sizes:
        if size.get("status") != "ok":
            lines.append(f"| {size['products']:,} | {size.get('status', '')[:80]} |")
            continue
        r = size["rss_mib"]
        soak = size["decision_phase_rss"]
        builds = size["index_builds_orders_phase"]
        seeded = size.get("seeded", {}).get("profiles", 0)
        lines.append(
            f"| {size['products']:,} | {size['store']['shoppers_with_orders']:,} (+ {seeded:,}) | "
            f"{size['healthy_after_s']} | "
            f"{r.get('healthy')} / {r.get('catalog')} / {r.get('orders')} / {r.get('peak')} | "
            f"{soak.get('first_mib')} / {soak.get('min_mib')} / {soak.get('max_mib')} / "
            f"{soak.get('last_mib')} ({soak.get('max_over_min')}) | "
            f"{size['memory_bytes_per_catalog_product']} | "
            f"{size['memory_bytes_per_profile_upper_bound']} | "
            f"{size['disk_bytes_per_product']} | {size['disk_bytes_per_profile']} | "
            f"{builds.get('mean_ms') and round(builds['mean_ms'] / 1000, 2)} "
            f"({builds.get('n')} builds) | "
            f"{size['decision_worker_p50_ms']}/{size['decision_worker_p99_ms']} | "
            f"{size['decision_read_committed_p50_ms']}/{size['decision_read_committed_p99_ms']}"
            f" | {size['catalog_events_per_s']} | {size['order_events_per_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run every catalog size, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", default="10000,50000,250000", help="Comma separated.")
    parser.add_argument("--orders", type=int, default=10_000, help="Orders per store.")
    parser.add_argument("--shoppers", type=int, default=5_000, help="Shoppers per store.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=100, help="BASKETLIFT_NEIGHBOURS_K.")
    parser.add_argument("--rate", type=float, default=100.0, help="Carts/s in phase 3.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Phase 3 sending time.")
    parser.add_argument(
        "--seed-profiles",
        type=int,
        default=0,
        help="Profiles written to the profiles changelog before the worker starts.",
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        help="Phase 3 runs this long (instead of --seconds) with carts from random shoppers "
        "over the seeded and the store's ones.",
    )
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sampling (s).")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800.0, help="Per phase wait (s).")
    parser.add_argument("--name", help="Key of this run in the results file.")
    parser.add_argument("--keep-topics", action="store_true", help="Do not delete the topics.")
    args = parser.parse_args()
    if args.seed_profiles < 0:
        parser.error("--seed-profiles must be >= 0")
    try:
        sizes = [int(p) for p in args.products.split(",") if p.strip()]
    except ValueError:
        parser.error(f"--products: not a comma-separated list of integers: {args.products!r}")
    name = args.name or "products_" + "_".join(str(s) for s in sizes)

    load_at_start = loadavg()
    bootstrap = ensure_broker(Settings())
    info = machine()
    pids = measured_pids(info)
    code_before = code_version()
    results = [run_size(products, args, bootstrap, pids) for products in sizes]
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "ok" if all(r["status"] == "ok" for r in results) else "failed",
        "args": {k: v for k, v in vars(args).items() if k != "keep_topics"},
        "code": code_report(code_before, code_version()),
        "histogram": {
            "decision": HISTOGRAM,
            "index_build": BUILD_HISTOGRAM,
            "gc_pause": GC_HISTOGRAM,
        },
        # The worker inherits this environment: an A/B of BASKETLIFT_GC_FREEZE sets it here.
        "worker_environment": {k: v for k, v in os.environ.items() if k.startswith("BASKETLIFT_")},
        "sizes": results,
        "loadavg_start": load_at_start,
        "loadavg_end": loadavg(),
        "machine": machine_report(info),
    }
    table = summary_table(results)
    print(json.dumps({k: v for k, v in result.items() if k != "sizes"}, indent=2))
    print(table)
    path = save_named_result(RESULTS_FILE, name, result)
    print(f"saved under {name!r} in {path}")
    if result["status"] != "ok":
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Shoppers: does a worker's memory stay flat as the shoppers its tables hold grow?

Profiles live in the ``shopper-profiles`` table (RocksDB, bounded memtables and read cache:
``BASKETLIFT_ROCKSDB_*``) with a bounded cache of decoded profiles
(``BASKETLIFT_PROFILE_CACHE_SIZE``), so a worker's RSS should not depend on how many shoppers
there are. Ordering a million shoppers into existence through one worker takes hours here, so
for each shopper count (``--shoppers``, default 10,000 and 1,000,000) this bench fills the
table's changelog topic of a fresh deployment with that many profiles before the worker
starts, and the worker restores them into RocksDB at start-up, as after a redeploy: real
profiles (the shipped sample's orders folded offline with the stream's steps,
``streams.tools.evaluation.state.fold_orders``), cycled under new shopper ids. Then:

1. the sample's catalog and (first ``--history-orders``) orders build the co-purchase state
   and the ranker index
   (``bench.decision_latency.build_state``);
2. carts (the sample's orders without their last line) from shoppers drawn at random over
   all the seeded ones are sent at ``--rate`` carts/s for ``--soak-seconds``, so each cart
   reads a profile RocksDB most likely has not cached, while the worker's RSS is sampled
   every ``--sample-seconds``; every decision is timed (``run_rate``).

Reported per count: profiles seeded and the restore time (worker start to healthy), RSS when
healthy, after the state and over the soak (first, min, max, last; max/min), the profiles
table on disk per profile, decision p50/p99 (worker histogram and ``read_committed`` end to
end). Headline: RSS at the end of the soak at the largest count over that at the smallest
(1.0 = independent of shoppers). Results are printed and merged into
bench/results/shoppers.json under --name. Usage:

    .venv/bin/python -m bench.shoppers [--shoppers 10000,1000000] [--soak-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.decision_latency import (
    build_state,
    carts_source,
    loadavg,
    machine_report,
    measured_pids,
    run_rate,
)
from bench.harness import (
    SAMPLE,
    Deployment,
    WorkerProcess,
    ensure_broker,
    machine,
    new_deployment,
    save_named_result,
    start_worker,
)
from bench.state_replay import proc_status_kib, table_bytes
from streams.kafka import admin as kafka_admin
from streams.kafka.producer import make_producer
from streams.settings import Settings
from streams.tools.evaluation.state import fold_orders
from streams.tools.replay.orderlog import OrderLog, read_orders_file

RESULTS_FILE = "shoppers.json"
PROFILES_TABLE = "shopper-profiles"


def template_profiles(log: OrderLog) -> list[dict[str, Any]]:
    """The sample's shoppers' profiles as the stream stores them (to_dict), folded offline."""
    state = fold_orders(log.orders)
    return [profile.to_dict() for _shopper, profile in sorted(state.profiles.items())]


def shopper_id(n: int) -> str:
    return f"bench-shopper-{n:08d}"


async def seed_profiles(
    deployment: Deployment, count: int, templates: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write `count` profiles to the profiles table's changelog (created here, compacted, with
    the deployment's partitions; keys are raw shopper ids, partitioned by Kafka's default
    partitioner as the table is)."""
    topic = f"{deployment.app_id}-{PROFILES_TABLE}-changelog"
    await kafka_admin.ensure_topics(
        deployment.access, {topic: {"cleanup.policy": "compact"}}, deployment.partitions
    )
    producer = make_producer(deployment.access)
    await producer.start()
    started = time.monotonic()
    total_bytes = 0
    try:
        pending = []
        for n in range(count):
            key = shopper_id(n)
            value = orjson.dumps(dict(templates[n % len(templates)], s=key))
            total_bytes += len(value)
            pending.append(await producer.send(topic, value, key=key.encode()))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return {
        "topic": topic,
        "profiles": count,
        "avg_profile_bytes": round(total_bytes / max(count, 1)),
        "seconds": round(time.monotonic() - started, 1),
    }


class RssSampler:
    """Samples a process's RSS (KiB) every `every` seconds in a thread until stopped."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        kib = proc_status_kib(self.pid, "VmRSS")
        if kib is not None:
            self.samples.append((round(time.monotonic() - self._started, 1), kib))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def report(self) -> dict[str, Any]:
        """First, min, max and last RSS in MiB, max/min, and every sample."""
        values = [kib for _t, kib in self.samples]
        if not values:
            return {"samples": 0}
        return {
            "samples": len(values),
            "first_mib": round(values[0] / 1024, 1),
            "min_mib": round(min(values) / 1024, 1),
            "max_mib": round(max(values) / 1024, 1),
            "last_mib": round(values[-1] / 1024, 1),
            "max_over_min": round(max(values) / min(values), 3),
            "series_s_mib": [(t, round(kib / 1024, 1)) for t, kib in self.samples],
        }


def carts_of_many_shoppers(
    source: list[tuple[str, dict[str, Any]]],
    seeded: int,
    carts: int,
    seed: int,
    others: Sequence[str] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """`carts` carts cycled from `source`, each under a shopper drawn uniformly at random among
    the `seeded` profiles (``shopper_id(0)`` .. ``shopper_id(seeded - 1)``) and `others`, keyed
    by that shopper (as the table is partitioned) with a session of its own."""
    population = seeded + len(others)
    if population < 1 or not source:
        raise ValueError("carts need a source cart and at least one shopper")
    rng = random.Random(seed)
    out = []
    for n in range(carts):
        _key, cart = source[n % len(source)]
        drawn = rng.randrange(population)
        shopper = shopper_id(drawn) if drawn < seeded else others[drawn - seeded]
        out.append((shopper, dict(cart, shopper_id=shopper, session_id=f"sess-{n}")))
    return out


def rss_mib(worker: WorkerProcess) -> float | None:
    kib = proc_status_kib(worker.process.pid, "VmRSS")
    return None if kib is None else round(kib / 1024, 1)


def run_count(
    count: int,
    args: argparse.Namespace,
    bootstrap: str,
    log: OrderLog,
    templates: list[dict[str, Any]],
    pids: dict[str, int | None],
) -> dict[str, Any]:
    """Seed `count` profiles, start a worker, build the state, soak with carts."""
    result: dict[str, Any] = {"shoppers": count, "status": "ok"}
    with tempfile.TemporaryDirectory(prefix="shoppers-") as tmp:
        workdir = Path(tmp)
        deployment = new_deployment(bootstrap, partitions=args.partitions)
        asyncio.run(deployment.create_topics())
        try:
            result["seed"] = asyncio.run(seed_profiles(deployment, count, templates))
            print(f"[{count:,}] seeded {result['seed']}", flush=True)
            started = time.monotonic()
            worker = start_worker(deployment, workdir)
            pids["worker"] = worker.process.pid
            try:
                worker.wait_healthy(timeout=args.timeout)
                result["restore_s"] = round(time.monotonic() - started, 1)
                rss: dict[str, float | None] = {"healthy": rss_mib(worker)}
                print(f"[{count:,}] healthy after {result['restore_s']}s, {rss}", flush=True)
                result["state"] = build_state(worker, log, timeout=args.timeout)
                rss["state"] = rss_mib(worker)
                carts = carts_of_many_shoppers(
                    carts_source(log), count, round(args.rate * args.soak_seconds), args.seed
                )
                with RssSampler(worker.process.pid, args.sample_seconds) as sampler:
                    decisions = asyncio.run(
                        run_rate(
                            worker,
                            args.rate,
                            args.soak_seconds,
                            carts,
                            0,
                            args.drain_timeout,
                            pids,
                        )
                    )
                rss["peak"] = (
                    None
                    if (hwm := proc_status_kib(worker.process.pid, "VmHWM")) is None
                    else round(hwm / 1024, 1)
                )
                profile_disk = table_bytes(workdir / "data").get(PROFILES_TABLE)
            finally:
                result["worker_exit_code"] = worker.stop(timeout=60)
                pids["worker"] = None
        except (AssertionError, SystemExit) as error:
            result["status"] = f"failed: {str(error)[:2000]}"
            print(result["status"], flush=True)
            return result
        finally:
            asyncio.run(deployment.delete_topics())
    worker_hist = decisions["worker_histogram_bucket_interpolated"]
    committed = decisions["end_to_end_read_committed"]
    result.update(
        {
            "rss_mib": rss,
            "soak_rss": sampler.report(),
            "profiles_table_disk_bytes": profile_disk,
            "disk_bytes_per_profile": None if not profile_disk else round(profile_disk / count),
            "decision_worker_p50_ms": worker_hist.get("p50_ms"),
            "decision_worker_p99_ms": worker_hist.get("p99_ms"),
            "decision_read_committed_p50_ms": committed.get("p50_ms"),
            "decision_read_committed_p99_ms": committed.get("p99_ms"),
            "decisions": decisions,
        }
    )
    return result


def summary_table(counts: list[dict[str, Any]]) -> str:
    """A Markdown table of the headline numbers per shopper count."""
    lines = [
        "| shoppers | restore s | RSS healthy / after state MiB | soak RSS first / max / last MiB"
        " (max/min) | disk B/profile | decision p50/p99 ms (worker) | read_committed p50/p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in counts:
        if c.get("status") != "ok":
            lines.append(f"| {c['shoppers']:,} | {str(c.get('status'))[:80]} |||||")
            continue
        s = c["soak_rss"]
        lines.append(
            f"| {c['shoppers']:,} | {c['restore_s']} | {c['rss_mib']['healthy']} / "
            f"{c['rss_mib']['state']} | {s.get('first_mib')} / {s.get('max_mib')} / "
            f"{s.get('last_mib')} ({s.get('max_over_min')}) | {c['disk_bytes_per_profile']} | "
            f"{c['decision_worker_p50_ms']}/{c['decision_worker_p99_ms']} | "
            f"{c['decision_read_committed_p50_ms']}/{c['decision_read_committed_p99_ms']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", default="10000,1000000", help="Comma separated.")
    parser.add_argument("--rate", type=float, default=100.0, help="Carts/s during the soak.")
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800.0, help="Per phase wait (s).")
    parser.add_argument("--history-orders", type=int, default=3001, help="Orders for the state.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="default")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.shoppers.split(",") if c.strip()]
    load_at_start = loadavg()
    bootstrap = ensure_broker(Settings())
    info = machine()
    pids = measured_pids(info)
    log = read_orders_file(SAMPLE).head(args.history_orders)
    templates = template_profiles(log)
    results = [run_count(c, args, bootstrap, log, templates, pids) for c in counts]
    ok = [r for r in results if r["status"] == "ok"]
    headline = None
    if len(ok) >= 2:
        headline = round(ok[-1]["soak_rss"]["last_mib"] / ok[0]["soak_rss"]["last_mib"], 3)
    result = {
        "command": "python -m bench.shoppers " + " ".join(argv or []),
        "status": "ok" if len(ok) == len(results) else "failed",
        "args": vars(args),
        "template_profiles": len(templates),
        "rss_largest_over_smallest": headline,
        "counts": results,
        "loadavg_start": load_at_start,
        "loadavg_end": loadavg(),
        "machine": machine_report(info),
    }
    print(summary_table(results))
    print(f"RSS at the end of the soak, largest over smallest shopper count: {headline}")
    path = save_named_result(RESULTS_FILE, args.name, result)
    print(f"saved under {args.name!r} in {path}")
    if result["status"] != "ok":
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Decision burst: 10,000 real carts at once through one worker, vs a plain aiokafka loop.

One worker (``start_worker``: exactly-once, RocksDB, default consumer-group timing, as
bench.decision_latency) on a fresh deployment of the local broker. The state is built first
from the shipped real sample (catalog, then --history-orders orders; the bench waits until
the orders are counted, every co-purchase delta is committed and the ranker index is up to
date: ``bench.decision_latency.build_state``). Then:

- plain loop: the same --carts cart records (same keys and bytes) are written to a copy topic
  of the same partition count, and ``bench.ingest_throughput.plain_loop`` consumes them,
  parses each value (orjson) and produces each to an output topic, on the same broker: the
  rate of a consume-parse-produce loop with no work, measured from its first record consumed
  to its last produce acknowledged (the comparator of bench.ingest_throughput). It runs
  --plain-passes times (3), each a new consumer group reading the copy from the start, and
  its rate is the median pass's: 10,000 records take a fraction of a second, and single
  passes have differed by half within a run and by 2x between runs
  (``bench/results/issue12_throughput.md``);
- burst: the carts are sent to the worker's carts topic as fast as the bench's producer
  goes, and a ``read_uncommitted`` consumer of the offers topic (started before sending)
  records when each cart's decision arrives. The worker's rate is decisions received over
  the time from the first cart sent to the last decision received. ``read_uncommitted``
  sees a decision as soon as the worker sends it, so the rate is the worker's, not the
  transaction commit interval's (a ``read_committed`` reader sees the last decision up to one
  commit interval later).

Headline: worker decisions/s over plain-loop records/s of the same run (the issue's target:
at least 1/10, and at least 3,000 decisions/s). Carts are derived from the sample's orders
like bench.decision_latency's (all but the last line of each order of 2+ lines, up to
--max-items items, orders cycled, unique event ids). Also recorded: the worker's cart
decisions counted by its ``/metrics`` over the burst, its garbage collections over the burst
(count and seconds per generation, from its ``basketlift_gc_pause_seconds``) and the
collector's thresholds it ran with (``basketlift_gc_threshold``), the partitions
it was assigned during the burst (a rebalance, which pauses it), the CPU of the worker, the
broker and this process, load averages, the machine and the commit.
``--py-spy FILE`` records the worker with py-spy (speedscope format, non-blocking sampling)
during the burst. Results are printed and merged into bench/results/decision_burst.json under
--name; the exit status is 1 unless every cart got its decision. Usage:

    .venv/bin/python -m bench.decision_burst [--carts 10000] [--name NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.decision_latency import (
    Received,
    build_state,
    carts_source,
    cpu_now,
    cpu_share,
    loadavg,
    measured_pids,
    offers_consumer,
    receive,
    run_record,
)
from bench.harness import (
    SAMPLE,
    Deployment,
    WorkerProcess,
    ensure_broker,
    machine,
    metric_total,
    new_deployment,
    py_spy_recording,
    save_named_result,
    start_worker,
)
from bench.ingest_throughput import fill, plain_loop
from bench.state_replay import code_report, code_version, default_group_timing_env, log_summary
from streams.kafka import admin as kafka_admin
from streams.kafka.producer import make_producer
from streams.settings import Settings
from streams.tools.replay.orderlog import read_orders_file

DECISIONS = "basketlift_decisions_total"
RECOVERY_READS = "basketlift_decision_recovery_reads_total"
GC_PAUSE_SUM = "basketlift_gc_pause_seconds_sum"
GC_PAUSE_COUNT = "basketlift_gc_pause_seconds_count"
GC_THRESHOLD = "basketlift_gc_threshold"
GENERATIONS = ("0", "1", "2")


def gc_pauses(text: str) -> dict[str, tuple[float, float]]:
    """Per collector generation: (collections, seconds) so far, from the worker's metrics."""
    return {
        g: (
            metric_total(text, GC_PAUSE_COUNT, generation=g),
            metric_total(text, GC_PAUSE_SUM, generation=g),
        )
        for g in GENERATIONS
    }


def burst_records(
    deployment: Deployment, carts: list[tuple[str, dict[str, Any]]], count: int, max_items: int
) -> list[tuple[str, bytes, bytes]]:
    """(event id, key, value) of `count` carts: the templates cycled, at most `max_items` each."""
    out = []
    for n in range(count):
        key, cart = carts[n % len(carts)]
        event_id = f"burst-{deployment.prefix}-{n}"
        event = {"event_id": event_id, **cart, "items": cart["items"][:max_items]}
        out.append((event_id, key.encode(), orjson.dumps(event)))
    return out


async def run_plain_loop(
    deployment: Deployment, records: list[tuple[str, bytes, bytes]], passes: int
) -> list[float]:
    """Fill a copy topic with the carts, run the plain loop over it `passes` times (each a
    new consumer group from the start); return each pass's seconds."""
    copy_topic = f"{deployment.prefix}.plain.carts"
    out_topic = f"{deployment.prefix}.plain.out"
    await kafka_admin.ensure_topics(
        deployment.access, {copy_topic: {}, out_topic: {}}, deployment.partitions
    )
    await fill(deployment.access, [(copy_topic, key, value) for _e, key, value in records])
    return [
        await plain_loop(deployment.access, [copy_topic], out_topic, len(records))
        for _ in range(passes)
    ]


async def run_burst(
    worker: WorkerProcess,
    records: list[tuple[str, bytes, bytes]],
    drain_timeout: float,
    pids: dict[str, int | None],
    profile: Path | None,
) -> dict[str, Any]:
    """Send every cart at once; time from the first send to the last decision received."""
    deployment = worker.deployment
    topic = deployment.topic("carts")
    total = len(records)
    got = Received()
    consumer = await offers_consumer(deployment, "read_uncommitted")
    stop = asyncio.Event()
    wanted = {event_id for event_id, _k, _v in records}
    receivers = [asyncio.create_task(receive(consumer, wanted, got, stop))]
    producer = make_producer(deployment.access)
    await producer.start()
    try:
        await asyncio.sleep(0.5)  # let the consumer issue its first fetch
        before_text = worker.metrics_text()
        decided_before = metric_total(before_text, DECISIONS, placement="cart")
        gc_before = gc_pauses(before_text)
        read_back_before = metric_total(before_text, RECOVERY_READS)
        load_start = loadavg()
        with py_spy_recording(worker.process.pid, profile):
            cpu_start = cpu_now(pids)
            first_sent = time.time()
            futures = [await producer.send(topic, value, key=key) for _e, key, value in records]
            send_errors = sum(
                isinstance(r, BaseException)
                for r in await asyncio.gather(*futures, return_exceptions=True)
            )
            sent_s = time.time() - first_sent
            while time.time() - first_sent < drain_timeout + sent_s:
                if len(got.at) >= total or not worker.alive():
                    break
                await asyncio.sleep(0.05)
            cpu_end = cpu_now(pids)
        wall = time.time() - first_sent
        load_end = loadavg()
        after_text = worker.metrics_text()
        decided = metric_total(after_text, DECISIONS, placement="cart") - decided_before
        gc_after = gc_pauses(after_text)
        read_back = metric_total(after_text, RECOVERY_READS) - read_back_before
    finally:
        stop.set()
        await asyncio.gather(*receivers, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
    last = max(got.at.values(), default=first_sent)
    span = last - first_sent
    return {
        "carts_sent": total,
        "send_errors": send_errors,
        "send_s": round(sent_s, 2),
        "bench_send_rate_per_s": round(total / sent_s) if sent_s > 0 else None,
        "decisions_received": len(got.at),
        "missing": total - len(got.at),
        "duplicates": got.duplicates,
        "with_offers": got.with_offers,
        "cohorts": dict(got.cohorts),
        "worker_cart_decisions_counted": int(decided),
        "first_send_to_last_decision_s": round(span, 3),
        "decisions_per_s": round(len(got.at) / span, 1) if span > 0 else None,
        "cpu_share_of_one_core": cpu_share(cpu_start, cpu_end, wall),
        # Partitions read back after an assignment: above 0, the group rebalanced during the
        # burst, and the rate includes the pause.
        "worker_partitions_assigned_during_burst": int(read_back),
        "worker_gc_during_burst": {
            f"generation_{g}": {
                "collections": int(gc_after[g][0] - gc_before[g][0]),
                "seconds": round(gc_after[g][1] - gc_before[g][1], 3),
            }
            for g in GENERATIONS
        },
        # The collector's thresholds the worker ran with (BASKETLIFT_GC_YOUNG_THRESHOLD).
        "worker_gc_thresholds": {
            f"generation_{g}": int(metric_total(after_text, GC_THRESHOLD, generation=g))
            for g in GENERATIONS
        },
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "worker_alive": worker.alive(),
    }


def main() -> None:
    """Build the state, run the plain loop, send the burst, print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carts", type=int, default=10_000, help="Carts in the burst.")
    parser.add_argument("--max-items", type=int, default=20, help="Items per cart at most.")
    parser.add_argument("--history-orders", type=int, default=3001, help="Orders for the state.")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="Wait for decisions.")
    parser.add_argument("--state-timeout", type=float, default=600.0)
    parser.add_argument("--py-spy", type=Path, help="Record the worker during the burst here.")
    parser.add_argument(
        "--plain-passes",
        type=int,
        default=3,
        help="Passes of the plain loop over the carts; its rate is their median.",
    )
    parser.add_argument("--name", help="Key of this run in the results file.")
    args = parser.parse_args()
    name = args.name or f"carts_{args.carts}"

    load_at_start = loadavg()
    bootstrap = ensure_broker(Settings())
    sample = read_orders_file(SAMPLE)
    history = sample.head(args.history_orders)
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    records = burst_records(deployment, carts_source(sample), args.carts, args.max_items)
    asyncio.run(deployment.create_topics())
    info = machine()
    pids = measured_pids(info)
    code_before = code_version()
    status = "ok"
    state: dict[str, Any] = {}
    burst: dict[str, Any] = {}
    plain_passes_s: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="decision_burst-") as tmp:
            worker = start_worker(deployment, Path(tmp), **default_group_timing_env())
            pids["worker"] = worker.process.pid
            try:
                worker.wait_healthy(timeout=180)
                state = build_state(worker, history, args.state_timeout)
                print(f"state: {state}", flush=True)
                plain_passes_s = asyncio.run(run_plain_loop(deployment, records, args.plain_passes))
                rates = ", ".join(f"{len(records) / s:,.0f}" for s in plain_passes_s)
                print(f"plain loop: {rates} records/s", flush=True)
                burst = asyncio.run(
                    run_burst(worker, records, args.drain_timeout, pids, args.py_spy)
                )
                if burst["missing"] or not burst["worker_alive"]:
                    status = "incomplete"
            except (AssertionError, SystemExit) as error:
                status = f"failed: {str(error)[:2000]}"
                print(status)
            finally:
                exit_code = worker.stop(timeout=60)
                log = log_summary(worker.log_path)
    finally:
        code_after = code_version()
        deleted = asyncio.run(deployment.delete_topics())

    plain_rates = [len(records) / s for s in plain_passes_s if s > 0]
    plain_rate = statistics.median(plain_rates) if plain_rates else None
    worker_rate = burst.get("decisions_per_s")
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": status,
        "worker_over_plain": (
            round(worker_rate / plain_rate, 4) if worker_rate and plain_rate else None
        ),
        "plain_over_worker": (
            round(plain_rate / worker_rate, 2) if worker_rate and plain_rate else None
        ),
        "worker_decisions_per_s": worker_rate,
        "plain_loop_records_per_s": round(plain_rate) if plain_rate else None,
        "plain_loop_passes_records_per_s": [round(rate) for rate in plain_rates],
        "measured_with": "read_uncommitted consumer of the offers topic",
        "args": {
            "carts": args.carts,
            "max_items": args.max_items,
            "history_orders": args.history_orders,
            "partitions": args.partitions,
        },
        "carts": {
            "derived_from": "sample orders with 2+ lines, all but the last line, cycled",
            "avg_bytes": round(sum(len(v) for _e, _k, v in records) / len(records)),
            "avg_items": round(
                sum(len(orjson.loads(v)["items"]) for _e, _k, v in records) / len(records), 1
            ),
        },
        "code": code_report(code_before, code_after),
        "state": state,
        "burst": burst,
        **run_record(info, exit_code, log, len(deleted), load_at_start),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "code"}, indent=2))
    path = save_named_result("decision_burst.json", name, result)
    print(f"saved under {name!r} in {path}")
    if status != "ok":
        raise SystemExit(f"decision_burst: {status}")


if __name__ == "__main__":
    main()

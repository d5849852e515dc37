"""Decision latency: cart events at fixed rates through one worker, timed three ways.

One worker (``start_worker``: exactly-once, RocksDB, default consumer-group timing as in
bench.state_replay) on a fresh deployment of the local broker. The state is built first from
the shipped real sample (catalog, then --history-orders orders, as the decision integration
test does); the bench waits until the worker has counted the orders, every co-purchase delta
is committed and the ranker index is up to date. Then, per rate, cart events derived from the
sample's orders (all but the last line of an order, orders cycled, unique event ids, keyed
like ``streams.tools.replay.events.event_key``) are sent at that fixed rate (paced by the wall
clock) for --seconds, and each decision's latency is measured:

- worker: the delta of the worker's ``basketlift_decision_latency_seconds{placement="cart"}``
  histogram over the window (from the worker receiving the cart to the decision being handed
  to its producer); p50/p90/p99 are interpolated linearly within the histogram's buckets;
- end to end, read_uncommitted: a consumer of the offers topic started before sending; per
  decision, receive time minus the cart's send time (``time.time()`` just before
  ``producer.send``, so the bench producer's linger and the broker round trip are included);
- end to end, read_committed: the same for a read_committed consumer, as a frontend that
  must never show a rolled-back record reads (decisions are published outside the worker's
  transaction, so it need not wait for the commit; a record of another transaction still
  open on the same partition would hold it back).

Also per rate: the achieved send rate, decisions received (vs carts sent), the worker's,
the broker's and this process's CPU over the sending window, and the load average. Results are
printed and merged into bench/results/decision_latency.json under --name (default: the rates
and seconds). The deployment's topics are deleted afterwards unless --keep-topics. Usage:

    .venv/bin/python -m bench.decision_latency [--rates 50,200,500] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

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
    send_events,
    start_worker,
    wait_for_index,
)
from bench.state_replay import (
    GROUP_TIMING,
    code_report,
    code_version,
    default_group_timing_env,
    deltas_lag,
    fetch_snapshot,
    log_summary,
    proc_cpu_seconds,
    worker_settings,
)
from streams.kafka.admin import topic_partition_counts
from streams.kafka.producer import make_producer
from streams.settings import Settings
from streams.tools.replay.events import catalog_events, event_key, order_event
from streams.tools.replay.orderlog import OrderLog, read_orders_file
from streams.units import MINUTE_MS

HISTOGRAM = "basketlift_decision_latency_seconds"
QUANTILES = (0.5, 0.9, 0.99)
CONSUMER_FETCH_MAX_WAIT_MS = 100
"""Longest a fetch of the measuring consumers waits at the broker when there is no data."""
SETTLE_QUIET_S = 3.0
"""The state is built once product updates have not changed for this long (and no lag)."""
PAUSE_BETWEEN_RATES_S = 3.0


# --------------------------------------------------------------------------- statistics


def exact_quantile(ordered: list[float], q: float) -> float:
    """Quantile of sorted samples, interpolated linearly between the closest ranks."""
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def sample_stats(seconds: list[float]) -> dict[str, Any]:
    """Count, mean, p50/p90/p99 and max of latencies, in milliseconds."""
    if not seconds:
        return {"n": 0}
    ordered = sorted(seconds)
    out: dict[str, Any] = {
        "n": len(ordered),
        "mean_ms": round(1000 * sum(ordered) / len(ordered), 2),
    }
    for q in QUANTILES:
        out[f"p{round(q * 100)}_ms"] = round(1000 * exact_quantile(ordered, q), 2)
    out["min_ms"] = round(1000 * ordered[0], 2)
    out["max_ms"] = round(1000 * ordered[-1], 2)
    return out


@dataclass
class Histogram:
    """One labelled series of a Prometheus histogram: cumulative bucket counts, count, sum."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total: float = 0.0

    def minus(self, before: Histogram) -> Histogram:
        """The observations made between `before` and this reading."""
        return Histogram(
            {le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.count - before.count,
            self.total - before.total,
        )

    def quantile(self, q: float) -> tuple[float | None, bool]:
        """(estimate in seconds, True when it falls in the +Inf bucket), as histogram_quantile.

        Linear interpolation within the bucket holding rank q*count; the first bucket starts
        at 0. A rank in the +Inf bucket is reported as the highest finite bound.
        """
        if self.count <= 0:
            return None, False
        rank = q * self.count
        lower, below = 0.0, 0.0
        bounds = sorted(self.buckets)
        for le in bounds:
            cumulative = self.buckets[le]
            if cumulative >= rank:
                if math.isinf(le):
                    finite = [b for b in bounds if not math.isinf(b)]
                    return (finite[-1] if finite else None), True
                inside = cumulative - below
                share = (rank - below) / inside if inside > 0 else 1.0
                return lower + (le - lower) * share, False
            lower, below = le, cumulative
        return None, False

    def report(self) -> dict[str, Any]:
        """Count, mean and the bucket-interpolated quantiles, in milliseconds."""
        out: dict[str, Any] = {
            "n": int(self.count),
            "mean_ms": round(1000 * self.total / self.count, 2) if self.count else None,
        }
        for q in QUANTILES:
            value, overflow = self.quantile(q)
            key = f"p{round(q * 100)}_ms"
            out[key] = None if value is None else round(1000 * value, 2)
            if overflow:
                out[key + "_in_inf_bucket"] = True
        out["buckets_ms"] = {
            ("+Inf" if math.isinf(le) else f"{1000 * le:g}"): int(n)
            for le, n in sorted(self.buckets.items())
        }
        return out


STALLS: dict[str, tuple[str, dict[str, str]]] = {
    "commit_hold": ("basketlift_commit_hold_seconds", {}),
    "commit_whole": ("basketlift_commit_seconds", {}),
    "gc_full_collection": ("basketlift_gc_pause_seconds", {"generation": "2"}),
}
"""Worker histograms of what makes decisions wait besides their own work, per rate."""


def read_histogram(text: str, name: str, **labels: str) -> Histogram:
    """The series of histogram `name` whose labels include `labels`, from /metrics text."""
    hist = Histogram()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not all(sample.labels.get(k) == v for k, v in labels.items()):
                continue
            if sample.name == f"{name}_bucket":
                le = float(sample.labels["le"])
                hist.buckets[le] = hist.buckets.get(le, 0.0) + sample.value
            elif sample.name == f"{name}_count":
                hist.count += sample.value
            elif sample.name == f"{name}_sum":
                hist.total += sample.value
    return hist


# --------------------------------------------------------------------------- machine


def memory_gib() -> float | None:
    """MemTotal of /proc/meminfo in GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def measured_pids(info: dict[str, object]) -> dict[str, int | None]:
    """The processes whose CPU a bench follows: the worker (set once started) and the broker
    (from ``machine()``)."""
    broker_pid = info.get("broker_pid")
    return {"worker": None, "broker": broker_pid if isinstance(broker_pid, int) else None}


def machine_report(info: dict[str, object]) -> dict[str, object]:
    """``machine()`` with the CPUs this process may use, the RAM and where the broker ran."""
    return {
        **info,
        "nproc": len(os.sched_getaffinity(0)),
        "ram_gib": memory_gib(),
        "broker": "local single-node KRaft broker on the same machine",
    }


# --------------------------------------------------------------------------- state


def carts_source(log: OrderLog) -> list[tuple[str, dict[str, Any]]]:
    """(key, cart without event_id) per order of 2+ lines: all but the order's last line."""
    out = []
    for order in log.orders:
        event = order_event(order)
        if len(event["items"]) < 2:
            continue
        cart = {
            "ts": order.ts_ms - MINUTE_MS,
            "shopper_id": event["shopper_id"],
            "session_id": event["session_id"],
            "cart_id": f"k-{order.order_id}",
            "currency": event["currency"],
            "items": event["items"][:-1],
        }
        out.append((event_key(order), cart))
    return out


def wait_settled(worker: WorkerProcess, timeout: float) -> dict[str, Any]:
    """Wait for quiet product updates and no uncommitted co-purchase delta; say how it went."""
    url = worker.base_url + "/metrics"
    started = time.monotonic()
    last_updates: float | None = None
    last_change = started
    checks: list[int] = []
    while time.monotonic() - started < timeout:
        if not worker.alive():
            raise SystemExit("worker died while settling:\n" + worker.log_tail())
        snap = fetch_snapshot(url)
        now = time.monotonic()
        if snap is not None and snap.product_updates != last_updates:
            last_updates, last_change = snap.product_updates, now
        if now - last_change >= SETTLE_QUIET_S:
            lag = asyncio.run(deltas_lag(worker.deployment))
            checks.append(lag)
            if lag == 0:
                return {"settled": True, "s": round(now - started, 1), "lag_checks": checks}
        time.sleep(0.5)
    return {"settled": False, "s": round(time.monotonic() - started, 1), "lag_checks": checks}


def build_state(worker: WorkerProcess, log: OrderLog, timeout: float) -> dict[str, Any]:
    """Send the catalog and the history orders, wait until counted, settled and indexed."""
    deployment = worker.deployment
    started = time.monotonic()
    catalog = catalog_events(log)
    send_events(deployment, [("catalog", e["product_id"], e) for e in catalog])
    send_events(deployment, [("orders", event_key(o), order_event(o)) for o in log.orders])
    sent_s = time.monotonic() - started
    worker.wait_consumed({deployment.topic("orders"): log.order_count}, timeout=timeout)
    counted_s = time.monotonic() - started
    settle = wait_settled(worker, timeout)
    wait_for_index(worker, time.time(), timeout=60)
    text = worker.metrics_text()
    return {
        "catalog_events": len(catalog),
        "orders": log.order_count,
        "order_lines": log.line_count,
        "sent_s": round(sent_s, 1),
        "orders_counted_s": round(counted_s, 1),
        "settle": settle,
        "ready_s": round(time.monotonic() - started, 1),
        "index_products": metric_total(text, "basketlift_index_products"),
        "product_updates_total": metric_total(text, "basketlift_product_updates_total"),
        "confirmation_decisions": metric_total(
            text, "basketlift_decisions_total", placement="confirmation"
        ),
    }


# --------------------------------------------------------------------------- one rate


@dataclass
class Received:
    """What one measuring consumer saw: first receive time per trigger, and the rest."""

    at: dict[str, float] = field(default_factory=dict)
    decided_ms: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    others: int = 0
    cohorts: Counter[str] = field(default_factory=Counter)
    with_offers: int = 0


async def offers_consumer(deployment: Deployment, isolation: str) -> AIOKafkaConsumer:
    """A consumer assigned to every offers partition, positioned at the current end."""
    topic = deployment.topic("offers")
    count = (await topic_partition_counts(deployment.access, [topic]))[topic]
    consumer = AIOKafkaConsumer(
        **deployment.access.client_options(),
        enable_auto_commit=False,
        isolation_level=isolation,
        fetch_max_wait_ms=CONSUMER_FETCH_MAX_WAIT_MS,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(count)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve now: only decisions sent from here on count
    return consumer


async def receive(
    consumer: AIOKafkaConsumer, wanted: set[str], got: Received, stop: asyncio.Event
) -> None:
    """Record the receive time of every decision until `stop` is set."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=100)
        now = time.time()
        for messages in batches.values():
            for message in messages:
                decision = orjson.loads(message.value)
                trigger = decision["trigger_event_id"]
                if trigger not in wanted:
                    got.others += 1
                elif trigger in got.at:
                    got.duplicates += 1
                else:
                    got.at[trigger] = now
                    got.decided_ms[trigger] = decision["ts"]
                    got.cohorts[decision.get("cohort", "?")] += 1
                    got.with_offers += bool(decision.get("offers"))


def decision_ts_stats(got: Received, sent_at: dict[str, float]) -> dict[str, Any]:
    """Decision `ts` minus send time, when `ts` is the wall-clock time of the decision.

    Meaningful only when a decision's `ts` is the worker's wall clock when deciding; a
    worker whose `ts` is something else (Basketlift's is event time: the trigger's `ts` plus
    the time taken) gives no such breakdown.
    """
    deltas = [got.decided_ms[e] / 1000 - sent_at[e] for e in got.decided_ms]
    if deltas and abs(sorted(deltas)[len(deltas) // 2]) > 3600:
        return {"n": 0, "skipped": "decision ts is not the wall-clock time of the decision"}
    return sample_stats(deltas)


def cpu_now(pids: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of the given processes, and of this one."""
    out = {name: proc_cpu_seconds(pid) if pid else None for name, pid in pids.items()}
    out["bench"] = time.process_time()
    return out


def cpu_share(
    before: dict[str, float | None], after: dict[str, float | None], wall: float
) -> dict[str, float | None]:
    """Each process's CPU over a wall-clock span, as a share of one core."""
    out: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        out[name] = (
            None if start is None or end is None or wall <= 0 else round((end - start) / wall, 3)
        )
    return out


async def run_rate(
    worker: WorkerProcess,
    rate: float,
    seconds: float,
    carts: list[tuple[str, dict[str, Any]]],
    first_index: int,
    drain_timeout: float,
    pids: dict[str, int | None],
) -> dict[str, Any]:
    """Send carts at `rate` for `seconds`, measure every decision's latency."""
    deployment = worker.deployment
    topic = deployment.topic("carts")
    total = max(1, round(rate * seconds))
    records: list[tuple[str, bytes, bytes]] = []
    for n in range(total):
        key, cart = carts[(first_index + n) % len(carts)]
        event_id = f"lat-{deployment.prefix}-{first_index + n}"
        records.append((event_id, key.encode(), orjson.dumps({"event_id": event_id, **cart})))
    wanted = {event_id for event_id, _k, _v in records}

    uncommitted, committed = Received(), Received()
    consumers = [
        await offers_consumer(deployment, "read_uncommitted"),
        await offers_consumer(deployment, "read_committed"),
    ]
    stop = asyncio.Event()
    receivers = [
        asyncio.create_task(receive(consumer, wanted, got, stop))
        for consumer, got in zip(consumers, (uncommitted, committed), strict=True)
    ]
    producer = make_producer(deployment.access)
    await producer.start()
    sent_at: dict[str, float] = {}
    acked_at: dict[str, float] = {}
    behind: list[float] = []
    try:
        await asyncio.sleep(0.5)  # let both consumers issue their first fetch
        text = worker.metrics_text()
        hist_before = read_histogram(text, HISTOGRAM, placement="cart")
        conf_before = read_histogram(text, HISTOGRAM, placement="confirmation")
        stalls_before = {
            name: read_histogram(text, metric, **labels)
            for name, (metric, labels) in STALLS.items()
        }
        load_start = loadavg()
        cpu_start = cpu_now(pids)
        futures = []
        start = time.perf_counter() + 0.05
        for n, (event_id, record_key, value) in enumerate(records):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind.append(-delay)
            sent_at[event_id] = time.time()
            future = await producer.send(topic, value, key=record_key)
            future.add_done_callback(
                lambda _f, event_id=event_id: acked_at.__setitem__(event_id, time.time())
            )
            futures.append(future)
        sending_s = time.perf_counter() - start
        cpu_sent = cpu_now(pids)
        send_errors = sum(
            isinstance(r, BaseException)
            for r in await asyncio.gather(*futures, return_exceptions=True)
        )
        drain_started = time.perf_counter()
        while time.perf_counter() - drain_started < drain_timeout:
            if len(committed.at) >= total and len(uncommitted.at) >= total:
                break
            if not worker.alive():
                break
            await asyncio.sleep(0.05)
        drain_s = time.perf_counter() - drain_started
        cpu_end = cpu_now(pids)
        load_end = loadavg()
        text = worker.metrics_text()
        hist_after = read_histogram(text, HISTOGRAM, placement="cart")
        conf_after = read_histogram(text, HISTOGRAM, placement="confirmation")
        stalls_after = {
            name: read_histogram(text, metric, **labels)
            for name, (metric, labels) in STALLS.items()
        }
    finally:
        stop.set()
        await asyncio.gather(*receivers, return_exceptions=True)
        await producer.stop()
        for consumer in consumers:
            await consumer.stop()

    first_sent = min(sent_at.values())
    last_sent = max(sent_at.values())
    span = last_sent - first_sent
    worker_hist = hist_after.minus(hist_before)

    def end_to_end(got: Received) -> dict[str, Any]:
        missing = total - len(got.at)
        return {
            "received": len(got.at),
            "missing": missing,
            "duplicates": got.duplicates,
            "other_decisions_seen": got.others,
            "cohorts": dict(got.cohorts),
            "with_offers": got.with_offers,
            **sample_stats([got.at[e] - sent_at[e] for e in got.at]),
        }

    return {
        "rate_target_per_s": rate,
        "carts_sent": len(sent_at),
        "send_errors": send_errors,
        "send_span_s": round(span, 2),
        "achieved_rate_per_s": round((len(sent_at) - 1) / span, 1) if span > 0 else None,
        "sends_behind_schedule": len(behind),
        "max_behind_schedule_ms": round(1000 * max(behind), 1) if behind else 0.0,
        "avg_cart_bytes": round(sum(len(v) for _e, _k, v in records) / total),
        "avg_cart_items": round(
            sum(len(carts[(first_index + n) % len(carts)][1]["items"]) for n in range(total))
            / total,
            1,
        ),
        "worker_histogram_bucket_interpolated": worker_hist.report(),
        "worker_histogram_count_equals_sent": int(worker_hist.count) == len(sent_at),
        # What held the event loop or the batches off meanwhile (the worker's histograms).
        "worker_waits": {
            name: stalls_after[name].minus(stalls_before[name]).report() for name in STALLS
        },
        "confirmation_decisions_in_window": int(conf_after.minus(conf_before).count),
        "end_to_end_read_uncommitted": end_to_end(uncommitted),
        "end_to_end_read_committed": end_to_end(committed),
        "send_to_decision_ts": decision_ts_stats(committed, sent_at),
        "producer_send_to_ack": sample_stats([acked_at[e] - sent_at[e] for e in acked_at]),
        "drain_after_last_send_s": round(drain_s, 2),
        "cpu_share_of_one_core_while_sending": cpu_share(cpu_start, cpu_sent, sending_s),
        "cpu_share_of_one_core_send_and_drain": cpu_share(cpu_start, cpu_end, sending_s + drain_s),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "worker_alive": worker.alive(),
    }


# --------------------------------------------------------------------------- main


def table(runs: list[dict[str, Any]]) -> str:
    """A small text table of the per-rate results."""
    header = (
        f"{'rate':>6} {'sent/s':>7} {'recv':>11} | {'worker p50/p90/p99 ms (buckets)':>31} | "
        f"{'e2e uncommitted p50/p90/p99/max ms':>34} | {'e2e committed p50/p90/p99/max ms':>33}"
        f" | {'worker cpu':>10}"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        w = run["worker_histogram_bucket_interpolated"]
        u = run["end_to_end_read_uncommitted"]
        c = run["end_to_end_read_committed"]

        def q(d: dict[str, Any], keys: tuple[str, ...]) -> str:
            return "/".join("-" if d.get(k) is None else f"{d[k]:.1f}" for k in keys)

        recv = f"{min(u['received'], c['received'])}/{run['carts_sent']}"
        cpu = run["cpu_share_of_one_core_while_sending"].get("worker")
        lines.append(
            f"{run['rate_target_per_s']:>6g} {run['achieved_rate_per_s'] or 0:>7.1f} {recv:>11} | "
            f"{q(w, ('p50_ms', 'p90_ms', 'p99_ms')):>31} | "
            f"{q(u, ('p50_ms', 'p90_ms', 'p99_ms', 'max_ms')):>34} | "
            f"{q(c, ('p50_ms', 'p90_ms', 'p99_ms', 'max_ms')):>33} | "
            f"{'-' if cpu is None else f'{cpu:.2f}':>10}"
        )
    return "\n".join(lines)


def run_record(
    info: dict[str, Any],
    exit_code: int,
    log: dict[str, Any],
    topics_deleted: int,
    load_at_start: list[float],
) -> dict[str, Any]:
    """How a bench's worker run ended, and the machine it ran on (`info`: harness.machine)."""
    return {
        "worker_exit_code": exit_code,
        "worker_log": {k: v for k, v in log.items() if k != "tail"},
        "topics_deleted": topics_deleted,
        "loadavg_start": load_at_start,
        "loadavg_end": loadavg(),
        "machine": machine_report(info),
    }


def faust_commit_settings() -> dict[str, Any]:
    """Faust's commit interval and count under the project's app (what the worker uses)."""
    from streams.app import app

    return {
        "broker_commit_interval_s": app.conf.broker_commit_interval,
        "broker_commit_every": app.conf.broker_commit_every,
    }


def main() -> None:
    """Build the state, send carts at each rate, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,500", help="Cart events/s, comma separated.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Sending time per rate.")
    parser.add_argument("--history-orders", type=int, default=3001, help="Orders for the state.")
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="Record the worker during each rate into FILE with the rate before its suffix"
        " (.txt: collapsed stacks; else speedscope).",
    )
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="Wait for decisions.")
    parser.add_argument("--state-timeout", type=float, default=600.0)
    parser.add_argument("--name", help="Key of this run in the results file.")
    parser.add_argument("--keep-topics", action="store_true", help="Do not delete the topics.")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    name = args.name or f"rates_{'_'.join(f'{r:g}' for r in rates)}_s{args.seconds:g}"

    load_at_start = loadavg()
    bootstrap = ensure_broker(Settings())
    sample = read_orders_file(SAMPLE)
    history = sample.head(args.history_orders)
    carts = carts_source(sample)
    print(
        f"sample: {sample.order_count} orders, history {history.order_count}, "
        f"{len(carts)} cart templates; loadavg {load_at_start}"
    )
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    info = machine()
    pids = measured_pids(info)
    code_before = code_version()
    runs: list[dict[str, Any]] = []
    status = "ok"
    state: dict[str, Any] = {}
    healthy_s = 0.0
    with tempfile.TemporaryDirectory(prefix="decision_latency-") as tmp:
        workdir = Path(tmp)
        settings = worker_settings(deployment, workdir / "data")
        worker = start_worker(deployment, workdir, **default_group_timing_env())
        pids["worker"] = worker.process.pid
        try:
            launched = time.monotonic()
            worker.wait_healthy(timeout=180)
            healthy_s = time.monotonic() - launched
            print(f"worker healthy after {healthy_s:.1f}s; building the state")
            state = build_state(worker, history, args.state_timeout)
            print(f"state: {state}")
            next_index = 0
            for rate in rates:
                print(f"rate {rate:g}/s for {args.seconds:g}s ...", flush=True)
                profile = (
                    args.py_spy.with_name(f"{args.py_spy.stem}-{rate:g}{args.py_spy.suffix}")
                    if args.py_spy is not None
                    else None
                )
                with py_spy_recording(worker.process.pid, profile):
                    run = asyncio.run(
                        run_rate(
                            worker,
                            rate,
                            args.seconds,
                            carts,
                            next_index,
                            args.drain_timeout,
                            pids,
                        )
                    )
                next_index += run["carts_sent"]
                runs.append(run)
                print(table([run]).splitlines()[-1], flush=True)
                if not worker.alive():
                    status = "worker_exited"
                    break
                time.sleep(PAUSE_BETWEEN_RATES_S)
        except (AssertionError, SystemExit) as error:
            status = f"failed: {str(error)[:2000]}"
            print(status)
        finally:
            exit_code = worker.stop(timeout=60)
            log = log_summary(worker.log_path)
    code_after = code_version()
    deleted = [] if args.keep_topics else asyncio.run(deployment.delete_topics())

    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": status,
        "args": {
            "rates": rates,
            "seconds": args.seconds,
            "history_orders": args.history_orders,
            "partitions": args.partitions,
            "drain_timeout": args.drain_timeout,
        },
        "code": code_report(code_before, code_after),
        "settings": {
            "partitions": settings.partitions,
            "processing_guarantee": settings.processing_guarantee,
            "store": settings.store,
            "batch_max": settings.batch_max,
            "batch_within_seconds": settings.batch_within_seconds,
            "batch_handover": settings.batch_handover,
            "producer_linger_ms": settings.producer_linger_ms,
            "index_refresh_seconds": settings.index_refresh_seconds,
            "decision_log_level": settings.decision_log_level,
            "holdout_fraction": getattr(settings, "holdout_fraction", None),
            "log_level": settings.log_level,
            **{key: getattr(settings, key) for key in GROUP_TIMING},
            **faust_commit_settings(),
            "bench_producer": "streams.kafka.producer.make_producer (acks=all, linger 5 ms)",
            "measuring_consumers_fetch_max_wait_ms": CONSUMER_FETCH_MAX_WAIT_MS,
        },
        "worker_healthy_s": round(healthy_s, 1),
        "state": state,
        "carts": {
            "derived_from": "sample orders with 2+ lines, all but the last line, cycled",
            "templates": len(carts),
        },
        "rates": runs,
        **run_record(info, exit_code, log, len(deleted), load_at_start),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rates"}, indent=2))
    print(table(runs))
    path = save_named_result("decision_latency.json", name, result)
    print(f"saved under {name!r} in {path}")


if __name__ == "__main__":
    main()

"""Rebalance cost: how long decisions stall when a worker joins a running worker with state
loaded, and when it leaves again, with and without standby replicas.

Per store (``--products 0``: the shipped real sample; N: a synthetic store of N products,
bench.synthstore, ``--orders`` orders) and per ``--standbys`` value
(BASKETLIFT_TABLE_STANDBY_REPLICAS), on a fresh deployment:

1. worker A starts and the store is loaded through it: the full catalog, then every order,
   until the co-purchase deltas have settled (as bench.scale);
2. carts derived from the store's orders are sent at ``--rate`` carts/s for the rest of the
   run, and every decision's arrival is timed by a ``read_committed`` reader of the offers
   topic (decisions are published outside the transaction, so it sees each at once);
   ``--before`` seconds give the baseline latency;
3. **join**: worker B starts (an empty data directory) and joins the group: it takes half
   of the partitions and recovers their tables from the changelogs before processing them;
   the bench waits until both are healthy, then ``--after`` seconds more;
4. **leave**: B stops (SIGTERM: it commits and leaves the group at once; a crashed worker
   would add the session timeout, 10 s here, before anyone notices) and A takes its
   partitions back; ``--after`` seconds more.

For each of join and leave it reports ``until_flowing_s``: from the event until decisions
flow again, i.e. the send time of the first cart after which every cart sent in the phase
was decided within the threshold (the larger of 1 s and 3 x the baseline p99), minus the
event time; the worst latency, how many carts exceeded the threshold, how many got no
decision; and the most changelog records the new owner still had to read
(``basketlift_recovery_remaining``, polled every 0.5 s). With standbys A keeps a copy of
B's partitions, so the leave phase needs only what that copy lacks; a joining worker has
no copy of anything, so standbys cannot shorten a join. Results are merged into
bench/results/rebalance.json under --name; topics are deleted afterwards. Usage:

    .venv/bin/python -m bench.rebalance [--products 0,50000] [--standbys 1,0] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench.decision_latency import (
    Received,
    carts_source,
    loadavg,
    machine_report,
    offers_consumer,
    receive,
    wait_settled,
)
from bench.harness import (
    Deployment,
    WorkerProcess,
    ensure_broker,
    machine,
    metric_total,
    new_deployment,
    save_runs,
    start_worker,
    wait_all_serving,
)
from bench.state_replay import fill
from bench.synthstore import StoreSpec, catalog_events, write_store
from streams.kafka.producer import make_producer
from streams.resources import SAMPLE_ORDERS
from streams.settings import Settings
from streams.tools.replay.events import catalog_events as sample_catalog_events
from streams.tools.replay.events import event_key, order_event
from streams.tools.replay.orderlog import OrderLog, read_orders_file

RESULTS_FILE = "rebalance.json"


class RecoveryWatch:
    """Polls a worker's /metrics in a thread: the most changelog records it still had to
    read at once, and when /health first answered 200."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.most_remaining = 0.0
        self.healthy_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RecoveryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = self.worker.metrics_text()
                remaining = metric_total(text, "basketlift_recovery_remaining")
                self.most_remaining = max(self.most_remaining, remaining)
                if self.healthy_at is None and self.worker.health() == 200:
                    self.healthy_at = time.time()
            except (AssertionError, OSError):
                pass  # not answering yet (starting) or any more (stopped)
            self._stop.wait(0.5)


class CartStream:
    """Sends carts at a steady rate in its own thread and event loop, and times every
    decision a read_committed reader of the offers topic receives."""

    def __init__(self, deployment: Deployment, carts: list[tuple[str, dict[str, Any]]]) -> None:
        self.deployment = deployment
        self.carts = carts
        self.sent_at: dict[str, float] = {}
        self.received = Received()
        self.received_uncommitted = Received()
        """What a read_uncommitted reader saw: a cross-check (decisions are published outside
        transactions, so both readers should see the same)."""
        self.wanted: set[str] = set()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run_thread, daemon=True)
        self.rate = 1.0

    def start(self, rate: float) -> None:
        """Start sending at `rate` carts/s once the reader is positioned at the end."""
        self.rate = rate
        self._thread.start()
        if not self._ready.wait(60):
            raise SystemExit(f"the cart stream did not start: {self._error!r}")

    def stop(self, drain_s: float) -> None:
        """Stop sending, wait up to `drain_s` for the last decisions, stop reading."""
        self._stop.set()
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and len(self.received.at) < len(self.sent_at):
            time.sleep(0.2)
        self._done.set()
        self._thread.join(30)
        if self._error is not None:
            raise SystemExit(f"the cart stream failed: {self._error!r}")

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # reported by stop()
            self._error = error
            self._ready.set()

    async def _run(self) -> None:
        consumer: AIOKafkaConsumer = await offers_consumer(self.deployment, "read_committed")
        uncommitted = await offers_consumer(self.deployment, "read_uncommitted")
        reading = asyncio.Event()
        receivers = [
            asyncio.create_task(receive(consumer, self.wanted, self.received, reading)),
            asyncio.create_task(
                receive(uncommitted, self.wanted, self.received_uncommitted, reading)
            ),
        ]
        producer = make_producer(self.deployment.access)
        await producer.start()
        topic = self.deployment.topic("carts")
        self._ready.set()
        try:
            started = time.perf_counter()
            n = 0
            while not self._stop.is_set():
                key, cart = self.carts[n % len(self.carts)]
                event_id = f"rb-{self.deployment.prefix}-{n}"
                self.wanted.add(event_id)
                self.sent_at[event_id] = time.time()
                await producer.send(
                    topic, orjson.dumps({"event_id": event_id, **cart}), key=key.encode()
                )
                n += 1
                delay = started + n / self.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.flush()
            while not self._done.is_set():
                await asyncio.sleep(0.2)
        finally:
            reading.set()
            await asyncio.gather(*receivers, return_exceptions=True)
            await producer.stop()
            await consumer.stop()
            await uncommitted.stop()

    def undecided_uncommitted(self, start: float, end: float) -> int:
        """Carts sent in [start, end) that the read_uncommitted reader saw no decision for."""
        at = self.received_uncommitted.at
        return sum(
            1 for e, sent in list(self.sent_at.items()) if start <= sent < end and e not in at
        )

    def latencies(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """(send time, latency or None when undecided) of the carts sent in [start, end)."""
        return sorted(
            (sent, self.received.at[e] - sent if e in self.received.at else None)
            for e, sent in list(self.sent_at.items())
            if start <= sent < end
        )


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def phase_report(
    latencies: list[tuple[float, float | None]], event_at: float, threshold: float
) -> dict[str, Any]:
    """How a phase went: until decisions flowed again after `event_at`, the worst latency,
    carts over `threshold` and undecided."""
    recovered_at: float | None = None
    for sent, latency in reversed(latencies):
        if latency is None or latency > threshold:
            break
        recovered_at = sent
    decided = [latency for _sent, latency in latencies if latency is not None]
    return {
        "carts": len(latencies),
        "until_flowing_s": None if recovered_at is None else round(recovered_at - event_at, 2),
        "max_latency_s": round(max(decided), 2) if decided else None,
        "p50_latency_s": round(statistics.median(decided), 3) if decided else None,
        "over_threshold": sum(1 for latency in decided if latency > threshold),
        "undecided": sum(1 for _sent, latency in latencies if latency is None),
    }


Events = list[tuple[str, str, dict[str, Any]]]


def load_store(products: int, args: argparse.Namespace, workdir: Path) -> tuple[OrderLog, Events]:
    """The order log and catalog events of the store: the shipped sample, or a synthetic
    store of `products` products."""
    if products == 0:
        log = read_orders_file(SAMPLE_ORDERS)
        return log, [("catalog", e["product_id"], e) for e in sample_catalog_events(log)]
    spec = StoreSpec(products=products, shoppers=args.shoppers, orders=args.orders, seed=0)
    store_file = workdir / "store.parquet"
    write_store(spec, store_file)
    return read_orders_file(store_file), [
        ("catalog", e["product_id"], e) for e in catalog_events(spec)
    ]


def run_directory(args: argparse.Namespace) -> contextlib.AbstractContextManager[str]:
    """A fresh directory for one run, under --workdir if given, removed afterwards unless
    --keep."""
    if args.keep:
        return contextlib.nullcontext(tempfile.mkdtemp(prefix="rebalance-", dir=args.workdir))
    return tempfile.TemporaryDirectory(prefix="rebalance-", dir=args.workdir)


def timed(step: Callable[[], object]) -> float:
    """Run `step`; seconds it took."""
    started = time.monotonic()
    step()
    return round(time.monotonic() - started, 1)


def run_one(
    products: int, standbys: int, args: argparse.Namespace, bootstrap: str
) -> dict[str, Any]:
    """Load one store through worker A, then join and leave with worker B under a cart stream."""
    result: dict[str, Any] = {"products": products, "standbys": standbys, "status": "ok"}
    env = {
        "BASKETLIFT_TABLE_STANDBY_REPLICAS": str(standbys),
        "BASKETLIFT_LOG_LEVEL": args.log_level,
    }
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    with run_directory(args) as tmp:
        workdir = Path(tmp)
        log, catalog = load_store(products, args, workdir)
        (workdir / "a").mkdir()
        (workdir / "b").mkdir()
        first = start_worker(deployment, workdir / "a", **env)
        second: WorkerProcess | None = None
        stream: CartStream | None = None
        try:
            first.wait_healthy(timeout=180)
            orders = [("orders", event_key(o), order_event(o)) for o in log.orders]
            result["store"] = {
                "products": len(catalog),
                "orders": log.order_count,
                "shoppers": log.shopper_count,
            }
            result["catalog_s"] = timed(lambda: asyncio.run(fill(deployment, catalog)))
            first.wait_consumed({deployment.topic("catalog"): len(catalog)}, args.timeout)
            result["orders_s"] = timed(lambda: asyncio.run(fill(deployment, orders)))
            first.wait_consumed({deployment.topic("orders"): log.order_count}, args.timeout)
            result["settle"] = wait_settled(first, args.timeout)
            print(f"[{products} products, standbys {standbys}] loaded: {result}", flush=True)

            stream = CartStream(deployment, carts_source(log))
            stream.start(args.rate)
            time.sleep(args.before)
            baseline = [lat for _s, lat in stream.latencies(0, time.time()) if lat is not None]
            baseline_p99 = percentile(baseline, 0.99) or 0.0
            threshold = max(1.0, 3 * baseline_p99)

            join_at = time.time()
            second = start_worker(deployment.sibling(), workdir / "b", **env)
            with RecoveryWatch(second) as joining:
                wait_all_serving([first, second], timeout=args.timeout)
                time.sleep(args.after)
            leave_at = time.time()
            with RecoveryWatch(first) as taking_back:
                result["second_exit_code"] = second.stop(timeout=60)
                time.sleep(args.after)
                end_at = time.time()
            stream.stop(drain_s=30)
            result.update(
                {
                    "rate_carts_per_s": args.rate,
                    "baseline": {
                        "carts": len(baseline),
                        "p50_s": round(percentile(baseline, 0.5) or 0, 3),
                        "p99_s": round(baseline_p99, 3),
                    },
                    "threshold_s": round(threshold, 2),
                    "join": {
                        **phase_report(stream.latencies(join_at, leave_at), join_at, threshold),
                        "undecided_read_uncommitted": stream.undecided_uncommitted(
                            join_at, leave_at
                        ),
                        "joining_worker_healthy_after_s": None
                        if joining.healthy_at is None
                        else round(joining.healthy_at - join_at, 1),
                        "joining_worker_most_changelog_records_to_read": joining.most_remaining,
                    },
                    "leave": {
                        **phase_report(stream.latencies(leave_at, end_at), leave_at, threshold),
                        "undecided_read_uncommitted": stream.undecided_uncommitted(
                            leave_at, end_at
                        ),
                        "remaining_worker_most_changelog_records_to_read": (
                            taking_back.most_remaining
                        ),
                    },
                    "loadavg_after": loadavg(),
                }
            )
        except (AssertionError, SystemExit) as error:
            result["status"] = f"failed: {str(error)[:2000]}"
        finally:
            if stream is not None and result["status"] != "ok":
                stream.stop(drain_s=0)
            first.stop(timeout=60)
            if second is not None:
                second.stop(timeout=60)
            asyncio.run(deployment.delete_topics())
    print(f"[{products} products, standbys {standbys}] {result}", flush=True)
    return result


def main() -> None:
    """Run every (store, standbys) combination once; print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", default="0", help="Comma-separated; 0: the real sample.")
    parser.add_argument("--orders", type=int, default=5000, help="Orders of a synthetic store.")
    parser.add_argument("--shoppers", type=int, default=5000)
    parser.add_argument("--standbys", default="1,0", help="Comma-separated standby counts.")
    parser.add_argument("--rate", type=float, default=20.0, help="Carts per second.")
    parser.add_argument("--before", type=float, default=15.0)
    parser.add_argument("--after", type=float, default=25.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--name", help="Run name in the results file.")
    parser.add_argument(
        "--workdir", type=Path, help="Where the run's directory (worker logs, data) goes."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the run's directory (with --workdir)."
    )
    parser.add_argument("--log-level", default="warning", help="The workers' log level.")
    args = parser.parse_args()

    bootstrap = ensure_broker(Settings())
    info = machine()
    runs = [
        run_one(int(products), int(standbys), args, bootstrap)
        for products in args.products.split(",")
        for standbys in args.standbys.split(",")
    ]
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
        "runs": runs,
        "machine": machine_report(info),
    }
    name = args.name or f"products_{args.products.replace(',', '_')}"
    save_runs(RESULTS_FILE, name, result)


if __name__ == "__main__":
    main()

"""Scale-out throughput: events/s of 1, 2 and 4 workers sharing 16 partitions, against a
plain aiokafka loop measured in the same run.

The events are bench.ingest_throughput's: cart and order events derived from the shipped
real sample (cycled, event time moving forward each pass), or its small synthetic carts
with ``--small``. Each measurement gets a fresh deployment (topics with ``--partitions``
partitions and a new app id):

- the plain loop (bench.ingest_throughput's ``plain_loop``: consume, parse with orjson,
  produce, commit per batch) reads the pre-filled topics with one consumer;
- for N workers (``--workers``, default 1,2,4), N worker processes (exactly-once, the
  in-memory table store as in bench.ingest_throughput, so disk speed stays out of it) join
  one consumer group and the bench waits until all are healthy several polls in a row (the
  group has settled and every partition has an owner); only then are the events
  produced, and the rate is events / seconds from the first send until the workers'
  /metrics together count a decision for every event (each cart and order gets one, once
  all of its processing is done). Start-up and the joining rebalances are left out: this
  is the steady-state rate of a settled group.

CPU seconds of the workers and of the broker over each measurement are recorded too: the
reference machine has 2 cores, shared by the broker, the workers and the bench itself, so
adding workers adds processes competing for the same cores, not capacity. Results go to
bench/results/scaleout.json under --name; topics are deleted afterwards. Usage:

    .venv/bin/python -m bench.scaleout [--events 6000] [--workers 1,2,4] [--partitions 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.decision_latency import loadavg, machine_report
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
from bench.ingest_throughput import fill, plain_loop, sample_events, small_events
from bench.state_replay import proc_cpu_seconds
from streams.settings import Settings
from streams.tools.replay.worker_metrics import fetch_metrics_text

RESULTS_FILE = "scaleout.json"
WORKER_ENV = {"BASKETLIFT_STORE": "memory://"}
"""As bench.ingest_throughput's worker: tables in memory, recovered from the changelogs."""

Records = list[tuple[str, bytes | None, bytes]]


def decided_total(workers: list[WorkerProcess]) -> int:
    """Decisions made by all workers (a worker not answering counts 0). Every cart and order
    gets one, after all of its processing, so this counts events done, not just taken."""
    total = 0.0
    for worker in workers:
        text = fetch_metrics_text(worker.base_url + "/metrics")
        if text is not None:
            total += metric_total(text, "basketlift_decisions_total")
    return round(total)


def cpu_seconds(pids: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds used so far by each named process."""
    return {name: proc_cpu_seconds(pid) if pid else None for name, pid in pids.items()}


def cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, Any]:
    """CPU seconds per process between two readings."""
    used: dict[str, float | None] = {}
    for name, end in after.items():
        start = before.get(name)
        used[name] = None if start is None or end is None else round(end - start, 1)
    return used


def records_for(deployment: Deployment, events: list[tuple[str, str | None, bytes]]) -> Records:
    """The events as (topic, key, value) records of the deployment's topics."""
    return [(deployment.topic(t), k.encode() if k else None, v) for t, k, v in events]


def run_plain(
    bootstrap: str, events: list[tuple[str, str | None, bytes]], partitions: int
) -> dict[str, Any]:
    """The plain aiokafka loop over pre-filled topics of a fresh deployment."""
    deployment = new_deployment(bootstrap, partitions=partitions)
    asyncio.run(deployment.create_topics())
    try:
        records = records_for(deployment, events)
        asyncio.run(fill(deployment.access, records))
        in_topics = [deployment.topic("carts"), deployment.topic("orders")]
        seconds = asyncio.run(
            plain_loop(deployment.access, in_topics, deployment.topic("offers"), len(records))
        )
    finally:
        asyncio.run(deployment.delete_topics())
    return {"events_per_s": round(len(records) / seconds, 1), "seconds": round(seconds, 1)}


def run_workers(
    bootstrap: str,
    events: list[tuple[str, str | None, bytes]],
    count: int,
    partitions: int,
    broker_pid: int | None,
    timeout: float,
) -> dict[str, Any]:
    """`count` workers on a fresh deployment: settle the group, then produce and time."""
    deployment = new_deployment(bootstrap, partitions=partitions)
    asyncio.run(deployment.create_topics())
    workers: list[WorkerProcess] = []
    result: dict[str, Any] = {"workers": count, "status": "ok"}
    with tempfile.TemporaryDirectory(prefix="scaleout-") as tmp:
        try:
            launched = time.monotonic()
            for n in range(count):
                workdir = Path(tmp) / f"w{n}"
                workdir.mkdir()
                member = deployment if n == 0 else deployment.sibling()
                workers.append(start_worker(member, workdir, **WORKER_ENV))
            wait_all_serving(workers, timeout=timeout)
            result["group_settled_after_s"] = round(time.monotonic() - launched, 1)
            pids: dict[str, int | None] = {
                f"worker{n}": w.process.pid for n, w in enumerate(workers)
            }
            pids["broker"] = broker_pid
            records = records_for(deployment, events)
            cpu_before = cpu_seconds(pids)
            started = time.monotonic()
            fill_seconds = asyncio.run(fill(deployment.access, records))
            done = 0
            while done < len(records):
                if time.monotonic() - started > timeout:
                    raise AssertionError(f"{done} of {len(records)} events after {timeout}s")
                for worker in workers:
                    if not worker.alive():
                        raise AssertionError("a worker died:\n" + worker.log_tail())
                time.sleep(0.5)  # scraping /metrics costs the workers CPU too
                done = decided_total(workers)
            seconds = time.monotonic() - started
            result.update(
                {
                    "events_per_s": round(len(records) / seconds, 1),
                    "seconds": round(seconds, 1),
                    "fill_s": round(fill_seconds, 1),
                    "cpu_s": (used := cpu_used(cpu_before, cpu_seconds(pids))),
                    "worker_cpu_ms_per_event": round(
                        1000
                        * sum(v or 0 for k, v in used.items() if k.startswith("worker"))
                        / len(records),
                        2,
                    ),
                    # The CPU seconds the machine had in that time, for everyone.
                    "wall_s_times_cores": round(seconds * (os.cpu_count() or 1), 1),
                    "loadavg_after": loadavg(),
                }
            )
        except AssertionError as error:
            result["status"] = f"failed: {str(error)[:2000]}"
        finally:
            for worker in workers:
                worker.stop(timeout=60)
            asyncio.run(deployment.delete_topics())
    print(result, flush=True)
    return result


def main() -> None:
    """Measure the plain loop and each worker count once; print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--workers", default="1,2,4", help="Worker counts, comma-separated.")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--small", action="store_true", help="Small synthetic carts instead.")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--name", help="Run name in the results file (default: the sizes).")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    bootstrap = ensure_broker(Settings())
    info = machine()
    broker_pid = info.get("broker_pid")
    events = small_events(args.events) if args.small else sample_events(args.events)
    plain = run_plain(bootstrap, events, args.partitions)
    print({"plain_loop": plain}, flush=True)
    runs = [
        run_workers(
            bootstrap,
            events,
            count,
            args.partitions,
            broker_pid if isinstance(broker_pid, int) else None,
            args.timeout,
        )
        for count in counts
    ]
    one = next((r["events_per_s"] for r in runs if r["workers"] == 1 and "events_per_s" in r), None)
    for run in runs:
        rate = run.get("events_per_s")
        run["ratio_to_1_worker"] = round(rate / one, 2) if rate and one else None
        run["ratio_to_plain_loop"] = round(rate / plain["events_per_s"], 3) if rate else None
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "events": len(events),
        "event_source": "small synthetic" if args.small else "real sample (derived carts)",
        "partitions": args.partitions,
        "plain_loop": plain,
        "runs": runs,
        "note": (
            "2-core machine: the broker, every worker and the bench share the same 2 cores, so"
            " more workers add competing processes, not CPU; the ratios show coordination"
            " overhead and contention here, not the scaling of a cluster with a core per worker"
        ),
        "machine": machine_report(info),
    }
    name = args.name or f"{'small' if args.small else 'sample'}_{len(events)}_p{args.partitions}"
    save_runs(RESULTS_FILE, name, result)


if __name__ == "__main__":
    main()

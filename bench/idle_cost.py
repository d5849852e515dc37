"""Idle cost: the CPU an idle worker and the broker use, for each consumer fetch wait.

``BASKETLIFT_CONSUMER_FETCH_MAX_WAIT_MS`` bounds how long the broker holds the worker's fetch
request when none of its partitions has new records. A shorter wait keeps a loaded worker
from stalling behind a request that names only quiet partitions
(``bench/results/issue12_fetch_wait.md``), and costs empty fetches when nothing arrives:
one request (and response) over every assigned partition per wait. This bench prices that.

Per round and per wait (the waits in turn, so that a drift of the machine's speed spreads
over all of them): a worker on a fresh deployment of the local broker (its topics, --partitions
each, nothing in them), started with that wait; once /health answers and --settle seconds
have passed, the worker's and the broker's CPU seconds are read over --seconds of idling
(from /proc), as a share of one core. The worker is stopped and its topics deleted before the
next one starts. Results are printed and merged into bench/results/idle_cost.json under
--name. Usage:

    .venv/bin/python -m bench.idle_cost [--fetch-waits 1500,100,20] [--seconds 60] [--rounds 2]
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

from bench.decision_latency import cpu_now, cpu_share, loadavg, machine_report
from bench.harness import (
    ensure_broker,
    machine,
    new_deployment,
    save_named_result,
    start_worker,
)
from streams.settings import Settings

RESULTS_FILE = "idle_cost.json"


def idle_run(
    bootstrap: str, wait_ms: int, args: argparse.Namespace, broker_pid: int | None
) -> dict[str, Any]:
    """One idle worker with fetch wait `wait_ms`: its CPU and the broker's over the window."""
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    try:
        with tempfile.TemporaryDirectory(prefix="idle-cost-") as tmp:
            worker = start_worker(
                deployment, Path(tmp), BASKETLIFT_CONSUMER_FETCH_MAX_WAIT_MS=str(wait_ms)
            )
            try:
                worker.wait_healthy(timeout=args.timeout)
                time.sleep(args.settle)
                pids = {"worker": worker.process.pid, "broker": broker_pid}
                load_start = loadavg()
                before, started = cpu_now(pids), time.monotonic()
                time.sleep(args.seconds)
                after, wall = cpu_now(pids), time.monotonic() - started
                alive = worker.alive()
            finally:
                worker.stop()
    finally:
        asyncio.run(deployment.delete_topics())
    share = cpu_share(before, after, wall)
    return {
        "fetch_max_wait_ms": wait_ms,
        "idle_s": round(wall, 1),
        "cpu_share_of_one_core": {"worker": share["worker"], "broker": share["broker"]},
        "worker_alive": alive,
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    }


def summary(runs: list[dict[str, Any]], waits: list[int]) -> dict[str, Any]:
    """Per wait: the mean CPU share of the worker and the broker over the rounds."""
    out: dict[str, Any] = {}
    for wait in waits:
        shares = [r["cpu_share_of_one_core"] for r in runs if r["fetch_max_wait_ms"] == wait]
        out[str(wait)] = {
            who: round(statistics.fmean(s[who] for s in shares), 4)
            if all(s[who] is not None for s in shares)
            else None
            for who in ("worker", "broker")
        }
    return out


def main() -> None:
    """Run every wait in every round; print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch-waits", default="1500,100,20", help="Comma-separated, in ms.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Idle window per run.")
    parser.add_argument("--settle", type=float, default=15.0, help="Wait after /health.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=180.0, help="Wait for /health.")
    parser.add_argument("--name", help="Key of this run in the results file.")
    args = parser.parse_args()

    waits = [int(w) for w in args.fetch_waits.split(",")]
    bootstrap = ensure_broker(Settings())
    info = machine()
    broker_pid = info.get("broker_pid")
    runs = []
    for round_number in range(1, args.rounds + 1):
        for wait in waits:
            run = idle_run(
                bootstrap, wait, args, broker_pid if isinstance(broker_pid, int) else None
            )
            run["round"] = round_number
            print(json.dumps(run), flush=True)
            runs.append(run)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": vars(args),
        "mean_cpu_share_by_fetch_wait_ms": summary(runs, waits),
        "runs": runs,
        "machine": machine_report(info),
    }
    print(json.dumps(result["mean_cpu_share_by_fetch_wait_ms"], indent=2))
    name = args.name or f"waits_{args.fetch_waits.replace(',', '_')}"
    path = save_named_result(RESULTS_FILE, name, result)
    print(f"saved under {name!r} in {path}")


if __name__ == "__main__":
    main()

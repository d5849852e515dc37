"""Gateway latency: carts POSTed to `basketlift gateway` until their decision comes back by
long-poll, at a fixed rate, with the worker-side decision latency beside.

One worker and one gateway (real processes, ``bench.harness``) on a fresh deployment of the
local broker. The state is built first as in ``bench.decision_latency`` (the shipped real
sample's catalog and --history-orders orders; settled and indexed). Then cart events derived
from the sample (``decision_latency.carts_source``, unique event ids) are started at --rate
per second for --seconds (paced by the wall clock, each in its own task); per cart:

- post: from just before `POST /v1/events/carts` to its 202 (validation, the idempotent
  producer's acks=all round trip);
- end to end: from just before the POST to the 200 of `GET /v1/decisions/{event_id}
  ?wait_ms=2000` (long-polled again on 404), i.e. what a storefront waits;
- direct: from just before the POST to a read_committed Kafka consumer of the offers topic
  in this process receiving the decision (as ``bench.decision_latency`` measures it): the
  same decisions under the same load without the gateway's follower, index and long-poll,
  so the difference to "end to end" is what the gateway adds;
- worker: the delta of the worker's ``basketlift_decision_latency_seconds{placement="cart"}``
  histogram over the window (the worker receiving the cart to the decision handed to its
  producer), bucket-interpolated as in ``bench.decision_latency``.

Results are printed and merged into bench/results/gateway_latency.json under --name. The
deployment's topics are deleted afterwards. Usage:

    .venv/bin/python -m bench.gateway_latency [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.decision_latency import (
    HISTOGRAM,
    Received,
    build_state,
    carts_source,
    loadavg,
    offers_consumer,
    read_histogram,
    receive,
    sample_stats,
)
from bench.harness import (
    SAMPLE,
    GatewayProcess,
    WorkerProcess,
    ensure_broker,
    machine,
    new_deployment,
    save_named_result,
    start_gateway,
    start_worker,
)
from streams.settings import Settings
from streams.tools.replay.orderlog import read_orders_file

WAIT_MS = 2000
GIVE_UP_SECONDS = 30.0
"""A cart whose decision has not come back by then is counted as missing."""


async def one_cart(
    http: aiohttp.ClientSession,
    gateway: GatewayProcess,
    headers: dict[str, str],
    body: bytes,
    event_id: str,
    sent_at: dict[str, float],
) -> tuple[float, float] | str:
    """(post seconds, end-to-end seconds) of one cart, or why it failed; the wall-clock
    time of its POST goes to `sent_at`."""
    sent_at[event_id] = time.time()
    started = time.perf_counter()
    async with http.post(
        gateway.base_url + "/v1/events/carts",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    ) as response:
        if response.status != 202:
            return f"post_{response.status}"
    posted = time.perf_counter()
    url = f"{gateway.base_url}/v1/decisions/{event_id}?wait_ms={WAIT_MS}"
    while time.perf_counter() - started < GIVE_UP_SECONDS:
        async with http.get(url, headers=headers) as response:
            await response.read()
            if response.status == 200:
                return posted - started, time.perf_counter() - started
            if response.status != 404:
                return f"get_{response.status}"
    return "missing"


async def run(
    worker: WorkerProcess,
    gateway: GatewayProcess,
    key: str,
    rate: float,
    seconds: float,
    carts: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Start carts at `rate` for `seconds`; measure each until its decision returns."""
    total = max(1, round(rate * seconds))
    prefix = worker.deployment.prefix
    bodies = [
        (
            f"gw-{prefix}-{n}",
            orjson.dumps({"event_id": f"gw-{prefix}-{n}", **carts[n % len(carts)][1]}),
        )
        for n in range(total)
    ]
    headers = {"Authorization": f"Bearer {key}"}
    before = read_histogram(worker.metrics_text(), HISTOGRAM, placement="cart")
    sent_at: dict[str, float] = {}
    direct, stop = Received(), asyncio.Event()
    consumer = await offers_consumer(worker.deployment, "read_committed")
    wanted = {event_id for event_id, _ in bodies}
    receiver: asyncio.Task[None] = asyncio.create_task(receive(consumer, wanted, direct, stop))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        start = time.perf_counter()
        tasks = []
        for n, (event_id, body) in enumerate(bodies):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(one_cart(http, gateway, headers, body, event_id, sent_at))
            )
        span = time.perf_counter() - start
        outcomes = await asyncio.gather(*tasks)
    stop.set()
    await receiver
    await consumer.stop()
    after = read_histogram(worker.metrics_text(), HISTOGRAM, placement="cart")
    timed = [o for o in outcomes if isinstance(o, tuple)]
    failures: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, str):
            failures[outcome] = failures.get(outcome, 0) + 1
    return {
        "rate_target_per_s": rate,
        "carts": total,
        "achieved_rate_per_s": round((total - 1) / span, 1) if span > 0 and total > 1 else None,
        "failures": failures,
        "post_to_202": sample_stats([post for post, _ in timed]),
        "post_to_decision_by_long_poll": sample_stats([e2e for _, e2e in timed]),
        "post_to_decision_by_direct_kafka_consumer": {
            "missing": total - len(direct.at),
            **sample_stats([direct.at[e] - sent_at[e] for e in direct.at]),
        },
        "worker_histogram_bucket_interpolated": after.minus(before).report(),
        "loadavg_end": loadavg(),
    }


def main() -> None:
    """Build the state, run the carts through the gateway, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="Carts per second.")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--history-orders", type=int, default=1000, help="Orders for the state.")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--state-timeout", type=float, default=600.0)
    parser.add_argument("--name", help="Key of this run in the results file.")
    args = parser.parse_args()
    name = args.name or f"rate_{args.rate:g}_s{args.seconds:g}"

    load_at_start = loadavg()
    bootstrap = ensure_broker(Settings())
    sample = read_orders_file(SAMPLE)
    history = sample.head(args.history_orders)
    carts = carts_source(sample)
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    key = secrets.token_hex(16)
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "status": "ok"}
    with tempfile.TemporaryDirectory(prefix="gateway_latency-") as tmp:
        workdir = Path(tmp)
        worker = start_worker(deployment, workdir)
        gateway = start_gateway(deployment, workdir, BASKETLIFT_GATEWAY_SECRET_KEYS=key)
        try:
            worker.wait_healthy(timeout=180)
            gateway.wait_healthy(timeout=60)
            result["state"] = build_state(worker, history, args.state_timeout)
            print(f"state: {result['state']}", flush=True)
            print(f"{args.rate:g} carts/s for {args.seconds:g}s ...", flush=True)
            result["run"] = asyncio.run(run(worker, gateway, key, args.rate, args.seconds, carts))
        except (AssertionError, SystemExit) as error:
            result["status"] = f"failed: {str(error)[:2000]}"
        finally:
            gateway.stop()
            worker.stop(timeout=60)
    asyncio.run(deployment.delete_topics())
    result.update(
        {
            "args": vars(args),
            "loadavg_start": load_at_start,
            "machine": {**machine(), "broker": "local single-node KRaft broker, same machine"},
        }
    )
    print(json.dumps(result, indent=2))
    path = save_named_result("gateway_latency.json", name, result)
    print(f"saved under {name!r} in {path}")


if __name__ == "__main__":
    main()

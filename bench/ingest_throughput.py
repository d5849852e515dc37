"""Ingest throughput: one Basketlift worker vs a plain aiokafka consume-and-produce loop.

Both read the same pre-filled topics (derived cart and order events from the shipped real
sample, cycled to --events) on the same local broker. The plain loop parses each value with
orjson and produces it to an output topic; the worker runs its whole pipeline (validation,
routing, profiles, co-purchase deltas and the product graph, a decision per cart and order).
Rates are measured from the first event consumed to the last. Usage:

    .venv/bin/python -m bench.ingest_throughput --events 200000 [--small]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from bench.harness import (
    Deployment,
    ensure_broker,
    machine,
    new_deployment,
    py_spy_recording,
    results_dir,
    start_worker,
)
from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.producer import make_producer
from streams.kafka.security import KafkaAccess
from streams.settings import Settings
from streams.tools.replay.worker_metrics import fetch_consumed
from streams.units import DAY_MS


def small_events(count: int) -> list[tuple[str, str | None, bytes]]:
    """`count` small carts (1-7 items) and orders built from the contract's examples."""
    examples = orjson.loads(
        (Path(__file__).parents[1] / "tests/unit/schemas/contract_examples.json").read_bytes()
    )
    out = []
    for index in range(count):
        logical = "orders" if index % 5 == 0 else "carts"
        event = dict(examples[logical], event_id=f"e{index}", shopper_id=f"s-{index % 5000}")
        item = event["items"][0]
        event["items"] = [dict(item, product_id=f"p-{j}") for j in range(index % 7 + 1)]
        out.append((logical, event["shopper_id"], orjson.dumps(event)))
    return out


def sample_events(count: int) -> list[tuple[str, str | None, bytes]]:
    """`count` cart/order events from the real sample (cycled, unique event ids, time forward)."""
    from streams.tools.replay.events import replay_events
    from streams.tools.replay.run import load_order_log

    log = load_order_log([], "auto", None)
    base = [(t, k, e) for t, k, e in replay_events(log, carts=True) if t in ("carts", "orders")]
    # Each further pass over the sample happens later (ts shifted by the sample's span), as a
    # real stream would: time going backwards would keep every attribution window open.
    first = min(event["ts"] for _, _, event in base)
    span = max(event["ts"] for _, _, event in base) - first + DAY_MS
    out = []
    for index, (logical, key, event) in zip(range(count), itertools.cycle(base), strict=False):
        shift = (index // len(base)) * span
        event = dict(event, event_id=f"{event['event_id']}#{index}", ts=event["ts"] + shift)
        out.append((logical, key, orjson.dumps(event)))
    return out


async def fill(access: KafkaAccess, records: list[tuple[str, bytes | None, bytes]]) -> float:
    """Produce records; return seconds taken."""
    producer = make_producer(access)
    await producer.start()
    started = time.perf_counter()
    try:
        batch = []
        for topic, key, value in records:
            batch.append(await producer.send(topic, value, key=key))
            if len(batch) >= 5000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def plain_loop(access: KafkaAccess, topics: list[str], out_topic: str, total: int) -> float:
    """Consume `total` records, parse each, produce each to `out_topic`; return seconds."""
    consumer = AIOKafkaConsumer(
        *topics,
        **access.client_options(),
        group_id=f"plain-{os.getpid()}-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_KAFKA_MESSAGE_BYTES,
    )
    producer = make_producer(access)
    await consumer.start()
    await producer.start()
    seen = 0
    first: float | None = None
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            pending = []
            for messages in batches.values():
                for message in messages:
                    if first is None:
                        first = time.perf_counter()
                    orjson.loads(message.value)
                    pending.append(await producer.send(out_topic, message.value, key=message.key))
                    seen += 1
            if pending:
                await asyncio.gather(*pending)
                await consumer.commit()
        assert first is not None
        return time.perf_counter() - first
    finally:
        await consumer.stop()
        await producer.stop()


def worker_run(
    deployment: Deployment, total: int, workdir: Path, profile: Path | None = None
) -> tuple[float, float]:
    """Start a worker on pre-filled topics; return (start-up seconds, consume seconds).

    With `profile`, py-spy records the worker from its start until it has counted `total`.
    """
    launched = time.perf_counter()
    worker = start_worker(deployment, workdir, BASKETLIFT_STORE="memory://")
    try:
        with py_spy_recording(worker.process.pid, profile):
            url = worker.base_url + "/metrics"
            first = None
            while True:
                if not worker.alive():
                    raise SystemExit("worker died:\n" + worker.log_tail())
                counts = fetch_consumed(url)
                done = sum(counts.valid.values()) + sum(counts.invalid.values()) if counts else 0
                if done and first is None:
                    first = time.perf_counter()
                if done >= total:
                    assert first is not None
                    return first - launched, time.perf_counter() - first
                time.sleep(0.5)  # scraping /metrics costs the worker CPU too
    finally:
        worker.stop()


def main() -> None:
    """Run both sides and print/save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--small",
        action="store_true",
        help="Small synthetic carts (1-7 items) instead of the real sample's (avg ~20 items).",
    )
    parser.add_argument("--py-spy", type=Path, help="Record the worker with py-spy here.")
    args = parser.parse_args()

    bootstrap = ensure_broker(Settings())
    events = small_events(args.events) if args.small else sample_events(args.events)
    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    records = [(deployment.topic(t), k.encode() if k else None, v) for t, k, v in events]
    try:
        fill_seconds = asyncio.run(fill(deployment.access, records))
        in_topics = [deployment.topic("carts"), deployment.topic("orders")]
        plain_seconds = asyncio.run(
            plain_loop(deployment.access, in_topics, deployment.topic("offers"), len(records))
        )
        with tempfile.TemporaryDirectory() as tmp:
            startup, worker_seconds = worker_run(deployment, len(records), Path(tmp), args.py_spy)
    finally:
        # Left behind, every run's topics would pile up in the broker's data dir.
        asyncio.run(deployment.delete_topics())

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "events": len(records),
        "event_source": "small synthetic" if args.small else "real sample (derived carts)",
        "avg_event_bytes": round(sum(len(v) for _, _, v in records) / len(records)),
        "partitions": args.partitions,
        "producer_fill_events_per_s": round(len(records) / fill_seconds),
        "plain_loop_events_per_s": round(len(records) / plain_seconds),
        "worker_events_per_s": round(len(records) / worker_seconds),
        "worker_startup_s": round(startup, 1),
        "plain_over_worker": round(plain_seconds and worker_seconds / plain_seconds, 2),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    name = "ingest_throughput_small.json" if args.small else "ingest_throughput.json"
    (results_dir() / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""`basketlift replay`: send an order log through Kafka with a progress bar, then a summary."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.replay.events import replay_events
from streams.replay.kafka_out import running_producer
from streams.replay.orderlog import OrderLog, read_order_log
from streams.replay.worker_metrics import ConsumedCounts, fetch_consumed
from streams.settings import Settings

SAMPLE_PATH = (
    Path(__file__).resolve().parents[2] / "data" / "sample" / "online_retail_sample.parquet"
)

OrderLogFormat = Literal["auto", "orders", "online-retail"]


def load_order_log(order_files: Sequence[Path], fmt: str, limit_orders: int | None) -> OrderLog:
    """Read the given order log(s), or the shipped sample; keep the first `limit_orders`."""
    paths = list(order_files) or [SAMPLE_PATH]
    log = read_order_log(paths if len(paths) > 1 else paths[0], cast(OrderLogFormat, fmt))
    return log.head(limit_orders) if limit_orders is not None else log


async def send_events(
    settings: Settings,
    events: list[tuple[str, str | None, dict[str, object]]],
    progress: Progress,
    rate: float | None,
) -> Counter[str]:
    """Produce events in order with a progress bar; return how many went to each topic."""
    topics = settings.inbound_topics
    sent: Counter[str] = Counter()
    task = progress.add_task("replaying", total=len(events))
    async with running_producer(settings.bootstrap_servers) as producer:
        started = time.monotonic()
        pending = []
        for index, (logical, key, event) in enumerate(events, start=1):
            topic = topics[logical]
            pending.append(
                await producer.send(topic, orjson.dumps(event), key=key.encode() if key else None)
            )
            sent[topic] += 1
            if index % 500 == 0:
                progress.update(task, completed=index)
                await asyncio.gather(*pending)
                pending.clear()
                if rate:
                    ahead = index / rate - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
        progress.update(task, completed=len(events))
    return sent


def wait_for_worker(
    metrics_url: str,
    baseline: ConsumedCounts,
    sent: Counter[str],
    timeout: float,
    progress: Progress,
) -> ConsumedCounts | None:
    """Poll the worker's /metrics until it has consumed everything sent (or time runs out)."""
    task = progress.add_task("worker consumed", total=sum(sent.values()))
    deadline = time.monotonic() + timeout
    latest: ConsumedCounts | None = None
    while time.monotonic() < deadline:
        latest = fetch_consumed(metrics_url)
        if latest is not None:
            done = sum(min(latest.total(t) - baseline.total(t), n) for t, n in sent.items())
            progress.update(task, completed=done)
            if done >= sum(sent.values()):
                return latest
        time.sleep(0.5)
    return latest


def run_replay(
    settings: Settings,
    *,
    order_files: Sequence[Path],
    fmt: str,
    limit_orders: int | None,
    carts: bool,
    cart_steps: int | None = None,
    rate: float | None,
    wait: bool,
    wait_timeout: float,
    console: Console | None = None,
) -> bool:
    """Replay an order log and print a summary; False when the worker did not consume it all."""
    console = console or Console()
    started = time.monotonic()
    log = load_order_log(order_files, fmt, limit_orders)
    console.print(
        f"Order log: {log.order_count:,} orders, {log.line_count:,} lines, "
        f"{log.shopper_count:,} shoppers; cleaning dropped "
        + (", ".join(f"{n:,} {reason}" for reason, n in log.dropped.items() if n) or "nothing")
    )
    events = list(replay_events(log, carts=carts, cart_steps=cart_steps))
    metrics_url = f"http://127.0.0.1:{settings.web_port}/metrics"
    baseline = fetch_consumed(metrics_url) if wait else None
    if wait and baseline is None:
        console.print(
            f"[yellow]No worker answers at {metrics_url}; sending without waiting.[/yellow]"
        )
    columns = (
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        send_started = time.monotonic()
        sent = asyncio.run(send_events(settings, events, progress, rate))
        send_seconds = time.monotonic() - send_started
        consumed = None
        if baseline is not None:
            consumed = wait_for_worker(metrics_url, baseline, sent, wait_timeout, progress)
    total_seconds = time.monotonic() - started

    table = Table(title="Replay summary")
    table.add_column("topic")
    table.add_column("sent", justify="right")
    table.add_column("valid (worker)", justify="right")
    table.add_column("dead-lettered", justify="right")
    complete = True
    for topic, count in sorted(sent.items()):
        if consumed is not None and baseline is not None:
            valid = consumed.valid[topic] - baseline.valid[topic]
            invalid = consumed.invalid[topic] - baseline.invalid[topic]
            complete &= valid + invalid >= count
            table.add_row(topic, f"{count:,}", f"{valid:,.0f}", f"{invalid:,.0f}")
        else:
            table.add_row(topic, f"{count:,}", "-", "-")
    console.print(table)
    total = sum(sent.values())
    console.print(
        f"Sent {total:,} events in {send_seconds:.1f}s ({total / max(send_seconds, 1e-9):,.0f}/s); "
        f"total {total_seconds:.1f}s."
    )
    if consumed is None:
        return not wait or baseline is None
    if not complete:
        console.print(
            f"[red]The worker did not consume every event within {wait_timeout:.0f}s.[/red]"
        )
    return complete

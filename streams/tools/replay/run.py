"""`basketlift replay`: send an order log through Kafka with a progress bar, then a summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.kafka.producer import running_producer
from streams.kafka.security import kafka_access
from streams.resources import SAMPLE_ORDERS
from streams.settings import Settings
from streams.tools.replay.events import replay_events
from streams.tools.replay.group_offsets import SentRecords, wait_for_commits
from streams.tools.replay.orderlog import OrderLog, read_order_log
from streams.tools.replay.worker_metrics import ConsumedCounts, fetch_consumed

OrderLogFormat = Literal["auto", "orders", "online-retail"]


def load_order_log(order_files: Sequence[Path], fmt: str, limit_orders: int | None) -> OrderLog:
    """Read the given order log(s), or the shipped sample; keep the first `limit_orders`."""
    paths = list(order_files) or [SAMPLE_ORDERS]
    log = read_order_log(paths if len(paths) > 1 else paths[0], cast(OrderLogFormat, fmt))
    return log.head(limit_orders) if limit_orders is not None else log


async def send_events(
    settings: Settings,
    events: list[tuple[str, str | None, dict[str, object]]],
    progress: Progress,
    rate: float | None,
) -> SentRecords:
    """Produce events in order with a progress bar; return what the broker acknowledged."""
    topics = settings.inbound_topics
    sent = SentRecords()
    task = progress.add_task("replaying", total=len(events))
    async with running_producer(kafka_access(settings)) as producer:
        started = time.monotonic()
        pending = []
        for index, (logical, key, event) in enumerate(events, start=1):
            topic = topics[logical]
            pending.append(
                await producer.send(topic, orjson.dumps(event), key=key.encode() if key else None)
            )
            if index % 500 == 0:
                progress.update(task, completed=index)
                sent.add(await asyncio.gather(*pending))
                pending.clear()
                if rate:
                    ahead = index / rate - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        sent.add(await asyncio.gather(*pending))
        progress.update(task, completed=len(events))
    return sent


def wait_for_worker(
    settings: Settings, sent: SentRecords, timeout: float, progress: Progress
) -> str | None:
    """Wait until the worker group committed past every record sent; None, else what is left."""
    task = progress.add_task("worker consumed", total=sent.total())
    return asyncio.run(
        wait_for_commits(
            kafka_access(settings),
            settings.app_id,
            sent,
            timeout,
            on_progress=lambda done: progress.update(task, completed=done),
        )
    )


def consumed_cells(
    topic: str, baseline: ConsumedCounts | None, final: ConsumedCounts | None
) -> tuple[str, str]:
    """The valid and dead-lettered counts of `topic` the worker reports for this replay.

    Deltas of its counters when one worker process counted from before sending to the end;
    "unknown" when it restarted in between (the counters started again at 0) or stopped
    answering; "-" when no worker was asked.
    """
    if baseline is None:
        return "-", "-"
    if final is None or not final.same_process(baseline):
        return "unknown", "unknown"
    valid = final.valid[topic] - baseline.valid[topic]
    invalid = final.invalid[topic] - baseline.invalid[topic]
    return f"{valid:,.0f}", f"{invalid:,.0f}"


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
    """Replay an order log and print a summary; False when the worker did not process it all.

    With `wait`, and a worker answering on BASKETLIFT_WEB_PORT, it waits until the worker
    group (BASKETLIFT_APP_ID) has committed offsets past every event sent, which holds
    across worker restarts and for any number of workers.
    """
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
        problem = None
        if baseline is not None:
            problem = wait_for_worker(settings, sent, wait_timeout, progress)
    final = fetch_consumed(metrics_url) if baseline is not None else None
    total_seconds = time.monotonic() - started

    table = Table(title="Replay summary")
    table.add_column("topic")
    table.add_column("sent", justify="right")
    table.add_column("valid (worker)", justify="right")
    table.add_column("dead-lettered", justify="right")
    for topic, count in sorted(sent.by_topic.items()):
        table.add_row(topic, f"{count:,}", *consumed_cells(topic, baseline, final))
    console.print(table)
    total = sent.total()
    console.print(
        f"Sent {total:,} events in {send_seconds:.1f}s ({total / max(send_seconds, 1e-9):,.0f}/s); "
        f"total {total_seconds:.1f}s."
    )
    if baseline is not None and (final is None or not final.same_process(baseline)):
        console.print(
            "The worker restarted or stopped answering during the replay: its counters no"
            " longer tell how many events were valid (unknown above)."
        )
    if problem is not None:
        console.print(f"[red]The worker did not process every event: {problem}.[/red]")
        return False
    return True

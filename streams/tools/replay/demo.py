"""`basketlift demo`: the main job end to end on this machine, with a summary at the end.

A local broker, a worker, a gateway without keys on loopback serving the demo storefront
at `/demo/` (the widget on a cart of the sample's products, and a side panel of the store's
decisions, orders, AOV per cohort and the lift as the replay runs), then a replay of the
shipped sample of real orders.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from streams import devbroker
from streams.kafka import admin as kafka_admin
from streams.kafka.security import (
    KafkaAccessDenied,
    KafkaUnreachable,
    check_kafka_access,
    kafka_access,
)
from streams.settings import Settings, get_settings
from streams.tools.replay.run import run_replay
from streams.tools.replay.worker_metrics import (
    decision_counts,
    decisions_pending,
    fetch_metrics_text,
    health_status,
)


def start_command(command: str, log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `basketlift <command>` (worker, gateway) in the background, logging to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until `url` (a /health) answers 200; False if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if health_status(url) == 200:
            return True
        time.sleep(0.5)
    return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the process group (a worker commits and closes cleanly), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


DEMO_GATEWAY_HOST = "127.0.0.1"
"""The demo's gateway binds loopback only: it runs without keys, which only loopback allows."""


def gateway_env(env: dict[str, str]) -> dict[str, str]:
    """The demo gateway's environment: `env` without gateway keys, on loopback. Its page
    calls it without keys, so a gateway with keys would refuse to serve it."""
    keyless = {
        name: value
        for name, value in env.items()
        if name not in {"BASKETLIFT_GATEWAY_SECRET_KEYS", "BASKETLIFT_GATEWAY_PUBLIC_KEYS"}
    }
    return {**keyless, "BASKETLIFT_GATEWAY_HOST": DEMO_GATEWAY_HOST}


DEMO_CART_STEPS = 2
DECISIONS_WAIT_SECONDS = 60.0


def show_decisions(settings: Settings, console: Console) -> None:
    """The decisions the worker made, by placement and cohort, and where to see one."""
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    triggers = (settings.topic_carts, settings.topic_orders)
    # The replay waits until every event is validated; the last batch's decisions follow.
    deadline = time.monotonic() + DECISIONS_WAIT_SECONDS
    while True:
        text = fetch_metrics_text(url)
        if text is None:
            return
        pending = decisions_pending(text, triggers)
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if pending:
        console.print(f"[yellow]{pending:,.0f} decisions still in progress[/yellow]")
    counts = decision_counts(text)
    parts = [f"{placement}/{cohort}: {n:,.0f}" for (placement, cohort), n in sorted(counts.items())]
    console.print("Decisions on " + settings.topic_offers + ": " + (", ".join(parts) or "none"))
    with_token = (
        " -H 'Authorization: Bearer <API token>'"
        if settings.api_token is not None or settings.api_token_file is not None
        else ""
    )
    console.print(
        "A shopper's latest decision (while a worker runs, e.g. `basketlift demo "
        f"--keep-running`): curl{with_token} "
        f"http://127.0.0.1:{settings.web_port}/offers/c-<customer id>; "
        "the lift report: basketlift report"
    )


def run_demo(*, fresh: bool, limit_orders: int | None, keep_running: bool) -> bool:
    """Broker, topics, worker, replay of the real sample, summary; True on success."""
    console = Console()
    settings = get_settings()
    console.rule("1/3 Kafka")
    try:
        devbroker.start_broker(settings, fresh=fresh, echo=console.print)
        access = kafka_access(settings)
        asyncio.run(check_kafka_access(access))
        asyncio.run(kafka_admin.ensure_contract_topics(access, settings))
    except (devbroker.BrokerError, KafkaAccessDenied, KafkaUnreachable) as error:
        console.print(f"[red]{error}[/red]")
        return False
    console.rule("2/3 Worker and gateway")
    log_path = settings.kafka_home.parent / "demo-worker.log"
    env = dict(os.environ)
    if fresh:
        # A fresh broker has no state: a fresh data dir keeps local table stores consistent.
        env["BASKETLIFT_DATA_DIR"] = str(settings.kafka_home.parent / "demo-worker-data")
        import shutil

        shutil.rmtree(env["BASKETLIFT_DATA_DIR"], ignore_errors=True)
    worker = start_command("worker", log_path, env)
    console.print(f"Worker pid {worker.pid}, log {log_path}; waiting for /health ...")
    if not wait_healthy(f"http://127.0.0.1:{settings.web_port}/health", worker, timeout=180):
        console.print(f"[red]The worker did not become healthy; see {log_path}[/red]")
        stop_process(worker)
        return False
    console.print(f"Worker healthy: http://127.0.0.1:{settings.web_port}/health")
    gateway_log = settings.kafka_home.parent / "demo-gateway.log"
    gateway = start_command("gateway", gateway_log, gateway_env(env))
    gateway_url = f"http://{DEMO_GATEWAY_HOST}:{settings.gateway_port}"
    if not wait_healthy(f"{gateway_url}/health", gateway, timeout=60):
        console.print(f"[red]The gateway did not become healthy; see {gateway_log}[/red]")
        stop_process(gateway)
        stop_process(worker)
        return False
    console.print(
        f"Gateway pid {gateway.pid}, log {gateway_log}.\n"
        f"[bold]Demo storefront: {gateway_url}/demo/[/bold] (open it now: the side panel"
        " follows the replay)"
    )
    console.rule("3/3 Replay of real orders")
    try:
        ok = run_replay(
            settings,
            order_files=[],
            fmt="auto",
            limit_orders=limit_orders,
            carts=True,
            # The last two cart states of each order: ~6,000 cart decisions, a few minutes on
            # a laptop (`basketlift replay` sends every step: ~57,000 carts).
            cart_steps=DEMO_CART_STEPS,
            rate=None,
            wait=True,
            wait_timeout=1800,
            console=console,
        )
        show_decisions(settings, console)
    finally:
        if not keep_running:
            stop_process(gateway)
            stop_process(worker)
    console.print(
        f"Metrics: http://127.0.0.1:{settings.web_port}/metrics  "
        f"dead letters: topic {settings.topic_deadletter}"
    )
    if keep_running:
        console.print(
            f"Worker (pid {worker.pid}) and gateway (pid {gateway.pid}) still running; the demo"
            f" storefront stays at {gateway_url}/demo/. Stop them with"
            f" kill {worker.pid} {gateway.pid}."
        )
    else:
        console.print(
            "Worker and gateway stopped. The broker keeps running: `basketlift kafka stop`"
            " stops it."
        )
    return ok

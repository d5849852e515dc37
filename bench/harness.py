"""The benchmarks' harness, shared with the integration tests: a real broker and worker.

A ``Deployment`` is a unique app id and topic set on the shared local broker (so runs never
see each other's records); ``start_worker`` runs ``python -m streams.cli worker`` for it as
a real process (its own session, log file and web port) and ``WorkerProcess`` reads its
/health and /metrics. The producing and metric helpers work on any deployment. This is the
one copy: ``tests/support/kafka.py`` and ``tests/integration/replay_support.py`` import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from streams import devbroker
from streams.kafka import admin as kafka_admin
from streams.kafka.producer import make_producer
from streams.kafka.security import KafkaAccess, kafka_access
from streams.resources import SAMPLE_ORDERS
from streams.settings import Settings
from streams.tools.replay.worker_metrics import fetch_consumed, fetch_metrics_text, health_status

__all__ = [
    "LOGICAL_TOPICS",
    "SAMPLE",
    "Deployment",
    "GatewayProcess",
    "WorkerProcess",
    "ensure_broker",
    "free_port",
    "get_json",
    "machine",
    "metric_total",
    "new_deployment",
    "produce_records",
    "py_spy_recording",
    "send_events",
    "start_gateway",
    "start_worker",
    "wait_all_serving",
    "wait_for_index",
]

SAMPLE = SAMPLE_ORDERS
"""The shipped real sample (derived from the UCI Online Retail II data)."""

LOGICAL_TOPICS = ("carts", "orders", "clicks", "catalog", "privacy", "offers", "deadletter")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    """A unique app id and topic set on the shared broker, isolated from other runs."""

    prefix: str
    bootstrap: str
    partitions: int
    web_port: int = field(default_factory=free_port)
    api_token: str = field(default_factory=lambda: secrets.token_hex(16))
    """BASKETLIFT_API_TOKEN of its workers: the data endpoints are queried as in production."""
    kafka_env: dict[str, str] = field(default_factory=dict)
    """BASKETLIFT_KAFKA_* security variables of its workers and clients (none: those of the
    environment, if any)."""

    @property
    def access(self) -> KafkaAccess:
        """How its clients (producers, readers, the admin client) connect: as its workers."""
        return kafka_access(self.settings(Path("/nonexistent")))

    @property
    def app_id(self) -> str:
        """The Faust app id (and consumer group) of this deployment."""
        return f"{self.prefix}-app"

    def topic(self, logical: str) -> str:
        """The topic name standing in for a contract topic."""
        return f"{self.prefix}.shop.{logical}"

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        """Environment for a worker of this deployment."""
        env = dict(os.environ)
        env.update(
            {
                "BASKETLIFT_BROKER": f"kafka://{self.bootstrap}",
                "BASKETLIFT_APP_ID": self.app_id,
                "BASKETLIFT_WEB_PORT": str(self.web_port),
                "BASKETLIFT_API_TOKEN": self.api_token,
                "BASKETLIFT_DATA_DIR": str(data_dir),
                "BASKETLIFT_STORE": "rocksdb://",
                "BASKETLIFT_PARTITIONS": str(self.partitions),
                "BASKETLIFT_BROKER_SESSION_TIMEOUT_SECONDS": "10",
                "BASKETLIFT_BROKER_HEARTBEAT_INTERVAL_SECONDS": "1",
                "BASKETLIFT_BROKER_REBALANCE_TIMEOUT_SECONDS": "20",
                "BASKETLIFT_LOG_LEVEL": os.environ.get(
                    "BASKETLIFT_TEST_WORKER_LOG_LEVEL", "warning"
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for logical in LOGICAL_TOPICS:
            env[f"BASKETLIFT_TOPIC_{logical.upper()}"] = self.topic(logical)
        env.update(self.kafka_env)
        env.update(extra)
        return env

    def settings(self, data_dir: Path) -> Settings:
        """The Settings a worker of this deployment reads."""
        keys = {
            k[len("BASKETLIFT_") :].lower(): v
            for k, v in self.env(data_dir).items()
            if k.startswith("BASKETLIFT_")
        }
        return Settings(**keys)  # type: ignore[arg-type]

    def sibling(self) -> Deployment:
        """The same app id and topics with another web port: a second worker on this host."""
        return replace(self, web_port=free_port())

    async def create_topics(self) -> None:
        """Create this deployment's contract topics on the broker."""
        settings = self.settings(Path("/nonexistent"))
        await kafka_admin.ensure_contract_topics(kafka_access(settings), settings)

    async def delete_topics(self) -> list[str]:
        """Delete every topic of this deployment (its prefix and its app's internal topics)."""
        admin = kafka_admin.admin_client(self.access, request_timeout_ms=60000)
        await admin.start()
        try:
            ours = [
                t
                for t in await admin.list_topics()
                if t.startswith(self.prefix + ".") or t.startswith(self.app_id + "-")
            ]
            if ours:
                await admin.delete_topics(ours, timeout_ms=60000)
            return ours
        finally:
            await admin.close()


def new_deployment(bootstrap: str, partitions: int = 4) -> Deployment:
    """A deployment with a fresh unique prefix."""
    return Deployment(f"t{uuid.uuid4().hex[:10]}", bootstrap, partitions)


@dataclass
class WorkerProcess:
    """A `basketlift worker` running as a real process."""

    process: subprocess.Popen[bytes]
    deployment: Deployment
    log_path: Path

    @property
    def base_url(self) -> str:
        """Where its web server listens."""
        return f"http://127.0.0.1:{self.deployment.web_port}"

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the worker's log."""
        return log_tail(self.log_path, lines)

    def log_problems(self, lines: int = 30) -> str:
        """The last warnings and errors of the worker's log (an info log buries them)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        found = [line for line in text.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
        return "\n".join(found[-lines:]) or "(no warnings or errors)"

    def api_get(self, path: str) -> tuple[int, Any]:
        """GET a data endpoint (`/state/...`, `/offers/...`) with the deployment's API token:
        (status, JSON body)."""
        return get_json(self.base_url + path, token=self.deployment.api_token)

    def health(self) -> int | None:
        """HTTP status of /health."""
        return health_status(self.base_url + "/health")

    def metrics_text(self, timeout: float = 60.0) -> str:
        """The /metrics text, asked again until `timeout` while the worker does not answer
        (a busy worker can miss one 5 s request); raises after that, or when it exited."""
        deadline = time.monotonic() + timeout
        while True:
            text = fetch_metrics_text(self.base_url + "/metrics")
            if text is not None:
                return text
            if not self.alive() or time.monotonic() >= deadline:
                raise AssertionError("worker /metrics did not answer\n" + self.log_tail())
            time.sleep(1.0)

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Block until /health is 200, or fail with the worker's log."""
        wait_until_healthy("worker", self.process, self.base_url, self.log_path, timeout)

    def wait_consumed(self, expected: dict[str, int], timeout: float = 120.0) -> None:
        """Block until valid+invalid counts per topic reach `expected`."""
        deadline = time.monotonic() + timeout
        counts = None
        while time.monotonic() < deadline:
            counts = fetch_consumed(self.base_url + "/metrics")
            if counts is not None and all(counts.total(t) >= n for t, n in expected.items()):
                return
            time.sleep(0.3)
        raise AssertionError(
            f"worker consumed {counts} but {expected} was expected\n" + self.log_tail()
        )

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        return stop_process_group(self.process, timeout)


def log_tail(path: Path, lines: int = 60) -> str:
    """The end of a process's log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_until_healthy(
    name: str, process: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout: float
) -> None:
    """Block until `base_url`/health answers 200; AssertionError with the end of the log
    when the process exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited during start-up\n" + log_tail(log_path))
        if health_status(base_url + "/health") == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} not healthy after {timeout}s\n" + log_tail(log_path))


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM the process's session (SIGKILL after `timeout` s) and wait; its exit code."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return int(process.returncode)


@dataclass
class GatewayProcess:
    """A `basketlift gateway` running as a real process for a deployment's topics."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        """The end of its log."""
        return log_tail(self.log_path, lines)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Block until /health is 200 (producing, and following the offers topic), or fail
        with its log."""
        wait_until_healthy("gateway", self.process, self.base_url, self.log_path, timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        return stop_process_group(self.process, timeout)


def start_gateway(deployment: Deployment, workdir: Path, **env: str) -> GatewayProcess:
    """Start `python -m streams.cli gateway` on a free port for the deployment's topics;
    `env` adds or overrides variables (the BASKETLIFT_GATEWAY_* keys, say)."""
    port = free_port()
    log_path = workdir / f"{deployment.prefix}-gateway-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "gateway"],
            env=deployment.env(workdir / "gateway", BASKETLIFT_GATEWAY_PORT=str(port), **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return GatewayProcess(process, port, log_path)


def get_json(url: str, *, token: str | None = None) -> tuple[int, Any]:
    """GET a JSON endpoint, with `Authorization: Bearer <token>` when given: (status, body)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read() or b"null")


def start_worker(deployment: Deployment, workdir: Path, **env: str) -> WorkerProcess:
    """Start `python -m streams.cli worker` for the deployment."""
    log_path = workdir / f"{deployment.app_id}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=deployment.env(workdir / "data", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return WorkerProcess(process, deployment, log_path)


async def produce_records(
    access: KafkaAccess, records: Iterable[tuple[str, bytes | None, bytes | None]]
) -> list[tuple[str, int, int]]:
    """Send (topic, key, value) records in order; return (topic, partition, offset) of each."""
    producer = make_producer(access)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, key, value in records]
        metadata = [await f for f in futures]
        return [(m.topic, m.partition, m.offset) for m in metadata]
    finally:
        await producer.stop()


def send_events(deployment: Deployment, events: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """Produce (logical topic, key, event) contract events, keyed as a good producer does."""
    records = [
        (deployment.topic(logical), key.encode(), orjson.dumps(event))
        for logical, key, event in events
    ]
    asyncio.run(produce_records(deployment.access, records))


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (0 when there are none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def wait_for_index(worker: WorkerProcess, after: float, timeout: float = 60) -> None:
    """Wait until a check after the wall time `after` found the ranker index up to date."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = worker.metrics_text()
        checked = metric_total(text, "basketlift_index_checked_timestamp_seconds")
        if checked > after and metric_total(text, "basketlift_index_stale_records") == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"the index was not up to date after {after} within {timeout}s")


def wait_all_serving(workers: list[WorkerProcess], timeout: float = 300) -> None:
    """Block until every worker is healthy at once, several polls in a row (the group has
    settled: each holds partitions and none is rebalancing)."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < 5:
        for worker in workers:
            assert worker.alive(), "worker exited\n" + worker.log_tail()
        healthy = all(worker.health() == 200 for worker in workers)
        in_a_row = in_a_row + 1 if healthy else 0
        if time.monotonic() > deadline:
            raise AssertionError(
                f"workers not all healthy after {timeout}s\n"
                + "\n=====\n".join(worker.log_tail() for worker in workers)
            )
        time.sleep(1)


@contextlib.contextmanager
def py_spy_recording(pid: int, output: Path | None) -> Iterator[None]:
    """Sample process `pid` with py-spy while the block runs, into `output`: collapsed
    stacks (py-spy's ``raw`` format, one ``frame;frame;... count`` line each) when its name
    ends in ``.txt``, else speedscope JSON.

    Nothing happens when `output` is None. Sampling is non-blocking (the process is not
    paused per sample), so it perturbs the run little; py-spy (a dev dependency) needs
    ptrace rights on the process.
    """
    if output is None:
        yield
        return
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy) if py_spy.exists() else "py-spy", "record", "--nonblocking"]
    file_format = "raw" if output.suffix == ".txt" else "speedscope"
    command += ["--format", file_format, "-o", str(output), "-p", str(pid)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _out, err = recorder.communicate(timeout=120)
        if not output.exists():
            raise SystemExit(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")


def ensure_broker(settings: Settings) -> str:
    """Start (or reuse) the local broker; return its bootstrap servers."""
    devbroker.start_broker(settings, fresh=False, echo=lambda *_: None)
    return settings.bootstrap_servers


def machine() -> dict[str, object]:
    """What a benchmark ran on: CPU, Python, the Kafka version and the broker's pid."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    settings = Settings()
    libs = next(settings.kafka_home.glob("libs-*"), None)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kafka": devbroker.kafka_version(libs) if libs else "unknown",
        "broker_pid": devbroker.running_pid(devbroker.BrokerPaths(settings.kafka_home)),
        "commit": code_commit(),
    }


RESULTS_DIR_ENV = "BASKETLIFT_BENCH_RESULTS"
"""Where the benches write their results: bench/results/ unless this variable names a
directory (the smoke tests write to a temporary one, so a test run changes no repo file)."""


def results_dir() -> Path:
    """The directory results are written to (created if missing)."""
    configured = os.environ.get(RESULTS_DIR_ENV)
    directory = Path(configured) if configured else Path(__file__).parent / "results"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def code_commit() -> str:
    """The commit of the code that ran, with `+dirty` when the work tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def save_named_result(file_name: str, run_name: str, result: dict[str, Any]) -> Path:
    """Store `result` under `run_name` in a results file of named runs; return its path."""
    path = results_dir() / file_name
    saved: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            saved = json.loads(path.read_text())
    saved[run_name] = result
    path.write_text(json.dumps(saved, indent=2) + "\n")
    return path


def save_runs(file_name: str, run_name: str, result: dict[str, Any]) -> None:
    """Store `result` under `run_name` (``save_named_result``) and say where; then exit with
    status 1 if any of its ``runs`` has a ``status`` other than "ok" (a failed run is
    recorded, and the command still fails)."""
    path = save_named_result(file_name, run_name, result)
    print(f"saved {path} [{run_name}]")
    runs = result["runs"]
    failed = [run for run in runs if run["status"] != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs)} runs failed: {failed[0]['status'][:300]}")

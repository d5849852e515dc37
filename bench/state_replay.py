"""State replay: two years of real orders through one worker, with the default state settings.

Reads both UCI online-retail files from --data-dir (cleaned by streams.tools.replay.orderlog),
turns them into catalog, derived cart (optional) and order events (streams.tools.replay.events),
fills the topics of a fresh deployment on the local broker, then starts ONE worker with the
defaults (exactly-once, decay 90 days, K=100, RocksDB in a temporary data dir; the consumer
group timing that bench.harness lowers for quick rebalances is put back to its defaults)
and measures:

- events sent per topic and the producer's fill time (which includes serialising them);
- the worker's events/s from the first event counted to the last (``/metrics`` polled every
  0.5 s) and when the co-purchase state settled (``basketlift_product_updates_total`` still
  for ``SETTLE_QUIET_S`` after every event was counted, and the worker's group has committed
  every co-purchase delta: quiet counters alone also happen during a long commit);
- the worker's peak RSS (VmHWM) and RSS just before it is stopped, its CPU time, and the
  on-disk size of its data dir;
- the state: the latest value per key of the product table's and the shopper profiles'
  changelogs, read from the beginning to the end offsets (read_committed) after the worker
  has stopped: products, bytes per product, neighbours per product; profiles, bytes each.

The run ends early, still measuring what it can, when the worker exits, when its count
stops moving for --stall seconds, or after --timeout seconds; the result says which
(``worker.status``), how far it got, and which warnings and errors its log holds (a copy of
the whole log is left in the temp dir). It also records the commit and a digest of streams/
and schemas/, and which of their files changed while it ran (the worker runs what it
imported at start). Results are printed and merged into bench/results/state_replay.json under
the variant name (or --name). The deployment's topics are deleted afterwards unless
--keep-topics. Usage:

    .venv/bin/python -m bench.state_replay [--carts/--no-carts] [--limit-orders N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import (
    Deployment,
    WorkerProcess,
    ensure_broker,
    machine,
    new_deployment,
    save_named_result,
    start_worker,
)
from streams.kafka.admin import topic_partition_counts
from streams.kafka.producer import make_producer
from streams.kafka.security import KafkaAccess
from streams.settings import Settings
from streams.tools.replay.events import replay_events
from streams.tools.replay.orderlog import OrderLog, read_order_log
from streams.tools.replay.worker_metrics import fetch_metrics_text

DATA_FILES = ("online_retail_2009_2010.parquet", "online_retail_2010_2011.parquet")

POLL_S = 0.5
"""How often /metrics is read (it costs the worker CPU: do not poll faster)."""
SETTLE_QUIET_S = 3.0
"""The state has settled when product updates did not change for this long."""
LAG_CHECK_S = 3.0
"""Spacing of the checks that every co-purchase delta is committed (once quiet)."""
PROGRESS_EVERY_S = 30.0
"""Spacing of the coarse progress samples kept in the result."""
MIB = 1024 * 1024
TABLE_DIR = re.compile(r"^(.+)-(\d+)\.db$")
"""A RocksDB directory of one table partition: ``<table>-<partition>.db``."""
GROUP_TIMING = (
    "broker_session_timeout_seconds",
    "broker_heartbeat_interval_seconds",
    "broker_rebalance_timeout_seconds",
)
"""bench.harness lowers these (quick rebalances for tests); the benchmark puts the defaults back."""


def default_group_timing_env() -> dict[str, str]:
    """BASKETLIFT_* variables restoring the default consumer-group timing."""
    return {
        f"BASKETLIFT_{name.upper()}": str(Settings.model_fields[name].default)
        for name in GROUP_TIMING
    }


def code_report(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The code a run started with, and the files that changed while it ran."""
    return {
        **{key: value for key, value in before.items() if key != "files"},
        "changed_during_run": sorted(
            path
            for path in before["files"].keys() | after["files"].keys()
            if before["files"].get(path) != after["files"].get(path)
        ),
    }


def code_version() -> dict[str, Any]:
    """The commit, uncommitted changes and digests of the worker's code (streams/, schemas/).

    Taken just before the worker starts (it imports its code then) and again after it stops:
    the working tree may change while a run is under way, and ``files`` tells which did.
    """
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.strip()

    files = {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted([*root.glob("streams/**/*.py"), *root.glob("schemas/**/*.py")])
    }
    digest = hashlib.sha256(orjson.dumps(files, option=orjson.OPT_SORT_KEYS))
    dirty = git("status", "--porcelain", "--", "streams", "schemas").splitlines()
    return {
        "git_head": git("rev-parse", "HEAD"),
        "uncommitted_in_streams_schemas": [line[2:].strip() for line in dirty],
        "code_sha256": digest.hexdigest()[:16],
        "files": files,
    }


def worker_settings(deployment: Deployment, data_dir: Path) -> Settings:
    """The Settings the benchmark's worker reads (its environment, as start_worker sets it)."""
    env = deployment.env(data_dir, **default_group_timing_env())
    prefix = "BASKETLIFT_"
    values = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    return Settings(**values)  # type: ignore[arg-type]


def log_summary(path: Path, tail_lines: int = 40, width: int = 400) -> dict[str, Any]:
    """Counts of the worker log's WARNING/ERROR/CRITICAL messages, and its tail (lines cut)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return {"lines": 0}
    kinds: Counter[str] = Counter()
    for line in lines:
        for level in ("WARNING", "ERROR", "CRITICAL"):
            marker = f"[{level}]"
            if marker in line:
                message = line.split(marker, 1)[1].split("]:", 1)[-1].strip()
                # Group by the message's start, without ids, offsets and numbers.
                words = [w for w in message.split()[:8] if not any(c.isdigit() for c in w)]
                kinds[f"{level} {' '.join(words)}"[:120]] += 1
    return {
        "lines": len(lines),
        "messages": dict(kinds.most_common(15)),
        "tail": [line[:width] for line in lines[-tail_lines:]],
    }


# --------------------------------------------------------------------------- metrics


@dataclass
class Snapshot:
    """The worker counters this benchmark follows."""

    valid: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    product_updates: float = 0.0
    profile_updates: float = 0.0

    @property
    def counted(self) -> float:
        """Valid plus invalid events over all topics."""
        return sum(self.valid.values()) + sum(self.invalid.values())

    def topic_total(self, topic: str) -> float:
        """Valid plus invalid events of one topic."""
        return self.valid[topic] + self.invalid[topic]


def parse_snapshot(text: str) -> Snapshot:
    """Extract the followed counters from /metrics text."""
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "basketlift_events_total":
                snap.valid[labels["topic"]] += int(value)
            elif name == "basketlift_events_invalid_total":
                snap.invalid[labels["topic"]] += int(value)
            elif name == "basketlift_events_duplicate_total":
                snap.duplicates[labels["topic"]] += int(value)
            elif name == "basketlift_product_updates_total":
                snap.product_updates = value
            elif name == "basketlift_profile_updates_total":
                snap.profile_updates = value
    return snap


def fetch_snapshot(url: str) -> Snapshot | None:
    """The worker's counters, or None when /metrics does not answer."""
    text = fetch_metrics_text(url)
    return parse_snapshot(text) if text is not None else None


# --------------------------------------------------------------------------- process facts


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """A `VmXxx: N kB` field of /proc/<pid>/status, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command: state is field 3; utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def disk_usage(path: Path) -> dict[str, int | None]:
    """Allocated and apparent size of a directory tree (du), and apparent bytes by file kind."""
    out: dict[str, int | None] = {}
    kinds: Counter[str] = Counter()
    for file in path.rglob("*"):
        with contextlib.suppress(OSError):
            if file.is_file():
                kind = file.suffix.lstrip(".") if file.suffix in (".sst", ".log") else "other"
                kinds[f"{kind}_bytes"] += file.stat().st_size
    out.update(sorted(kinds.items()))
    for label, flags in (
        ("allocated_bytes", ["-s", "--block-size=1"]),
        ("apparent_bytes", ["-sb"]),
    ):
        try:
            done = subprocess.run(
                ["du", *flags, str(path)], capture_output=True, text=True, check=True
            )
            out[label] = int(done.stdout.split()[0])
        except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
            out[label] = None
    return out


def table_bytes(data_dir: Path) -> dict[str, int]:
    """Bytes on disk per table of the worker's data directory (partitions summed)."""
    sizes: dict[str, int] = {}
    for file in data_dir.rglob("*"):
        if not file.is_file():
            continue
        table = next(
            (
                found.group(1)
                for part in file.relative_to(data_dir).parts
                if (found := TABLE_DIR.match(part))
            ),
            "other",
        )
        try:
            sizes[table] = sizes.get(table, 0) + file.stat().st_size
        except OSError:
            continue
    return dict(sorted(sizes.items()))


def mib(kib: int | None) -> float | None:
    """KiB to MiB, rounded."""
    return None if kib is None else round(kib / 1024, 1)


# --------------------------------------------------------------------------- fill


async def fill(
    deployment: Deployment, events: Iterable[tuple[str, str | None, dict[str, Any]]]
) -> tuple[Counter[str], Counter[str], float]:
    """Serialise and produce every event; return (events by topic, bytes by topic, seconds)."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    producer = make_producer(deployment.access)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for logical, key, event in events:
            value = orjson.dumps(event)
            pending.append(
                await producer.send(
                    deployment.topic(logical), value, key=key.encode() if key else None
                )
            )
            counts[logical] += 1
            sizes[logical] += len(value)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts, sizes, time.perf_counter() - started


# --------------------------------------------------------------------------- the worker run


@dataclass
class WorkerRun:
    """What was observed of the worker while it consumed the replay."""

    status: str = "ok"
    launched: float = 0.0
    first: float | None = None
    all_counted: float | None = None
    last_product_change: float | None = None
    settled: float | None = None
    health_at_settle: int | None = None
    quiet_with_lag: list[int] = field(default_factory=list)
    last_poll: float | None = None
    topic_done: dict[str, float] = field(default_factory=dict)
    final: Snapshot | None = None
    peak_rss_kib: int | None = None
    end_rss_kib: int | None = None
    max_sampled_rss_kib: int = 0
    cpu_s: float | None = None
    measured: float | None = None
    stopped: float | None = None
    data_dir_running: dict[str, int | None] = field(default_factory=dict)
    data_dir_after_stop: dict[str, int | None] = field(default_factory=dict)
    exit_code: int | None = None
    progress: list[dict[str, float | int | None]] = field(default_factory=list)
    loadavg: list[float] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)
    log_copy: str | None = None


CRASH_MARKER = "Crashed reason="
"""What mode/Faust log when a service of the app crashes (the process may live on)."""


def app_crashed(log_path: Path) -> bool:
    """True when the worker's log says that a service of the app crashed."""
    try:
        return CRASH_MARKER in log_path.read_text(errors="replace")
    except FileNotFoundError:
        return False


async def last_data_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Per partition, the offset after its last committed record (transaction markers skipped).

    Under exactly-once, commit markers follow the last record, so the end offset is more than
    a caught-up consumer commits. Reads back from the end, widening the window until a record
    shows up (or the partition's start is reached).
    """
    out: dict[TopicPartition, int] = {}
    for tp in tps:
        end = ends[tp]
        window = 16
        while end and tp not in out:
            start = max(0, end - window)
            consumer.assign([tp])
            consumer.seek(tp, start)
            deadline = time.monotonic() + 10
            while await consumer.position(tp) < end and time.monotonic() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=window)
                for message in batch.get(tp, []):
                    if message.offset < end:
                        out[tp] = max(out.get(tp, 0), message.offset + 1)
            if start == 0:
                break
            window *= 4
        out.setdefault(tp, 0)
    return out


async def deltas_lag(deployment: Deployment) -> int:
    """Co-purchase deltas the worker's group has not committed yet (-1 when unknown)."""
    topic = f"{deployment.app_id}-copurchase-deltas"
    admin = AIOKafkaAdminClient(**deployment.access.client_options(), request_timeout_ms=30000)
    consumer = AIOKafkaConsumer(
        **deployment.access.client_options(),
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * MIB,
    )
    await admin.start()
    await consumer.start()
    try:
        committed = {
            tp: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(deployment.app_id)).items()
            if tp.topic == topic
        }
        count = (await topic_partition_counts(deployment.access, [topic])).get(topic, 0)
        tps = [TopicPartition(topic, p) for p in range(count)]
        ends = await consumer.end_offsets(tps) if tps else {}
        needed = await last_data_offsets(consumer, tps, ends)
        return sum(max(0, n - max(committed.get(tp, 0), 0)) for tp, n in needed.items())
    except Exception:  # a broker hiccup: try again later
        return -1
    finally:
        await consumer.stop()
        await admin.close()


def follow_worker(
    worker: WorkerProcess,
    expected: dict[str, int],
    run: WorkerRun,
    timeout_s: float,
    stall_s: float,
    settle_timeout_s: float,
) -> None:
    """Poll /metrics every POLL_S until every event is counted and product updates are quiet."""
    url = worker.base_url + "/metrics"
    total = sum(expected.values())
    pid = worker.process.pid
    deadline = run.launched + timeout_s
    last_counted = -1.0
    last_counted_change = time.perf_counter()
    last_updates: float | None = None
    next_progress = run.launched
    next_lag_check = 0.0
    next_poll = time.perf_counter()
    while True:
        now = time.perf_counter()
        if next_poll > now:
            time.sleep(next_poll - now)
        next_poll += POLL_S
        now = time.perf_counter()
        if not worker.alive():
            run.status = "worker_exited"
            return
        rss = proc_status_kib(pid, "VmRSS")
        if rss is not None:
            run.max_sampled_rss_kib = max(run.max_sampled_rss_kib, rss)
        snap = fetch_snapshot(url)
        if snap is None:  # starting up, or too busy to answer in time
            if now > deadline:
                run.status = "timeout"
                return
            continue
        run.final, run.last_poll = snap, now
        counted = snap.counted
        if counted and run.first is None:
            run.first = now
        if counted != last_counted:
            last_counted, last_counted_change = counted, now
        if snap.product_updates != last_updates:
            last_updates = snap.product_updates
            if snap.product_updates:
                run.last_product_change = now
        for topic, sent in expected.items():
            if topic not in run.topic_done and snap.topic_total(topic) >= sent:
                run.topic_done[topic] = now
        if now >= next_progress:
            next_progress += PROGRESS_EVERY_S
            if app_crashed(worker.log_path):
                run.status = "app_crashed"
                return
            run.loadavg.append(os.getloadavg()[0])
            run.progress.append(
                {
                    "t_s": round(now - run.launched, 1),
                    "counted": int(counted),
                    "product_updates": int(snap.product_updates),
                    "rss_mib": mib(rss),
                }
            )
        if run.all_counted is None and counted >= total:
            run.all_counted = now
        if run.all_counted is not None:
            quiet_since = max(run.last_product_change or run.all_counted, run.all_counted)
            if now - quiet_since >= SETTLE_QUIET_S and now >= next_lag_check:
                # Quiet counters can also mean a crashed app in a live process, or a pause
                # (a long commit): settled only once every delta is consumed and committed.
                if app_crashed(worker.log_path):
                    run.status = "app_crashed"
                    return
                next_lag_check = now + LAG_CHECK_S
                lag = asyncio.run(deltas_lag(worker.deployment))
                run.quiet_with_lag.append(lag)
                if lag == 0:
                    run.health_at_settle = worker.health()
                    run.settled = now
                    return
            if now - run.all_counted > settle_timeout_s:
                run.status = "not_settled"
                return
        elif run.first is not None and now - last_counted_change > stall_s:
            run.status = "stalled"
            return
        if now > deadline:
            run.status = "timeout"
            return


def run_worker(
    deployment: Deployment,
    workdir: Path,
    expected: dict[str, int],
    timeout_s: float,
    stall_s: float,
    settle_timeout_s: float,
    stop_timeout_s: float,
    log_copy: Path,
) -> WorkerRun:
    """Start the worker on the filled topics, follow it, measure it, stop it."""
    run = WorkerRun(launched=time.perf_counter())
    run.loadavg.append(os.getloadavg()[0])
    worker = start_worker(deployment, workdir, **default_group_timing_env())
    pid = worker.process.pid
    data_dir = workdir / "data"
    try:
        follow_worker(worker, expected, run, timeout_s, stall_s, settle_timeout_s)
        # Just before stopping: memory, CPU, disk, and the last counters.
        run.peak_rss_kib = proc_status_kib(pid, "VmHWM")
        run.end_rss_kib = proc_status_kib(pid, "VmRSS")
        run.cpu_s = proc_cpu_seconds(pid)
        run.measured = time.perf_counter()
        run.data_dir_running = disk_usage(data_dir)
        run.loadavg.append(os.getloadavg()[0])
        if worker.alive():
            run.final = fetch_snapshot(worker.base_url + "/metrics") or run.final
    finally:
        run.exit_code = worker.stop(timeout=stop_timeout_s)
        run.stopped = time.perf_counter()
    run.data_dir_after_stop = disk_usage(data_dir)
    run.log = log_summary(worker.log_path)
    with contextlib.suppress(OSError):
        log_copy.write_bytes(worker.log_path.read_bytes())
        run.log_copy = str(log_copy)
    return run


# --------------------------------------------------------------------------- state


@dataclass
class ChangelogRead:
    """Latest value per key of a changelog, and how the read went."""

    latest: dict[bytes, bytes]
    records: int
    end_offsets: int
    complete: bool
    seconds: float


async def read_changelog(access: KafkaAccess, topic: str, idle_s: float = 15.0) -> ChangelogRead:
    """Read `topic` from the beginning to its end offsets (read_committed); last value wins."""
    started = time.perf_counter()
    partitions = (await topic_partition_counts(access, [topic])).get(topic, 0)
    if not partitions:
        return ChangelogRead({}, 0, 0, False, 0.0)
    consumer = AIOKafkaConsumer(
        **access.client_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * MIB,
    )
    await consumer.start()
    latest: dict[bytes, bytes] = {}
    records = 0
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = set(tps)
        last_data = time.monotonic()
        while remaining:
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if not remaining:
                break
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if batches:
                last_data = time.monotonic()
            elif time.monotonic() - last_data > idle_s:
                break
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= ends[tp] or message.key is None:
                        continue
                    records += 1
                    if message.value is None:
                        latest.pop(message.key, None)
                    else:
                        latest[message.key] = message.value
        return ChangelogRead(
            latest, records, sum(ends.values()), not remaining, time.perf_counter() - started
        )
    finally:
        await consumer.stop()


def size_stats(sizes: list[int]) -> dict[str, float | int | None]:
    """Mean, p50, p95 and max of value sizes in bytes."""
    if not sizes:
        return {"mean": None, "p50": None, "p95": None, "max": None}
    ordered = sorted(sizes)
    return {
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[(len(ordered) - 1) // 2],
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def product_stats(read: ChangelogRead, k: int, catalog: set[str]) -> dict[str, Any]:
    """Products, their bytes and neighbours, from the product table's changelog.

    Keys starting with NUL are not products (the graph keeps its order total under one) and
    are reported apart.
    """
    products = {key: v for key, v in read.latest.items() if not key.startswith(b"\0")}
    others = {
        key.decode("utf-8", "replace"): orjson.loads(v)
        for key, v in read.latest.items()
        if key.startswith(b"\0")
    }
    unknown = sorted(
        key.decode("utf-8", "replace")
        for key in products
        if key.decode("utf-8", "replace") not in catalog
    )
    neighbours = []
    purchased = 0
    for value in products.values():
        state = orjson.loads(value)
        neighbours.append(len(state.get("w", {})))
        purchased += bool(state.get("n"))
    return {
        "products": len(products),
        "products_with_purchases": purchased,
        "value_bytes": size_stats([len(v) for v in products.values()]),
        "total_latest_bytes": sum(len(v) for v in products.values()),
        "mean_neighbours": round(statistics.fmean(neighbours), 2) if neighbours else None,
        "p50_neighbours": sorted(neighbours)[(len(neighbours) - 1) // 2] if neighbours else None,
        "products_at_k": sum(n >= k for n in neighbours),
        "keys_not_in_replayed_catalog": len(unknown),
        "keys_not_in_replayed_catalog_examples": unknown[:5],
        "non_product_keys": others,
        "changelog_records_read": read.records,
        "changelog_end_offsets_sum": read.end_offsets,
        "read_complete": read.complete,
        "read_s": round(read.seconds, 1),
    }


def profile_stats(read: ChangelogRead) -> dict[str, Any]:
    """Shopper profiles and their bytes, from the profile table's changelog."""
    return {
        "profiles": len(read.latest),
        "value_bytes": size_stats([len(v) for v in read.latest.values()]),
        "total_latest_bytes": sum(len(v) for v in read.latest.values()),
        "changelog_records_read": read.records,
        "changelog_end_offsets_sum": read.end_offsets,
        "read_complete": read.complete,
        "read_s": round(read.seconds, 1),
    }


async def internal_end_offsets(deployment: Deployment) -> dict[str, int]:
    """Records written to each internal topic of the app (sum of its high watermarks)."""
    admin = AIOKafkaAdminClient(**deployment.access.client_options(), request_timeout_ms=60000)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(deployment.app_id))
    finally:
        await admin.close()
    counts = await topic_partition_counts(deployment.access, names) if names else {}
    consumer = AIOKafkaConsumer(**deployment.access.client_options())
    await consumer.start()
    try:
        out = {}
        for name in names:
            tps = [TopicPartition(name, p) for p in range(counts.get(name, 0))]
            ends = await consumer.end_offsets(tps) if tps else {}
            out[name.removeprefix(deployment.app_id + "-")] = sum(ends.values())
        return out
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- main


def order_log_files(order_files: list[Path] | None, data_dir: Path | None) -> list[Path]:
    """The files to replay: `order_files`, else the two UCI files in `data_dir`."""
    if order_files:
        return order_files
    if data_dir is None:
        raise ValueError("give order files or the directory of the two UCI files")
    return [data_dir / name for name in DATA_FILES]


def load_log(
    limit_orders: int | None, order_files: list[Path] | None, data_dir: Path | None
) -> tuple[OrderLog, float]:
    """The order log (`order_files`, or both UCI files of `data_dir`, cleaned, joined, overlap
    dropped); optionally the first N orders."""
    started = time.perf_counter()
    files = order_log_files(order_files, data_dir)
    log = read_order_log(files, "auto" if order_files else "online-retail")
    if limit_orders is not None:
        log = log.head(limit_orders)
    return log, time.perf_counter() - started


def iso_day(ts_ms: int) -> str:
    """An epoch-ms timestamp as a UTC date and time."""
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ts_ms / 1000))


def rounded(value: float | None, digits: int = 1) -> float | None:
    """Round, keeping None."""
    return None if value is None else round(value, digits)


def since(start: float | None, end: float | None) -> float | None:
    """end - start in seconds (rounded), or None when either is unknown."""
    return None if start is None or end is None else round(end - start, 2)


def worker_report(
    run: WorkerRun, deployment: Deployment, expected: dict[str, int]
) -> dict[str, Any]:
    """The worker half of the result."""
    total = sum(expected.values())
    consume_s = since(run.first, run.all_counted)
    final = run.final or Snapshot()
    names = {deployment.topic(t): t for t in expected}

    def by_logical(counter: Counter[str]) -> dict[str, int]:
        return {names.get(t, t): int(n) for t, n in sorted(counter.items()) if n}

    settle_after = None
    if run.settled is not None and run.all_counted is not None:
        settle_after = round(max(0.0, (run.last_product_change or 0.0) - run.all_counted), 2)
    partial = None
    if run.all_counted is None and run.first is not None and run.last_poll is not None:
        elapsed = run.last_poll - run.first
        partial = {
            "counted": int(final.counted),
            "counted_fraction": round(final.counted / total, 4) if total else None,
            "seconds_since_first_event": round(elapsed, 1),
            "events_per_s_so_far": round(final.counted / elapsed) if elapsed > 0 else None,
        }
    return {
        "status": run.status,
        "startup_s": since(run.launched, run.first),
        "consume_s": consume_s,
        "events_per_s": round(total / consume_s) if consume_s else None,
        "not_all_counted": partial,
        "topic_done_s_after_first": {
            names[t]: since(run.first, at) for t, at in sorted(run.topic_done.items())
        },
        "state_settled_s_after_first": since(run.first, run.last_product_change)
        if run.settled
        else None,
        "state_settled_s_after_all_counted": settle_after,
        "settle_confirmed_s_after_first": since(run.first, run.settled),
        "health_at_settle": run.health_at_settle,
        "deltas_lag_when_quiet": run.quiet_with_lag[-20:],
        "counted_valid": by_logical(final.valid),
        "counted_invalid": by_logical(final.invalid),
        "duplicates": by_logical(final.duplicates),
        "product_updates_total": int(final.product_updates),
        "profile_updates_total": int(final.profile_updates),
        "peak_rss_mib": mib(run.peak_rss_kib),
        "end_rss_mib": mib(run.end_rss_kib),
        "max_sampled_rss_mib": mib(run.max_sampled_rss_kib),
        "cpu_s": rounded(run.cpu_s),
        "cpu_share_of_one_core": round(run.cpu_s / (run.measured - run.launched), 2)
        if run.cpu_s and run.measured
        else None,
        "stop_s": since(run.measured, run.stopped),
        "data_dir_running": run.data_dir_running,
        "data_dir_after_stop": run.data_dir_after_stop,
        "exit_code": run.exit_code,
        "loadavg_1m": {
            "min": min(run.loadavg),
            "mean": round(statistics.fmean(run.loadavg), 2),
            "max": max(run.loadavg),
        }
        if run.loadavg
        else None,
        "progress": run.progress,
    }


def main() -> None:
    """Replay, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--carts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Send the derived cart events too (default); --no-carts: catalog and orders only.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--orders",
        type=Path,
        action="append",
        default=None,
        help="Order log file(s) to replay.",
    )
    source.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"Replay the two UCI files in this directory ({', '.join(DATA_FILES)}).",
    )
    parser.add_argument("--limit-orders", type=int, default=None, help="Only the first N orders.")
    parser.add_argument("--partitions", type=int, default=Settings().partitions)
    parser.add_argument("--timeout", type=float, default=2400.0, help="Give up after (s).")
    parser.add_argument("--stall", type=float, default=180.0, help="No progress for (s) = stall.")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--stop-timeout", type=float, default=60.0, help="SIGTERM, then SIGKILL.")
    parser.add_argument("--name", help="Key of this run in the results file (default: variant).")
    parser.add_argument("--keep-topics", action="store_true", help="Do not delete the topics.")
    args = parser.parse_args()

    variant = "carts" if args.carts else "no_carts"
    if args.limit_orders is not None:
        variant += f"_limit_{args.limit_orders}"
    bootstrap = ensure_broker(Settings())
    log, read_s = load_log(args.limit_orders, args.orders, args.data_dir)
    print(f"{variant}: {log.order_count:,} orders, {log.line_count:,} lines (read {read_s:.1f}s)")

    deployment = new_deployment(bootstrap, partitions=args.partitions)
    asyncio.run(deployment.create_topics())
    counts, sizes, fill_s = asyncio.run(fill(deployment, replay_events(log, carts=args.carts)))
    expected = {deployment.topic(t): n for t, n in counts.items()}
    total = sum(counts.values())
    print(f"filled {total:,} events in {fill_s:.1f}s: {dict(counts)}")

    code_before = code_version()
    with tempfile.TemporaryDirectory(prefix="state_replay-") as tmp:
        workdir = Path(tmp)
        settings = worker_settings(deployment, workdir / "data")
        run = run_worker(
            deployment,
            workdir,
            expected,
            args.timeout,
            args.stall,
            args.settle_timeout,
            args.stop_timeout,
            Path(tempfile.gettempdir()) / f"state_replay-{variant}-{deployment.app_id}.log",
        )
    print(f"worker: {run.status}; reading the changelogs")
    products = asyncio.run(
        read_changelog(deployment.access, f"{deployment.app_id}-copurchase-products-changelog")
    )
    profiles = asyncio.run(
        read_changelog(deployment.access, f"{deployment.app_id}-shopper-profiles-changelog")
    )
    code_after = code_version()
    internal = asyncio.run(internal_end_offsets(deployment))
    written = internal.get("copurchase-products-changelog", 0)
    updates = int(run.final.product_updates) if run.final else 0
    graph_total = products.latest.get(b"\0orders")
    state_check = {
        "product_updates_total": updates,
        "products_changelog_offsets_written": written,
        "products_changelog_committed_records": products.records,
        "committed_records_per_update": round(products.records / updates, 3) if updates else None,
        "graph_orders_as_of": iso_day(orjson.loads(graph_total)["t"]) if graph_total else None,
        "last_order_ts": iso_day(log.orders[-1].ts_ms) if log.orders else None,
    }
    deleted = [] if args.keep_topics else asyncio.run(deployment.delete_topics())

    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variant": variant,
        "order_log": {
            "files": [p.name for p in order_log_files(args.orders, args.data_dir)],
            "limit_orders": args.limit_orders,
            "orders": log.order_count,
            "lines": log.line_count,
            "shoppers": log.shopper_count,
            "rows_read": log.rows_read,
            "dropped": dict(log.dropped),
            "read_s": round(read_s, 1),
        },
        "code": code_report(code_before, code_after),
        "settings": {
            "partitions": settings.partitions,
            "processing_guarantee": settings.processing_guarantee,
            "store": settings.store,
            "decay_half_life_days": settings.decay_half_life_days,
            "neighbours_k": settings.neighbours_k,
            "cross_order_weight": settings.cross_order_weight,
            "cross_order_days": settings.cross_order_days,
            "batch_max": settings.batch_max,
            **{name: getattr(settings, name) for name in GROUP_TIMING},
            "log_level": settings.log_level,
        },
        "events_sent": {"total": total, "by_topic": dict(counts)},
        "event_bytes": {
            "by_topic": dict(sizes),
            "avg_by_topic": {t: round(sizes[t] / n) for t, n in counts.items()},
        },
        "producer_fill_s": round(fill_s, 1),
        "producer_fill_events_per_s": round(total / fill_s),
        "worker": worker_report(run, deployment, dict(counts)),
        "state_check": state_check,
        "state": {
            "products": product_stats(
                products, settings.neighbours_k, {line.product_id for line in log.lines()}
            ),
            "profiles": profile_stats(profiles),
        },
        "internal_topic_records": internal,
        "worker_log": {"copy": run.log_copy, **run.log},
        "topics_deleted": len(deleted),
        "machine": machine(),
    }
    orders_counted = int(run.final.topic_total(deployment.topic("orders"))) if run.final else 0
    if 0 < orders_counted < log.order_count:
        # Approximate: the worker consumes the 8 order partitions side by side.
        result["worker"]["approx_order_time_reached"] = iso_day(
            log.orders[orders_counted - 1].ts_ms
        )
    print(json.dumps(result, indent=2))
    path = save_named_result("state_replay.json", args.name or variant, result)
    print(f"saved under {args.name or variant!r} in {path}")


if __name__ == "__main__":
    main()

"""Every benchmark runs end to end at a tiny size on the real broker, so that none rots.

No timing is asserted: a bench run proves only that the bench still works and records what
it measured, with the machine and the commit. Results go to a temporary directory
(BASKETLIFT_BENCH_RESULTS), never into bench/results/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import RESULTS_DIR_ENV, SAMPLE

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

SMOKE_RUNS = {
    "decision_burst": (
        ["--carts", "200", "--history-orders", "150", "--partitions", "2", "--name", "smoke"],
        "decision_burst.json",
    ),
    "ingest_throughput": (["--events", "1500", "--partitions", "2"], "ingest_throughput.json"),
    "idle_cost": (
        [
            "--fetch-waits",
            "1500,100",
            "--seconds",
            "2",
            "--settle",
            "1",
            "--rounds",
            "1",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "idle_cost.json",
    ),
    "decision_latency": (
        [
            "--rates",
            "5",
            "--seconds",
            "3",
            "--history-orders",
            "150",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "decision_latency.json",
    ),
    "gateway_latency": (
        [
            "--rate",
            "5",
            "--seconds",
            "3",
            "--history-orders",
            "150",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "gateway_latency.json",
    ),
    "scale": (
        [
            "--products",
            "300",
            "--orders",
            "150",
            "--shoppers",
            "100",
            "--rate",
            "5",
            "--seconds",
            "2",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "scale.json",
    ),
    "shoppers": (
        [
            "--shoppers",
            "50,400",
            "--soak-seconds",
            "3",
            "--rate",
            "5",
            "--sample-seconds",
            "1",
            "--history-orders",
            "150",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "shoppers.json",
    ),
    "scaleout": (
        ["--events", "600", "--workers", "1,2", "--partitions", "2", "--name", "smoke"],
        "scaleout.json",
    ),
    "rebalance": (
        [
            "--products",
            "300",
            "--orders",
            "150",
            "--shoppers",
            "100",
            "--standbys",
            "1",
            "--rate",
            "5",
            "--before",
            "2",
            "--after",
            "2",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "rebalance.json",
    ),
    "state_replay": (
        [
            "--no-carts",
            "--orders",
            str(SAMPLE),
            "--limit-orders",
            "150",
            "--partitions",
            "2",
            "--name",
            "smoke",
        ],
        "state_replay.json",
    ),
}


# The decision burst's worker collects its young generation every 1,000 allocations (neither
# CPython's 700 nor the worker's default), so that 200 carts make young collections to count,
# and the result must show that value: it reached the worker from the environment, through
# its settings, and came back through its metrics.
SMOKE_ENV = {"decision_burst": {"BASKETLIFT_GC_YOUNG_THRESHOLD": "1000"}}


def run_bench(
    name: str, args: list[str], results: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(extra_env or {}), RESULTS_DIR_ENV: str(results)}
    return subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(SMOKE_RUNS))
def test_the_bench_runs_and_records_machine_and_commit(
    name: str, bootstrap: str, tmp_path: Path
) -> None:
    args, result_file = SMOKE_RUNS[name]
    done = run_bench(name, args, tmp_path, SMOKE_ENV.get(name))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    saved = json.loads((tmp_path / result_file).read_text())
    result = saved.get("smoke", saved)  # named runs, or the single latest run
    machine = result["machine"]
    assert machine["cpus"] and machine["commit"] != "unknown"
    if name == "decision_burst":
        # Read from the worker's own metrics: 200 carts allocate enough for young collections
        # at a young threshold of 1,000.
        collections = result["burst"]["worker_gc_during_burst"]
        assert set(collections) == {"generation_0", "generation_1", "generation_2"}
        assert collections["generation_0"]["collections"] > 0
        assert all(c["seconds"] >= 0 for c in collections.values())
        thresholds = result["burst"]["worker_gc_thresholds"]
        assert thresholds["generation_0"] == 1000
        assert thresholds["generation_1"] > 0 and thresholds["generation_2"] > 0
        assert result["burst"]["worker_partitions_assigned_during_burst"] >= 0


SEEDED_PROFILES = 300
SOAK_RATE, SOAK_SECONDS = 5, 4


@pytest.mark.timeout(900)
def test_the_scale_bench_seeds_profiles_and_soaks_over_every_shopper(
    bootstrap: str, tmp_path: Path
) -> None:
    """bench.scale with seeded profiles and a soak: the seeded profiles are restored into the
    worker's table (counted on disk beside the store's), phase 3 runs the soak's length (not
    --seconds) and its RSS is sampled."""
    args = [
        *SMOKE_RUNS["scale"][0][:-2],
        "--seed-profiles",
        str(SEEDED_PROFILES),
        "--soak-seconds",
        str(SOAK_SECONDS),
        "--rate",
        str(SOAK_RATE),
        "--sample-seconds",
        "1",
        "--name",
        "smoke-soak",
    ]
    done = run_bench("scale", args, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "scale.json").read_text())["smoke-soak"]
    (size,) = result["sizes"]
    assert size["seeded"]["profiles"] == SEEDED_PROFILES
    assert size["profiles"] == size["store"]["shoppers_with_orders"] + SEEDED_PROFILES
    assert size["disk_bytes_by_table"]["shopper-profiles"] > 0
    assert size["decisions"]["carts_sent"] == SOAK_RATE * SOAK_SECONDS
    soak = size["decision_phase_rss"]
    assert soak["samples"] >= 2
    assert soak["min_mib"] <= soak["first_mib"] <= soak["max_mib"]
    assert result["machine"]["commit"] != "unknown"

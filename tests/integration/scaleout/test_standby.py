"""BASKETLIFT_TABLE_STANDBY_REPLICAS: with 1 a worker keeps a copy of the partitions it does
not own in its local store, with 0 it keeps none.

A standby copy is what makes a takeover cheap: the worker taking a partition over after a
rebalance or a crash reads only the changelog records its copy lacks (bench/rebalance.py
measures it). The copy is read here from the second worker's RocksDB files once it has
stopped: the shopper profiles of every partition, compared with the shoppers the offline
recomputation puts in that partition.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from streams.ingest.routing import partition_for_key
from tests.integration.replay_support import (
    STATE_ENV,
    offline_state,
    owned_partitions,
    sample_slice,
    send_replay,
    shopper_mismatches,
    wait_all_serving,
    wait_until_empty,
)
from tests.support.kafka import Deployment, read_all, start_worker

pytestmark = pytest.mark.integration

ORDERS = 120
PROFILES = "shopper-profiles"
OFFSET_KEY = b"__faust\x00offset__"
"""The key under which Faust keeps a store partition's changelog offset (not a shopper)."""


def store_keys(data_dir: Path, table: str, partition: int) -> set[str]:
    """The keys in a worker's local store of one table partition (none if it has no store
    for it), read through a read-only RocksDB handle."""
    path = data_dir / "v1" / "tables" / f"{table}-{partition}.db"
    if not path.exists():
        return set()
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        keys = list(db.keys())  # raw mode: bytes
        return {key.decode() for key in keys if isinstance(key, bytes) and key != OFFSET_KEY}
    finally:
        db.close()


def store_mismatches(data_dir: Path, expected: dict[int, set[str]]) -> list[str]:
    """Partitions whose local profile store differs from `expected`."""
    wrong = []
    for partition, wanted in sorted(expected.items()):
        held = store_keys(data_dir, PROFILES, partition)
        if held != wanted:
            wrong.append(
                f"partition {partition}: {len(held)} profiles held, {len(wanted)} expected"
                f" ({len(held - wanted)} unexpected)"
            )
    return wrong


def changelog_mismatches(
    deployment: Deployment, changelog: str, expected: dict[int, set[str]]
) -> list[str]:
    """Partitions of the changelog whose committed keys lack some of `expected`."""
    found: dict[int, set[str]] = defaultdict(set)
    for key, _value, partition, _offset in asyncio.run(read_all(deployment.access, changelog)):
        if key is not None:
            found[partition].add(key.decode())
    return [
        f"{changelog}[{partition}]: {len(wanted - found[partition])} profiles missing"
        for partition, wanted in sorted(expected.items())
        if not wanted <= found[partition]
    ]


@pytest.mark.parametrize("standbys", [1, 0])
@pytest.mark.timeout(600)
def test_a_standby_replica_holds_the_profiles_of_the_partitions_it_does_not_own(
    deployment: Deployment, tmp_path: Path, standbys: int
) -> None:
    log = sample_slice(ORDERS)
    _purchases, _weights, shoppers = offline_state(log)
    count = deployment.partitions
    expected = {
        p: {s for s in shoppers if partition_for_key(s.encode(), count) == p} for p in range(count)
    }
    env = {**STATE_ENV, "BASKETLIFT_TABLE_STANDBY_REPLICAS": str(standbys)}
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    first = start_worker(deployment, tmp_path / "w1", **env)
    second = None
    try:
        # The second joins a running group, so it never holds every partition (as a worker
        # alone would) and its store can only have the others' profiles as a standby.
        first.wait_healthy(timeout=180)
        second = start_worker(deployment.sibling(), tmp_path / "w2", **env)
        workers = [first, second]
        wait_all_serving(workers)
        owned = owned_partitions(second, deployment.topic("orders"))
        others = set(range(count)) - owned
        assert owned and others, owned
        assert all(expected[p] for p in range(count)), "a partition without shoppers"

        send_replay(deployment, log)
        wrong = wait_until_empty(lambda: shopper_mismatches(second, shoppers), workers)
        assert not wrong, wrong[:10]
        # Every profile is committed to the changelog, where a standby reads it.
        changelog = f"{deployment.app_id}-{PROFILES}-changelog"
        wrong = wait_until_empty(
            lambda: changelog_mismatches(deployment, changelog, expected), workers, 120
        )
        assert not wrong, wrong
        time.sleep(5)  # the standby's fetches of the last commit
        # A clean stop applies what a standby has buffered (Faust applies standby records
        # in batches, and the rest when it stops or a rebalance starts).
        assert second.stop(timeout=60) == 0, second.log_tail()

        held = set(range(count)) if standbys else owned
        wanted = {p: expected[p] if p in held else set() for p in range(count)}
        wrong = store_mismatches(tmp_path / "w2" / "data", wanted)
        assert not wrong, (standbys, owned, wrong)
    finally:
        first.stop()
        if second is not None:
            second.stop()

"""streams/kafka/faustcompat.py: every table database shares one block cache and one memtable
budget (`install_shared_rocksdb_memory`), and a table's keys are estimated, not walked
(`estimated_table_keys`)."""

from __future__ import annotations

from pathlib import Path

import faust
import faust.stores
import pytest
from faust.types import TP

from streams.kafka import faustcompat
from streams.kafka.faustcompat import (
    SharedMemory,
    SharedMemoryRocksDBOptions,
    SharedMemoryRocksDBStore,
    install_shared_rocksdb_memory,
)


def test_rocksdb_urls_open_the_shared_memory_store() -> None:
    install_shared_rocksdb_memory(4 << 20, 4 << 20)
    assert faust.stores.by_url("rocksdb://") is SharedMemoryRocksDBStore


def test_databases_charge_their_memtables_to_the_one_budget(tmp_path: Path) -> None:
    install_shared_rocksdb_memory(4 << 20, 4 << 20)
    budget = SharedMemory.write_buffers
    before = budget.get_usage()
    databases = [
        SharedMemoryRocksDBOptions(write_buffer_size=1 << 20, use_rocksdict=True).open(
            tmp_path / f"table-{n}.db"
        )
        for n in range(2)
    ]
    for db in databases:
        for i in range(200):
            db[f"shopper-{i}".encode()] = b"x" * 1000
        assert db[b"shopper-7"] == b"x" * 1000
    # Both databases' memtables count against the shared write buffer manager.
    assert budget.get_usage() > before
    for db in databases:
        db.close()


def test_the_start_up_check_covers_the_store_hooks() -> None:
    assert faustcompat.unsupported() is None
    names = [a.needed_by for a in faustcompat.ASSUMPTIONS]
    assert any("install_shared_rocksdb_memory" in n for n in names)


def test_table_keys_are_estimated_from_the_active_databases_without_a_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_shared_rocksdb_memory(4 << 20, 4 << 20)
    app = faust.App(
        "estimate-check",
        broker="kafka://127.0.0.1:9",
        store="rocksdb://",
        datadir=str(tmp_path),
        autodiscover=False,
    )
    table = app.Table("profiles", key_type=str, value_type=bytes, partitions=2, default=None)
    store = table.data
    # Partition 0 is this worker's (active); partition 1 is a copy it no longer owns.
    for partition, keys in ((0, 300), (1, 50)):
        db = store._db_for_partition(partition)
        for i in range(keys):
            db[f"shopper-{partition}-{i}".encode()] = b"{}"
    active = {TP(table.changelog_topic_name, 0)}
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: active)
    walks: list[str] = []
    monkeypatch.setattr(type(store), "_size1", lambda self, db: walks.append("walk") or 0)
    assert faustcompat.estimated_table_keys(table) == 300
    assert walks == []  # no key was walked
    for db in store._dbs.values():
        db.close()


def test_memory_tables_are_counted() -> None:
    app = faustcompat.unstarted_app("count-check")
    table = app.Table("ledger", key_type=str, value_type=bytes, partitions=1, default=None)
    table.data.update({"a": b"1", "b": b"2"})
    assert faustcompat.estimated_table_keys(table) == 2

"""streams/kafka/faustcompat.py: every table database shares one block cache and one memtable
budget (`install_shared_rocksdb_memory`)."""

from __future__ import annotations

from pathlib import Path

import faust.stores

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

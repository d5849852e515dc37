"""streams/app.py: the Faust app takes its broker settings from the settings object."""

from __future__ import annotations

import pytest

from streams.app import create_app, table_store_options
from streams.runtime.gate import CommitGate
from streams.settings import Settings


def test_consumer_metadata_refresh_follows_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    # Kafka's default (5 minutes) left a topic missing from an assignment unconsumed that long.
    assert Settings().metadata_refresh_seconds == 15.0
    app = create_app(
        Settings(app_id="unit-app-metadata", metadata_refresh_seconds=7.5), CommitGate()
    )
    assert app.conf.consumer_metadata_max_age_ms == 7500
    assert app.conf.broker_session_timeout == 30.0


def test_the_commit_interval_follows_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings().commit_interval_seconds == 2.8  # Faust's default
    app = create_app(Settings(app_id="unit-app-commit", commit_interval_seconds=0.25), CommitGate())
    assert app.conf.broker_commit_interval == 0.25


def test_table_stores_get_small_memtables_within_the_workers_budget(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert table_store_options(Settings()) == {
        "write_buffer_size": 8 * 1024 * 1024,
        "max_write_buffer_number": 2,
    }
    # A budget below one database's memtable caps the memtable too.
    assert table_store_options(Settings(rocksdb_memtables_mib=2))["write_buffer_size"] == 2 << 20


def test_every_table_of_the_worker_carries_the_store_options() -> None:
    from streams import topology  # noqa: F401  (registers the tables)
    from streams.app import app, settings

    assert app.tables
    for table in app.tables.values():
        assert table.options is not None
        assert table.options["max_write_buffer_number"] == 2, table.name
        assert (
            table.options["write_buffer_size"] == table_store_options(settings)["write_buffer_size"]
        ), table.name


def test_standby_replicas_follow_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    """Faust's own default is 1: the setting must reach the app, 0 included."""
    for standbys in (0, 2):
        settings = Settings(app_id=f"unit-app-standby-{standbys}", table_standby_replicas=standbys)
        assert create_app(settings, CommitGate()).conf.table_standby_replicas == standbys
    assert Settings().table_standby_replicas == 1

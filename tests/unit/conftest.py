"""Shared fixtures for the pure unit tests."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.settings import get_settings

EXAMPLES_PATH = Path(__file__).parent / "schemas" / "contract_examples.json"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BASKETLIFT_* variable from the caller's environment leaks into Settings()."""
    for name in list(os.environ):
        if name.startswith("BASKETLIFT_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def fresh_settings(clean_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """get_settings() reads this test's environment, and later tests read theirs again."""
    get_settings.cache_clear()
    yield clean_env
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def contract_examples() -> dict[str, dict[str, Any]]:
    """The contract's valid example event of each topic (a fresh copy per use is up to tests)."""
    examples: dict[str, dict[str, Any]] = json.loads(EXAMPLES_PATH.read_text())
    return examples


@pytest.fixture
def examples(contract_examples: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A deep copy of the contract examples that a test may modify."""
    copied: dict[str, dict[str, Any]] = json.loads(json.dumps(contract_examples))
    return copied


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else can take it) but never listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])

"""Fixtures of the deployment-file tests."""

from __future__ import annotations

import pytest

from tests.unit.deploy.helpers import find_promtool


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of Prometheus' promtool; skips locally, fails under CI=true, when missing."""
    return find_promtool()

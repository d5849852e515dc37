"""streams/ops/web.py: what the worker's web server sets up when the worker is built."""

from __future__ import annotations

import logging

import streams.topology  # noqa: F401  (building the worker is what installs it)
from streams.ops.httplog import SERVER_LOGGER, RateLimitedRejections


def test_the_worker_limits_the_log_of_malformed_http_requests() -> None:
    filters = logging.getLogger(SERVER_LOGGER).filters
    assert [f for f in filters if isinstance(f, RateLimitedRejections)]


def test_the_worker_exports_its_version_and_app_id() -> None:
    from importlib.metadata import version

    from streams.app import settings
    from streams.ops import metrics

    labels = {"version": version("basketlift"), "app_id": settings.app_id}
    assert metrics.REGISTRY.get_sample_value("basketlift_build_info", labels) == 1

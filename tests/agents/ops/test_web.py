"""streams/ops/web.py: what the worker's web server sets up when the worker loads it."""

from __future__ import annotations

import logging

import streams.ops.web  # noqa: F401  (loading it is what the worker does)
from streams.ops.httplog import SERVER_LOGGER, RateLimitedRejections


def test_the_worker_limits_the_log_of_malformed_http_requests() -> None:
    filters = logging.getLogger(SERVER_LOGGER).filters
    assert [f for f in filters if isinstance(f, RateLimitedRejections)]

"""streams/ops/httplog.py: malformed requests give one warning a minute, no traceback."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.http_exceptions import InvalidHeader, LineTooLong
from aiohttp.test_utils import TestServer

from streams.ops.httplog import SERVER_LOGGER, RateLimitedRejections, install_rejection_log_limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, logging.handlers.BufferingHandler]]:
    """A logger of its own with a handler keeping what passes its filters."""
    log = logging.getLogger("tests.httplog")
    kept = logging.handlers.BufferingHandler(capacity=1000)
    log.addHandler(kept)
    log.propagate = False
    yield log, kept
    log.removeHandler(kept)
    log.filters.clear()


def reject(log: logging.Logger, error: Exception, remote: str = "10.0.0.7") -> None:
    """What aiohttp's request handler logs for a request it cannot parse."""
    log.error("Error handling request from %s", remote, exc_info=error)


def test_one_rejection_per_interval_then_the_count_of_those_held_back(
    logger: tuple[logging.Logger, logging.handlers.BufferingHandler],
) -> None:
    log, kept = logger
    clock = Clock()
    log.addFilter(RateLimitedRejections(interval=60.0, clock=clock))

    reject(log, LineTooLong(b"GET /" + b"a" * 10_000, 8190))
    for _ in range(37):
        clock.now += 1
        reject(log, InvalidHeader(b"X-\x00"))
    clock.now = 1060.0
    reject(log, LineTooLong(b"GET /b", 8190), remote="10.0.0.8")
    clock.now += 59.9
    reject(log, LineTooLong(b"GET /c", 8190))

    lines = [record.getMessage() for record in kept.buffer]
    assert len(lines) == 2
    assert lines[0].startswith(
        "rejected a malformed HTTP request from 10.0.0.7 (400: Got more than 8190 bytes"
    )
    assert lines[0].endswith("...)")  # the 10 KB line is cut short
    assert len(lines[0]) < 250
    assert lines[1].startswith("rejected a malformed HTTP request from 10.0.0.8 (400: ")
    assert lines[1].endswith(" (37 more since last)")
    assert all(record.levelno == logging.WARNING for record in kept.buffer)
    assert all(record.exc_info is None for record in kept.buffer)


def test_other_errors_of_the_server_logger_pass_unchanged(
    logger: tuple[logging.Logger, logging.handlers.BufferingHandler],
) -> None:
    log, kept = logger
    log.addFilter(RateLimitedRejections(interval=60.0, clock=Clock()))
    reject(log, LineTooLong(b"GET /", 8190))
    log.error("Error handling request from %s", "10.0.0.7", exc_info=ValueError("bug"))
    log.exception("Missing return statement on request handler")

    assert [record.levelno for record in kept.buffer] == [
        logging.WARNING,
        logging.ERROR,
        logging.ERROR,
    ]
    assert kept.buffer[1].exc_info is not None


def test_installing_twice_adds_one_filter(
    logger: tuple[logging.Logger, logging.handlers.BufferingHandler],
) -> None:
    log, _ = logger
    first = install_rejection_log_limit(log)
    assert install_rejection_log_limit(log) is first
    assert log.filters == [first]


async def test_a_10_kb_url_to_a_real_aiohttp_server_logs_a_warning_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_log = logging.getLogger(SERVER_LOGGER)
    limit = RateLimitedRejections()
    server_log.addFilter(limit)
    app = web.Application()
    app.router.add_get("/health", lambda request: web.json_response({"status": "ok"}))
    server = TestServer(app)
    await server.start_server()
    try:
        with caplog.at_level(logging.DEBUG, logger=SERVER_LOGGER):
            for _ in range(2):
                reader, writer = await asyncio.open_connection(server.host, server.port)
                writer.write(b"GET /" + b"a" * 10_240 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                status_line = await reader.readline()
                writer.close()
                await writer.wait_closed()
                assert status_line.split()[1] == b"400"
    finally:
        await server.close()
        server_log.removeFilter(limit)

    records = [record for record in caplog.records if record.name == SERVER_LOGGER]
    assert [record.levelname for record in records] == ["WARNING"]
    assert records[0].exc_info is None
    assert "rejected a malformed HTTP request from 127.0.0.1 (400: " in records[0].getMessage()
    assert "Traceback" not in caplog.text

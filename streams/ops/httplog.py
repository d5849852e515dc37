"""Malformed HTTP requests to the worker's web server: a rate-limited warning, not a traceback.

aiohttp answers a request it cannot parse (a request line or header over 8 KB, a bad header)
with 400 and logs `Error handling request` at ERROR with the parser's traceback on the
`aiohttp.server` logger, once per request: anyone who can reach the port can fill the log.
The filter here turns those records into one WARNING line without traceback, at most one
per interval, and the next line it lets through says how many it held back meanwhile.
Other records of that logger (errors of our own handlers) pass unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp.http_exceptions import BadHttpMessage

SERVER_LOGGER = "aiohttp.server"
REJECTION_LOG_INTERVAL_S = 60.0
DETAIL_MAX_CHARS = 120
"""The parser's message quotes the offending line; a few KB of it say nothing more."""


def rejection_of(record: logging.LogRecord) -> BadHttpMessage | None:
    """The parse error a record reports, if it reports one."""
    if record.exc_info is None:
        return None
    error = record.exc_info[1]
    return error if isinstance(error, BadHttpMessage) else None


class RateLimitedRejections(logging.Filter):
    """Lets one malformed-request record per `interval` through, rewritten as one warning."""

    def __init__(
        self,
        interval: float = REJECTION_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.last_logged: float | None = None
        self.suppressed = 0
        """Rejections held back since the last line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a rejection within `interval` of the last one logged; True otherwise."""
        error = rejection_of(record)
        if error is None:
            return True
        now = self.clock()
        if self.last_logged is not None and now - self.last_logged < self.interval:
            self.suppressed += 1
            return False
        detail = " ".join(str(error.message).split())
        if len(detail) > DETAIL_MAX_CHARS:
            detail = detail[:DETAIL_MAX_CHARS] + "..."
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "rejected a malformed HTTP request from %s (%s: %s)%s"
        record.args = (
            remote,
            error.code,
            detail,
            f" ({self.suppressed} more since last)" if self.suppressed else "",
        )
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        self.last_logged, self.suppressed = now, 0
        return True


def install_rejection_log_limit(logger: logging.Logger | None = None) -> RateLimitedRejections:
    """Add the filter to aiohttp's server logger once; return the installed filter."""
    logger = logger or logging.getLogger(SERVER_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, RateLimitedRejections):
            return existing
    limit = RateLimitedRejections()
    logger.addFilter(limit)
    return limit

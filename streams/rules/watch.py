"""Reloading a rules file when it changes, keeping the last good rule set on a bad file."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from streams.rules.model import EMPTY_RULES, RuleSet
from streams.rules.parse import RulesError, load_rules

__all__ = ["RuleFileWatcher"]

log = logging.getLogger(__name__)


class RuleFileWatcher:
    """The rules of a file, reloaded when it changes; an invalid file keeps the last good set.

    ``current()`` stats the file (at most every ``check_interval_s`` seconds) and reloads it
    when its mtime, size or inode changed. A file that fails to load is logged (every
    problem) and not retried until it changes again; until a valid file was seen,
    ``current()`` is ``EMPTY_RULES``. Replace the file atomically (write, then rename) so a
    half-written file is never read; one would be rejected and retried after the next write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        """Watch `path`; the first ``current()`` loads it."""
        self.path = Path(path)
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._log = logger
        self._rules: RuleSet = EMPTY_RULES
        self._signature: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self._missing_logged = False
        self.last_error: Exception | None = None
        """Why the latest load attempt failed; None after a good load."""
        self.loads = 0
        """Successful loads so far."""

    def current(self) -> RuleSet:
        """The last good rule set, reloading first if the file changed."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self.check_interval_s:
            return self._rules
        self._checked_at = now
        try:
            stat = self.path.stat()
        except OSError as error:
            if not self._missing_logged:
                self._log.error(
                    "rules file %s cannot be read (%s); keeping %d rule(s) from %s",
                    self.path,
                    error,
                    len(self._rules.rules),
                    self._rules.source,
                )
                self._missing_logged = True
            self.last_error = error
            self._signature = None
            return self._rules
        self._missing_logged = False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return self._rules
        self._signature = signature
        try:
            rules = load_rules(self.path)
        except (RulesError, OSError) as error:
            self.last_error = error
            self._log.error(
                "rules file %s rejected, keeping %d rule(s) from the last good load: %s",
                self.path,
                len(self._rules.rules),
                error,
            )
            return self._rules
        self._rules = rules
        self.last_error = None
        self.loads += 1
        self._log.info("loaded %d rule(s) from %s", len(rules.rules), self.path)
        return rules

"""Reloading the rules file: changes are picked up, an invalid file keeps the last good set."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from streams.rules import EMPTY_RULES, RuleFileWatcher, RulesError

GOOD = '[[rule]]\nname = "{name}"\nkind = "pin"\noffer = "{offer}"\n'


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))  # distinct mtimes however coarse the file system


def test_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD.format(name="one", offer="a"), 1_000_000_000)
    watcher = RuleFileWatcher(path, check_interval_s=0)
    assert [r.name for r in watcher.current().rules] == ["one"]
    assert watcher.current() is watcher.current()  # unchanged file: no reload
    assert watcher.loads == 1
    write(path, GOOD.format(name="two", offer="b"), 2_000_000_000)
    assert [r.name for r in watcher.current().rules] == ["two"]
    assert watcher.loads == 2


def test_an_invalid_file_keeps_the_last_good_rules_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD.format(name="one", offer="a"), 1_000_000_000)
    watcher = RuleFileWatcher(path, check_interval_s=0)
    good = watcher.current()
    write(path, GOOD.format(name="one", offer="a") + "discount_pct = 1.5\n", 2_000_000_000)
    with caplog.at_level(logging.ERROR):
        assert watcher.current() is good
    assert "discount_pct must be in [0, 1), got 1.5" in caplog.text
    assert isinstance(watcher.last_error, RulesError)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert watcher.current() is good  # not re-parsed or re-logged until it changes
    assert caplog.text == ""
    write(path, GOOD.format(name="fixed", offer="a"), 3_000_000_000)
    assert [r.name for r in watcher.current().rules] == ["fixed"]
    assert watcher.last_error is None


def test_a_missing_file_gives_no_rules_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    watcher = RuleFileWatcher(path, check_interval_s=0)
    assert watcher.current() is EMPTY_RULES
    assert isinstance(watcher.last_error, OSError)
    write(path, GOOD.format(name="one", offer="a"), 1_000_000_000)
    assert [r.name for r in watcher.current().rules] == ["one"]
    path.unlink()
    assert [r.name for r in watcher.current().rules] == ["one"]  # deleted: keep the last good


def test_checks_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD.format(name="one", offer="a"), 1_000_000_000)
    now = [100.0]
    watcher = RuleFileWatcher(path, check_interval_s=5.0, clock=lambda: now[0])
    assert watcher.current().rules[0].name == "one"
    write(path, GOOD.format(name="two", offer="a"), 2_000_000_000)
    now[0] = 104.0
    assert watcher.current().rules[0].name == "one"
    now[0] = 105.0
    assert watcher.current().rules[0].name == "two"

"""deploy/prometheus: config and rules are valid, every alert is unit-tested both ways,
annotations are complete, and every metric the rules read is one the workers expose."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.unit.deploy.helpers import (
    PROMETHEUS_DIR,
    PROMETHEUS_SYNTHETIC,
    ROOT,
    exposed_metric_names,
    run_promtool,
)

RULES = PROMETHEUS_DIR / "rules.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
SEVERITIES = {"critical", "warning"}


def uncommented(path: Path) -> str:
    """The file without full-line comments."""
    return "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )


def alert_blocks() -> dict[str, str]:
    """Alert name -> the YAML text of its rule (alerts.yml is one `- alert:` per rule)."""
    text = uncommented(ALERTS)
    parts = re.split(r"^\s*- alert:\s*", text, flags=re.MULTILINE)[1:]
    blocks = {}
    for part in parts:
        name, _, body = part.partition("\n")
        blocks[name.strip()] = body
    return blocks


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook's headings."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def alert_test_cases() -> tuple[set[str], set[str]]:
    """Alerts with a firing case and alerts with a silent case in the promtool tests.

    The tests write `alertname:` immediately followed by `exp_alerts:` (a list of expected
    alerts) or `exp_alerts: []` (expected silent).
    """
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for match in re.finditer(
            r"alertname:\s*(\w+)\s*\n\s*exp_alerts:[ \t]*(\[\])?", path.read_text()
        ):
            (silent if match.group(2) else firing).add(match.group(1))
    return firing, silent


def test_config_is_valid(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", CONFIG)
    assert "rules.yml" in output and "alerts.yml" in output  # rule_files are loaded


def test_rule_files_are_valid(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", RULES, ALERTS)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_unit_tests_pass(promtool: str, test_file: Path) -> None:
    output = run_promtool(promtool, "test", "rules", test_file.name, cwd=test_file.parent)
    assert "SUCCESS" in output


def test_rule_unit_tests_catch_a_broken_threshold(promtool: str, tmp_path: Path) -> None:
    """The promtool tests have teeth: a dead-letter threshold raised to 50% fails them."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    alerts = copy / "alerts.yml"
    original = "basketlift:deadletters:ratio_rate5m > 0.01"
    assert original in alerts.read_text()
    alerts.write_text(alerts.read_text().replace(original, original.replace("0.01", "0.5")))
    with pytest.raises(AssertionError, match="BasketliftDeadLetterRateHigh"):
        run_promtool(promtool, "test", "rules", "alerts_test.yml", cwd=copy / "tests")


def test_every_alert_fires_and_stays_silent_in_the_unit_tests() -> None:
    alerts = set(alert_blocks())
    assert len(alerts) >= 12
    firing, silent = alert_test_cases()
    assert alerts - firing == set(), "alerts with no case where they fire"
    assert alerts - silent == set(), "alerts with no healthy case where they stay silent"
    assert (firing | silent) - alerts == set(), "tests of alerts that do not exist"


def test_alerts_have_severity_summary_description_and_runbook() -> None:
    anchors = runbook_anchors()
    for name, body in alert_blocks().items():
        severity = re.search(r"^\s*severity:\s*(\w+)", body, flags=re.MULTILINE)
        assert severity and severity.group(1) in SEVERITIES, name
        assert re.search(r"^\s*summary:\s*\S", body, flags=re.MULTILINE), name
        assert re.search(r"^\s*description:\s*\S", body, flags=re.MULTILINE), name
        runbook = re.search(r'runbook_url:\s*"docs/runbook\.md#([\w-]+)"', body)
        assert runbook, f"{name}: no runbook_url into docs/runbook.md"
        assert runbook.group(1) == name.lower(), name
        assert runbook.group(1) in anchors, f"{name}: docs/runbook.md has no #{runbook.group(1)}"


def test_rules_read_only_metrics_the_workers_expose() -> None:
    exposed = exposed_metric_names() | PROMETHEUS_SYNTHETIC
    used = set()
    for path in (RULES, ALERTS):
        used |= set(re.findall(r"\b(?:basketlift|process|python)_\w+", uncommented(path)))
    assert used, "no metric found in the rule files"
    missing = sorted(used - exposed)
    assert not missing, f"metrics the rules read but streams/ops/metrics.py lacks: {missing}"


def test_alerts_use_only_recorded_series_that_exist() -> None:
    recorded = set(re.findall(r"^\s*- record:\s*(\S+)", RULES.read_text(), flags=re.MULTILINE))
    used = set(re.findall(r"\bbasketlift:[\w:]+", uncommented(ALERTS)))
    assert used, "the alerts use no recording rule"
    assert sorted(used - recorded) == []
    assert all(re.fullmatch(r"basketlift:[a-z0-9_]+:[a-z0-9_]+", name) for name in recorded)

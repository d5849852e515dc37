"""Helpers of the deployment-file tests: paths, missing tools, promtool, exposed metric names.

A missing tool skips these tests on a developer's machine but fails them under CI=true:
CI must never skip them (.ci/run installs promtool, the dev extras install the rest).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

import streams.topology  # noqa: F401  (registers the worker-internals collector)
from streams.ops import metrics

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"

# Series Prometheus itself adds to every scrape; everything else must come from the worker.
PROMETHEUS_SYNTHETIC = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
)


def missing(what: str, install: str) -> NoReturn:
    """Fail under CI=true, skip elsewhere."""
    message = f"{what} is not available ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must not skip this test", pytrace=False)
    pytest.skip(message)


def require_module(name: str, install: str) -> ModuleType:
    """Import a module that only the deployment tests need."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"Python module {name!r}", install)


def run_promtool(promtool: str, *args: str | Path, cwd: Path | None = None) -> str:
    """Run promtool; return its output, or fail the test with it."""
    result = subprocess.run(
        [promtool, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def exposed_metric_names() -> set[str]:
    """Every series name streams.ops.metrics' registry can expose, samples or not yet.

    Labelled metrics expose no sample before their first use, so the names are derived from
    each family's type (a counter `x` is exposed as `x_total`, a histogram as `x_bucket`,
    `x_sum`, `x_count`).
    """
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        base = family.name
        if family.type == "counter":
            names.add(f"{base}_total")
        elif family.type == "histogram":
            names.update({f"{base}_bucket", f"{base}_sum", f"{base}_count"})
        elif family.type == "summary":
            names.update({base, f"{base}_sum", f"{base}_count"})
        elif family.type == "info":
            names.add(f"{base}_info")
        else:
            names.add(base)
        names.update(sample.name for sample in family.samples)
    return names


def find_promtool() -> str:
    """Path of Prometheus' promtool (skips, or fails under CI=true, when it is missing)."""
    path = shutil.which("promtool")
    if path is None:
        missing("promtool", "apt-get install -y prometheus")
    return path

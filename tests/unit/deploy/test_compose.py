"""docker-compose.kafka.yml: Docker is not available here, so check its structure and mounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).parents[3]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
    return data


def test_the_full_profile_has_worker_prometheus_and_grafana() -> None:
    services = compose()["services"]
    assert {"kafka", "topics", "worker", "prometheus", "grafana"} <= set(services)
    for name in ("worker", "prometheus", "grafana"):
        assert services[name]["profiles"] == ["full"]
    assert services["worker"]["environment"]["BASKETLIFT_BROKER"] == "kafka://kafka:29092"
    assert (ROOT / "Dockerfile").is_file()


def test_every_mounted_file_exists() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)


def test_prometheus_in_compose_scrapes_the_worker_service() -> None:
    targets = yaml.safe_load((ROOT / "deploy/compose/prometheus-targets.yml").read_text())
    assert targets[0]["targets"] == ["worker:6066"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    files = config["scrape_configs"][0]["file_sd_configs"][0]["files"]
    assert files == ["targets/*.yml"]  # where compose mounts the targets file

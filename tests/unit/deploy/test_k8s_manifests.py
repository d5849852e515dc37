"""deploy/k8s: the manifests are valid Kubernetes objects (schema check) and agree with each
other and with the worker: ports, probes, selectors, the data dir and the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.unit.deploy.helpers import DEPLOY, require_module

K8S = DEPLOY / "k8s"
DEV_DEPS = "pip install PyYAML kubernetes-validate (dev extras)"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    yaml = require_module("yaml", DEV_DEPS)
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    [doc] = load_yaml_documents(K8S / "kustomization.yaml")
    return doc


@pytest.fixture(scope="module")
def objects(kustomization: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Kind -> the one object of that kind listed by kustomization.yaml."""
    by_kind: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for doc in load_yaml_documents(K8S / resource):
            assert doc["kind"] not in by_kind, f"two {doc['kind']} objects"
            by_kind[doc["kind"]] = doc
    return by_kind


@pytest.fixture(scope="module")
def config(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = objects["ConfigMap"]["data"]
    return data


@pytest.fixture(scope="module")
def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [worker] = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    return dict(worker)


def container_port(container: dict[str, Any], port: int | str) -> int:
    """Resolve a probe's or Service's target port (a number or a port name)."""
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    [image] = kustomization["images"]
    assert image["name"] == "basketlift"


def test_every_kind_is_there(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"}


def test_manifests_match_the_kubernetes_schemas(objects: dict[str, dict[str, Any]]) -> None:
    validator = require_module("kubernetes_validate", DEV_DEPS)
    for kind, obj in objects.items():
        try:
            validator.validate(obj, validator.latest_version(), strict=True)
        except validator.ValidationError as error:
            pytest.fail(f"{kind}: {error}")


def test_schema_check_rejects_a_broken_object(objects: dict[str, dict[str, Any]]) -> None:
    validator = require_module("kubernetes_validate", DEV_DEPS)
    broken = dict(objects["Service"], spec={**objects["Service"]["spec"], "ports": "6066"})
    with pytest.raises(validator.ValidationError):
        validator.validate(broken, validator.latest_version(), strict=True)


def test_configmap_holds_only_real_settings(
    config: dict[str, str], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = {f"BASKETLIFT_{name.upper()}" for name in Settings.model_fields}
    assert sorted(set(config) - fields) == [], "not a BASKETLIFT_* setting (typo?)"
    for name, value in config.items():
        assert isinstance(value, str), f"{name}: ConfigMap values must be strings"
        clean_env.setenv(name, value)
    # The Kafka password is a mounted Secret (statefulset.yaml), here a file of the test.
    (tmp_path / "password").write_text("from-the-secret\n")
    clean_env.setenv("BASKETLIFT_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    settings = Settings()  # validates every value as the worker would
    assert settings.web_port == 6066
    assert settings.processing_guarantee == "exactly_once"


def test_worker_runs_with_the_configmap(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    assert container["command"][-1] == "worker"
    [source] = container["envFrom"]
    assert source["configMapRef"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    [web_host] = [e for e in container["env"] if e["name"] == "BASKETLIFT_WEB_HOST"]
    assert web_host["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_ports_and_probes_match_the_web_port(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], config: dict[str, str]
) -> None:
    web_port = int(config["BASKETLIFT_WEB_PORT"])
    assert web_port == 6066
    [service_port] = objects["Service"]["spec"]["ports"]
    assert service_port["port"] == web_port
    assert container_port(container, service_port["targetPort"]) == web_port
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/health"
    assert container_port(container, readiness["port"]) == web_port
    # Never /health: it is 503 during every rebalance and table recovery, and a liveness
    # probe on it would restart recovering workers in a loop. /live fails only on a stall.
    for probe, path in (("livenessProbe", "/live"), ("startupProbe", "/metrics")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, probe
        assert container_port(container, http["port"]) == web_port, probe
    annotations = objects["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(web_port)


def test_data_volume_is_mounted_at_the_data_dir(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], config: dict[str, str]
) -> None:
    [claim] = objects["StatefulSet"]["spec"]["volumeClaimTemplates"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert mount["mountPath"] == config["BASKETLIFT_DATA_DIR"]


def test_labels_and_selectors_match(objects: dict[str, dict[str, Any]]) -> None:
    statefulset = objects["StatefulSet"]["spec"]
    pod_labels = statefulset["template"]["metadata"]["labels"]
    selector = statefulset["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = objects["Service"]
    assert service["spec"]["clusterIP"] == "None"  # headless
    assert statefulset["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"] == selector
    assert pdb["maxUnavailable"] == 1
    for constraint in statefulset["template"]["spec"].get("topologySpreadConstraints", []):
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_resources_follow_the_benchmark(container: dict[str, Any]) -> None:
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert resources["limits"] == {"memory": "2Gi"}  # no CPU limit: no CFS throttling


def test_the_api_token_comes_from_a_secret_file(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], config: dict[str, str]
) -> None:
    # The pods bind their pod IP, not loopback: without a token the worker refuses to start.
    names = {e["name"] for e in container["env"]} | set(config)
    assert "BASKETLIFT_API_TOKEN" not in names, "a token in plain env or ConfigMap"
    assert_mounted_secret_file(
        objects, container, "BASKETLIFT_API_TOKEN_FILE", "basketlift-api-token"
    )


def assert_mounted_secret_file(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], variable: str, secret: str
) -> None:
    """The variable names a file of a read-only mount of exactly that file of the Secret."""
    [setting] = [e for e in container["env"] if e["name"] == variable]
    path = Path(setting["value"])
    [mount] = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent]
    assert mount.get("readOnly") is True
    volumes = objects["StatefulSet"]["spec"]["template"]["spec"]["volumes"]
    [volume] = [v for v in volumes if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == secret
    assert [item["path"] for item in volume["secret"]["items"]] == [path.name]


def test_the_kafka_password_comes_from_a_secret_file(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], config: dict[str, str]
) -> None:
    names = {e["name"] for e in container["env"]} | set(config)
    assert "BASKETLIFT_KAFKA_SASL_PASSWORD" not in names, "a password in plain env or ConfigMap"
    assert config["BASKETLIFT_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["BASKETLIFT_REPLICATION_FACTOR"] == "3"
    assert_mounted_secret_file(
        objects, container, "BASKETLIFT_KAFKA_SASL_PASSWORD_FILE", "basketlift-kafka"
    )

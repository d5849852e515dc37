"""streams/devbroker.py: the pure parts of the local broker (no Kafka, no JVM started)."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams import devbroker
from streams.devbroker import BrokerError, BrokerPaths
from streams.devtls import write_dev_tls
from streams.kafka import admin as kafka_admin
from streams.settings import Settings

MIB = 1024 * 1024


def parse_properties(text: str) -> dict[str, str]:
    """A Java .properties text as a dict; duplicate keys are an error here."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        assert key not in props, f"duplicate property {key}"
        props[key] = value
    return props


def listener_hosts_ports(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` as {NAME: (host, port)}."""
    out: dict[str, tuple[str, int]] = {}
    for listener in value.split(","):
        name, _, address = listener.partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty directory: no java, no mvn."""
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


# --- host_port --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("kafka://127.0.0.1:9092", ("127.0.0.1", 9092)),
        ("kafka://h:1", ("h", 1)),
        ("kafka://a:1;kafka://b:2", ("a", 1)),
        ("broker.local:29092", ("broker.local", 29092)),
        ("kafka://kafka", ("kafka", 9092)),
    ],
)
def test_host_port(clean_env: pytest.MonkeyPatch, broker: str, expected: tuple[str, int]) -> None:
    assert devbroker.host_port(Settings(broker=broker)) == expected


# --- server.properties ------------------------------------------------------------------


def test_server_properties_single_node_on_loopback(clean_env, tmp_path: Path) -> None:
    settings = Settings(broker="kafka://127.0.0.1:19092", kafka_home=tmp_path, partitions=5)
    paths = BrokerPaths(settings.kafka_home)
    props = parse_properties(devbroker.server_properties(settings, paths))

    listeners = listener_hosts_ports(props["listeners"])
    assert listeners == {
        "PLAINTEXT": ("127.0.0.1", 19092),
        "CONTROLLER": ("127.0.0.1", 19093),
    }
    for host, _port in listeners.values():
        assert ipaddress.ip_address(host).is_loopback
    assert listener_hosts_ports(props["advertised.listeners"]) == {
        "PLAINTEXT": ("127.0.0.1", 19092)
    }
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert set(props["process.roles"].split(",")) == {"broker", "controller"}

    replication = {k: v for k, v in props.items() if k.endswith("replication.factor")}
    assert {
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    } <= set(replication)
    assert set(replication.values()) == {"1"}
    assert {v for k, v in props.items() if k.endswith("min.isr")} == {"1"}

    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "5"
    assert props["auto.create.topics.enable"] == "false"
    assert int(props["message.max.bytes"]) == 8 * MIB


def test_controller_port_follows_broker_port(clean_env, tmp_path: Path) -> None:
    settings = Settings(broker="kafka://127.0.0.1:40000", kafka_home=tmp_path)
    props = parse_properties(devbroker.server_properties(settings, BrokerPaths(tmp_path)))
    assert listener_hosts_ports(props["listeners"])["CONTROLLER"] == ("127.0.0.1", 40001)
    assert props["controller.quorum.voters"].endswith(":40001")


# --- contract topics --------------------------------------------------------------------


def test_contract_topics_defaults(clean_env) -> None:
    settings = Settings()
    topics = kafka_admin.contract_topics(settings)
    expected = set(settings.inbound_topics.values()) | set(settings.outbound_topics.values())
    assert set(topics) == expected
    assert len(topics) == 7

    assert topics["shop.catalog"].get("cleanup.policy") == "compact"
    compacted = {name for name, cfg in topics.items() if cfg.get("cleanup.policy") == "compact"}
    assert compacted == {"shop.catalog"}

    for name in settings.inbound_topics.values():
        assert int(topics[name]["max.message.bytes"]) == 8 * MIB, name
    assert int(topics["shop.deadletter"]["retention.ms"]) == 30 * 24 * 3600 * 1000


def test_contract_topics_follow_configured_names(clean_env) -> None:
    settings = Settings(topic_catalog="eu.catalog", topic_carts="eu.carts", topic_offers="eu.o")
    topics = kafka_admin.contract_topics(settings)
    assert "shop.catalog" not in topics
    assert topics["eu.catalog"]["cleanup.policy"] == "compact"
    assert "cleanup.policy" not in topics["eu.carts"]
    assert "eu.o" in topics


# --- pom digest -------------------------------------------------------------------------


def test_pom_digest_tracks_content(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project><version>1</version></project>\n")
    first = devbroker.pom_digest(pom)
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    assert devbroker.pom_digest(pom) == first

    pom.write_text("<project><version>2</version></project>\n")
    second = devbroker.pom_digest(pom)
    assert second != first

    copy = tmp_path / "other.xml"
    copy.write_bytes(pom.read_bytes())
    assert devbroker.pom_digest(copy) == second


def test_shipped_pom_exists_and_has_a_digest() -> None:
    assert devbroker.POM_PATH.is_file()
    assert re.fullmatch(r"[0-9a-f]{12}", devbroker.pom_digest())


# --- required tools ---------------------------------------------------------------------


@pytest.mark.parametrize(("tool", "hint"), [("mvn", "apt-get install maven"), ("java", "JDK 17+")])
def test_require_tool_missing(empty_path: Path, tool: str, hint: str) -> None:
    with pytest.raises(BrokerError) as info:
        devbroker.require_tool(tool, "do the thing")
    message = str(info.value)
    assert f"`{tool}`" in message
    assert "not on PATH" in message
    assert "do the thing" in message
    assert hint in message
    assert "BASKETLIFT_BROKER" in message


def test_require_tool_unknown_tool_still_named(empty_path: Path) -> None:
    with pytest.raises(BrokerError, match="`frobnicate` is not on PATH"):
        devbroker.require_tool("frobnicate", "frob")


def test_require_tool_found(empty_path: Path) -> None:
    tool = empty_path / "mvn"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    assert devbroker.require_tool("mvn", "download jars") == str(tool)


def test_start_broker_without_mvn_fails_clearly(
    clean_env, empty_path: Path, tmp_path: Path, dead_port: int
) -> None:
    home = tmp_path / "kafka-home"
    settings = Settings(
        kafka_home=home,
        broker=f"kafka://127.0.0.1:{dead_port}",
        kafka_start_timeout_seconds=5,
    )
    echoed: list[str] = []
    with pytest.raises(BrokerError) as info:
        devbroker.start_broker(settings, echo=echoed.append)
    message = str(info.value)
    assert "`mvn`" in message
    assert "Maven" in message
    # Nothing was started: no pid file, no jars, no claim that a broker answered.
    assert not (home / "broker.pid").exists()
    assert not list(home.glob("libs-*/.complete"))
    assert not any("answers" in line or "running" in line for line in echoed)


def test_start_broker_with_cached_jars_but_no_java_fails_clearly(
    clean_env, empty_path: Path, tmp_path: Path, dead_port: int
) -> None:
    home = tmp_path / "kafka-home"
    libs = home / f"libs-{devbroker.pom_digest()}"
    libs.mkdir(parents=True)
    (libs / ".complete").write_text("cached\n")
    settings = Settings(kafka_home=home, broker=f"kafka://127.0.0.1:{dead_port}")
    with pytest.raises(BrokerError, match="`java` is not on PATH"):
        devbroker.start_broker(settings, echo=lambda *_: None)
    assert not (home / "broker.pid").exists()


# --- running_pid ------------------------------------------------------------------------


def wait_for_cmdline(pid: int, marker: bytes) -> None:
    """Wait until a just-spawned child has exec'd (its cmdline is empty right after fork)."""
    deadline = time.monotonic() + 5
    while marker not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the child never showed its command line"
        time.sleep(0.01)


def write_pid(tmp_path: Path, pid: int | str) -> BrokerPaths:
    paths = BrokerPaths(tmp_path)
    paths.pid.write_text(f"{pid}\n")
    return paths


def test_running_pid_without_pid_file(tmp_path: Path) -> None:
    assert devbroker.running_pid(BrokerPaths(tmp_path)) is None


def test_running_pid_with_garbage_pid_file(tmp_path: Path) -> None:
    assert devbroker.running_pid(write_pid(tmp_path, "not-a-pid")) is None


def test_running_pid_removes_stale_pid_file(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: the pid names no process now
    paths = write_pid(tmp_path, proc.pid)
    assert devbroker.running_pid(paths) is None
    assert not paths.pid.exists()


def test_running_pid_ignores_a_foreign_live_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        wait_for_cmdline(proc.pid, b"time.sleep(60)")
        paths = write_pid(tmp_path, proc.pid)
        assert devbroker.running_pid(paths) is None
        assert not paths.pid.exists()
    finally:
        proc.kill()
        proc.wait()


def test_running_pid_recognises_a_kafka_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka", "server.properties"]
    )
    try:
        wait_for_cmdline(proc.pid, b"kafka.Kafka")
        paths = write_pid(tmp_path, proc.pid)
        assert devbroker.running_pid(paths) == proc.pid
        assert paths.pid.exists()
    finally:
        proc.kill()
        proc.wait()


def test_running_pid_treats_a_zombie_as_not_running(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 5
        # Not reaped yet: once it exits it stays a zombie until wait().
        while Path(f"/proc/{proc.pid}/stat").read_text().split()[2] != "Z":
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        assert os.path.exists(f"/proc/{proc.pid}")
        assert devbroker.running_pid(write_pid(tmp_path, proc.pid)) is None
    finally:
        proc.wait()


# --- cluster id -------------------------------------------------------------------------


def test_a_cluster_id_never_starts_with_a_dash_the_storage_tool_would_take_for_an_option() -> None:
    # One in 64 random ids would; 3,000 draws miss that with a chance of 1 in 10^20.
    assert not [i for i in (devbroker.random_cluster_id() for _ in range(3_000)) if i[0] == "-"]


def test_random_cluster_id_shape() -> None:
    ids = {devbroker.random_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_creation_errors_keep_real_failures_only() -> None:
    entries = [
        ("fine", 0, None),
        ("there-already", 36, "Topic 'there-already' already exists."),
        ("bad", 40, "Invalid value bogus for configuration cleanup.policy"),
    ]
    assert kafka_admin.creation_errors(entries) == {
        "bad": "error 40: Invalid value bogus for configuration cleanup.policy"
    }


def test_a_secured_broker_adds_sasl_ssl_and_mutual_tls_listeners(clean_env, tmp_path: Path) -> None:
    settings = Settings(broker="kafka://127.0.0.1:19092", kafka_home=tmp_path)
    paths = BrokerPaths(tmp_path)
    props = parse_properties(devbroker.server_properties(settings, paths, secured=True))

    assert listener_hosts_ports(props["listeners"]) == {
        "PLAINTEXT": ("127.0.0.1", 19092),
        "CONTROLLER": ("127.0.0.1", 19093),
        "SASL_SSL": ("127.0.0.1", 19094),
        "SSL": ("127.0.0.1", 19095),
    }
    assert "CONTROLLER" not in props["advertised.listeners"]
    assert set(props["listener.security.protocol.map"].split(",")) == {
        "CONTROLLER:PLAINTEXT",
        "PLAINTEXT:PLAINTEXT",
        "SASL_SSL:SASL_SSL",
        "SSL:SSL",
    }
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert (
        "ScramLoginModule required"
        in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    )
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == str(paths.tls.broker_keystore)
    assert props["ssl.truststore.location"] == str(paths.tls.ca)


def test_secured_listener_clients_get_complete_settings(clean_env, tmp_path: Path) -> None:
    settings = Settings(broker="kafka://127.0.0.1:19092", kafka_home=tmp_path)
    listeners = devbroker.secured_listeners(settings)
    write_dev_tls(listeners.paths.tls.directory)
    listeners.paths.scram_password.write_text("generated\n")
    for env in (listeners.sasl_ssl_env(), listeners.mutual_tls_env()):
        client = Settings(**{k.removeprefix("BASKETLIFT_").lower(): v for k, v in env.items()})
        assert client.kafka_security_protocol in ("SASL_SSL", "SSL")
    assert listeners.sasl_ssl_env()["BASKETLIFT_BROKER"] == "kafka://127.0.0.1:19094"
    assert listeners.mutual_tls_env()["BASKETLIFT_BROKER"] == "kafka://127.0.0.1:19095"


def test_the_secure_option_refuses_a_broker_formatted_without_it(clean_env, tmp_path: Path) -> None:
    paths = BrokerPaths(tmp_path)
    paths.data.mkdir(parents=True)
    (paths.data / "meta.properties").write_text("version=1\n")
    settings = Settings(broker="kafka://127.0.0.1:19092", kafka_home=tmp_path)
    with pytest.raises(BrokerError, match="--secure --fresh"):
        devbroker.start_broker(settings, secured=True, echo=lambda *_: None)

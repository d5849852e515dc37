"""streams/cli.py run as `python -m streams.cli`: bad configuration and an unreachable broker
end in one line on stderr and a status, never in a traceback.

No test here reaches a broker: BASKETLIFT_BROKER points at a loopback port nobody listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

COMMANDS_READING_SETTINGS = [
    ["worker"],
    ["kafka", "start"],
    ["kafka", "stop"],
    ["kafka", "status"],
    ["kafka", "topics"],
    ["produce", "-"],
    ["replay", "--no-wait"],
    ["report"],
    ["demo"],
    ["topics", "plan"],
    ["gateway"],
    ["gateway", "token", "c-1"],
]


def run_cli(
    args: list[str], env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter with exactly `env`'s BASKETLIFT_ variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BASKETLIFT_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=environment,
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def offline_env(tmp_path: Path, dead_port: int) -> dict[str, str]:
    """Settings pointing at no broker and at throwaway directories."""
    return {
        "BASKETLIFT_BROKER": f"kafka://127.0.0.1:{dead_port}",
        "BASKETLIFT_KAFKA_HOME": str(tmp_path / "kafka"),
        "BASKETLIFT_DATA_DIR": str(tmp_path / "data"),
    }


def assert_one_error_line(result: subprocess.CompletedProcess[str], status: int, line: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [line], result.stderr
    assert result.returncode == status, result.stderr


@pytest.mark.parametrize("command", COMMANDS_READING_SETTINGS, ids=" ".join)
def test_every_command_reading_settings_names_the_bad_variable(
    offline_env: dict[str, str], command: list[str]
) -> None:
    result = run_cli(command, {**offline_env, "BASKETLIFT_PARTITIONS": "abc"})
    assert_one_error_line(result, 2, "error: BASKETLIFT_PARTITIONS: expected an integer, got 'abc'")


@pytest.mark.parametrize("command", COMMANDS_READING_SETTINGS, ids=" ".join)
def test_every_command_refuses_an_incomplete_kafka_security_setting(
    offline_env: dict[str, str], command: list[str]
) -> None:
    result = run_cli(
        command,
        {
            **offline_env,
            "BASKETLIFT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "BASKETLIFT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "BASKETLIFT_KAFKA_SASL_PASSWORD": "s3cret-kafka-password",
        },
    )
    assert_one_error_line(
        result,
        2,
        "error: BASKETLIFT_KAFKA_SASL_USERNAME: required with"
        " BASKETLIFT_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
    )


def test_topics_plan_lists_contract_and_internal_topics_with_commands(
    offline_env: dict[str, str],
) -> None:
    env = {
        **offline_env,
        "BASKETLIFT_APP_ID": "shop-eu",
        "BASKETLIFT_PARTITIONS": "6",
        "BASKETLIFT_REPLICATION_FACTOR": "3",
    }
    result = run_cli(["topics", "plan"], env)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("kafka-topics.sh")]
    by_topic = {command.split(" --topic ")[1].split()[0]: command for command in commands}
    assert {
        "shop.carts",
        "shop.catalog",
        "shop.offers",
        "shop.deadletter",
        "shop-eu-rekey-carts",
        "shop-eu-copurchase-deltas",
        "shop-eu-shopper-profiles-changelog",
        "shop-eu-__assignor-__leader",
    } <= set(by_topic)
    assert all("--replication-factor 3" in command for command in commands)
    assert "--partitions 6" in by_topic["shop.carts"]
    assert "--partitions 1" in by_topic["shop-eu-__assignor-__leader"]
    assert "--config cleanup.policy=compact" in by_topic["shop-eu-shopper-profiles-changelog"]
    assert "--config cleanup.policy=compact" in by_topic["shop.catalog"]
    assert "--config retention.ms=2592000000" in by_topic["shop.deadletter"]
    table_rows = [line for line in result.stdout.splitlines() if "shop-eu-offer-ledger" in line]
    assert table_rows and "internal" in table_rows[0] and "compact" in table_rows[0]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "BASKETLIFT_PROCESSING_GUARANTEE",
            "exactly-once",
            "error: BASKETLIFT_PROCESSING_GUARANTEE: expected 'at_least_once' or"
            " 'exactly_once', got 'exactly-once'",
        ),
        (
            "BASKETLIFT_LOG_LEVEL",
            "verbose",
            "error: BASKETLIFT_LOG_LEVEL: expected one of debug, info, warning, error, critical,"
            " got 'verbose'",
        ),
        (
            "BASKETLIFT_STORE",
            "redis://",
            "error: BASKETLIFT_STORE: expected memory:// or rocksdb://, got 'redis://'",
        ),
    ],
)
def test_a_worker_with_a_bad_variable_does_not_start(
    offline_env: dict[str, str], variable: str, value: str, line: str
) -> None:
    result = run_cli(["worker"], {**offline_env, variable: value})
    assert_one_error_line(result, 2, line)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another server listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_worker_whose_web_port_is_taken_does_not_start(
    offline_env: dict[str, str], busy_port: int
) -> None:
    result = run_cli(["worker"], {**offline_env, "BASKETLIFT_WEB_PORT": str(busy_port)})
    assert_one_error_line(
        result,
        2,
        f"error: BASKETLIFT_WEB_PORT: cannot listen on 127.0.0.1:{busy_port}:"
        " Address already in use",
    )


@pytest.mark.parametrize(
    "command", [["produce", "-"], ["replay", "--limit-orders", "3", "--no-wait"]], ids=" ".join
)
def test_sending_to_an_unreachable_broker_is_one_line_and_the_producer_is_closed(
    offline_env: dict[str, str], dead_port: int, command: list[str]
) -> None:
    event = b'{"product_id": "p1", "title": "Mug", "price": 4.5, "in_stock": true}\n'
    result = run_cli(command, offline_env, stdin=event)
    assert "Traceback" not in result.stderr, result.stderr
    assert "Unclosed" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach Kafka at 127.0.0.1:{dead_port}: "), lines
    assert "Connect call failed" in lines[0]
    assert result.returncode == 1


def test_a_worker_binding_beyond_loopback_without_an_api_token_does_not_start(
    offline_env: dict[str, str],
) -> None:
    result = run_cli(["worker"], {**offline_env, "BASKETLIFT_WEB_HOST": "0.0.0.0"})
    assert_one_error_line(
        result,
        2,
        "error: BASKETLIFT_WEB_HOST '0.0.0.0' is not a loopback address: set"
        " BASKETLIFT_API_TOKEN (or BASKETLIFT_API_TOKEN_FILE), which /state and /offers then"
        " require, or bind 127.0.0.1",
    )


def test_a_worker_binding_beyond_loopback_with_an_api_token_goes_on_to_kafka(
    offline_env: dict[str, str], dead_port: int
) -> None:
    token = "0123456789abcdef0123456789abcdef"
    env = {**offline_env, "BASKETLIFT_WEB_HOST": "0.0.0.0", "BASKETLIFT_API_TOKEN": token}
    result = run_cli(["worker"], env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert f"error: cannot reach Kafka at 127.0.0.1:{dead_port}" in result.stderr
    assert token not in result.stderr + result.stdout


def test_a_gateway_binding_beyond_loopback_without_keys_does_not_start(
    offline_env: dict[str, str],
) -> None:
    result = run_cli(["gateway"], {**offline_env, "BASKETLIFT_GATEWAY_HOST": "0.0.0.0"})
    assert_one_error_line(
        result,
        2,
        "error: BASKETLIFT_GATEWAY_HOST '0.0.0.0' is not a loopback address: set"
        " BASKETLIFT_GATEWAY_SECRET_KEYS (and/or BASKETLIFT_GATEWAY_PUBLIC_KEYS), or bind"
        " 127.0.0.1",
    )


def test_a_gateway_binding_beyond_loopback_with_a_secret_key_goes_on_to_kafka(
    offline_env: dict[str, str], dead_port: int
) -> None:
    key = "sk-0123456789abcdef0123456789"
    env = {
        **offline_env,
        "BASKETLIFT_GATEWAY_HOST": "0.0.0.0",
        "BASKETLIFT_GATEWAY_SECRET_KEYS": key,
    }
    result = run_cli(["gateway"], env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert f"error: cannot reach Kafka at 127.0.0.1:{dead_port}" in result.stderr
    assert key not in result.stderr + result.stdout


def test_gateway_token_prints_a_token_the_gateway_accepts(offline_env: dict[str, str]) -> None:
    from streams.gateway.tokens import verify_token

    signing_key = "signing-0123456789abcdef"
    env = {**offline_env, "BASKETLIFT_GATEWAY_SIGNING_KEY": signing_key}
    result = run_cli(["gateway", "token", "c-17850", "--ttl", "120"], env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    verified = verify_token(signing_key, token, now=time.time())
    assert verified.subject == "c-17850"
    assert time.time() < verified.expires_at <= time.time() + 121


def test_gateway_token_without_a_signing_key_is_one_line(offline_env: dict[str, str]) -> None:
    result = run_cli(["gateway", "token", "c-1"], offline_env)
    assert_one_error_line(
        result, 2, "error: BASKETLIFT_GATEWAY_SIGNING_KEY: required to sign shopper tokens"
    )


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = run_cli(["--version"], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"basketlift {version('basketlift')}\n"


def test_rules_example_prints_a_rules_file_the_worker_accepts(tmp_path: Path) -> None:
    from streams.resources import RULES_EXAMPLE
    from streams.rules import load_rules

    result = run_cli(["rules", "example"], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout == RULES_EXAMPLE.read_text(encoding="utf-8")
    copy = tmp_path / "rules.toml"
    copy.write_text(result.stdout, encoding="utf-8")
    assert load_rules(copy).rules

"""streams/settings.py: defaults, the BASKETLIFT_ prefix, bootstrap parsing, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.app_id == "basketlift"
    assert settings.web_port == 6066
    assert settings.web_host == "127.0.0.1"
    assert settings.partitions == 8
    assert settings.store == "rocksdb://"
    assert settings.processing_guarantee == "exactly_once"
    assert settings.batch_max == 500
    assert settings.batch_within_seconds == pytest.approx(0.05)
    assert settings.broker_unreachable_seconds == 15.0
    assert settings.inbound_topics == {
        "carts": "shop.carts",
        "orders": "shop.orders",
        "clicks": "shop.clicks",
        "catalog": "shop.catalog",
        "privacy": "shop.privacy",
    }
    assert settings.outbound_topics == {"offers": "shop.offers", "deadletter": "shop.deadletter"}


def test_cache_dirs_follow_xdg_cache_home(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path / "basketlift" / "worker"
    assert settings.kafka_home == tmp_path / "basketlift" / "kafka"


def test_environment_variables_with_prefix(clean_env: pytest.MonkeyPatch, tmp_path) -> None:
    clean_env.setenv("BASKETLIFT_BROKER", "kafka://broker.example:19092")
    clean_env.setenv("BASKETLIFT_APP_ID", "shop-eu")
    clean_env.setenv("BASKETLIFT_WEB_PORT", "7077")
    clean_env.setenv("BASKETLIFT_PARTITIONS", "3")
    clean_env.setenv("BASKETLIFT_TOPIC_CARTS", "eu.carts")
    clean_env.setenv("BASKETLIFT_PROCESSING_GUARANTEE", "exactly_once")
    clean_env.setenv("BASKETLIFT_KAFKA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.broker == "kafka://broker.example:19092"
    assert settings.bootstrap_servers == "broker.example:19092"
    assert settings.app_id == "shop-eu"
    assert settings.web_port == 7077
    assert settings.partitions == 3
    assert settings.inbound_topics["carts"] == "eu.carts"
    assert settings.processing_guarantee == "exactly_once"
    assert settings.kafka_home == tmp_path


def test_unprefixed_variables_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_ID", "not-ours")
    clean_env.setenv("PARTITIONS", "2")
    settings = Settings()
    assert settings.app_id == "basketlift"
    assert settings.partitions == 8


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("kafka://h:1", "h:1"),
        ("kafka://a:1;kafka://b:2", "a:1,b:2"),
        ("kafka://a:1; kafka://b:2 ;kafka://c:3", "a:1,b:2,c:3"),
        ("kafka://a:1,b:2", "a:1,b:2"),
        ("h:1", "h:1"),
        ("a:1;b:2", "a:1,b:2"),
    ],
)
def test_bootstrap_servers(clean_env: pytest.MonkeyPatch, broker: str, expected: str) -> None:
    assert Settings(broker=broker).bootstrap_servers == expected


def test_broker_without_scheme_gets_kafka_scheme(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BASKETLIFT_BROKER", "10.0.0.5:9093")
    settings = Settings()
    assert settings.broker == "kafka://10.0.0.5:9093"
    assert settings.bootstrap_servers == "10.0.0.5:9093"


def test_settings_are_frozen(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.partitions = 3  # type: ignore[misc]
    assert settings.partitions == 8


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BASKETLIFT_PARTITIONS", "0"),
        ("BASKETLIFT_PARTITIONS", "-1"),
        ("BASKETLIFT_PARTITIONS", "many"),
        ("BASKETLIFT_WEB_PORT", "70000"),
        ("BASKETLIFT_WEB_PORT", "0"),
        ("BASKETLIFT_APP_ID", ""),
        ("BASKETLIFT_BATCH_WITHIN_SECONDS", "0"),
        # Not above Faust's 1.5 s fetch wait: an idle, connected worker would flap.
        ("BASKETLIFT_BROKER_UNREACHABLE_SECONDS", "1.5"),
        ("BASKETLIFT_PROCESSING_GUARANTEE", "at_most_once"),
    ],
)
def test_invalid_environment_values_raise(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    field = variable.removeprefix("BASKETLIFT_").lower()
    assert any(error["loc"] == (field,) for error in info.value.errors())


def test_invalid_keyword_values_raise(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(partitions=0)
    with pytest.raises(ValidationError):
        Settings(web_port=70000)

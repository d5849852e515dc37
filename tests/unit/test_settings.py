"""streams/settings.py: defaults, the BASKETLIFT_ prefix, bootstrap parsing, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, SettingsError, get_settings


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
    assert settings.batch_handover == "available"
    assert settings.broker_unreachable_seconds == 15.0
    assert settings.inbound_topics == {
        "carts": "shop.carts",
        "orders": "shop.orders",
        "clicks": "shop.clicks",
        "catalog": "shop.catalog",
        "privacy": "shop.privacy",
    }
    assert settings.outbound_topics == {"offers": "shop.offers", "deadletter": "shop.deadletter"}


def test_max_future_skew_defaults_to_five_minutes_and_is_configurable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert Settings().max_future_skew_ms == 300_000
    clean_env.setenv("BASKETLIFT_MAX_FUTURE_SKEW_SECONDS", "0.5")
    assert Settings().max_future_skew_ms == 500


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
        ("BASKETLIFT_BATCH_HANDOVER", "eventually"),
        # Not above Faust's 1.5 s fetch wait: an idle, connected worker would flap.
        ("BASKETLIFT_BROKER_UNREACHABLE_SECONDS", "1.5"),
        ("BASKETLIFT_PROCESSING_GUARANTEE", "at_most_once"),
        ("BASKETLIFT_MAX_FUTURE_SKEW_SECONDS", "-1"),
        ("BASKETLIFT_MAX_FUTURE_SKEW_SECONDS", "inf"),
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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BASKETLIFT_PARTITIONS", "abc", "BASKETLIFT_PARTITIONS: expected an integer, got 'abc'"),
        (
            "BASKETLIFT_PARTITIONS",
            "0",
            "BASKETLIFT_PARTITIONS: expected a value greater than or equal to 1, got '0'",
        ),
        (
            "BASKETLIFT_PROCESSING_GUARANTEE",
            "at_most_once",
            "BASKETLIFT_PROCESSING_GUARANTEE: expected 'at_least_once' or 'exactly_once',"
            " got 'at_most_once'",
        ),
        (
            "BASKETLIFT_LOG_LEVEL",
            "verbose",
            "BASKETLIFT_LOG_LEVEL: expected one of debug, info, warning, error, critical,"
            " got 'verbose'",
        ),
        (
            "BASKETLIFT_DECISION_LOG_LEVEL",
            "loud",
            "BASKETLIFT_DECISION_LOG_LEVEL: expected one of debug, info, warning, error,"
            " critical, got 'loud'",
        ),
        (
            "BASKETLIFT_STORE",
            "redis://",
            "BASKETLIFT_STORE: expected memory:// or rocksdb://, got 'redis://'",
        ),
        (
            "BASKETLIFT_STORE",
            "rocksdb",
            "BASKETLIFT_STORE: expected memory:// or rocksdb://, got 'rocksdb'",
        ),
        (
            "BASKETLIFT_FAUST_SENSOR",
            "maybe",
            "BASKETLIFT_FAUST_SENSOR: expected true or false, got 'maybe'",
        ),
    ],
)
def test_a_bad_variable_is_named_in_one_line(
    fresh_settings: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    fresh_settings.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == message


def test_every_bad_variable_is_named_on_the_same_line(fresh_settings: pytest.MonkeyPatch) -> None:
    fresh_settings.setenv("BASKETLIFT_WEB_PORT", "http")
    fresh_settings.setenv("BASKETLIFT_STORE", "aerospike://")
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == (
        "BASKETLIFT_WEB_PORT: expected an integer, got 'http'; "
        "BASKETLIFT_STORE: expected memory:// or rocksdb://, got 'aerospike://'"
    )


@pytest.mark.parametrize(("value", "level"), [("INFO", "info"), (" Warning", "warning")])
def test_log_level_names_are_case_insensitive(
    clean_env: pytest.MonkeyPatch, value: str, level: str
) -> None:
    clean_env.setenv("BASKETLIFT_LOG_LEVEL", value)
    assert Settings().log_level == level


def test_memory_store_is_accepted(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BASKETLIFT_STORE", "memory://")
    assert Settings().store == "memory://"


API_TOKEN = "0123456789abcdef0123456789abcdef"


def test_without_an_api_token_setting_there_is_none(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings().api_bearer_token is None


def test_the_api_token_comes_from_its_variable_and_is_not_shown(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("BASKETLIFT_API_TOKEN", API_TOKEN)
    settings = Settings()
    assert settings.api_bearer_token == API_TOKEN
    assert API_TOKEN not in repr(settings) and API_TOKEN not in str(settings)


def test_the_api_token_file_is_read_without_its_trailing_newline(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(API_TOKEN + "\n")
    clean_env.setenv("BASKETLIFT_API_TOKEN_FILE", str(path))
    assert Settings().api_bearer_token == API_TOKEN


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "short-token",
            "BASKETLIFT_API_TOKEN: expected a token of at least 16 characters"
            " (`openssl rand -hex 32` makes one)",
        ),
        (
            "",
            "BASKETLIFT_API_TOKEN: expected a token of at least 16 characters"
            " (`openssl rand -hex 32` makes one)",
        ),
        (
            "0123456789 abcdef",
            "BASKETLIFT_API_TOKEN: expected printable ASCII characters without spaces",
        ),
        (
            "0123456789abcdéf",
            "BASKETLIFT_API_TOKEN: expected printable ASCII characters without spaces",
        ),
    ],
)
def test_an_unusable_api_token_is_named_without_its_value(
    fresh_settings: pytest.MonkeyPatch, value: str, message: str
) -> None:
    fresh_settings.setenv("BASKETLIFT_API_TOKEN", value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == message


def test_an_unreadable_or_short_token_file_is_named(
    fresh_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    fresh_settings.setenv("BASKETLIFT_API_TOKEN_FILE", str(missing))
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == (
        f"BASKETLIFT_API_TOKEN_FILE: cannot read the file (No such file or directory),"
        f" got '{missing}'"
    )
    short = tmp_path / "short"
    short.write_text("abc\n")
    fresh_settings.setenv("BASKETLIFT_API_TOKEN_FILE", str(short))
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value).startswith(
        "BASKETLIFT_API_TOKEN_FILE: the file holds no usable token: expected a token of at"
        " least 16 characters"
    )


def test_the_api_token_and_its_file_are_not_both_set(
    fresh_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(API_TOKEN)
    fresh_settings.setenv("BASKETLIFT_API_TOKEN", API_TOKEN)
    fresh_settings.setenv("BASKETLIFT_API_TOKEN_FILE", str(path))
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == (
        f"BASKETLIFT_API_TOKEN_FILE: set either it or BASKETLIFT_API_TOKEN, not both, got '{path}'"
    )
    assert API_TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BASKETLIFT_GATEWAY_SECRET_KEYS": "0123456789abcdef0123,short"},
            "BASKETLIFT_GATEWAY_SECRET_KEYS: expected a token of at least 16 characters"
            " (`openssl rand -hex 32` makes one)",
        ),
        (
            {
                "BASKETLIFT_GATEWAY_PUBLIC_KEYS": "pk-0123456789abcdef",
                "BASKETLIFT_GATEWAY_ALLOWED_ORIGINS": "https://shop.example",
            },
            "BASKETLIFT_GATEWAY_SIGNING_KEY: required with BASKETLIFT_GATEWAY_PUBLIC_KEYS"
            " (publishable keys need shopper tokens)",
        ),
        (
            {
                "BASKETLIFT_GATEWAY_PUBLIC_KEYS": "pk-0123456789abcdef",
                "BASKETLIFT_GATEWAY_SIGNING_KEY": "signing-0123456789abcdef",
            },
            "BASKETLIFT_GATEWAY_ALLOWED_ORIGINS: required with BASKETLIFT_GATEWAY_PUBLIC_KEYS"
            " (publishable keys are used from browsers)",
        ),
        (
            {"BASKETLIFT_GATEWAY_ALLOWED_ORIGINS": "https://shop.example/cart"},
            "BASKETLIFT_GATEWAY_ALLOWED_ORIGINS: expected comma-separated origins such as"
            " https://shop.example (scheme and host, no path), got 'https://shop.example/cart'",
        ),
    ],
    ids=["short-secret-key", "public-without-signing", "public-without-origins", "origin-path"],
)
def test_unusable_gateway_settings_are_named(
    fresh_settings: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for variable, value in env.items():
        fresh_settings.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value) == message


def test_gateway_key_lists_are_split_on_commas(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "BASKETLIFT_GATEWAY_SECRET_KEYS", " sk-0123456789abcdef , sk-fedcba9876543210,"
    )
    settings = Settings()
    assert settings.gateway_secret_keys_list == ["sk-0123456789abcdef", "sk-fedcba9876543210"]
    assert "sk-0123456789abcdef" not in repr(settings)
    assert settings.gateway_port == 6070 and settings.gateway_host == "127.0.0.1"

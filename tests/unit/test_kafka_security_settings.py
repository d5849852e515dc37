"""The BASKETLIFT_KAFKA_* security settings: usable combinations pass, every other one is
refused with one line naming the variables, and the password never appears in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import SettingsError, get_settings

PASSWORD = "s3cret-kafka-password"
SCRAM = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "shop",
}


def set_env(env: pytest.MonkeyPatch, **variables: str) -> None:
    """Set BASKETLIFT_KAFKA_<NAME> for each keyword."""
    for name, value in variables.items():
        env.setenv(f"BASKETLIFT_KAFKA_{name.upper()}", value)


def refusal(env: pytest.MonkeyPatch) -> str:
    """The one-line settings error of the environment as it is."""
    with pytest.raises(SettingsError) as info:
        get_settings()
    return str(info.value)


def test_plaintext_is_the_default(fresh_settings: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_mechanism is None
    assert settings.kafka_ssl_check_hostname is True
    assert settings.create_topics is True
    assert settings.replication_factor == 1


def test_sasl_ssl_with_scram_is_read_and_the_password_is_not_shown(
    fresh_settings: pytest.MonkeyPatch,
) -> None:
    set_env(fresh_settings, **SCRAM, sasl_password=PASSWORD)
    settings = get_settings()
    assert settings.kafka_sasl_secret == PASSWORD
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())


def test_the_password_file_is_read_without_its_trailing_newline(
    fresh_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    set_env(
        fresh_settings,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="shop",
        sasl_password_file=str(path),
    )
    assert get_settings().kafka_sasl_secret == PASSWORD


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"security_protocol": "SASL_SSL"},
            "BASKETLIFT_KAFKA_SASL_MECHANISM: required with"
            " BASKETLIFT_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256"},
            "BASKETLIFT_KAFKA_SASL_USERNAME: required with"
            " BASKETLIFT_KAFKA_SASL_MECHANISM=SCRAM-SHA-256;"
            " BASKETLIFT_KAFKA_SASL_PASSWORD: required with"
            " BASKETLIFT_KAFKA_SASL_MECHANISM=SCRAM-SHA-256"
            " (or BASKETLIFT_KAFKA_SASL_PASSWORD_FILE)",
        ),
        (
            {"sasl_mechanism": "PLAIN", "sasl_username": "shop", "sasl_password": PASSWORD},
            "BASKETLIFT_KAFKA_SASL_MECHANISM: only used with"
            " BASKETLIFT_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT);"
            " BASKETLIFT_KAFKA_SASL_USERNAME: only used with"
            " BASKETLIFT_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT);"
            " BASKETLIFT_KAFKA_SASL_PASSWORD: only used with"
            " BASKETLIFT_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT)",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
            "BASKETLIFT_KAFKA_OAUTH_PROVIDER: required with"
            " BASKETLIFT_KAFKA_SASL_MECHANISM=OAUTHBEARER",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "OAUTHBEARER",
                "oauth_provider": "auth:provider",
                "sasl_password": PASSWORD,
            },
            "BASKETLIFT_KAFKA_SASL_PASSWORD: not used with"
            " BASKETLIFT_KAFKA_SASL_MECHANISM=OAUTHBEARER (the token provider authenticates)",
        ),
        (
            {"security_protocol": "SSL", "oauth_provider": "no-colon"},
            "BASKETLIFT_KAFKA_OAUTH_PROVIDER: expected module:callable, e.g."
            " mypackage.auth:token_provider, got 'no-colon'",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI"},
            "BASKETLIFT_KAFKA_SASL_MECHANISM: expected 'PLAIN', 'SCRAM-SHA-256',"
            " 'SCRAM-SHA-512' or 'OAUTHBEARER', got 'GSSAPI'",
        ),
        (
            {"ssl_cafile": "/etc/hosts"},
            "BASKETLIFT_KAFKA_SSL_CAFILE: only used with"
            " BASKETLIFT_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (it is PLAINTEXT)",
        ),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "/etc/hosts"},
            "BASKETLIFT_KAFKA_SSL_KEYFILE: set BASKETLIFT_KAFKA_SSL_CERTFILE too (mutual TLS)",
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"},
            "BASKETLIFT_KAFKA_SSL_CAFILE: no such file: /nonexistent/ca.pem",
        ),
        (
            {"security_protocol": "TLS"},
            "BASKETLIFT_KAFKA_SECURITY_PROTOCOL: expected 'PLAINTEXT', 'SSL',"
            " 'SASL_PLAINTEXT' or 'SASL_SSL', got 'TLS'",
        ),
    ],
)
def test_an_unusable_combination_is_one_line_naming_the_variables(
    fresh_settings: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    set_env(fresh_settings, **variables)
    error = refusal(fresh_settings)
    assert error == message
    assert PASSWORD not in error


def test_a_password_and_a_password_file_together_are_refused(
    fresh_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "password"
    path.write_text(PASSWORD)
    set_env(fresh_settings, **SCRAM, sasl_password=PASSWORD, sasl_password_file=str(path))
    error = refusal(fresh_settings)
    assert error == (
        "BASKETLIFT_KAFKA_SASL_PASSWORD_FILE: set either it or BASKETLIFT_KAFKA_SASL_PASSWORD"
    )


def test_an_unreadable_password_file_is_named(
    fresh_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_env(
        fresh_settings,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="shop",
        sasl_password_file=str(tmp_path / "absent"),
    )
    assert refusal(fresh_settings) == (
        "BASKETLIFT_KAFKA_SASL_PASSWORD_FILE: cannot read the file (No such file or directory)"
    )


def test_a_bad_replication_factor_is_named(fresh_settings: pytest.MonkeyPatch) -> None:
    fresh_settings.setenv("BASKETLIFT_REPLICATION_FACTOR", "0")
    assert refusal(fresh_settings) == (
        "BASKETLIFT_REPLICATION_FACTOR: expected a value greater than or equal to 1, got '0'"
    )

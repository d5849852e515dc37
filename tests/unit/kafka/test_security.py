"""streams.kafka.security: one set of settings gives every client the same options, and
Faust's credentials map to exactly those options."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka.abc import AbstractTokenProvider
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.app import create_app
from streams.devtls import write_dev_tls
from streams.kafka.security import KafkaAccess, client_options, kafka_access
from streams.runtime.gate import CommitGate
from streams.settings import Settings, SettingsError

PASSWORD = "s3cret-kafka-password"


class StaticTokenProvider(AbstractTokenProvider):
    """An OAUTHBEARER token provider as BASKETLIFT_KAFKA_OAUTH_PROVIDER names one."""

    async def token(self) -> str:
        """A fixed token."""
        return "token"


def make_provider() -> StaticTokenProvider:
    """The factory BASKETLIFT_KAFKA_OAUTH_PROVIDER points at in these tests."""
    return StaticTokenProvider()


PROVIDER = f"{__name__}:make_provider"


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA with broker and client certificates."""
    return write_dev_tls(tmp_path_factory.mktemp("tls")).directory


def security_cases(tls: Path) -> dict[str, dict[str, Any]]:
    """Settings keywords of each way to connect."""
    return {
        "plaintext": {},
        "tls": {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": tls / "ca.pem"},
        "mutual-tls": {
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": tls / "ca.pem",
            "kafka_ssl_certfile": tls / "client-cert.pem",
            "kafka_ssl_keyfile": tls / "client-key.pem",
        },
        "sasl-plaintext-plain": {
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "PLAIN",
            "kafka_sasl_username": "shop",
            "kafka_sasl_password": PASSWORD,
        },
        "sasl-ssl-scram": {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "shop",
            "kafka_sasl_password": PASSWORD,
        },
        "sasl-ssl-oauthbearer": {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "OAUTHBEARER",
            "kafka_oauth_provider": PROVIDER,
        },
    }


CASES = [
    "plaintext",
    "tls",
    "mutual-tls",
    "sasl-plaintext-plain",
    "sasl-ssl-scram",
    "sasl-ssl-oauthbearer",
]


def without_none(options: dict[str, Any]) -> dict[str, Any]:
    """Options with the unset (None) ones left out: aiokafka's defaults."""
    return {key: value for key, value in options.items() if value is not None}


def test_plaintext_clients_get_the_bootstrap_servers_and_the_protocol(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert client_options(Settings(broker="kafka://b1:9092;kafka://b2:9092")) == {
        "bootstrap_servers": "b1:9092,b2:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_scram_options(clean_env: pytest.MonkeyPatch, tls_dir: Path) -> None:
    options = client_options(Settings(**security_cases(tls_dir)["sasl-ssl-scram"]))
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "shop",
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_hostname_checking_can_be_turned_off(clean_env: pytest.MonkeyPatch, tls_dir: Path) -> None:
    settings = Settings(**security_cases(tls_dir)["tls"], kafka_ssl_check_hostname=False)
    context = client_options(settings)["ssl_context"]
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_the_oauth_provider_is_made_from_its_reference(
    clean_env: pytest.MonkeyPatch, tls_dir: Path
) -> None:
    options = client_options(Settings(**security_cases(tls_dir)["sasl-ssl-oauthbearer"]))
    assert isinstance(options["sasl_oauth_token_provider"], StaticTokenProvider)
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert "sasl_plain_password" not in options


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("no_such_module_here:x", "BASKETLIFT_KAFKA_OAUTH_PROVIDER: cannot load"),
        (f"{__name__}:absent", "BASKETLIFT_KAFKA_OAUTH_PROVIDER: cannot load"),
        (f"{__name__}:PASSWORD", "returned a str, expected an aiokafka.abc.AbstractTokenProvider"),
    ],
)
def test_an_unusable_oauth_provider_is_a_settings_error(
    clean_env: pytest.MonkeyPatch, reference: str, expected: str
) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_oauth_provider=reference,
    )
    with pytest.raises(SettingsError, match=expected):
        kafka_access(settings)


def test_a_client_certificate_that_does_not_load_is_a_settings_error(
    clean_env: pytest.MonkeyPatch, tls_dir: Path
) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_certfile=tls_dir / "ca.pem",  # a certificate without its key
    )
    with pytest.raises(SettingsError, match="BASKETLIFT_KAFKA_SSL_CERTFILE: cannot load"):
        kafka_access(settings)


@pytest.mark.parametrize("case", CASES)
def test_faust_credentials_map_to_the_same_client_options(
    clean_env: pytest.MonkeyPatch, tls_dir: Path, case: str
) -> None:
    access = kafka_access(Settings(**security_cases(tls_dir)[case]))
    faust_options = credentials_to_aiokafka_auth(access.faust_credentials())
    assert without_none(dict(faust_options)) == access.security_options()


@pytest.mark.parametrize("case", CASES)
def test_the_worker_app_connects_as_every_other_client(
    clean_env: pytest.MonkeyPatch, tls_dir: Path, case: str
) -> None:
    settings = Settings(app_id=f"unit-security-{case}", **security_cases(tls_dir)[case])
    access = kafka_access(settings)
    app = create_app(settings, CommitGate(), access)
    faust_options = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert without_none(dict(faust_options)) == access.security_options()


def test_the_password_is_in_no_description_of_the_access(
    clean_env: pytest.MonkeyPatch, tls_dir: Path
) -> None:
    access = kafka_access(Settings(**security_cases(tls_dir)["sasl-ssl-scram"]))
    assert access.describe() == "SASL_SSL, user 'shop' (SCRAM-SHA-512)"
    for text in (repr(access), str(access), access.describe(), repr(access.faust_credentials())):
        assert PASSWORD not in text


def test_replication_factor_and_topic_creation_reach_faust(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(app_id="unit-topics", replication_factor=3, create_topics=False)
    app = create_app(settings, CommitGate(), KafkaAccess(settings.bootstrap_servers))
    assert app.conf.topic_replication_factor == 3
    assert app.conf.topic_allow_declare is False

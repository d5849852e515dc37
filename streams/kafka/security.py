"""How every Kafka client of Basketlift connects: one set of settings, one place that turns
them into client options.

`kafka_access(settings)` reads the BASKETLIFT_KAFKA_* security settings once (TLS context,
SASL password, OAUTHBEARER token provider) into a `KafkaAccess`; its `client_options()` are
the keyword arguments every aiokafka client takes (producers, consumers, the admin client),
and `faust_credentials()` is the same as Faust's `broker_credentials` (Faust maps them back
to exactly these options: tests/unit/kafka/test_security.py checks it). No client is built
with `bootstrap_servers` alone.

`check_kafka_access` connects once, as a client would, before a command starts its clients:
wrong credentials, an untrusted certificate or a client speaking the wrong protocol become
one `KafkaAccessDenied` line saying which, instead of the retries of every client and a
misleading "cannot reach Kafka". No message here contains the password.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from streams.settings import ENV_PREFIX, TLS_PROTOCOLS, Settings, SettingsError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = [
    "KafkaAccess",
    "KafkaAccessDenied",
    "KafkaUnreachable",
    "check_kafka_access",
    "client_options",
    "kafka_access",
]

ENV = ENV_PREFIX + "KAFKA_"
ACCESS_CHECK_TIMEOUT_SECONDS = 10.0
"""Longest `check_kafka_access` waits for one broker's answer (a command reports within 15 s)."""
TLS_PROBE_TIMEOUT_SECONDS = 3.0


class KafkaAccessDenied(RuntimeError):
    """Kafka answered but refused this client: credentials, certificate or protocol (a
    configuration error: the CLI exits with status 2). The message is one line."""


class KafkaUnreachable(ConnectionError):
    """No broker of the bootstrap list could be reached (the message is one line)."""


@dataclass(frozen=True)
class KafkaAccess:
    """Where Kafka is and how to authenticate to it, as aiokafka clients take it."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    oauth_token_provider: AbstractTokenProvider | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient
        and AIOKafkaClient: the bootstrap servers and the security options."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security_options()}

    def security_options(self) -> dict[str, Any]:
        """The security options alone (as Faust's credentials map to them)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        if self.sasl_mechanism is not None:
            options["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                options["sasl_oauth_token_provider"] = self.oauth_token_provider
            else:
                options["sasl_plain_username"] = self.sasl_username
                options["sasl_plain_password"] = self.sasl_password
        return options

    def faust_credentials(self) -> CredentialsT | None:
        """The same access as Faust's `broker_credentials` (None: plaintext)."""
        # Imported here: the command-line tools that use this module do not load Faust.
        from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials

        if self.sasl_mechanism == "OAUTHBEARER":
            assert self.oauth_token_provider is not None
            return OAuthCredentials(
                oauth_cb=self.oauth_token_provider, ssl_context=self.ssl_context
            )
        if self.sasl_mechanism is not None:
            return SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                ssl_context=self.ssl_context,
                mechanism=self.sasl_mechanism,
            )
        if self.ssl_context is not None:
            return SSLCredentials(self.ssl_context)
        return None

    def describe(self) -> str:
        """Who connects how, for messages: `SASL_SSL, user 'x' (SCRAM-SHA-512)` (no secret)."""
        if self.sasl_mechanism == "OAUTHBEARER":
            return f"{self.security_protocol}, OAUTHBEARER"
        if self.sasl_mechanism is not None:
            return f"{self.security_protocol}, user {self.sasl_username!r} ({self.sasl_mechanism})"
        return self.security_protocol


def plaintext_access(bootstrap_servers: str) -> KafkaAccess:
    """Access to a broker without TLS or SASL (the local development broker's own listener)."""
    return KafkaAccess(bootstrap_servers)


def kafka_access(settings: Settings) -> KafkaAccess:
    """The access the settings describe, with the TLS context built, the password read and
    the token provider made. SettingsError naming the variable when a file cannot be used
    or the token provider cannot be made."""
    ssl_context = (
        tls_context(settings) if settings.kafka_security_protocol in TLS_PROTOCOLS else None
    )
    provider = (
        load_token_provider(settings.kafka_oauth_provider)
        if settings.kafka_sasl_mechanism == "OAUTHBEARER" and settings.kafka_oauth_provider
        else None
    )
    try:
        password = settings.kafka_sasl_secret
    except ValueError as error:
        raise SettingsError(f"{ENV}SASL_PASSWORD_FILE: {error}") from None
    return KafkaAccess(
        bootstrap_servers=settings.bootstrap_servers,
        security_protocol=settings.kafka_security_protocol,
        ssl_context=ssl_context,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=password,
        oauth_token_provider=provider,
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client the settings describe (see `KafkaAccess`)."""
    return kafka_access(settings).client_options()


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context: the system's CAs or BASKETLIFT_KAFKA_SSL_CAFILE, the client
    certificate of mutual TLS when set, hostname checking unless turned off."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    except (OSError, ssl.SSLError) as error:
        raise SettingsError(
            f"{ENV}SSL_CAFILE: cannot load {settings.kafka_ssl_cafile}: {error}"
        ) from None
    if settings.kafka_ssl_certfile is not None:
        try:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            )
        except (OSError, ssl.SSLError) as error:
            raise SettingsError(
                f"{ENV}SSL_CERTFILE: cannot load the client certificate"
                f" {settings.kafka_ssl_certfile} (key {settings.kafka_ssl_keyfile}): {error}"
            ) from None
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def load_token_provider(reference: str) -> AbstractTokenProvider:
    """Call the `module:callable` of BASKETLIFT_KAFKA_OAUTH_PROVIDER; its result must be an
    aiokafka AbstractTokenProvider (its `token()` gives the OAUTHBEARER token)."""
    module_name, _, attribute = reference.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise SettingsError(f"{ENV}OAUTH_PROVIDER: cannot load {reference}: {error}") from None
    provider = factory() if callable(factory) else factory
    if not isinstance(provider, AbstractTokenProvider):
        raise SettingsError(
            f"{ENV}OAUTH_PROVIDER: {reference} returned a {type(provider).__name__}, expected"
            " an aiokafka.abc.AbstractTokenProvider"
        )
    return provider


def bootstrap_hosts(bootstrap_servers: str) -> list[tuple[str, int]]:
    """(host, port) of each bootstrap server (port 9092 when none is given)."""
    hosts = []
    for entry in bootstrap_servers.split(","):
        host, sep, port = entry.strip().rpartition(":")
        hosts.append((host, int(port)) if sep else (entry.strip(), 9092))
    return hosts


async def check_kafka_access(
    access: KafkaAccess, timeout: float = ACCESS_CHECK_TIMEOUT_SECONDS
) -> None:
    """Connect to the bootstrap servers as a client would (handshake, authentication, a
    metadata request) until one accepts; return then.

    Raises KafkaAccessDenied (a broker answered but refused: wrong credentials, untrusted
    certificate, wrong protocol) or KafkaUnreachable (none answered), with one line saying
    which. Each broker gets at most `timeout` seconds.
    """
    failures: list[BaseException] = []
    for host, port in bootstrap_hosts(access.bootstrap_servers):
        try:
            await asyncio.wait_for(connect_once(access, host, port, timeout), timeout)
            return
        except (TimeoutError, OSError, KafkaError, ssl.SSLError) as error:
            failures.append(error)
            denial = await access_denial(access, host, port, error)
            if denial is not None:
                raise KafkaAccessDenied(denial) from None
    reason = failures[-1] if failures else "no bootstrap server"
    raise KafkaUnreachable(
        f"cannot reach Kafka at {access.bootstrap_servers}: {describe_error(reason)}"
    )


async def connect_once(access: KafkaAccess, host: str, port: int, timeout: float) -> None:
    """One connection with the client's options, authenticated, asking for metadata."""
    options = access.security_options()
    conn = await create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options)
    try:
        await conn.send(MetadataRequest([]))
    finally:
        conn.close()


def describe_error(error: BaseException | str) -> str:
    """An exception as a short phrase (its message, else its type)."""
    if isinstance(error, str):
        return error
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    text = str(error).strip()
    return text or type(error).__name__


async def access_denial(
    access: KafkaAccess, host: str, port: int, error: BaseException
) -> str | None:
    """What refused the client at host:port, as one line; None when the broker was simply not
    reachable (refused or timed-out connection to a port not speaking TLS)."""
    where = f"{host}:{port}"
    if isinstance(error, SaslAuthenticationFailed):
        if access.sasl_mechanism == "OAUTHBEARER":
            return f"Kafka at {where} rejected the OAUTHBEARER token ({ENV}OAUTH_PROVIDER)"
        return (
            f"Kafka rejected the SASL credentials for user {access.sasl_username!r}"
            f" ({access.sasl_mechanism}) at {where}"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"Kafka at {where}: {error} ({ENV}SASL_MECHANISM)"
    if isinstance(error, ssl.SSLCertVerificationError):
        if "hostname" in (error.verify_message or "").lower():
            return (
                f"Kafka's TLS certificate at {where} does not name {host!r}:"
                f" {error.verify_message} ({ENV}SSL_CHECK_HOSTNAME)"
            )
        return (
            f"Kafka's TLS certificate at {where} is not trusted: {error.verify_message}"
            f" (set {ENV}SSL_CAFILE to the CA that signed it)"
        )
    if isinstance(error, ConnectionRefusedError):
        return None
    if access.security_protocol in TLS_PROTOCOLS:
        if isinstance(error, ssl.SSLError) or not await speaks_tls(host, port):
            return (
                f"Kafka at {where} does not complete a TLS handshake"
                f" ({describe_error(error)}): is it a TLS listener?"
                f" ({ENV}SECURITY_PROTOCOL={access.security_protocol})"
            )
        if isinstance(error, KafkaConnectionError | ConnectionResetError):
            return (
                f"Kafka at {where} closed the TLS connection of {access.describe()}: it may"
                f" require a client certificate ({ENV}SSL_CERTFILE, {ENV}SSL_KEYFILE) or"
                " SASL"
            )
        return None
    if isinstance(error, KafkaConnectionError | ConnectionResetError | asyncio.TimeoutError):
        if await speaks_tls(host, port):
            return (
                f"Kafka at {where} expects TLS, but {ENV}SECURITY_PROTOCOL is"
                f" {access.security_protocol} (set SSL or SASL_SSL)"
            )
        if access.sasl_mechanism is None and isinstance(error, KafkaConnectionError):
            return (
                f"Kafka at {where} closed the connection of a {access.security_protocol}"
                f" client: the listener may require SASL ({ENV}SECURITY_PROTOCOL)"
            )
    return None


async def speaks_tls(host: str, port: int) -> bool:
    """True when host:port completes a TLS handshake (certificate not checked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), TLS_PROBE_TIMEOUT_SECONDS
        )
    except (TimeoutError, OSError, ssl.SSLError):
        return False
    writer.close()
    return True

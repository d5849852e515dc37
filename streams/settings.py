"""The one settings object: every knob, read once from `BASKETLIFT_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BASKETLIFT_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
STORE_SCHEMES = ("memory", "rocksdb")
"""Faust table stores whose drivers the project installs (Faust's aerospike store's is not)."""
API_TOKEN_MIN_CHARS = 16
"""Shortest accepted API token: a short one can be guessed by trying (`openssl rand -hex 32`
makes a good one)."""
SECRET_FIELDS = frozenset(
    {"api_token", "kafka_sasl_password", "gateway_secret_keys", "gateway_signing_key"}
)
"""Fields whose value an error line never repeats."""


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SettingsError(ValueError):
    """A setting's environment variable holds a value the worker cannot run with."""


def default_cache_dir() -> Path:
    """Return the per-user cache directory for Basketlift (XDG_CACHE_HOME aware)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "basketlift"


def check_api_token(token: str) -> None:
    """Raise ValueError (without quoting the token) unless it is long enough and made of
    printable ASCII without spaces, as an HTTP `Authorization: Bearer` value carries it."""
    if len(token) < API_TOKEN_MIN_CHARS:
        raise ValueError(
            f"expected a token of at least {API_TOKEN_MIN_CHARS} characters"
            " (`openssl rand -hex 32` makes one)"
        )
    if not all("!" <= char <= "~" for char in token):
        raise ValueError("expected printable ASCII characters without spaces")


def split_list(value: str) -> list[str]:
    """The items of a comma-separated setting, stripped, empty ones left out."""
    return [item.strip() for item in value.split(",") if item.strip()]


def read_secret_file(path: Path) -> str:
    """The secret (token, password) a file holds, without surrounding whitespace (a trailing
    newline, say).

    Raises ValueError saying why when the file cannot be read.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ValueError(f"cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError("cannot read the file (not UTF-8 text)") from None


class Settings(BaseSettings):
    """All Basketlift configuration; field `x` is read from `BASKETLIFT_X`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # --- Kafka and the worker (names fixed by operators' tooling) ---
    broker: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap URL(s).")
    app_id: str = Field("basketlift", min_length=1, description="Faust app id / consumer group.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics, /health, APIs.")
    web_host: str = Field("127.0.0.1", description="Interface the web server binds.")
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token the data endpoints (/state/..., /offers/...) require; without"
        " one they answer only when the web server binds a loopback address.",
    )
    api_token_file: Path | None = Field(
        None,
        description="File holding the API token (a mounted Secret), instead of"
        " BASKETLIFT_API_TOKEN; surrounding whitespace is ignored.",
    )
    data_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "worker",
        description="Where table stores (RocksDB) live.",
    )
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of every topic.")
    store: str = Field("rocksdb://", description="Faust table store URL (rocksdb:// or memory://).")
    rocksdb_block_cache_mib: int = Field(
        64,
        ge=1,
        le=65536,
        description="Read cache shared by every table database of the worker (RocksDB, index"
        " and filter blocks included); misses read the disk.",
    )
    rocksdb_memtables_mib: int = Field(
        64,
        ge=1,
        le=65536,
        description="Memtables of every table database of the worker together (a RocksDB"
        " write buffer manager): past it, databases flush to disk.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "exactly_once"
    create_topics: bool = Field(
        True,
        description="Create missing topics (contract and internal) at start-up; false: only"
        " verify that they exist with the right partitions and config (clusters where the"
        " application may not create topics; `basketlift topics plan` lists them).",
    )
    replication_factor: int = Field(
        1, ge=1, le=32, description="Replicas of every topic Basketlift creates."
    )
    table_standby_replicas: int = Field(
        1,
        ge=0,
        le=8,
        description="Standby copies of each table partition (Faust's table_standby_replicas):"
        " a worker keeps a standby partition's local store up to date from its changelog, so"
        " when it takes the partition over it reads only what it had not yet applied. 0: no"
        " standbys; a new owner rebuilds the partition from its changelog.",
    )

    # --- Kafka security (every client: worker, views, admin, CLI tools, benches) ---
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT", description="How clients talk to Kafka: TLS (SSL) and/or SASL."
    )
    kafka_sasl_mechanism: KafkaSaslMechanism | None = Field(
        None, description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(
        None, min_length=1, description="SASL user (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password; never printed (or use ..._PASSWORD_FILE)."
    )
    kafka_sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password (a mounted Secret)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM CA bundle trusted for the brokers' certificates (default: the system's).",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate (mutual TLS)."
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of the client certificate (mutual TLS)."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to."
    )
    kafka_oauth_provider: str | None = Field(
        None,
        description="`module:callable` returning an aiokafka AbstractTokenProvider"
        " (OAUTHBEARER, e.g. the AWS MSK IAM signer).",
    )

    # --- Topics (contract defaults) ---
    topic_carts: str = "shop.carts"
    topic_orders: str = "shop.orders"
    topic_clicks: str = "shop.clicks"
    topic_catalog: str = "shop.catalog"
    topic_privacy: str = "shop.privacy"
    topic_offers: str = "shop.offers"
    topic_deadletter: str = "shop.deadletter"

    # --- Throughput and timing ---
    batch_max: int = Field(500, ge=1, description="Events taken per batch by each agent.")
    batch_within_seconds: float = Field(0.05, gt=0, description="Max wait to fill a batch.")
    batch_handover: Literal["available", "window"] = Field(
        "available",
        description="When a batch goes to processing: `available` as soon as nothing more is"
        " queued (or it is full); `window` when it is full or batch_within_seconds have passed"
        " (Faust's take_events).",
    )
    producer_linger_ms: int = Field(5, ge=0, description="How long the producer fills a batch.")
    consumer_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=30_000,
        description="Longest the broker holds the worker's fetch request when none of the"
        " partitions in it has new records (fetch.max.wait.ms). The consumer has one fetch in"
        " flight and leaves out partitions whose fetched records are still being processed,"
        " so under load a fetch can name only quiet partitions; new events on the busy ones"
        " wait for it to return. Faust's own value is 1,500 ms.",
    )
    broker_session_timeout_seconds: float = Field(30.0, gt=0)
    broker_heartbeat_interval_seconds: float = Field(3.0, gt=0)
    broker_rebalance_timeout_seconds: float = Field(60.0, gt=0)
    metadata_refresh_seconds: float = Field(
        15.0,
        gt=0,
        description="Longest the consumer goes without refreshing topic metadata: bounds how"
        " long a topic missing from an assignment (created late, or not yet visible on a busy"
        " broker) stays unconsumed.",
    )
    dedupe_window_events: int = Field(
        64,
        ge=1,
        description="Event ids remembered per topic and shopper (or session) to recognise"
        " redeliveries.",
    )
    broker_unreachable_seconds: float = Field(
        15.0,
        gt=1.5,
        description="After this long without a successful fetch or metadata response from"
        " Kafka, /health answers 503 broker_unreachable. Above Faust's 1.5 s fetch wait: an"
        " idle partition gets an empty fetch response that often.",
    )
    commit_interval_seconds: float = Field(
        2.8,
        gt=0,
        description="How often the worker commits (under exactly-once: ends the transaction,"
        " which is when read_committed readers see its table writes; decisions are published"
        " outside the transaction and visible at once).",
    )
    decision_recovery_lookback_seconds: float = Field(
        900.0,
        gt=0,
        description="When no committed lower bound says where a partition's decisions"
        " published since the last commit start (a worker that crashed before its first"
        " commit), how far back in shop.offers the worker looks for them.",
    )
    stall_check_seconds: float = Field(
        30.0,
        gt=0,
        description="How often the worker checks that partitions with records pending move"
        " (keep it above the commit interval: progress shows as commits).",
    )
    stall_liveness_checks: int = Field(
        10,
        ge=1,
        description="Consecutive stalled checks after which /live answers 503 (restart me).",
    )
    max_future_skew_seconds: float = Field(
        300.0,
        ge=0,
        allow_inf_nan=False,
        description="How far an inbound event's ts may be ahead of the worker's wall clock;"
        " later events are dead-lettered (ts_in_future) and no shared clock moves past it.",
    )
    log_level: str = "info"
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="The worker's event loop (uvloop is the faster one)."
    )
    faust_sensor: bool = Field(
        False, description="Also export Faust's per-message Prometheus sensor (costs throughput)."
    )

    # --- Co-purchase graph (names fixed by operators' tooling) ---
    decay_half_life_days: float = Field(90.0, ge=0, description="0 = no decay (event time).")
    cross_order_weight: float = Field(0.5, ge=0, description="0 = same-order pairs only.")
    cross_order_days: float = Field(30.0, ge=0)
    neighbours_k: int = Field(50, ge=1, description="Strongest neighbours kept per product.")
    max_paired_products: int = Field(
        1_000,
        ge=2,
        description="An order's products that form pairs, at most (its highest-value lines);"
        " every product of the order still counts as purchased.",
    )
    product_cache_size: int = Field(
        5_000, ge=0, description="Decoded product states kept in memory per worker (0: none)."
    )

    # --- Shopper profiles, segments and consent ---
    consent_default_granted: bool = Field(
        True, description="Consent of shoppers never seen on the privacy topic."
    )
    profile_typical_orders: int = Field(20, ge=1)
    profile_cache_size: int = Field(
        10_000, ge=0, description="Decoded profiles kept in memory per worker (0: none)."
    )
    segment_new_max_orders: int = Field(1, ge=0)
    segment_high_spender_typical_order: float = Field(100.0, ge=0)
    segment_high_ltv_spend: float = Field(1000.0, ge=0)
    segment_discount_seeker_share: float = Field(0.5, ge=0, le=1)
    segment_discount_seeker_min_orders: int = Field(3, ge=1)
    segment_lapsed_days: float = Field(90.0, ge=0)
    price_band_budget_below: float = Field(5.0, ge=0)
    price_band_premium_from: float = Field(20.0, ge=0)

    # --- Offer decisions ---
    offers_top_n: int = Field(3, ge=1, le=20, description="Offers per decision.")
    offers_max_per_category: int = Field(2, ge=1, description="Offers from one category, at most.")
    post_purchase_exclude_days: float = Field(
        30.0, ge=0, description="Confirmation offers skip products bought this recently."
    )
    fatigue_max_impressions: int = Field(
        3, ge=1, description="Impressions without purchase that suppress a product."
    )
    fatigue_window_days: float = Field(7.0, ge=0, description="Window of those impressions.")
    fatigue_suppress_days: float = Field(7.0, ge=0, description="How long suppression lasts.")
    index_refresh_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the ranker's product index takes in the products that changed.",
    )
    index_full_build_seconds: float = Field(
        600.0,
        gt=0,
        description="Event time between full builds of the ranker's product index (between"
        " them only changed products are indexed again; category averages wait for the next).",
    )
    gc_freeze: bool = Field(
        False,
        description="After each full build of the ranker's index, move the objects alive out"
        " of the garbage collector's full collections (gc.freeze; a full collection first"
        " at most every 10 minutes): shorter full collections, not fewer"
        " (bench/results/gc_pauses.md).",
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=1,
        description="Allocations of tracked objects between the garbage collector's"
        " young-generation collections (gc.set_threshold's first value; CPython's default is"
        " 700). A batch keeps its events and decisions alive until it ends: at 700 they"
        " reach the oldest generation and make full collections frequent"
        " (streams.runtime.gcpauses.set_young_threshold).",
    )
    decision_log_level: str = Field(
        "info", description="Level of the structured decision log (logger basketlift.decisions)."
    )
    model_version: str = Field("ranker-1", min_length=1, max_length=64)
    acceptance_model_file: Path | None = Field(
        None,
        description="Fitted acceptance model (`basketlift train --out`); none: the hand-built one.",
    )

    # --- Experiment, nudges, rules, attribution (names of the first six fixed) ---
    holdout_fraction: float = Field(0.1, ge=0, le=1, description="Share of shoppers held out.")
    holdout_salt: str = Field(
        "basketlift-1", min_length=1, description="Cohort hash salt; a new salt, a new split."
    )
    free_shipping_base: float = Field(
        50.0, gt=0, description="The store's free-shipping threshold."
    )
    free_shipping_min: float = Field(20.0, gt=0, description="Lowest personal threshold.")
    free_shipping_max: float = Field(150.0, gt=0, description="Highest personal threshold.")
    rules_file: Path | None = Field(None, description="TOML offer rules (none: no rules).")
    free_shipping_factor: float = Field(
        1.2, gt=0, description="Personal threshold / typical order."
    )
    free_shipping_max_gap_share: float = Field(
        0.3, gt=0, le=1, description="Nudge only when the gap is at most this share of it."
    )
    loyalty_tiers: str = Field(
        "", description='Tiers by trailing-365-day spend, e.g. "Silver:200,Gold:500" (none: off).'
    )
    loyalty_proximity_min: float = Field(0.0, ge=0, le=1)
    loyalty_proximity_max: float = Field(
        0.3, ge=0, le=1, description="Prompt when the gap to the next tier is within this share."
    )
    rules_check_seconds: float = Field(
        1.0, gt=0, description="How often the rules file is checked."
    )
    attribution_cart_hours: float = Field(24.0, ge=0, description="Cart offers: purchase window.")
    attribution_confirmation_days: float = Field(
        7.0, ge=0, description="Confirmation offers: purchase window."
    )
    acceptance_prior_strength: float = Field(
        50.0, gt=0, description="Offers' worth of evidence the ranker's p_accept counts as."
    )
    aov_window_seconds: float = Field(3600.0, gt=0, description="Window of the AOV gauges.")

    # --- The gateway (`basketlift gateway`): HTTP for storefronts and browsers ---
    gateway_host: str = Field("127.0.0.1", description="Interface the gateway binds.")
    gateway_port: int = Field(6070, ge=1, le=65535, description="Port of the gateway.")
    gateway_secret_keys: SecretStr | None = Field(
        None,
        description="Comma-separated secret API keys (server-to-server): may do everything.",
    )
    gateway_public_keys: str = Field(
        "",
        description="Comma-separated publishable keys (browsers): only from an allowed origin"
        " and with a shopper token, for that shopper only.",
    )
    gateway_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (https://shop.example) browsers may call from (CORS).",
    )
    gateway_signing_key: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key of the shopper tokens (required with publishable keys).",
    )
    gateway_token_ttl_seconds: int = Field(
        3600, ge=1, description="Lifetime of the tokens `basketlift gateway token` prints."
    )
    gateway_index_size: int = Field(
        100_000, ge=1, description="Recent decisions the gateway keeps for long-polls."
    )
    gateway_sse_heartbeat_seconds: float = Field(
        15.0, gt=0, description="Comment line sent on idle event streams (keeps proxies open)."
    )

    # --- Local development broker (`basketlift kafka ...`) ---
    kafka_home: Path = Field(
        default_factory=lambda: default_cache_dir() / "kafka",
        description="Cache for the Kafka jars, broker data and log.",
    )
    kafka_heap: str = Field("512m", description="JVM heap (-Xms/-Xmx) of the local broker.")
    kafka_start_timeout_seconds: float = Field(120.0, gt=0)

    @field_validator("log_level", "decision_log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("acceptance_model_file")
    @classmethod
    def _usable_acceptance_model_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            # Imported here: the ranking package brings numpy, which most commands never need.
            from streams.offers.ranking.acceptance import (
                AcceptanceModelError,
                load_acceptance_model,
            )

            try:
                load_acceptance_model(value)
            except AcceptanceModelError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("api_token")
    @classmethod
    def _usable_api_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_api_token(value.get_secret_value())
        return value

    @field_validator("api_token_file")
    @classmethod
    def _readable_api_token_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if info.data.get("api_token") is not None:
            raise ValueError(f"set either it or {ENV_PREFIX}API_TOKEN, not both")
        token = read_secret_file(value)
        try:
            check_api_token(token)
        except ValueError as error:
            raise ValueError(f"the file holds no usable token: {error}") from None
        return value

    @field_validator("gateway_secret_keys")
    @classmethod
    def _usable_gateway_secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in split_list(value.get_secret_value()):
                check_api_token(key)
        return value

    @field_validator("gateway_public_keys")
    @classmethod
    def _usable_gateway_public_keys(cls, value: str) -> str:
        for key in split_list(value):
            check_api_token(key)
        return value

    @field_validator("gateway_signing_key")
    @classmethod
    def _usable_gateway_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_api_token(value.get_secret_value())
        return value

    @field_validator("gateway_allowed_origins")
    @classmethod
    def _gateway_origins(cls, value: str) -> str:
        for origin in split_list(value):
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path not in ("", "/")
            ):
                raise ValueError(
                    "expected comma-separated origins such as https://shop.example (scheme"
                    " and host, no path)"
                )
        return value

    @model_validator(mode="after")
    def _gateway_signing_key_for_public_keys(self) -> Settings:
        if self.gateway_public_keys_list and self.gateway_signing_key is None:
            raise ValueError(
                f"{ENV_PREFIX}GATEWAY_SIGNING_KEY: required with {ENV_PREFIX}GATEWAY_PUBLIC_KEYS"
                " (publishable keys need shopper tokens)"
            )
        if self.gateway_public_keys_list and not self.gateway_allowed_origins_list:
            raise ValueError(
                f"{ENV_PREFIX}GATEWAY_ALLOWED_ORIGINS: required with"
                f" {ENV_PREFIX}GATEWAY_PUBLIC_KEYS (publishable keys are used from browsers)"
            )
        return self

    @property
    def gateway_secret_keys_list(self) -> list[str]:
        """The gateway's secret API keys (none: empty)."""
        if self.gateway_secret_keys is None:
            return []
        return split_list(self.gateway_secret_keys.get_secret_value())

    @property
    def gateway_public_keys_list(self) -> list[str]:
        """The gateway's publishable keys (none: empty)."""
        return split_list(self.gateway_public_keys)

    @property
    def gateway_allowed_origins_list(self) -> list[str]:
        """The origins browsers may call the gateway from, without a trailing slash."""
        return [origin.rstrip("/") for origin in split_list(self.gateway_allowed_origins)]

    @field_validator("kafka_oauth_provider")
    @classmethod
    def _oauth_provider_reference(cls, value: str | None) -> str | None:
        if value is not None:
            module, sep, attribute = value.partition(":")
            if not (sep and module and attribute):
                raise ValueError("expected module:callable, e.g. mypackage.auth:token_provider")
        return value

    @model_validator(mode="after")
    def _consistent_kafka_security(self) -> Settings:
        problems = kafka_security_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("store")
    @classmethod
    def _supported_store(cls, value: str) -> str:
        if urlsplit(value).scheme not in STORE_SCHEMES or "://" not in value:
            raise ValueError(f"expected {' or '.join(f'{s}://' for s in STORE_SCHEMES)}")
        return value

    @field_validator("broker")
    @classmethod
    def _broker_has_scheme(cls, value: str) -> str:
        if "://" not in value:
            value = f"kafka://{value}"
        return value

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL(s) as aiokafka expects them: `host:port[,host:port]`."""
        hosts: list[str] = []
        for part in self.broker.split(";"):
            part = part.strip()
            netloc = urlsplit(part).netloc if "://" in part else part
            hosts.extend(h for h in netloc.split(",") if h)
        return ",".join(hosts)

    @property
    def decision_recovery_lookback_ms(self) -> int:
        """`decision_recovery_lookback_seconds` in whole milliseconds."""
        return round(self.decision_recovery_lookback_seconds * 1000)

    @property
    def api_bearer_token(self) -> str | None:
        """The API token (from BASKETLIFT_API_TOKEN or read from BASKETLIFT_API_TOKEN_FILE),
        or None when neither is set. Reads the file: take it once (streams.app does)."""
        if self.api_token is not None:
            return self.api_token.get_secret_value()
        if self.api_token_file is not None:
            return read_secret_file(self.api_token_file)
        return None

    @property
    def kafka_sasl_secret(self) -> str | None:
        """The SASL password (BASKETLIFT_KAFKA_SASL_PASSWORD or read from
        ..._PASSWORD_FILE), or None when neither is set. Reads the file: take it once."""
        if self.kafka_sasl_password is not None:
            return self.kafka_sasl_password.get_secret_value()
        if self.kafka_sasl_password_file is not None:
            return read_secret_file(self.kafka_sasl_password_file)
        return None

    @property
    def max_future_skew_ms(self) -> int:
        """`max_future_skew_seconds` in whole milliseconds."""
        return round(self.max_future_skew_seconds * 1000)

    @property
    def inbound_topics(self) -> dict[str, str]:
        """Logical name -> topic name of the five inbound contract topics."""
        return {
            "carts": self.topic_carts,
            "orders": self.topic_orders,
            "clicks": self.topic_clicks,
            "catalog": self.topic_catalog,
            "privacy": self.topic_privacy,
        }

    @property
    def outbound_topics(self) -> dict[str, str]:
        """Logical name -> topic name of the outbound contract topics."""
        return {"offers": self.topic_offers, "deadletter": self.topic_deadletter}


def kafka_security_problems(settings: Settings) -> list[str]:
    """Each inconsistency of the Kafka security settings as `BASKETLIFT_X: what is wrong`
    (none: the combination is usable). Never quotes the password."""
    env = ENV_PREFIX + "KAFKA_"
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    problems: list[str] = []
    sasl_fields = {
        "SASL_MECHANISM": mechanism,
        "SASL_USERNAME": settings.kafka_sasl_username,
        "SASL_PASSWORD": settings.kafka_sasl_password,
        "SASL_PASSWORD_FILE": settings.kafka_sasl_password_file,
        "OAUTH_PROVIDER": settings.kafka_oauth_provider,
    }
    if protocol not in SASL_PROTOCOLS:
        problems.extend(
            f"{env}{name}: only used with {env}SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL"
            f" (it is {protocol})"
            for name, value in sasl_fields.items()
            if value is not None
        )
    elif mechanism is None:
        problems.append(f"{env}SASL_MECHANISM: required with {env}SECURITY_PROTOCOL={protocol}")
    elif mechanism in PASSWORD_MECHANISMS:
        if settings.kafka_sasl_username is None:
            problems.append(f"{env}SASL_USERNAME: required with {env}SASL_MECHANISM={mechanism}")
        if settings.kafka_sasl_password is None and settings.kafka_sasl_password_file is None:
            problems.append(
                f"{env}SASL_PASSWORD: required with {env}SASL_MECHANISM={mechanism}"
                f" (or {env}SASL_PASSWORD_FILE)"
            )
        if settings.kafka_sasl_password is not None and settings.kafka_sasl_password_file:
            problems.append(f"{env}SASL_PASSWORD_FILE: set either it or {env}SASL_PASSWORD")
        elif settings.kafka_sasl_password_file is not None:
            try:
                if not read_secret_file(settings.kafka_sasl_password_file):
                    problems.append(f"{env}SASL_PASSWORD_FILE: the file is empty")
            except ValueError as error:
                problems.append(f"{env}SASL_PASSWORD_FILE: {error}")
        if settings.kafka_oauth_provider is not None:
            problems.append(f"{env}OAUTH_PROVIDER: only used with {env}SASL_MECHANISM=OAUTHBEARER")
    else:  # OAUTHBEARER
        if settings.kafka_oauth_provider is None:
            problems.append(f"{env}OAUTH_PROVIDER: required with {env}SASL_MECHANISM=OAUTHBEARER")
        problems.extend(
            f"{env}{name}: not used with {env}SASL_MECHANISM=OAUTHBEARER (the token provider"
            " authenticates)"
            for name in ("SASL_USERNAME", "SASL_PASSWORD", "SASL_PASSWORD_FILE")
            if sasl_fields[name] is not None
        )
    tls_files = {
        "SSL_CAFILE": settings.kafka_ssl_cafile,
        "SSL_CERTFILE": settings.kafka_ssl_certfile,
        "SSL_KEYFILE": settings.kafka_ssl_keyfile,
    }
    if protocol not in TLS_PROTOCOLS:
        problems.extend(
            f"{env}{name}: only used with {env}SECURITY_PROTOCOL=SSL or SASL_SSL (it is {protocol})"
            for name, value in tls_files.items()
            if value is not None
        )
    else:
        if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
            problems.append(f"{env}SSL_KEYFILE: set {env}SSL_CERTFILE too (mutual TLS)")
        problems.extend(
            f"{env}{name}: no such file: {value}"
            for name, value in tls_files.items()
            if value is not None and not value.is_file()
        )
    return problems


PYDANTIC_EXPECTATIONS = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "int_type": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
}


def describe_problem(problem: ErrorDetails) -> str:
    """One pydantic error as `BASKETLIFT_X: expected ..., got '...'`: the variable users set."""
    field = str(problem["loc"][0]) if problem["loc"] else ""
    if not field:  # a check across settings: its message names the variables itself
        return str(problem["msg"]).removeprefix("Value error, ")
    what = PYDANTIC_EXPECTATIONS.get(problem["type"])
    if what is None:
        what = str(problem["msg"]).removeprefix("Value error, ")
        for pydantic_start in ("Input should be ", "String should have "):
            if what.startswith(pydantic_start):
                what = "expected " + what.removeprefix(pydantic_start)
        if what.startswith(("expected greater", "expected less")):
            what = what.replace("expected ", "expected a value ", 1)
    value = problem["input"]
    shown = field not in SECRET_FIELDS and isinstance(value, str | int | float)
    got = f", got {value!r}" if shown else ""
    return f"{ENV_PREFIX}{field.upper()}: {what}{got}"


def describe_settings_error(error: ValidationError) -> str:
    """Every problem of a settings validation error on one line, naming the variables."""
    return "; ".join(describe_problem(problem) for problem in error.errors())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once.

    Raises SettingsError with one line naming the offending environment variable(s).
    """
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error)) from None

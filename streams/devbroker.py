"""A real single-node Apache Kafka (KRaft) assembled from Maven Central jars, for dev, demo and CI.

Layout under `Settings.kafka_home` (default `~/.cache/basketlift/kafka`):
`libs-<hash>/` the jars (one dir per pom.xml content, so a pom change re-resolves),
`data/` the broker's log dirs, `server.properties`, `log4j2.properties`, `broker.log`,
`broker.pid`. Every step is idempotent: jars are resolved once, storage is formatted once,
and `start` on a running broker only re-checks readiness and topics.

A secured broker (`basketlift kafka start --secure`) has, besides its plaintext listener on
the BASKETLIFT_BROKER port (which the readiness check and topic creation use), a SASL_SSL
listener (SCRAM-SHA-512) on the port after the controller's and a mutual-TLS listener (SSL,
client certificates required) on the next: the layout of a managed cluster, on loopback.
Its throwaway CA and certificates (streams.devtls) and the SCRAM user's password live in
`tls/`; the user is created when the storage is formatted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.devtls import DevTlsFiles, write_dev_tls
from streams.kafka.admin import BrokerError, broker_ready
from streams.kafka.security import plaintext_access
from streams.resources import KAFKA_POM
from streams.settings import Settings

POM_PATH = KAFKA_POM
SASL_SSL_PORT_OFFSET = 2
"""A secured broker's SASL_SSL listener is on the BASKETLIFT_BROKER port + this."""
MUTUAL_TLS_PORT_OFFSET = 3
"""Its mutual-TLS (SSL, client certificate required) listener is on the port + this."""
SCRAM_USER = "basketlift"
SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BrokerPaths:
    """Where the local broker keeps its files."""

    home: Path

    @property
    def data(self) -> Path:
        """Broker log dirs (the topic data)."""
        return self.home / "data"

    @property
    def properties(self) -> Path:
        """The generated server.properties."""
        return self.home / "server.properties"

    @property
    def log4j(self) -> Path:
        """The generated Log4j 2 configuration."""
        return self.home / "log4j2.properties"

    @property
    def log(self) -> Path:
        """The broker's stdout/stderr and Log4j output."""
        return self.home / "broker.log"

    @property
    def pid(self) -> Path:
        """The running broker's pid."""
        return self.home / "broker.pid"

    @property
    def tls(self) -> DevTlsFiles:
        """A secured broker's CA, certificates and keys."""
        return DevTlsFiles(self.home / "tls")

    @property
    def scram_password(self) -> Path:
        """The SCRAM user's password (BASKETLIFT_KAFKA_SASL_PASSWORD_FILE)."""
        return self.home / "tls" / "scram-password"

    @property
    def secured(self) -> bool:
        """True once the broker was set up with its secured listeners (it keeps them)."""
        return self.scram_password.is_file()


@dataclass(frozen=True)
class SecuredListeners:
    """The secured listeners of a local broker and the files clients need for them."""

    host: str
    sasl_ssl_port: int
    mutual_tls_port: int
    paths: BrokerPaths

    def sasl_ssl_env(self) -> dict[str, str]:
        """BASKETLIFT_* variables of a client of the SASL_SSL listener."""
        return {
            "BASKETLIFT_BROKER": f"kafka://{self.host}:{self.sasl_ssl_port}",
            "BASKETLIFT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "BASKETLIFT_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "BASKETLIFT_KAFKA_SASL_USERNAME": SCRAM_USER,
            "BASKETLIFT_KAFKA_SASL_PASSWORD_FILE": str(self.paths.scram_password),
            "BASKETLIFT_KAFKA_SSL_CAFILE": str(self.paths.tls.ca),
        }

    def mutual_tls_env(self) -> dict[str, str]:
        """BASKETLIFT_* variables of a client of the mutual-TLS listener."""
        return {
            "BASKETLIFT_BROKER": f"kafka://{self.host}:{self.mutual_tls_port}",
            "BASKETLIFT_KAFKA_SECURITY_PROTOCOL": "SSL",
            "BASKETLIFT_KAFKA_SSL_CAFILE": str(self.paths.tls.ca),
            "BASKETLIFT_KAFKA_SSL_CERTFILE": str(self.paths.tls.client_cert),
            "BASKETLIFT_KAFKA_SSL_KEYFILE": str(self.paths.tls.client_key),
        }


def secured_listeners(settings: Settings) -> SecuredListeners:
    """Where a secured local broker of these settings listens."""
    host, port = host_port(settings)
    return SecuredListeners(
        host,
        port + SASL_SSL_PORT_OFFSET,
        port + MUTUAL_TLS_PORT_OFFSET,
        BrokerPaths(settings.kafka_home),
    )


def host_port(settings: Settings) -> tuple[str, int]:
    """The first bootstrap server as (host, port)."""
    first = settings.bootstrap_servers.split(",")[0]
    host, sep, port = first.rpartition(":")
    if not sep:  # no port given: rpartition puts the whole host in `port`
        host, port = first, ""
    return host or "127.0.0.1", int(port or 9092)


def secured_listener_properties(settings: Settings, paths: BrokerPaths) -> list[str]:
    """The lines that add the SASL_SSL and mutual-TLS listeners (PEM stores, SCRAM)."""
    tls = paths.tls
    return [
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        f"listener.name.sasl_ssl.sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={tls.broker_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls.ca}",
        "listener.name.ssl.ssl.client.auth=required",
    ]


def server_properties(settings: Settings, paths: BrokerPaths, *, secured: bool = False) -> str:
    """Render server.properties for a combined broker+controller on loopback (with the
    SASL_SSL and mutual-TLS listeners when `secured`)."""
    host, port = host_port(settings)
    controller_port = port + 1
    listeners = {"PLAINTEXT": port, "CONTROLLER": controller_port}
    if secured:
        ports = secured_listeners(settings)
        listeners |= {"SASL_SSL": ports.sasl_ssl_port, "SSL": ports.mutual_tls_port}
    protocol_map = ",".join(
        f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in listeners
    )
    return "\n".join(
        [
            "# Generated by `basketlift kafka start`; edits are overwritten.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{controller_port}",
            "listeners=" + ",".join(f"{name}://{host}:{p}" for name, p in listeners.items()),
            "advertised.listeners="
            + ",".join(
                f"{name}://{host}:{p}" for name, p in listeners.items() if name != "CONTROLLER"
            ),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={protocol_map}",
            *(secured_listener_properties(settings, paths) if secured else []),
            f"log.dirs={paths.data}",
            f"num.partitions={settings.partitions}",
            "auto.create.topics.enable=false",
            # A single node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            f"message.max.bytes={MAX_KAFKA_MESSAGE_BYTES}",
            "log.retention.hours=168",
            "log.segment.bytes=268435456",
            "",
        ]
    )


LOG4J2_PROPERTIES = """\
# Generated by `basketlift kafka start`.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def require_tool(name: str, purpose: str) -> str:
    """Return the path of an executable, or raise a BrokerError saying how to get it."""
    found = shutil.which(name)
    if found is None:
        hints = {
            "java": "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)",
            "mvn": "install Maven (Debian: apt-get install maven)",
        }
        raise BrokerError(
            f"`{name}` is not on PATH; it is needed to {purpose}: {hints.get(name, '')}. "
            "Or point BASKETLIFT_BROKER at an existing Kafka and skip `basketlift kafka`."
        )
    return found


def pom_digest(pom: Path = POM_PATH) -> str:
    """A short hash of the pom, naming the jar directory it resolves to."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:12]


def ensure_jars(settings: Settings, pom: Path = POM_PATH, echo=print) -> Path:
    """Resolve Kafka's jars from Maven Central into the cache (once per pom content)."""
    if not pom.exists():
        raise BrokerError(f"missing {pom}: the Basketlift installation is incomplete")
    libs = settings.kafka_home / f"libs-{pom_digest(pom)}"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = require_tool("mvn", "download Kafka's jars from Maven Central")
    require_tool("java", "run Maven and the broker")
    tmp = libs.with_name(libs.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    echo(f"Resolving Apache Kafka jars from Maven Central into {libs} (first run only)...")
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise BrokerError(f"mvn could not resolve Kafka's jars (exit {proc.returncode}):\n{tail}")
    if not any(tmp.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"mvn finished but no kafka_2.13 jar is in {tmp}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(pom_digest(pom) + "\n")
    return libs


def kafka_version(libs: Path) -> str:
    """The Kafka version of the resolved jars, read from the jar's file name."""
    for jar in libs.glob("kafka_2.13-*.jar"):
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
    return "unknown"


def running_pid(paths: BrokerPaths) -> int | None:
    """The pid of our broker if it is alive, else None (and a stale pid file is removed)."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        paths.pid.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    # A zombie or a recycled pid that is not java is not our broker.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        # Empty while the java launcher re-executes itself; only a readable, foreign one counts.
        if cmdline and b"kafka.Kafka" not in cmdline and b"java" not in cmdline:
            paths.pid.unlink(missing_ok=True)
            return None
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        if state == "Z":
            return None
    except OSError:
        pass
    return pid


def random_cluster_id() -> str:
    """A KRaft cluster id: a UUID as unpadded URL-safe base64, like `kafka-storage random-uuid`.

    Never one starting with "-" (one in 64 would): the storage tool would read it as an
    option ("argument --cluster-id/-t: expected one argument"). Kafka's own random ids skip
    those for the same reason.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(java: str, libs: Path, paths: BrokerPaths, *, secured: bool = False) -> None:
    """Format the KRaft storage once (skipped when meta.properties exists); a secured
    broker's SCRAM user is created then, with a new random password."""
    if (paths.data / "meta.properties").exists():
        return
    paths.data.mkdir(parents=True, exist_ok=True)
    scram: list[str] = []
    if secured:
        password = secrets.token_urlsafe(24)
        paths.scram_password.parent.mkdir(parents=True, exist_ok=True)
        paths.scram_password.touch(mode=0o600, exist_ok=True)
        paths.scram_password.write_text(password + "\n")
        scram = ["--add-scram", f"{SCRAM_MECHANISM}=[name={SCRAM_USER},password={password}]"]
    proc = subprocess.run(
        [
            java,
            "-Xmx256m",
            "-cp",
            f"{libs}/*",
            f"-Dlog4j2.configurationFile={paths.log4j}",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            random_cluster_id(),
            "-c",
            str(paths.properties),
            *scram,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        if scram:  # the password is in the command line, which a tool may echo
            output = output.replace(scram[1], "[SCRAM credentials]")
        raise BrokerError(f"formatting Kafka storage failed:\n{output[-3000:]}")


def log_tail(paths: BrokerPaths, lines: int = 40) -> str:
    """The last lines of the broker log, for error messages."""
    try:
        return "\n".join(paths.log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no broker log)"


def start_broker(
    settings: Settings, *, fresh: bool = False, secured: bool = False, echo=print
) -> float:
    """Assemble, format and start the broker if needed; wait until ready; return seconds taken.

    With `secured` (or when its storage was formatted secured) the broker also has the
    SASL_SSL and mutual-TLS listeners (see the module docstring); adding them to a broker
    formatted without them needs `fresh` (the SCRAM user is created at format time).
    """
    started = time.monotonic()
    paths = BrokerPaths(settings.kafka_home)
    paths.home.mkdir(parents=True, exist_ok=True)
    local = plaintext_access(settings.bootstrap_servers)
    if fresh:
        stop_broker(settings, echo=echo)
        shutil.rmtree(paths.data, ignore_errors=True)
        paths.scram_password.unlink(missing_ok=True)
    formatted = (paths.data / "meta.properties").exists()
    if secured and formatted and not paths.secured:
        raise BrokerError(
            f"the broker under {paths.home} was set up without the secured listeners;"
            " `basketlift kafka start --secure --fresh` sets it up again (its data is lost)"
        )
    secured = secured or paths.secured
    pid = running_pid(paths)
    if pid is not None:
        if asyncio.run(broker_ready(local)):
            echo(f"Kafka is already running (pid {pid}) at {settings.bootstrap_servers}.")
            return time.monotonic() - started
    elif asyncio.run(broker_ready(local)):
        echo(
            f"A Kafka broker not started by basketlift answers at {settings.bootstrap_servers}; "
            "using it."
        )
        return time.monotonic() - started
    libs = ensure_jars(settings, echo=echo)
    java = require_tool("java", "run the Kafka broker")
    if secured:
        write_dev_tls(paths.tls.directory, hosts=(host_port(settings)[0], "localhost"))
    paths.properties.write_text(server_properties(settings, paths, secured=secured))
    paths.log4j.write_text(LOG4J2_PROPERTIES)
    if pid is None:
        format_storage(java, libs, paths, secured=secured)
        echo(
            f"Starting Apache Kafka {kafka_version(libs)} (KRaft) "
            f"at {settings.bootstrap_servers}..."
        )
        with paths.log.open("ab") as log:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xms{settings.kafka_heap}",
                    f"-Xmx{settings.kafka_heap}",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={paths.log4j}",
                    "-cp",
                    f"{libs}/*",
                    "kafka.Kafka",
                    str(paths.properties),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        paths.pid.write_text(f"{proc.pid}\n")
        pid = proc.pid
    deadline = time.monotonic() + settings.kafka_start_timeout_seconds
    while time.monotonic() < deadline:
        if running_pid(paths) is None:
            raise BrokerError(
                f"the Kafka broker exited during start-up; log {paths.log}:\n" + log_tail(paths)
            )
        if asyncio.run(broker_ready(local)):
            elapsed = time.monotonic() - started
            echo(f"Kafka is ready (pid {pid}) after {elapsed:.1f}s; log: {paths.log}")
            return elapsed
        time.sleep(0.5)
    raise BrokerError(
        "Kafka did not answer a metadata request within "
        f"{settings.kafka_start_timeout_seconds:.0f}s;"
        f" log {paths.log}:\n" + log_tail(paths)
    )


def stop_broker(settings: Settings, *, echo=print, timeout: float = 30.0) -> bool:
    """Stop our broker (SIGTERM, then SIGKILL after `timeout`); True if one was running."""
    paths = BrokerPaths(settings.kafka_home)
    pid = running_pid(paths)
    if pid is None:
        echo("Kafka (started by basketlift) is not running.")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(paths) is not None:
        time.sleep(0.2)
    if running_pid(paths) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    paths.pid.unlink(missing_ok=True)
    echo(f"Kafka (pid {pid}) stopped.")
    return True

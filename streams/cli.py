"""The `basketlift` command: broker, worker, schemas, produce, replay and the demo."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import shutil
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from streams.kafka.security import (
    KafkaAccess,
    KafkaAccessDenied,
    KafkaUnreachable,
    check_kafka_access,
    kafka_access,
)
from streams.runtime.gcpauses import freeze_survivors, observe_gc_pauses, set_young_threshold
from streams.runtime.memory import limit_malloc_arenas
from streams.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from streams.tools.evaluation.state import LiveState
    from streams.tools.replay.orderlog import Order

F = TypeVar("F", bound=Callable[..., Any])


SETTINGS_ERROR_STATUS = 2
"""Exit status of a command refused for its configuration (as click's usage errors)."""


def fail(message: str, status: int = 1) -> NoReturn:
    """Print a one-line error and exit with `status`."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(status)


class SettingsCheckedGroup(click.Group):
    """Commands that read the settings end with one line and status 2 on a bad variable, and
    on Kafka refusing the client (credentials, certificate, protocol); with one line and
    status 1 when Kafka cannot be reached."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; those errors from any of its steps become `error: ...`."""
        try:
            return super().invoke(ctx)
        except (SettingsError, KafkaAccessDenied) as error:
            fail(str(error), status=SETTINGS_ERROR_STATUS)
        except KafkaUnreachable as error:
            fail(str(error))


def checked_kafka_access(settings: Settings) -> KafkaAccess:
    """How the settings say to reach Kafka, once a connection made that way was accepted.

    Raises KafkaAccessDenied or KafkaUnreachable (one line each, see SettingsCheckedGroup)
    before any client starts: a client with wrong credentials would otherwise retry, and
    report only that it could not connect.
    """
    access = kafka_access(settings)
    asyncio.run(check_kafka_access(access))
    return access


def check_web_port_free(host: str, port: int, variable: str = "BASKETLIFT_WEB") -> None:
    """Raise SettingsError unless the web server could listen on `host:port` now.

    Checked before anything starts: Faust would find out only once it has joined the group
    and recovered its tables, and then crash with a traceback.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise SettingsError(f"{variable}_HOST: cannot resolve {host!r}: {error}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                sock.bind(address)
            except OSError as error:
                raise SettingsError(
                    f"{variable}_PORT: cannot listen on {host}:{port}: {error.strerror}"
                ) from None


@click.group(cls=SettingsCheckedGroup)
@click.version_option(package_name="basketlift", message="basketlift %(version)s")
def main() -> None:
    """Basketlift: real-time offers that raise average order value, on Kafka."""


# --- kafka -------------------------------------------------------------------------------


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) assembled from Maven Central jars."""


@kafka.command("start")
@click.option("--fresh", is_flag=True, help="Wipe the broker's data first (a clean slate).")
@click.option(
    "--secure",
    is_flag=True,
    help="Also listen with SASL_SSL (SCRAM-SHA-512) and mutual TLS, with a throwaway CA"
    " (kept from then on; a broker set up without them needs --fresh).",
)
def kafka_start(fresh: bool, secure: bool) -> None:
    """Start the broker if needed, wait until it answers, create the contract topics."""
    from streams import devbroker
    from streams.kafka import admin as kafka_admin
    from streams.kafka.security import plaintext_access

    settings = get_settings()
    try:
        devbroker.start_broker(settings, fresh=fresh, secured=secure, echo=click.echo)
        created = asyncio.run(
            kafka_admin.ensure_contract_topics(
                plaintext_access(settings.bootstrap_servers), settings
            )
        )
    except devbroker.BrokerError as error:
        fail(str(error))
    paths = devbroker.BrokerPaths(settings.kafka_home)
    if paths.secured:
        listeners = devbroker.secured_listeners(settings)
        for label, env in (
            ("SASL_SSL (SCRAM-SHA-512)", listeners.sasl_ssl_env()),
            ("mutual TLS", listeners.mutual_tls_env()),
        ):
            click.echo(f"{label} clients: " + " ".join(f"{k}={v}" for k, v in env.items()))
    fresh_topics = [t for t, state in created.items() if state == "created"]
    click.echo(
        f"Topics ready ({settings.partitions} partitions each): "
        + ", ".join(f"{t}{' (new)' if t in fresh_topics else ''}" for t in created)
    )


@kafka.command("stop")
def kafka_stop() -> None:
    """Stop the broker started by `basketlift kafka start`."""
    from streams import devbroker

    devbroker.stop_broker(get_settings(), echo=click.echo)


@kafka.command("status")
def kafka_status() -> None:
    """Say whether the broker runs and answers; exit 1 when it does not answer."""
    from streams import devbroker
    from streams.kafka import admin as kafka_admin

    settings = get_settings()
    paths = devbroker.BrokerPaths(settings.kafka_home)
    pid = devbroker.running_pid(paths)
    ready = asyncio.run(kafka_admin.broker_ready(kafka_access(settings)))
    click.echo(f"broker:  {settings.bootstrap_servers}")
    click.echo(f"process: {'pid ' + str(pid) if pid else 'not started by basketlift'}")
    click.echo(f"ready:   {'yes' if ready else 'no'}")
    click.echo(f"data:    {paths.data}")
    click.echo(f"log:     {paths.log}")
    if not ready:
        sys.exit(1)


@kafka.command("topics")
def kafka_topics() -> None:
    """Create any missing contract topic, then list every topic with its partition count."""
    from streams import devbroker
    from streams.kafka import admin as kafka_admin

    settings = get_settings()
    access = checked_kafka_access(settings)
    try:
        asyncio.run(kafka_admin.ensure_contract_topics(access, settings))
        listing = asyncio.run(kafka_admin.list_topic_partitions(access))
    except devbroker.BrokerError as error:
        fail(str(error))
    for topic, partitions in sorted(listing.items()):
        click.echo(f"{topic}\t{partitions}")


# --- schemas -----------------------------------------------------------------------------


@main.group()
def schemas() -> None:
    """The event contract as JSON Schema."""


@schemas.command("export")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Target directory (default: the schemas/json folder of the package).",
)
def schemas_export(directory: Path | None) -> None:
    """Write one JSON Schema file per contract message."""
    from schemas.export import SCHEMA_DIR, export_json_schemas

    for path in export_json_schemas(directory or SCHEMA_DIR):
        click.echo(str(path))


# --- rules -------------------------------------------------------------------------------


@main.group()
def rules() -> None:
    """Offer rules (BASKETLIFT_RULES_FILE)."""


@rules.command("example")
def rules_example() -> None:
    """Print the commented example rules file (every key explained) to start one from."""
    from streams.resources import RULES_EXAMPLE

    click.echo(RULES_EXAMPLE.read_text(encoding="utf-8"), nl=False)


def json_and_plot_options(command: F) -> F:
    """`--json` (one JSON object instead of the table) and `--plot FILE` (a PNG chart)."""
    command = click.option(
        "--plot",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="Also write a PNG chart here.",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")(
        command
    )


def order_log_options(*, required: bool, help: str) -> Callable[[F], F]:
    """`--orders FILE` (repeatable) and `--format`, for the commands that read order logs."""

    def decorate(command: F) -> F:
        command = click.option(
            "--format",
            "fmt",
            type=click.Choice(["auto", "orders", "online-retail"]),
            default="auto",
            show_default=True,
        )(command)
        return click.option(
            "--orders",
            "order_files",
            multiple=True,
            required=required,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=help,
        )(command)

    return decorate


# --- worker ------------------------------------------------------------------------------


@main.command()
def worker() -> None:
    """Run a Basketlift worker (Faust) against BASKETLIFT_BROKER."""
    from streams.kafka.faustcompat import UnsupportedFaust, check_supported
    from streams.ops.access import check_api_exposure

    settings = get_settings()
    try:
        check_supported()
    except UnsupportedFaust as error:
        fail(str(error), status=2)
    check_web_port_free(settings.web_host, settings.web_port)
    check_api_exposure(settings.web_host, settings.api_bearer_token)
    access = checked_kafka_access(settings)

    if settings.acceptance_model_file is not None:
        from streams.offers.ranking import AcceptanceModelError, load_acceptance_model

        try:
            model = load_acceptance_model(settings.acceptance_model_file)
        except AcceptanceModelError as error:
            fail(str(error))
        click.echo(
            f"acceptance model: {model.version} from {settings.acceptance_model_file}", err=True
        )

    if settings.rules_file is not None:
        from streams.rules import RulesError, load_rules

        try:
            rules = load_rules(settings.rules_file)
        except (OSError, RulesError) as error:
            fail(f"BASKETLIFT_RULES_FILE {settings.rules_file}: {error}")
        click.echo(f"rules: {len(rules.rules)} rule(s) from {settings.rules_file}", err=True)

    if settings.event_loop == "uvloop":
        import uvloop

        # Before Faust creates its loop; faster than asyncio (bench/ingest_throughput.py).
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    import faust

    from streams.ops import metrics
    from streams.topology import app

    if settings.create_topics:
        create_worker_topics(settings, access, app)
    else:
        verify_topics(settings, access, app)
    if settings.processing_guarantee == "exactly_once" and settings.store.startswith("rocksdb"):
        # Faust writes RocksDB at once but only commits the changelog with the transaction:
        # after a crash (or a failed final commit) the local store holds writes of aborted
        # transactions, which recovery would not undo. Rebuild from the changelogs instead.
        shutil.rmtree(app.conf.tabledir, ignore_errors=True)
    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's scans, which would otherwise walk it again and again under load.
    freeze_survivors()
    set_young_threshold(settings.gc_young_threshold)
    metrics.show_gc_thresholds(gc.get_threshold())
    observe_gc_pauses(metrics.observe_gc_pause)
    limit_malloc_arenas()
    worker = faust.Worker(app, loglevel=settings.log_level)
    # Faust's start-up spinner sets the root logger to DEBUG so that every record spins it:
    # every library's debug records would then be built (and dropped), a measurable share
    # of a busy worker's CPU. Without it, the level is the configured one.
    worker.spinner = None
    worker.execute_from_commandline()


# --- gateway -----------------------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.pass_context
def gateway(ctx: click.Context) -> None:
    """Run the HTTP gateway for storefronts and browsers (BASKETLIFT_GATEWAY_*): events in,
    decisions out by long-poll and Server-Sent Events."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.gateway.auth import gateway_auth
    from streams.gateway.server import run_gateway
    from streams.ops.access import binds_loopback_only

    settings = get_settings()
    auth = gateway_auth(settings)
    if auth.is_open and not binds_loopback_only(settings.gateway_host):
        raise SettingsError(
            f"BASKETLIFT_GATEWAY_HOST {settings.gateway_host!r} is not a loopback address: set"
            " BASKETLIFT_GATEWAY_SECRET_KEYS (and/or BASKETLIFT_GATEWAY_PUBLIC_KEYS), or bind"
            " 127.0.0.1"
        )
    check_web_port_free(settings.gateway_host, settings.gateway_port, "BASKETLIFT_GATEWAY")
    access = checked_kafka_access(settings)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s",
    )
    click.echo(
        f"gateway: http://{settings.gateway_host}:{settings.gateway_port}"
        f" ({'open on loopback, no keys' if auth.is_open else 'keys required'})",
        err=True,
    )
    run_gateway(settings, access, auth)


@gateway.command("token")
@click.argument("shopper_id")
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds the token is valid (default: BASKETLIFT_GATEWAY_TOKEN_TTL_SECONDS).",
)
def gateway_token(shopper_id: str, ttl: int | None) -> None:
    """Print a shopper token for SHOPPER_ID (X-Basketlift-Shopper-Token), signed with
    BASKETLIFT_GATEWAY_SIGNING_KEY."""
    import time

    from streams.gateway.tokens import InvalidToken, mint_token

    settings = get_settings()
    if settings.gateway_signing_key is None:
        raise SettingsError("BASKETLIFT_GATEWAY_SIGNING_KEY: required to sign shopper tokens")
    try:
        token = mint_token(
            settings.gateway_signing_key.get_secret_value(),
            shopper_id,
            now=time.time(),
            ttl_seconds=ttl if ttl is not None else settings.gateway_token_ttl_seconds,
        )
    except InvalidToken as error:
        fail(f"SHOPPER_ID: {error}", status=SETTINGS_ERROR_STATUS)
    click.echo(token)


def create_worker_topics(settings: Settings, access: KafkaAccess, app: Any) -> None:
    """Create every missing topic the worker needs, contract and internal, before Faust
    starts, so that its first assignment sees them all
    (``streams.kafka.topics.ensure_worker_topics``); exit with one line if a topic has
    another partition count or the broker refuses."""
    from streams.kafka import admin as kafka_admin
    from streams.kafka.topics import ensure_worker_topics, worker_topics

    try:
        asyncio.run(ensure_worker_topics(access, settings, worker_topics(settings, app)))
    except kafka_admin.BrokerError as error:
        fail(str(error))
    except Exception as error:  # the broker refuses a request
        fail(f"cannot create the topics on Kafka at {settings.bootstrap_servers}: {error!r}")


def verify_topics(settings: Settings, access: KafkaAccess, app: Any) -> None:
    """Exit with one line listing what is wrong unless every topic the worker needs exists
    as it needs it (BASKETLIFT_CREATE_TOPICS=false: the worker creates none)."""
    from streams.kafka.topics import topic_problems, worker_topics

    try:
        problems = asyncio.run(topic_problems(access, worker_topics(settings, app)))
    except Exception as error:  # the broker refuses a request (describing topics, configs)
        fail(f"cannot check the topics on Kafka at {settings.bootstrap_servers}: {error!r}")
    if problems:
        fail(
            "BASKETLIFT_CREATE_TOPICS=false and the topics the worker needs are not as it needs"
            f" them: {'; '.join(problems)} (`basketlift topics plan` prints how to create them)",
            status=SETTINGS_ERROR_STATUS,
        )


# --- topics ------------------------------------------------------------------------------


@main.group()
def topics() -> None:
    """The topics a worker needs, for clusters where the application may not create them."""


@topics.command("plan")
def topics_plan() -> None:
    """Print every topic a worker needs (contract and internal) with partitions, cleanup
    policy and retention, as a table and as kafka-topics.sh commands (nothing is created)."""
    from rich.console import Console
    from rich.table import Table

    from streams.kafka.topics import kafka_topics_commands, plan_rows, worker_topics
    from streams.topology import app

    settings = get_settings()
    specs = worker_topics(settings, app)
    table = Table("topic", "role", "partitions", "cleanup.policy", "retention.ms")
    for row in plan_rows(specs):
        table.add_row(*row)
    Console(width=200).print(table)
    click.echo(
        f"# replication factor {settings.replication_factor} (BASKETLIFT_REPLICATION_FACTOR);"
        " on a cluster that requires authentication add --command-config <client.properties>"
    )
    for command in kafka_topics_commands(
        specs, settings.bootstrap_servers, settings.replication_factor
    ):
        click.echo(command)


# --- produce and replay ------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.File("rb"))
@click.option("--topic", help="Logical topic (carts, orders, ...) for a file of bare events.")
@click.option(
    "--no-validate",
    is_flag=True,
    help="Send lines as they are, even invalid ones (to exercise the dead-letter path).",
)
def produce(file: click.utils.LazyFile, topic: str | None, no_validate: bool) -> None:
    """Publish JSON-lines events to their contract topics (`-` reads standard input)."""
    from streams.tools.replay.produce import produce_lines

    settings = get_settings()
    checked_kafka_access(settings)
    try:
        report = asyncio.run(
            produce_lines(settings, file, logical_topic=topic, validate=not no_validate)
        )
    except KafkaUnreachable as error:
        fail(str(error))
    for line_no, message in report.problems:
        click.secho(f"line {line_no}: {message}", fg="yellow", err=True)
    click.echo(
        f"sent {report.sent} event(s): "
        + ", ".join(f"{t}={n}" for t, n in sorted(report.by_topic.items()))
        + (f"; {len(report.problems)} line(s) not sent" if report.problems else "")
    )
    if report.problems and not report.sent:
        sys.exit(1)


@main.command()
@order_log_options(
    required=False, help="Order log(s) to replay (default: the shipped real sample)."
)
@click.option("--limit-orders", type=int, default=None, help="Replay only the first N orders.")
@click.option("--no-carts", is_flag=True, help="Send orders only, no derived cart events.")
@click.option(
    "--cart-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Only the last N cart events of each order (default: one per added line).",
)
@click.option("--rate", type=float, default=None, help="Events per second (default: flat out).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until the worker group (BASKETLIFT_APP_ID) committed past every event sent.",
)
@click.option("--wait-timeout", type=float, default=300.0, show_default=True)
def replay(
    order_files: tuple[Path, ...],
    fmt: str,
    limit_orders: int | None,
    no_carts: bool,
    cart_steps: int | None,
    rate: float | None,
    wait: bool,
    wait_timeout: float,
) -> None:
    """Replay real orders (as catalog, derived cart and order events) into the inbound topics."""
    from streams.tools.replay.run import run_replay

    settings = get_settings()
    checked_kafka_access(settings)
    try:
        ok = run_replay(
            settings,
            order_files=list(order_files),
            fmt=fmt,
            limit_orders=limit_orders,
            carts=not no_carts,
            cart_steps=cart_steps,
            rate=rate,
            wait=wait,
            wait_timeout=wait_timeout,
        )
    except KafkaUnreachable as error:
        fail(str(error))
    if not ok:
        sys.exit(1)


@main.command()
@click.option(
    "--fresh/--no-fresh",
    default=True,
    show_default=True,
    help="Start from an empty broker and a new app id.",
)
@click.option("--limit-orders", type=int, default=None)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the worker and the gateway (the demo storefront) running afterwards.",
)
def demo(fresh: bool, limit_orders: int | None, keep_running: bool) -> None:
    """The main job end to end: local broker, a worker, a gateway serving the demo storefront
    at /demo/, a replay of real orders, a summary."""
    from streams.tools.replay.demo import run_demo

    if not run_demo(fresh=fresh, limit_orders=limit_orders, keep_running=keep_running):
        sys.exit(1)


# --- evaluate ----------------------------------------------------------------------------


@main.command()
@order_log_options(required=True, help="Order log file(s), read together (e.g. both UCI files).")
@click.option(
    "--split-at",
    required=True,
    help="Train on orders before this date (YYYY-MM-DD, midnight UTC) or ISO-8601 time.",
)
@click.option("--k", type=click.IntRange(min=1), default=3, show_default=True, help="Offers.")
@click.option("--seed", type=int, default=0, show_default=True, help="Hidden product, cart.")
@json_and_plot_options
@click.option(
    "--limit-orders",
    type=click.IntRange(min=0),
    default=None,
    help="Evaluate only the first N orders after the split.",
)
@click.option(
    "--refresh-days",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Fold the test orders into the state every N days (0: frozen at the split).",
)
@click.option(
    "--model",
    "model_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="basketlift_fitted ranks with this model file (default: fit one on the orders "
    "before the split, as `basketlift train` would).",
)
def evaluate(
    order_files: tuple[Path, ...],
    fmt: str,
    split_at: str,
    k: int,
    seed: int,
    as_json: bool,
    plot: Path | None,
    limit_orders: int | None,
    refresh_days: float,
    model_file: Path | None,
) -> None:
    """Offline evaluation: popularity, copurchase_count, copurchase_plain, basketlift and
    basketlift_fitted.

    Orders before --split-at are folded through the stream's own steps (co-purchase graph,
    profiles) with the worker's BASKETLIFT_* domain settings; in each later order with 2+
    products one product is hidden (seeded) and each ranker offers k products for the rest
    of the order. basketlift is the hand-built acceptance model; basketlift_fitted one
    fitted on the orders before the split only (or --model). Ratios are to copurchase_plain
    (same-order counts, no decay or pruning); ECE is the expected calibration error of
    p_accept; see streams/tools/evaluation.
    """
    import json
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from streams.config import domain_configs
    from streams.offers.ranking import AcceptanceModelError, load_acceptance_model
    from streams.tools.evaluation.report import report_table, write_plot
    from streams.tools.evaluation.runner import parse_split_at, run_evaluation
    from streams.tools.replay.orderlog import OrderLogError, read_order_log

    err = Console(stderr=True)
    try:
        split_ms = parse_split_at(split_at)
    except ValueError as error:
        fail(str(error))
    acceptance_model = None
    if model_file is not None:
        try:
            acceptance_model = load_acceptance_model(model_file)
        except AcceptanceModelError as error:
            fail(str(error))
    started = time.perf_counter()
    try:
        with err.status("reading the order log"):
            log = read_order_log(list(order_files), fmt)  # type: ignore[arg-type]
    except OrderLogError as error:
        fail(str(error))
    read_seconds = time.perf_counter() - started
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bars:
        tasks: dict[str, object] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                label = {
                    "fold": "folding training orders",
                    "validate": "choosing the price exponent",
                }.get(step, "ranking test cases")
                tasks[step] = bars.add_task(label, total=total)
            bars.update(tasks[step], completed=done)  # type: ignore[arg-type]

        report = run_evaluation(
            log,
            split_ms,
            k=k,
            seed=seed,
            limit_orders=limit_orders,
            refresh_days=refresh_days,
            configs=domain_configs(get_settings()),
            progress=progress,
            acceptance_model=acceptance_model,
        )
    report.timings["read"] = read_seconds
    report.sources = [str(path) for path in order_files]
    if report.fit_error is not None:
        err.print(f"[yellow]basketlift_fitted left out: {report.fit_error}[/yellow]")
    if not report.test_orders or not next(iter(report.results.values())).cases:
        err.print("[yellow]no test orders with 2 or more products after the split[/yellow]")
    if plot is not None:
        write_plot(report, plot)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    console = Console()
    console.print(report_table(report))
    timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in report.timings.items())
    console.print(f"timings: {timings}" + (f"; plot: {plot}" if plot is not None else ""))


# --- train -------------------------------------------------------------------------------


@main.command()
@order_log_options(required=True, help="Order log file(s), read together (e.g. both UCI files).")
@click.option(
    "--until",
    required=True,
    help="Fit on orders before this date (YYYY-MM-DD, midnight UTC) or ISO-8601 time.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Model file to write (JSON; the worker reads BASKETLIFT_ACCEPTANCE_MODEL_FILE).",
)
@click.option(
    "--window-days",
    type=click.FloatRange(min=1),
    default=90.0,
    show_default=True,
    help="Days before --until whose orders are the fit and validation cases.",
)
def train(
    order_files: tuple[Path, ...], fmt: str, until: str, out: Path, window_days: float
) -> None:
    """Fit the ranker's acceptance model on the orders before --until and write it.

    The orders before the last --window-days are folded with the worker's BASKETLIFT_*
    domain settings; the window's orders, each with one product hidden as in `basketlift
    evaluate`, are the examples (the earlier two thirds) and the validation cases that
    choose the ranking's price exponent (the rest); see streams/tools/evaluation/training.py.
    """
    from dataclasses import replace

    from streams.config import domain_configs
    from streams.tools.evaluation.runner import parse_split_at
    from streams.tools.evaluation.state import fold_orders
    from streams.tools.evaluation.training import TrainingOptions, train_acceptance
    from streams.tools.replay.orderlog import OrderLogError, read_order_log

    try:
        until_ms = parse_split_at(until)
    except ValueError as error:
        fail(str(error))
    try:
        log = read_order_log(list(order_files), fmt)  # type: ignore[arg-type]
    except OrderLogError as error:
        fail(str(error))
    configs = domain_configs(get_settings())
    config = replace(configs.offers.decision.ranker, acceptance=None)

    def fold(orders: Sequence[Order], into: LiveState | None) -> LiveState:
        return fold_orders(
            orders,
            into,
            configs.copurchase,
            configs.profile,
            batch_orders=configs.batch_max,
            consent_default_granted=configs.consent_default_granted,
        )

    try:
        outcome = train_acceptance(
            log.orders,
            until_ms,
            fold,
            config,
            configs.copurchase.half_life_days,
            configs.copurchase.neighbours_k,
            options=TrainingOptions(window_days=window_days),
        )
    except ValueError as error:
        fail(f"cannot fit the acceptance model: {error}")
    try:
        outcome.model.write(out)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    summary = outcome.summary
    chosen = summary["validation_by_price_exponent"][f"{outcome.model.price_exponent:g}"]
    final = summary["final_fit"]
    click.echo(
        f"wrote {out}: {final['examples']:,} examples ({final['positives']:,} accepted) "
        f"from {final['cases']:,} orders, price exponent "
        f"{outcome.model.price_exponent:g} (validation on {summary['validation_cases']:,} "
        f"orders: hit@{config.top_n} {chosen['hit_at_k']:.4f}, revenue/impression "
        f"{chosen['revenue_per_impression']:.4f}, calibrated ECE "
        f"{summary['calibration']['validation_ece']:.3f}; copurchase_plain "
        f"{summary['validation_copurchase_plain']['hit_at_k']:.4f} / "
        f"{summary['validation_copurchase_plain']['revenue_per_impression']:.4f})"
    )


# --- the lift report ---------------------------------------------------------------------


@main.command()
@click.option("--since", default=None, help="Only events at or after this date/time (UTC).")
@click.option("--until", default=None, help="Only events before this date/time (UTC).")
@click.option(
    "--method",
    type=click.Choice(["bootstrap", "welch"]),
    default="bootstrap",
    show_default=True,
    help="Confidence interval of the lift.",
)
@json_and_plot_options
def report(
    since: str | None, until: str | None, method: str, as_json: bool, plot: Path | None
) -> None:
    """Lift report: AOV per cohort with a CI, acceptance per placement, nudge conversion.

    Reads the orders and offers topics (BASKETLIFT_TOPIC_ORDERS / _OFFERS) in full.
    """
    from schemas import InvalidEvent, OfferDecision, OrderEvent, decode_event
    from streams.config import attribution_config
    from streams.experiment.report import (
        ReportConfig,
        build_report,
        report_lines,
        write_report_plot,
    )
    from streams.kafka.reader import read_topic_values
    from streams.tools.evaluation.runner import parse_split_at as parse_time

    settings = get_settings()
    try:
        start = parse_time(since) if since else None
        end = parse_time(until) if until else None
    except ValueError as error:
        fail(str(error))

    access = checked_kafka_access(settings)

    async def read_both() -> tuple[list[bytes], list[bytes]]:
        offers = await read_topic_values(access, settings.topic_offers)
        orders = await read_topic_values(access, settings.topic_orders)
        return offers, orders

    try:
        raw_offers, raw_orders = asyncio.run(read_both())
    except (LookupError, TimeoutError) as error:
        fail(str(error))
    except Exception as error:
        fail(f"cannot read from Kafka at {settings.bootstrap_servers}: {error!r}")

    def in_range(ts: int) -> bool:
        return (start is None or ts >= start) and (end is None or ts < end)

    skipped = 0
    decisions: list[OfferDecision] = []
    for value in raw_offers:
        try:
            decision = decode_event(OfferDecision, value)
        except InvalidEvent:
            skipped += 1
            continue
        if in_range(decision.ts):
            decisions.append(decision)
    orders: list[OrderEvent] = []
    for value in raw_orders:
        try:
            order = decode_event(OrderEvent, value)
        except InvalidEvent:
            skipped += 1  # the workers dead-letter these
            continue
        if in_range(order.ts):
            orders.append(order)
    config = ReportConfig(
        attribution=attribution_config(settings),
        method="welch" if method == "welch" else "bootstrap",
    )
    result = build_report(decisions, orders, config)
    result["invalid_records_skipped"] = skipped
    if plot is not None:
        write_report_plot(result, str(plot))
    if as_json:
        click.echo(json.dumps(result))
        return
    for line in report_lines(result):
        click.echo(line)
    if skipped:
        click.echo(f"({skipped} invalid record(s) skipped)")


if __name__ == "__main__":
    main()

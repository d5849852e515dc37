"""The `basketlift` command: broker, worker, schemas, produce, replay and the demo."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import click

from streams.settings import get_settings


def fail(message: str) -> None:
    """Print an error and exit non-zero."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Basketlift: real-time offers that raise average order value, on Kafka."""


# --- kafka -------------------------------------------------------------------------------


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) assembled from Maven Central jars."""


@kafka.command("start")
@click.option("--fresh", is_flag=True, help="Wipe the broker's data first (a clean slate).")
def kafka_start(fresh: bool) -> None:
    """Start the broker if needed, wait until it answers, create the contract topics."""
    from streams import localkafka

    settings = get_settings()
    try:
        localkafka.start_broker(settings, fresh=fresh, echo=click.echo)
        created = asyncio.run(
            localkafka.ensure_topics(
                settings.bootstrap_servers,
                localkafka.contract_topics(settings),
                settings.partitions,
            )
        )
    except localkafka.BrokerError as error:
        fail(str(error))
    fresh_topics = [t for t, state in created.items() if state == "created"]
    click.echo(
        f"Topics ready ({settings.partitions} partitions each): "
        + ", ".join(f"{t}{' (new)' if t in fresh_topics else ''}" for t in created)
    )


@kafka.command("stop")
def kafka_stop() -> None:
    """Stop the broker started by `basketlift kafka start`."""
    from streams import localkafka

    localkafka.stop_broker(get_settings(), echo=click.echo)


@kafka.command("status")
def kafka_status() -> None:
    """Say whether the broker runs and answers; exit 1 when it does not answer."""
    from streams import localkafka

    settings = get_settings()
    paths = localkafka.BrokerPaths(settings.kafka_home)
    pid = localkafka.running_pid(paths)
    ready = asyncio.run(localkafka.broker_ready(settings.bootstrap_servers))
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
    from streams import localkafka

    settings = get_settings()
    try:
        asyncio.run(
            localkafka.ensure_topics(
                settings.bootstrap_servers,
                localkafka.contract_topics(settings),
                settings.partitions,
            )
        )
        listing = asyncio.run(localkafka.list_topic_partitions(settings.bootstrap_servers))
    except localkafka.BrokerError as error:
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
    import schemas as schemas_pkg
    from schemas.export import export_json_schemas

    target = directory or Path(schemas_pkg.__file__).parent / "json"
    for path in export_json_schemas(target):
        click.echo(str(path))


# --- worker ------------------------------------------------------------------------------


@main.command()
def worker() -> None:
    """Run a Basketlift worker (Faust) against BASKETLIFT_BROKER."""
    from streams import localkafka

    settings = get_settings()
    try:
        asyncio.run(
            localkafka.ensure_topics(
                settings.bootstrap_servers,
                localkafka.contract_topics(settings),
                settings.partitions,
            )
        )
    except localkafka.BrokerError as error:
        fail(str(error))
    except Exception as error:  # the broker is unreachable or refuses
        fail(f"cannot reach Kafka at {settings.bootstrap_servers}: {error!r}")

    import faust

    from streams.topology import app

    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's scans (about +30% events/s in bench/ingest_throughput.py).
    gc.freeze()
    faust.Worker(app, loglevel=settings.log_level).execute_from_commandline()


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
    from streams.replay.produce import produce_lines

    settings = get_settings()
    report = asyncio.run(
        produce_lines(settings, file, logical_topic=topic, validate=not no_validate)
    )
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
@click.option(
    "--orders",
    "order_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Order log(s) to replay (default: the shipped real sample).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "orders", "online-retail"]),
    default="auto",
    show_default=True,
)
@click.option("--limit-orders", type=int, default=None, help="Replay only the first N orders.")
@click.option("--no-carts", is_flag=True, help="Send orders only, no derived cart events.")
@click.option("--rate", type=float, default=None, help="Events per second (default: flat out).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until the worker's /metrics shows every event consumed.",
)
@click.option("--wait-timeout", type=float, default=300.0, show_default=True)
def replay(
    order_files: tuple[Path, ...],
    fmt: str,
    limit_orders: int | None,
    no_carts: bool,
    rate: float | None,
    wait: bool,
    wait_timeout: float,
) -> None:
    """Replay real orders (as catalog, derived cart and order events) into the inbound topics."""
    from streams.replay.run import run_replay

    ok = run_replay(
        get_settings(),
        order_files=list(order_files),
        fmt=fmt,
        limit_orders=limit_orders,
        carts=not no_carts,
        rate=rate,
        wait=wait,
        wait_timeout=wait_timeout,
    )
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
@click.option("--keep-running", is_flag=True, help="Leave the worker running afterwards.")
def demo(fresh: bool, limit_orders: int | None, keep_running: bool) -> None:
    """The main job end to end: local broker, a worker, a replay of real orders, a summary."""
    from streams.replay.demo import run_demo

    if not run_demo(fresh=fresh, limit_orders=limit_orders, keep_running=keep_running):
        sys.exit(1)


if __name__ == "__main__":
    main()

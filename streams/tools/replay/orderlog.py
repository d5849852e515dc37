"""Order logs: real order lines, cleaned and grouped by order, for replay and evaluation.

Two input formats are read; both become an ``OrderLog``: the orders sorted by
``(ts_ms, order_id)``, each with its lines in basket order, plus how many input rows
cleaning dropped and why (``OrderLog.dropped``, reason -> rows). Every input row
either becomes an order line or is counted under exactly one reason, so
``rows_read == line_count + sum(dropped.values())``. Cleaning is vectorised (pyarrow,
numpy); Python objects are only built at the end. Reading both shared UCI files
(1,067,370 rows) takes 5-8 s on a 2-vCPU machine: about 1.5 s of pyarrow/numpy work,
the rest is creating the ~1M frozen ``OrderLine`` objects.

``orders`` (the project's own format, written by ``write_orders_file``)
    Parquet or CSV (chosen by the file extension: ``.parquet``/``.pq``, ``.csv``/``.csv.gz``)
    with the columns ``order_id, shopper_id (nullable), ts, product_id, quantity,
    unit_price`` and optionally ``category, title``; other columns are ignored.
    ``ts`` is epoch milliseconds (integer) or an ISO-8601 timestamp (string or a
    timestamp type); a timestamp without a zone is UTC. Ids may be strings or integers.
    A missing column, or a value that cannot be parsed as its column's type, raises
    ``OrderLogError`` naming the file, column and 1-based data row. Rows that parse but
    are unusable are dropped and counted: ``missing_order_id``, ``missing_product_id``,
    ``missing_ts``, ``missing_quantity``, ``missing_unit_price`` (null, empty or NaN),
    ``non_positive_quantity``, ``non_positive_price``; repeated lines of a product in
    one order are merged as below (``merged_repeat_line``). ``category`` and ``title``
    are taken as they are (null when absent).

``online-retail`` (the UCI files as published)
    "Online Retail II" (UCI id 502: ``Invoice, Price, Customer ID``) and "Online Retail"
    (UCI id 352: ``InvoiceNo, UnitPrice, CustomerID``), both also with ``StockCode,
    Description, Quantity, InvoiceDate, Country``; Parquet or CSV. Cleaning, each row
    counted under the first reason that applies, in this order:

    - ``overlap``: the invoice id also appears in a newer file (the file whose latest
      invoice is later); the newer file's copy is kept. On the shared data this is
      exactly the 2010-12-01..2010-12-09 part of the 2009-2010 file (1,088 invoices).
    - ``missing_field``: no invoice id, stock code, date, quantity or price.
    - ``cancellation``: invoice id starting with ``C``.
    - ``adjustment``: invoice id starting with ``A`` (bad-debt adjustments).
    - ``non_product``: the stock code is not a product. Product codes, after trimming
      and upper-casing, are five digits with an optional suffix of up to two letters
      (``85123A``, ``15056BL``), or the dotcom shop's own ``DCGS...`` codes, or ``SP`` plus
      four digits (the only such code is a chalkboard). Everything else is a service
      or bookkeeping line: ``POST, DOT, C2, M, D, S, B, CRUK, BANK CHARGES, AMAZONFEE,
      ADJUST, TEST001, PADS, gift_0001_*`` (gift vouchers) and so on. Three codes of
      product shape are services too (``SERVICE_STOCK_CODES``: Next Day Carriage,
      PACKING CHARGE, High Resolution Image), and so is any line whose description
      says "gift voucher".
    - ``non_positive_quantity``, ``non_positive_price``.
    - ``duplicate``: an exact copy (all columns equal) of an earlier surviving row.
    - ``merged_repeat_line``: a further row of the same product in the same invoice;
      its quantity is added to the first row's line, whose unit price becomes the
      quantity-weighted mean price (rounded to 6 decimals).

    Fields: ``order_id`` is the invoice id; ``shopper_id`` the customer id as a string
    without decimals (``13085.0`` -> ``"13085"``), ``None`` when missing (guest checkout);
    ``product_id`` the stock code trimmed and upper-cased (``85123a`` and ``85123A`` are
    one product); ``title`` the description stripped; ``category`` is derived from the
    title with ``category_from_title`` (the data has no categories).
    ``InvoiceDate`` has no zone; it is read as UK local time (Europe/London, which the
    shop's opening hours confirm: trade starts at 08:00 in summer and winter alike) and
    converted to UTC epoch milliseconds; times that are ambiguous or do not exist at a
    daylight-saving change resolve to the earliest instant.

In both formats an order's ``ts_ms`` is its earliest row's, its shopper the first
non-null one, and every line carries the order's ``shopper_id`` and ``ts_ms``. Lines
keep the order in which each product first appears in the input.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from streams.tools.replay.categories import category_from_title
from streams.units import DAY_MS, SECOND_MS

__all__ = [
    "ORDERS_OPTIONAL_COLUMNS",
    "ORDERS_REQUIRED_COLUMNS",
    "ORDERS_SCHEMA",
    "SERVICE_STOCK_CODES",
    "UK_TIMEZONE",
    "Order",
    "OrderLine",
    "OrderLog",
    "OrderLogError",
    "OrderLogFormat",
    "category_from_title",
    "detect_order_log_format",
    "read_online_retail",
    "read_order_log",
    "read_orders_file",
    "write_orders_file",
]

OrderLogFormat: TypeAlias = Literal["orders", "online-retail", "auto"]
PathLike: TypeAlias = str | os.PathLike[str]

UK_TIMEZONE = "Europe/London"
"""Zone of the naive ``InvoiceDate`` values of the online-retail files."""

ORDERS_REQUIRED_COLUMNS: tuple[str, ...] = (
    "order_id",
    "shopper_id",
    "ts",
    "product_id",
    "quantity",
    "unit_price",
)
ORDERS_OPTIONAL_COLUMNS: tuple[str, ...] = ("category", "title")

ORDERS_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("shopper_id", pa.string()),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price", pa.float64(), nullable=False),
        pa.field("category", pa.string()),
        pa.field("title", pa.string()),
    ],
    metadata={"basketlift.format": "orders-v1"},
)
"""Schema ``write_orders_file`` writes (``ts`` as a UTC timestamp in milliseconds)."""

SERVICE_STOCK_CODES: frozenset[str] = frozenset({"23444", "23574", "23702"})
"""Product-shaped stock codes that are services: Next Day Carriage, PACKING CHARGE,
High Resolution Image."""

_PRODUCT_CODE_PATTERN = r"^(?:\d{5}[A-Z]{0,2}|DCGS[0-9A-Z]+|SP\d{4})$"
_SERVICE_TITLE_PATTERN = r"(?i)gift\s+voucher"

# Online-retail column -> its names in the two UCI files (first found wins).
_ONLINE_RETAIL_COLUMNS: dict[str, tuple[str, ...]] = {
    "invoice": ("Invoice", "InvoiceNo"),
    "stock_code": ("StockCode",),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "price": ("Price", "UnitPrice"),
    "customer_id": ("Customer ID", "CustomerID"),
    "country": ("Country",),
}
_ONLINE_RETAIL_OPTIONAL_COLUMNS = frozenset({"description", "country"})
_UCI_ROW_COLUMNS = ("invoice", "stock_code", "description", "quantity", "ts_ms", "price",
                    "customer_id", "country")  # fmt: skip

_PRICE_DECIMALS = 6
_ZONE_SUFFIX_PATTERN = r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"


class OrderLogError(ValueError):
    """An order-log file that cannot be read: unknown type, missing column, bad value."""


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product line of an order, after cleaning and merging repeated lines."""

    order_id: str
    shopper_id: str | None
    ts_ms: int
    product_id: str
    quantity: int
    unit_price: float
    category: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class Order:
    """One order: its lines in basket order, all sharing the order's shopper and time."""

    order_id: str
    shopper_id: str | None
    ts_ms: int
    lines: tuple[OrderLine, ...]

    @property
    def total(self) -> float:
        """Return the order value: the sum of quantity times unit price over its lines."""
        return sum(line.quantity * line.unit_price for line in self.lines)


@dataclass(frozen=True)
class OrderLog:
    """Orders sorted by (ts_ms, order_id), with the number of input rows dropped per reason."""

    orders: tuple[Order, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)
    rows_read: int = 0

    @property
    def order_count(self) -> int:
        """Return the number of orders."""
        return len(self.orders)

    @property
    def line_count(self) -> int:
        """Return the number of order lines over all orders."""
        return sum(len(order.lines) for order in self.orders)

    @property
    def shopper_count(self) -> int:
        """Return the number of distinct known shoppers (guest orders not counted)."""
        return len({order.shopper_id for order in self.orders if order.shopper_id is not None})

    @property
    def dropped_rows(self) -> int:
        """Return the number of input rows that did not become a line of their own."""
        return sum(self.dropped.values())

    def lines(self) -> Iterator[OrderLine]:
        """Yield every order line, order by order."""
        for order in self.orders:
            yield from order.lines

    def head(self, order_count: int) -> OrderLog:
        """Return a log with only the first ``order_count`` orders (same drop counts)."""
        if order_count < 0:
            raise ValueError(f"order_count must be >= 0, got {order_count}")
        return replace(self, orders=self.orders[:order_count])

    def to_table(self) -> pa.Table:
        """Return the log as a pyarrow table with ``ORDERS_SCHEMA``."""
        lines = list(self.lines())
        columns = {
            "order_id": [line.order_id for line in lines],
            "shopper_id": [line.shopper_id for line in lines],
            "ts": [line.ts_ms for line in lines],
            "product_id": [line.product_id for line in lines],
            "quantity": [line.quantity for line in lines],
            "unit_price": [line.unit_price for line in lines],
            "category": [line.category for line in lines],
            "title": [line.title for line in lines],
        }
        arrays = [
            pa.array(columns[f.name], pa.int64()).cast(f.type)
            if f.name == "ts"
            else pa.array(columns[f.name], f.type)
            for f in ORDERS_SCHEMA
        ]
        return pa.Table.from_arrays(arrays, schema=ORDERS_SCHEMA)


# --------------------------------------------------------------------------- public API


def read_online_retail(paths: Sequence[PathLike]) -> OrderLog:
    """Read and clean UCI online-retail files (either column variant) into an OrderLog."""
    file_paths = [Path(p) for p in paths]
    if not file_paths:
        raise OrderLogError("read_online_retail: no files given")
    tables = [_read_online_retail_file(p) for p in file_paths]
    rows_read = sum(t.num_rows for t in tables)
    dropped: dict[str, int] = {}
    table = _drop_overlapping_invoices(tables, dropped)

    cleaner = _RowCleaner(table.num_rows, dropped)
    missing = pc.is_null(table["invoice"])
    for name in ("stock_code", "ts_ms", "quantity", "price"):
        missing = pc.or_(missing, pc.is_null(table[name]))
    cleaner.drop("missing_field", missing)
    invoice = pc.utf8_upper(table["invoice"])
    cleaner.drop("cancellation", pc.starts_with(invoice, "C"))
    cleaner.drop("adjustment", pc.starts_with(invoice, "A"))
    product_id = pc.utf8_upper(pc.utf8_trim_whitespace(table["stock_code"]))
    service_code = pc.is_in(product_id, value_set=pa.array(sorted(SERVICE_STOCK_CODES)))
    service_title = pc.match_substring_regex(table["description"], _SERVICE_TITLE_PATTERN)
    is_product = pc.and_(
        pc.match_substring_regex(product_id, _PRODUCT_CODE_PATTERN),
        pc.invert(pc.or_(service_code, pc.fill_null(service_title, False))),
    )
    cleaner.drop("non_product", pc.invert(is_product))
    cleaner.drop("non_positive_quantity", pc.less_equal(table["quantity"], 0))
    cleaner.drop("non_positive_price", pc.less_equal(table["price"], 0))
    # Exact copies: equal in every column read (invoice and stock code first: see below).
    cleaner.drop("duplicate", _repeats_earlier_row(table, _UCI_ROW_COLUMNS, cleaner.kept))
    table = cleaner.apply(table.append_column("product_id", product_id))

    title = _blank_to_null(pc.utf8_trim_whitespace(table["description"]))
    lines = pa.table(
        {
            "order_id": table["invoice"],
            "shopper_id": table["customer_id"],
            "ts_ms": table["ts_ms"],
            "product_id": table["product_id"],
            "quantity": table["quantity"],
            "unit_price": table["price"],
            "category": _categories_of_titles(title),
            "title": title,
        }
    )
    return _build_order_log(lines, dropped, rows_read)


def read_orders_file(path: PathLike) -> OrderLog:
    """Read one file in the project's ``orders`` format (Parquet or CSV) into an OrderLog."""
    return _read_orders_files([Path(path)])


def read_order_log(
    path_or_paths: PathLike | Sequence[PathLike], fmt: OrderLogFormat = "auto"
) -> OrderLog:
    """Read order-log file(s) as ``orders`` or ``online-retail``; ``auto`` detects by columns."""
    if isinstance(path_or_paths, str | os.PathLike):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
    if not paths:
        raise OrderLogError("read_order_log: no files given")
    if fmt == "auto":
        detected = {detect_order_log_format(p) for p in paths}
        if len(detected) > 1:
            raise OrderLogError(
                f"read_order_log: files mix the orders and online-retail formats: {paths}"
            )
        fmt = detected.pop()
    if fmt == "orders":
        return _read_orders_files(paths)
    if fmt == "online-retail":
        return read_online_retail(paths)
    raise ValueError(f"unknown order-log format {fmt!r}; use orders, online-retail or auto")


def detect_order_log_format(path: PathLike) -> Literal["orders", "online-retail"]:
    """Return ``orders`` if the file has the orders columns, ``online-retail`` if it has UCI's."""
    path = Path(path)
    names = _column_names(path)
    if all(c in names for c in ORDERS_REQUIRED_COLUMNS):
        return "orders"
    if _online_retail_column_map(names) is not None:
        return "online-retail"
    missing = [c for c in ORDERS_REQUIRED_COLUMNS if c not in names]
    raise OrderLogError(
        f"{path}: neither an orders file (missing column(s) {', '.join(missing)}) "
        f"nor a UCI online-retail file; columns found: {', '.join(names)}"
    )


def write_orders_file(log: OrderLog, path: PathLike) -> Path:
    """Write the log in the ``orders`` format as zstd-compressed Parquet; return the path."""
    path = Path(path)
    if _file_kind(path) != "parquet":
        raise OrderLogError(f"{path}: write_orders_file writes Parquet; use a .parquet name")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(log.to_table(), path, compression="zstd")
    return path


# --------------------------------------------------------------------- reading the files


def _file_kind(path: Path) -> Literal["parquet", "csv"]:
    """Return the file type implied by the file name's extension."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".csv.bz2")):
        return "csv"
    raise OrderLogError(f"{path}: unknown file type; expected .parquet, .pq, .csv or .csv.gz")


def _column_names(path: Path) -> list[str]:
    """Return the column names of a Parquet or CSV file without reading its data."""
    if not path.exists():
        raise OrderLogError(f"{path}: no such file")
    if _file_kind(path) == "parquet":
        return list(pq.read_schema(path).names)
    with pa_csv.open_csv(path) as reader:
        return list(reader.schema.names)


def _read_columns(path: Path, names: Sequence[str]) -> pa.Table:
    """Read the named columns; CSV columns are read as strings and parsed by the caller."""
    if _file_kind(path) == "parquet":
        return pq.read_table(path, columns=list(names))
    options = pa_csv.ConvertOptions(
        include_columns=list(names),
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
    )
    return pa_csv.read_csv(path, convert_options=options)


def _online_retail_column_map(names: Sequence[str]) -> dict[str, str | None] | None:
    """Map our column names to the file's UCI names; None if a required one is missing."""
    mapping: dict[str, str | None] = {}
    for column, candidates in _ONLINE_RETAIL_COLUMNS.items():
        found = next((c for c in candidates if c in names), None)
        if found is None and column not in _ONLINE_RETAIL_OPTIONAL_COLUMNS:
            return None
        mapping[column] = found
    return mapping


def _read_online_retail_file(path: Path) -> pa.Table:
    """Read one UCI file into uniform columns and types (no rows dropped yet)."""
    names = _column_names(path)
    mapping = _online_retail_column_map(names)
    if mapping is None:
        wanted = [
            " or ".join(candidates)
            for column, candidates in _ONLINE_RETAIL_COLUMNS.items()
            if column not in _ONLINE_RETAIL_OPTIONAL_COLUMNS
            and not any(c in names for c in candidates)
        ]
        raise OrderLogError(
            f"{path}: not a UCI online-retail file: missing column(s) {', '.join(wanted)}"
        )
    raw = _read_columns(path, [name for name in mapping.values() if name is not None])
    rows = raw.num_rows

    def column(name: str) -> pa.ChunkedArray | pa.Array | None:
        source = mapping[name]
        return None if source is None else raw[source]

    def source_name(name: str) -> str:
        return mapping[name] or name

    def strings(name: str) -> pa.Array:
        values = column(name)
        if values is None:
            return pa.nulls(rows, pa.string())
        return pc.cast(_combined(values), pa.string())

    return pa.table(
        {
            "invoice": _to_id_strings(column("invoice"), source_name("invoice"), path),
            "stock_code": strings("stock_code"),
            "description": strings("description"),
            "quantity": _to_int64(column("quantity"), source_name("quantity"), path),
            "ts_ms": _to_epoch_ms(
                column("invoice_date"), source_name("invoice_date"), path, UK_TIMEZONE
            ),
            "price": _to_float64(column("price"), source_name("price"), path),
            "customer_id": _to_id_strings(column("customer_id"), source_name("customer_id"), path),
            "country": strings("country"),
        }
    )


def _drop_overlapping_invoices(tables: list[pa.Table], dropped: dict[str, int]) -> pa.Table:
    """Drop from each file the invoices that a newer file also has; concatenate oldest first."""
    by_age = sorted(range(len(tables)), key=lambda i: (_latest_ts(tables[i]), i))
    newer_invoices = pa.array([], pa.string())
    kept: list[pa.Table] = []
    overlap_rows = 0
    for index in reversed(by_age):
        table = tables[index]
        if len(newer_invoices):
            in_newer = pc.fill_null(pc.is_in(table["invoice"], value_set=newer_invoices), False)
            overlap_rows += _count_true(in_newer)
            table = table.filter(pc.invert(in_newer))
        invoices = pc.unique(_combined(table["invoice"])).drop_null()
        newer_invoices = pc.unique(pa.concat_arrays([newer_invoices, invoices]))
        kept.append(table)
    dropped["overlap"] = overlap_rows
    return pa.concat_tables(reversed(kept))


def _latest_ts(table: pa.Table) -> int:
    """Return the latest timestamp of a file's rows (files with no dates sort first)."""
    latest = pc.max(table["ts_ms"]).as_py()
    return -(2**63) if latest is None else int(latest)


def _read_orders_files(paths: Sequence[Path]) -> OrderLog:
    """Read and validate orders-format files into one OrderLog."""
    tables = [_read_orders_table(p) for p in paths]
    table = pa.concat_tables(tables)
    rows_read = table.num_rows
    dropped: dict[str, int] = {}
    cleaner = _RowCleaner(rows_read, dropped)
    for reason, column in (
        ("missing_order_id", "order_id"),
        ("missing_product_id", "product_id"),
        ("missing_ts", "ts_ms"),
        ("missing_quantity", "quantity"),
        ("missing_unit_price", "unit_price"),
    ):
        cleaner.drop(reason, pc.is_null(table[column]))
    cleaner.drop("non_positive_quantity", pc.less_equal(table["quantity"], 0))
    cleaner.drop("non_positive_price", pc.less_equal(table["unit_price"], 0))
    table = cleaner.apply(table)
    return _build_order_log(table, dropped, rows_read)


def _read_orders_table(path: Path) -> pa.Table:
    """Read one orders-format file into uniform columns and types (no rows dropped yet)."""
    names = _column_names(path)
    missing = [c for c in ORDERS_REQUIRED_COLUMNS if c not in names]
    if missing:
        raise OrderLogError(
            f"{path}: missing column(s) {', '.join(missing)} required by the orders format "
            f"({', '.join(ORDERS_REQUIRED_COLUMNS)}); columns found: {', '.join(names)}"
        )
    optional = [c for c in ORDERS_OPTIONAL_COLUMNS if c in names]
    raw = _read_columns(path, [*ORDERS_REQUIRED_COLUMNS, *optional])

    def optional_strings(name: str) -> pa.Array:
        if name not in optional:
            return pa.nulls(raw.num_rows, pa.string())
        return _blank_to_null(pc.utf8_trim_whitespace(pc.cast(_combined(raw[name]), pa.string())))

    return pa.table(
        {
            "order_id": _to_id_strings(raw["order_id"], "order_id", path),
            "shopper_id": _to_id_strings(raw["shopper_id"], "shopper_id", path),
            "ts_ms": _to_epoch_ms(raw["ts"], "ts", path, "UTC"),
            "product_id": _to_id_strings(raw["product_id"], "product_id", path),
            "quantity": _to_int64(raw["quantity"], "quantity", path),
            "unit_price": _to_float64(raw["unit_price"], "unit_price", path),
            "category": optional_strings("category"),
            "title": optional_strings("title"),
        }
    )


# ------------------------------------------------------------------ column conversions


def _combined(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Return one contiguous array."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values


def _blank_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Replace empty strings by nulls."""
    values = _combined(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def _bad_value_error(
    values: pa.Array, column: str, path: Path, expected: str, is_valid: Callable[[Any], bool]
) -> OrderLogError:
    """Build the error for the first value (1-based data row) that ``is_valid`` rejects."""
    for index, value in enumerate(values.to_pylist()):
        if value is not None and not is_valid(value):
            return OrderLogError(
                f"{path}: column {column!r}, row {index + 1}: cannot read {value!r} as {expected}"
            )
    return OrderLogError(f"{path}: column {column!r}: cannot read the values as {expected}")


def _is_float_text(text: str) -> bool:
    """Tell whether a string parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_integral_text(text: str) -> bool:
    """Tell whether a string is an integer, possibly written as a float ("3", "3.0")."""
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and number == int(number)


def _is_integral_number(number: float) -> bool:
    """Tell whether a float is finite and whole."""
    return math.isfinite(number) and number == int(number)


def _strings_for_parsing(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return the values as trimmed strings with blanks as nulls."""
    return _blank_to_null(pc.utf8_trim_whitespace(pc.cast(_combined(values), pa.string())))


def _finite_or_null(values: pa.Array) -> pa.Array:
    """Replace NaN and infinities by nulls."""
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, values.type))


def _to_float64(values: pa.ChunkedArray | pa.Array | None, column: str, path: Path) -> pa.Array:
    """Convert a numeric or string column to float64; NaN and infinities become null."""
    if values is None:
        raise OrderLogError(f"{path}: missing column {column!r}")
    values = _combined(values)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = _strings_for_parsing(values)
        try:
            numbers = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            raise _bad_value_error(text, column, path, "a number", _is_float_text) from None
    elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        numbers = pc.cast(values, pa.float64())
    elif pa.types.is_null(values.type):
        numbers = pa.nulls(len(values), pa.float64())
    else:
        raise OrderLogError(f"{path}: column {column!r} has type {values.type}, expected numbers")
    return _finite_or_null(numbers)


def _to_int64(values: pa.ChunkedArray | pa.Array | None, column: str, path: Path) -> pa.Array:
    """Convert an integer, whole-float or string column to int64; NaN becomes null."""
    if values is None:
        raise OrderLogError(f"{path}: missing column {column!r}")
    values = _combined(values)
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.int64())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = _strings_for_parsing(values)
        try:
            return pc.cast(text, pa.int64())
        except pa.ArrowInvalid:
            pass
        try:
            numbers = _finite_or_null(pc.cast(text, pa.float64()))
        except pa.ArrowInvalid:
            raise _bad_value_error(text, column, path, "an integer", _is_integral_text) from None
        if not _all_whole(numbers):
            raise _bad_value_error(text, column, path, "an integer", _is_integral_text)
        return pc.cast(numbers, pa.int64())
    if pa.types.is_floating(values.type):
        numbers = _finite_or_null(pc.cast(values, pa.float64()))
        if not _all_whole(numbers):
            raise _bad_value_error(numbers, column, path, "an integer", _is_integral_number)
        return pc.cast(numbers, pa.int64())
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.int64())
    raise OrderLogError(f"{path}: column {column!r} has type {values.type}, expected integers")


def _all_whole(numbers: pa.Array) -> bool:
    """Tell whether every non-null float is a whole number."""
    whole = pc.equal(pc.floor(numbers), numbers)
    return bool(pc.all(whole, skip_nulls=True).as_py() is not False)


def _to_id_strings(values: pa.ChunkedArray | pa.Array | None, column: str, path: Path) -> pa.Array:
    """Convert an id column to trimmed strings; whole floats lose their ".0"; blanks -> null."""
    if values is None:
        raise OrderLogError(f"{path}: missing column {column!r}")
    values = _combined(values)
    if pa.types.is_floating(values.type):
        return pc.cast(_to_int64(values, column, path), pa.string())
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.string())
    text = _strings_for_parsing(values)
    # Ids written by tools that turned them into floats ("12345.0") get their digits back.
    return pc.replace_substring_regex(text, r"^(\d+)\.0+$", r"\1")


def _to_epoch_ms(
    values: pa.ChunkedArray | pa.Array | None, column: str, path: Path, naive_timezone: str
) -> pa.Array:
    """Convert epoch-ms integers, timestamps, dates or ISO-8601 strings to epoch ms (int64)."""
    if values is None:
        raise OrderLogError(f"{path}: missing column {column!r}")
    values = _combined(values)
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _to_int64(values, column, path)
    if pa.types.is_date(kind):
        values = pc.cast(values, pa.timestamp("ms"))
        kind = values.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None and naive_timezone != "UTC":
            values = pc.assume_timezone(
                values, timezone=naive_timezone, ambiguous="earliest", nonexistent="earliest"
            )
        return _timestamps_to_epoch_ms(values)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _strings_to_epoch_ms(_strings_for_parsing(values), column, path, naive_timezone)
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.int64())
    raise OrderLogError(f"{path}: column {column!r} has type {kind}, expected timestamps")


def _timestamps_to_epoch_ms(values: pa.Array) -> pa.Array:
    """Return epoch milliseconds of a timestamp array (sub-millisecond parts truncated)."""
    unit_ms = pa.timestamp("ms", tz=values.type.tz)
    return pc.cast(pc.cast(values, unit_ms, safe=False), pa.int64())


def _strings_to_epoch_ms(text: pa.Array, column: str, path: Path, naive_timezone: str) -> pa.Array:
    """Parse strings holding epoch milliseconds or ISO-8601 timestamps to epoch ms."""
    null_text = pa.scalar(None, pa.string())
    is_integer = pc.match_substring_regex(text, r"^[+-]?\d+$")
    epoch_ms = pc.cast(pc.if_else(is_integer, text, null_text), pa.int64())
    iso_text = pc.utf8_upper(pc.if_else(is_integer, null_text, text))  # "t", "z" -> "T", "Z"
    has_zone = pc.match_substring_regex(iso_text, _ZONE_SUFFIX_PATTERN)
    try:
        zoned = pc.cast(pc.if_else(has_zone, iso_text, null_text), pa.timestamp("ms", tz="UTC"))
        naive = pc.cast(pc.if_else(has_zone, null_text, iso_text), pa.timestamp("ms"))
    except pa.ArrowInvalid:
        # Arrow's parser is strict; Python's accepts every ISO-8601 form it writes.
        parsed = _parse_iso_strings(iso_text, column, path, naive_timezone)
        return pc.coalesce(epoch_ms, parsed)
    if naive_timezone != "UTC":
        naive = pc.assume_timezone(
            naive, timezone=naive_timezone, ambiguous="earliest", nonexistent="earliest"
        )
    return pc.coalesce(epoch_ms, _timestamps_to_epoch_ms(zoned), _timestamps_to_epoch_ms(naive))


def _parse_iso_strings(text: pa.Array, column: str, path: Path, naive_timezone: str) -> pa.Array:
    """Parse ISO-8601 strings one by one (slow path); raise naming the first bad row."""
    zoned: list[int | None] = []
    local: list[datetime | None] = []
    for index, value in enumerate(text.to_pylist()):
        moment = None
        if value is not None:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise OrderLogError(
                    f"{path}: column {column!r}, row {index + 1}: cannot read {value!r} as "
                    "epoch milliseconds or an ISO-8601 timestamp"
                ) from None
        is_zoned = moment is not None and moment.tzinfo is not None
        zoned.append(_epoch_ms(moment) if moment is not None and is_zoned else None)
        local.append(None if is_zoned else moment)
    naive = pa.array(local, pa.timestamp("us"))
    if naive_timezone != "UTC":
        naive = pc.assume_timezone(
            naive, timezone=naive_timezone, ambiguous="earliest", nonexistent="earliest"
        )
    return pc.coalesce(pa.array(zoned, pa.int64()), _timestamps_to_epoch_ms(naive))


def _epoch_ms(moment: datetime) -> int:
    """Return the epoch milliseconds of an aware datetime, exactly."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * DAY_MS + delta.seconds * SECOND_MS + delta.microseconds // 1000


# ------------------------------------------------------------------ cleaning and grouping


def _count_true(mask: pa.Array | pa.ChunkedArray) -> int:
    """Return how many entries of a boolean mask are true."""
    total = pc.sum(mask).as_py()
    return int(total or 0)


class _RowCleaner:
    """Marks rows to drop, each counted under the first reason that hits it; filters once."""

    def __init__(self, row_count: int, dropped: dict[str, int]) -> None:
        self.kept = np.ones(row_count, dtype=bool)
        self.dropped = dropped

    def drop(self, reason: str, mask: pa.Array | pa.ChunkedArray | np.ndarray) -> None:
        """Drop the still-kept rows where ``mask`` is true (null counts as false)."""
        if not isinstance(mask, np.ndarray):
            mask = pc.fill_null(_combined(mask), False).to_numpy(zero_copy_only=False)
        hit = mask & self.kept
        self.dropped[reason] = self.dropped.get(reason, 0) + int(hit.sum())
        self.kept &= ~hit

    def apply(self, table: pa.Table) -> pa.Table:
        """Return the kept rows of ``table``."""
        return table.filter(pa.array(self.kept))


def _categories_of_titles(titles: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Apply ``category_from_title`` once per distinct title."""
    encoded = pc.dictionary_encode(_combined(titles))
    categories = [category_from_title(title) for title in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(categories, pa.string()), encoded.indices)


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode a column: int64 codes per row (-1 for null) and the distinct values.

    Codes number the distinct values in order of first appearance.
    """
    encoded = pc.dictionary_encode(_combined(values))
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    return codes, encoded.dictionary


def _repeats_earlier_row(
    table: pa.Table, columns: Sequence[str], candidates: np.ndarray
) -> np.ndarray:
    """Return a mask of the candidate rows equal, in all ``columns``, to an earlier candidate.

    Rows are first bucketed by their first two columns (cheap integer keys); only rows
    in buckets of two or more are compared on every column.
    """
    is_repeat = np.zeros(table.num_rows, dtype=bool)
    rows = np.flatnonzero(candidates)
    if len(rows) < 2:
        return is_repeat
    first_codes, _ = _codes(table[columns[0]])
    second_codes, second_distinct = _codes(table[columns[1]])
    bucket = (first_codes[rows] + 1) * (len(second_distinct) + 1) + second_codes[rows] + 1
    _, bucket_index, bucket_size = np.unique(bucket, return_inverse=True, return_counts=True)
    rows = rows[bucket_size[bucket_index] > 1]
    if len(rows) < 2:
        return is_repeat
    subset = table.select(list(columns)).take(pa.array(rows))
    keys = [_codes(subset[name])[0] for name in columns]
    by_content = np.lexsort(keys[::-1])  # stable: equal rows stay in table order
    same_as_previous = np.ones(len(rows) - 1, dtype=bool)
    for key in keys:
        sorted_key = key[by_content]
        same_as_previous &= sorted_key[1:] == sorted_key[:-1]
    is_repeat[rows[by_content[1:][same_as_previous]]] = True
    return is_repeat


def _shared_pylist(codes: np.ndarray, distinct: pa.Array) -> list[Any]:
    """Turn codes into Python values, equal values sharing one object (-1 gives None)."""
    values: list[Any] = distinct.to_pylist()
    values.append(None)  # code -1
    return [values[code] for code in codes.tolist()]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while creating many acyclic objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_order_log(lines: pa.Table, dropped: dict[str, int], rows_read: int) -> OrderLog:
    """Merge repeated products per order, sort orders by (ts, id) and build the objects.

    ``lines`` holds one row per input line in input order, with the columns order_id,
    shopper_id, ts_ms, product_id, quantity, unit_price, category and title.
    """
    row_count = lines.num_rows
    if row_count == 0:
        dropped["merged_repeat_line"] = 0
        return OrderLog(orders=(), dropped=dict(dropped), rows_read=rows_read)
    order_codes, order_ids = _codes(lines["order_id"])
    product_codes, product_ids = _codes(lines["product_id"])
    shopper_codes, shopper_ids = _codes(lines["shopper_id"])
    timestamps = _combined(lines["ts_ms"]).to_numpy()
    quantities = _combined(lines["quantity"]).to_numpy()
    amounts = quantities * _combined(lines["unit_price"]).to_numpy()

    # Group the rows by (order, product); within a group rows stay in input order.
    by_group = np.lexsort((product_codes, order_codes))
    sorted_orders = order_codes[by_group]
    new_order = np.diff(sorted_orders, prepend=-1) != 0
    new_group = new_order | (np.diff(product_codes[by_group], prepend=-1) != 0)
    group_starts = np.flatnonzero(new_group)
    order_starts = np.flatnonzero(new_order)
    dropped["merged_repeat_line"] = row_count - len(group_starts)

    group_first_row = by_group[group_starts]
    group_quantity = np.add.reduceat(quantities[by_group], group_starts)
    group_amount = np.add.reduceat(amounts[by_group], group_starts)
    group_price = np.round(group_amount / np.maximum(group_quantity, 1), _PRICE_DECIMALS)

    # Per order: the earliest time and the first known shopper (in input order).
    order_ts = np.minimum.reduceat(timestamps[by_group], order_starts)
    known_shopper_row = np.where(shopper_codes[by_group] >= 0, by_group, row_count)
    first_known = np.minimum.reduceat(known_shopper_row, order_starts)
    order_shopper = np.append(shopper_codes, -1)[first_known]
    group_order = np.cumsum(new_order)[group_starts] - 1  # index into order_starts

    # Orders by (ts, order id), lines by first appearance.
    order_id_rank = pc.rank(order_ids, sort_keys="ascending", tiebreaker="first").to_numpy()
    group_order_code = sorted_orders[group_starts]
    final = np.lexsort((group_first_row, order_id_rank[group_order_code], order_ts[group_order]))

    order_id_of = _shared_pylist(group_order_code[final], order_ids)
    shopper_of = _shared_pylist(order_shopper[group_order[final]], shopper_ids)
    ts_of = order_ts[group_order[final]].tolist()
    product_of = _shared_pylist(product_codes[group_first_row[final]], product_ids)
    quantity_of = group_quantity[final].tolist()
    price_of = group_price[final].tolist()
    first_rows = pa.array(group_first_row[final])
    category_of = _shared_pylist(*_codes(pc.take(lines["category"], first_rows)))
    title_of = _shared_pylist(*_codes(pc.take(lines["title"], first_rows)))

    line_order_codes = group_order_code[final]
    starts = np.flatnonzero(np.diff(line_order_codes, prepend=-1)).tolist()
    ends = [*starts[1:], len(line_order_codes)] if starts else []
    with _gc_paused():
        all_lines = list(
            map(
                OrderLine,
                order_id_of,
                shopper_of,
                ts_of,
                product_of,
                quantity_of,
                price_of,
                category_of,
                title_of,
            )
        )
        orders = [
            Order(order_id_of[start], shopper_of[start], ts_of[start], tuple(all_lines[start:end]))
            for start, end in zip(starts, ends, strict=True)
        ]
    return OrderLog(orders=tuple(orders), dropped=dict(dropped), rows_read=rows_read)

"""Reading, cleaning and writing order logs (streams.tools.replay.orderlog)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from streams.resources import SAMPLE_ORDERS
from streams.tools.replay import (
    ORDERS_SCHEMA,
    Order,
    OrderLine,
    OrderLog,
    OrderLogError,
    category_from_title,
    detect_order_log_format,
    read_online_retail,
    read_order_log,
    read_orders_file,
    write_orders_file,
)

SAMPLE_PATH = SAMPLE_ORDERS

# --------------------------------------------------------------------------- fixtures

# The two UCI files name three columns differently.
COMMON = ("StockCode", "Description", "Quantity", "InvoiceDate")
OLDER_COLUMNS = ("Invoice", *COMMON, "Price", "Customer ID", "Country")  # Online Retail II
NEWER_COLUMNS = ("InvoiceNo", *COMMON, "UnitPrice", "CustomerID", "Country")  # Online Retail

# Hand-made rows with one or more of every kind of dirt: invoice | stock code | description |
# quantity | InvoiceDate (UK local time) | price | customer id | what cleaning must do with it.
# A quoted description keeps its spaces; an empty customer id is a guest checkout.
OLDER_ROWS = """
489434  | 85123A       | WHITE HANGING HEART T-LIGHT HOLDER | 6  | 2009-12-01 07:45 | 2.55  | 13085 | kept
489434  | 71053        | WHITE METAL LANTERN                | 6  | 2009-12-01 07:45 | 3.39  | 13085 | kept
489434  | 85123A       | WHITE HANGING HEART T-LIGHT HOLDER | 2  | 2009-12-01 07:46 | 2.95  | 13085 | merged_repeat_line
489434  | 71053        | WHITE METAL LANTERN                | 6  | 2009-12-01 07:45 | 3.39  | 13085 | duplicate
489434  | POST         | POSTAGE                            | 1  | 2009-12-01 07:45 | 18.0  | 13085 | non_product
C489435 | 71053        | WHITE METAL LANTERN                | -6 | 2009-12-01 08:00 | 3.39  | 13085 | cancellation
A506401 | B            | Adjust bad debt                    | 1  | 2010-04-29 13:36 | 53594 |       | adjustment
489436  | 22423        | " REGENCY CAKESTAND 3 TIER "       | 1  | 2009-12-01 09:06 | 12.75 |       | kept
489436  | DOT          | DOTCOM POSTAGE                     | 1  | 2009-12-01 09:06 | 11.0  |       | non_product
489436  | 21232        | STRAWBERRY CERAMIC TRINKET BOX     | 0  | 2009-12-01 09:06 | 1.25  |       | non_positive_quantity
489436  | 21871        | SAVE THE PLANET MUG                | -5 | 2009-12-01 09:06 | 1.25  |       | non_positive_quantity
489436  | 22064        | PINK DOUGHNUT TRINKET POT          | 12 | 2009-12-01 09:06 | 0.0   |       | non_positive_price
489436  | 22065        | CHRISTMAS PUDDING TRINKET POT      | 12 | 2009-12-01 09:06 | -1.5  |       | non_positive_price
489437  | BANK CHARGES | Bank Charges                       | 1  | 2009-12-02 10:00 | 15.0  | 16805 | non_product
489438  | gift_0001_20 | Dotcomgiftshop Gift Voucher £20.00 | 1  | 2009-12-02 11:00 | 17.02 |       | non_product
489438  | 84997b       | RED 3 PIECE RETROSPOT CUTLERY SET  | 2  | 2009-12-02 11:00 | 4.15  |       | kept
489439  | M            | Manual                             | 1  | 2009-12-03 12:00 | 1.0   | 12346 | non_product
489440  | TEST001      | This is a test product.            | 1  | 2009-12-03 12:30 | 4.5   | 12346 | non_product
538000  | 22086        | "PAPER CHAIN KIT 50'S CHRISTMAS "  | 12 | 2010-12-01 09:00 | 2.55  | 17850 | overlap
538000  | 21730        | GLASS STAR FROSTED T-LIGHT HOLDER  | 6  | 2010-12-01 09:00 | 4.25  | 17850 | overlap
"""  # noqa: E501

NEWER_ROWS = """
538000  | 22086        | "PAPER CHAIN KIT 50'S CHRISTMAS "  | 12 | 2010-12-01 09:00 | 2.55  | 17850 | kept
538000  | 21730        | GLASS STAR FROSTED T-LIGHT HOLDER  | 6  | 2010-12-01 09:00 | 4.25  | 17850 | kept
562000  | 85123a       | WHITE HANGING HEART T-LIGHT HOLDER | 3  | 2011-08-01 10:30 | 2.95  | 13085 | kept
562000  | 23444        | Next Day Carriage                  | 1  | 2011-08-01 10:30 | 15.0  | 13085 | non_product
562000  | DCGS0003     | BOXED GLASS ASHTRAY                | 1  | 2011-08-01 10:30 | 2.51  | 13085 | kept
C562001 | 85123A       | WHITE HANGING HEART T-LIGHT HOLDER | -3 | 2011-08-01 11:00 | 2.95  | 13085 | cancellation
562002  | AMAZONFEE    | AMAZON FEE                         | 1  | 2011-08-02 09:00 | 5575  |       | non_product
561999  | 22423        | REGENCY CAKESTAND 3 TIER           | 1  | 2011-08-01 10:30 | 12.75 |       | kept
562000  | 22016        | Dotcomgiftshop Gift Voucher £100   | 1  | 2011-08-01 10:30 | 83.33 | 13085 | non_product
562000  | DCGS0003     | BOXED GLASS ASHTRAY                | 1  | 2011-08-01 10:30 | 2.51  | 13085 | duplicate
"""  # noqa: E501

EXPECTED_DROPPED = {
    "overlap": 2,
    "missing_field": 0,
    "cancellation": 2,
    "adjustment": 1,
    "non_product": 9,
    "non_positive_quantity": 2,
    "non_positive_price": 2,
    "duplicate": 2,
    "merged_repeat_line": 1,
}


def parse_rows(text: str) -> list[tuple[Any, ...]]:
    """Parse the fixture rows into UCI-typed values (the fate column excluded)."""
    rows = []
    for text_row in text.strip().splitlines():
        invoice, code, description, quantity, when, price, customer, _ = (
            field.strip() for field in text_row.split("|")
        )
        rows.append(
            (
                invoice,
                code,
                description[1:-1] if description.startswith('"') else description,
                int(quantity),
                datetime.fromisoformat(when),
                float(price),
                float(customer) if customer else None,
                "United Kingdom",
            )
        )
    return rows


def fates(text: str) -> Counter[str]:
    """Count the rows per expected fate (the last fixture column)."""
    return Counter(text_row.split("|")[-1].strip() for text_row in text.strip().splitlines())


def uci_table(columns: tuple[str, ...], rows_text: str, time_unit: str) -> pa.Table:
    """Build a table typed like the shared UCI Parquet files."""
    types = [pa.large_string()] * 3 + [pa.int64(), pa.timestamp(time_unit), pa.float64()]
    types += [pa.float64(), pa.large_string()]
    schema = pa.schema(list(zip(columns, types, strict=True)))
    rows = [dict(zip(columns, row, strict=True)) for row in parse_rows(rows_text)]
    return pa.Table.from_pylist(rows, schema)


@pytest.fixture
def uci_files(tmp_path: Path) -> list[Path]:
    """The two hand-made UCI files: older (Online Retail II) and newer (Online Retail)."""
    older = tmp_path / "online_retail_2009_2010.parquet"
    newer = tmp_path / "online_retail_2010_2011.parquet"
    pq.write_table(uci_table(OLDER_COLUMNS, OLDER_ROWS, "us"), older)
    pq.write_table(uci_table(NEWER_COLUMNS, NEWER_ROWS, "ns"), newer)
    return [older, newer]


def utc_ms(text: str) -> int:
    """Epoch milliseconds of an ISO time given in UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def line(
    order: str, shopper: str | None, ts: int, product: str, quantity: int, price: float, title: str
) -> OrderLine:
    """An expected order line (category derived from the title)."""
    category = category_from_title(title)
    return OrderLine(order, shopper, ts, product, quantity, price, category, title)


T_489434 = utc_ms("2009-12-01T07:45")  # winter: UK local time is UTC
T_489436 = utc_ms("2009-12-01T09:06")
T_489438 = utc_ms("2009-12-02T11:00")
T_538000 = utc_ms("2010-12-01T09:00")
T_562000 = utc_ms("2011-08-01T09:30")  # summer: 10:30 BST

HEART = "WHITE HANGING HEART T-LIGHT HOLDER"
CAKESTAND = "REGENCY CAKESTAND 3 TIER"
STAR = "GLASS STAR FROSTED T-LIGHT HOLDER"


def expected_orders() -> tuple[Order, ...]:
    """The orders that must survive the cleaning of the hand-made UCI files, in order."""
    known, guest = "13085", None
    return (
        Order("489434", known, T_489434, (
            line("489434", known, T_489434, "85123A", 8, 2.65, HEART),  # 6 @ 2.55 + 2 @ 2.95
            line("489434", known, T_489434, "71053", 6, 3.39, "WHITE METAL LANTERN"),
        )),
        Order("489436", guest, T_489436, (
            line("489436", guest, T_489436, "22423", 1, 12.75, CAKESTAND),
        )),
        Order("489438", guest, T_489438, (
            line("489438", guest, T_489438, "84997B", 2, 4.15, "RED 3 PIECE RETROSPOT CUTLERY SET"),
        )),
        Order("538000", "17850", T_538000, (
            line("538000", "17850", T_538000, "22086", 12, 2.55, "PAPER CHAIN KIT 50'S CHRISTMAS"),
            line("538000", "17850", T_538000, "21730", 6, 4.25, STAR),
        )),
        Order("561999", guest, T_562000, (
            line("561999", guest, T_562000, "22423", 1, 12.75, CAKESTAND),
        )),
        Order("562000", known, T_562000, (
            line("562000", known, T_562000, "85123A", 3, 2.95, HEART),
            line("562000", known, T_562000, "DCGS0003", 1, 2.51, "BOXED GLASS ASHTRAY"),
        )),
    )  # fmt: skip


# ------------------------------------------------------------------------ online-retail


def test_fixture_fates_match_the_expected_drop_counts() -> None:
    counted = fates(OLDER_ROWS) + fates(NEWER_ROWS)
    kept_lines = sum(len(order.lines) for order in expected_orders())

    assert counted.pop("kept") == kept_lines
    assert counted == Counter({k: v for k, v in EXPECTED_DROPPED.items() if v})


def test_read_online_retail_keeps_exactly_the_clean_orders(uci_files: list[Path]) -> None:
    log = read_online_retail(uci_files)

    assert log.orders == expected_orders()
    assert dict(log.dropped) == EXPECTED_DROPPED
    assert log.rows_read == 30
    assert log.rows_read == log.line_count + sum(log.dropped.values())


def test_read_online_retail_drops_the_overlap_from_the_older_file_in_any_argument_order(
    uci_files: list[Path],
) -> None:
    log = read_online_retail(list(reversed(uci_files)))

    assert log.orders == expected_orders()
    assert log.dropped["overlap"] == 2


def test_read_online_retail_field_conversions(uci_files: list[Path]) -> None:
    orders = {order.order_id: order for order in read_online_retail(uci_files).orders}

    assert orders["489434"].shopper_id == "13085"  # float customer id without ".0"
    assert orders["489436"].shopper_id is None  # guest checkout
    assert orders["489436"].lines[0].title == "REGENCY CAKESTAND 3 TIER"  # stripped
    assert orders["489436"].lines[0].category == "cakestand"
    assert orders["489434"].lines[0].category == "holder"
    # winter: GMT = UTC; summer: BST = UTC+1
    assert orders["489434"].ts_ms == 1259653500000
    assert orders["562000"].ts_ms == 1312191000000
    assert orders["489434"].total == pytest.approx(8 * 2.65 + 6 * 3.39)


def test_read_online_retail_reads_csv_too(uci_files: list[Path], tmp_path: Path) -> None:
    older_csv = tmp_path / "older.csv"
    pa_csv.write_csv(pq.read_table(uci_files[0]), older_csv)

    log = read_online_retail([older_csv, uci_files[1]])

    assert log.orders == expected_orders()
    assert dict(log.dropped) == EXPECTED_DROPPED


def test_read_online_retail_rejects_a_file_without_the_uci_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"Invoice": ["1"], "StockCode": ["85123A"]}), path)

    with pytest.raises(OrderLogError, match="Quantity"):
        read_online_retail([path])


def test_read_online_retail_needs_files() -> None:
    with pytest.raises(OrderLogError):
        read_online_retail([])


# ------------------------------------------------------------------------ orders format

ORDERS_CSV = """\
order_id,shopper_id,ts,product_id,quantity,unit_price,category,title
1001,42,2011-12-09T12:50:00Z,85123A,2,2.55,holder,WHITE HANGING HEART T-LIGHT HOLDER
1001,42,2011-12-09T12:50:00Z,71053,1,3.39,,
1002,,1323435060000,22423,1,12.75,cakestand,REGENCY CAKESTAND
1003,7,2011-12-09 13:00:00+01:00,22086,3,2.55,,
1004,7,2011-12-09T14:00:00,22086,0,2.55,,
1005,8,2011-12-09T14:00:00,22086,1,-1,,
,8,2011-12-09T14:00:00,22086,1,1,,
1006,8,2011-12-09T14:00:00,,1,1,,
1007,8,,22086,1,1,,
1008,8,2011-12-09T15:00:00,22086,,1,,
1009,8,2011-12-09T15:00:00,22086,1,,,
1001,42,2011-12-09T12:50:00Z,85123A,1,3.00,holder,WHITE HANGING HEART T-LIGHT HOLDER
1010,9,2011-12-09T16:00:00,21730,6,4.25,,GLASS STAR FROSTED T-LIGHT HOLDER
"""

EXPECTED_ORDERS_CSV_DROPPED = {
    "missing_order_id": 1,
    "missing_product_id": 1,
    "missing_ts": 1,
    "missing_quantity": 1,
    "missing_unit_price": 1,
    "non_positive_quantity": 1,
    "non_positive_price": 1,
    "merged_repeat_line": 1,
}


def write_text(path: Path, text: str) -> Path:
    """Write a text file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def test_read_orders_csv_parses_iso_and_epoch_ts_and_counts_bad_rows(tmp_path: Path) -> None:
    log = read_orders_file(write_text(tmp_path / "orders.csv", ORDERS_CSV))

    t_1001 = utc_ms("2011-12-09T12:50")
    assert [(o.order_id, o.shopper_id, o.ts_ms) for o in log.orders] == [
        ("1003", "7", utc_ms("2011-12-09T12:00")),  # +01:00 offset
        ("1001", "42", t_1001),  # Z
        ("1002", None, 1323435060000),  # epoch ms; empty shopper -> guest
        ("1010", "9", utc_ms("2011-12-09T16:00")),  # no zone: UTC
    ]
    order_1001 = log.orders[1]
    assert order_1001.lines == (
        OrderLine("1001", "42", t_1001, "85123A", 3, 2.7, "holder",
                  "WHITE HANGING HEART T-LIGHT HOLDER"),  # merged: 2 @ 2.55 + 1 @ 3.00
        OrderLine("1001", "42", t_1001, "71053", 1, 3.39, None, None),
    )  # fmt: skip
    assert dict(log.dropped) == EXPECTED_ORDERS_CSV_DROPPED
    assert log.rows_read == 13 == log.line_count + sum(log.dropped.values())


def test_read_orders_file_without_optional_columns(tmp_path: Path) -> None:
    text = "order_id,shopper_id,ts,product_id,quantity,unit_price,extra\n1,2,5000,p,1,1.5,x\n"

    log = read_orders_file(write_text(tmp_path / "orders.csv", text))

    only_line = OrderLine("1", "2", 5000, "p", 1, 1.5, None, None)
    assert log.orders == (Order("1", "2", 5000, (only_line,)),)


def test_read_orders_parquet_with_timestamp_type_and_integer_ids(tmp_path: Path) -> None:
    table = pa.table(
        {
            "order_id": pa.array([11, 12], pa.int64()),
            "shopper_id": pa.array([42.0, None], pa.float64()),
            "ts": pa.array([datetime(2011, 12, 9, 12, 50), datetime(2011, 12, 9, 12, 0)],
                           pa.timestamp("s")),
            "product_id": ["85123A", "22423"],
            "quantity": pa.array([2, 1], pa.int32()),
            "unit_price": [2.55, 12.75],
        }
    )  # fmt: skip
    path = tmp_path / "orders.parquet"
    pq.write_table(table, path)

    log = read_orders_file(path)

    assert [(o.order_id, o.shopper_id, o.ts_ms) for o in log.orders] == [
        ("12", None, utc_ms("2011-12-09T12:00")),
        ("11", "42", utc_ms("2011-12-09T12:50")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("order_id,shopper_id,ts,product_id,quantity\n1,2,5,p,1\n", "unit_price"),
        ("order_id,ts,product_id,quantity,unit_price\n1,5,p,1,2\n", "shopper_id"),
    ],
)
def test_read_orders_file_names_a_missing_column(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(OrderLogError, match=f"missing column.*{message}"):
        read_orders_file(write_text(tmp_path / "orders.csv", text))


@pytest.mark.parametrize(
    ("bad_row", "column"),
    [
        ("2,5,6000,p,two,1.0", "quantity"),
        ("2,5,6000,p,1.5,1.0", "quantity"),
        ("2,5,6000,p,1,cheap", "unit_price"),
        ("2,5,yesterday,p,1,1.0", "ts"),
    ],
)
def test_read_orders_file_names_column_and_row_of_an_unparseable_value(
    tmp_path: Path, bad_row: str, column: str
) -> None:
    text = f"order_id,shopper_id,ts,product_id,quantity,unit_price\n1,5,5000,p,1,1.0\n{bad_row}\n"

    with pytest.raises(OrderLogError, match=f"column '{column}', row 2"):
        read_orders_file(write_text(tmp_path / "orders.csv", text))


def test_read_orders_file_rejects_unknown_file_types_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(OrderLogError, match="unknown file type"):
        read_orders_file(write_text(tmp_path / "orders.json", "{}"))
    with pytest.raises(OrderLogError, match="no such file"):
        read_orders_file(tmp_path / "absent.parquet")


def test_write_then_read_orders_file_round_trips(uci_files: list[Path], tmp_path: Path) -> None:
    log = read_online_retail(uci_files)
    path = write_orders_file(log, tmp_path / "out" / "orders.parquet")

    assert pq.read_schema(path).remove_metadata() == ORDERS_SCHEMA.remove_metadata()
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    reread = read_orders_file(path)
    assert reread.orders == log.orders
    assert sum(reread.dropped.values()) == 0


def test_write_orders_file_only_writes_parquet(tmp_path: Path) -> None:
    with pytest.raises(OrderLogError, match="Parquet"):
        write_orders_file(OrderLog(orders=()), tmp_path / "orders.csv")


def test_read_order_log_detects_the_format(uci_files: list[Path], tmp_path: Path) -> None:
    orders_path = write_orders_file(read_online_retail(uci_files), tmp_path / "orders.parquet")

    assert detect_order_log_format(orders_path) == "orders"
    assert detect_order_log_format(uci_files[0]) == "online-retail"
    assert read_order_log(orders_path).orders == expected_orders()
    assert read_order_log(uci_files).orders == expected_orders()
    assert read_order_log(uci_files, "online-retail").orders == expected_orders()
    assert read_order_log(str(orders_path), "orders").orders == expected_orders()
    with pytest.raises(OrderLogError, match="mix"):
        read_order_log([orders_path, uci_files[0]])
    with pytest.raises(OrderLogError, match="neither"):
        read_order_log(write_text(tmp_path / "x.csv", "a,b\n1,2\n"))


def test_order_log_summaries(uci_files: list[Path]) -> None:
    log = read_online_retail(uci_files)

    assert (log.order_count, log.line_count, log.shopper_count) == (6, 9, 2)
    assert log.head(2).orders == expected_orders()[:2]
    assert log.head(2).dropped == log.dropped
    assert list(log.lines()) == [ln for order in expected_orders() for ln in order.lines]


# ----------------------------------------------------------------------------- categories


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "holder"),
        ("15CM CHRISTMAS GLASS BALL 20 LIGHTS", "light"),  # plural folded, numbers ignored
        ("JUMBO BAG RED RETROSPOT", "bag"),  # colours and patterns skipped
        ("RED  HARMONICA IN BOX", "harmonica"),  # text before "in"
        ("TEATIME FUNKY FLOWER BACKPACK FOR 2", "backpack"),
        ("FOLK ART GREETING CARD,pack/12", "card"),  # text before the comma
        ("SET OF 6 SOLDIER SKITTLES", "skittle"),  # head "set" is a stop word: whole title
        ("PACK OF 72 RETROSPOT CAKE CASES", "case"),
        ("SET/6 RED SPOTTY PAPER CUPS", "cup"),
        ("ASSORTED COLOUR METAL CAT DOORSTOPS", "doorstop"),
        ("SMALL GLASS BOXES", "box"),  # -xes
        ("SET OF 4 DOILIES", "doily"),  # -ies
        ("CRYSTAL GLASSES", "glass"),  # -sses
        ("HAND OPEN SHAPE GOLD", "shape"),
        ("FAIRY CAKE DEC", "decoration"),  # alias
        ("Hypochondriac Pill Stress Ball", "ball"),  # any case
    ],
)
def test_category_from_title(title: str, category: str) -> None:
    assert category_from_title(title) == category


@pytest.mark.parametrize("title", [None, "", "   ", "12 34", "RED SET OF 3"])
def test_category_from_title_without_a_usable_word(title: str | None) -> None:
    assert category_from_title(title) is None


# ------------------------------------------------------------------------ shipped sample


def test_shipped_sample_is_small_and_reads_into_plausible_orders() -> None:
    assert SAMPLE_PATH.exists(), "run: .venv/bin/python bench/make_sample.py --data-dir DIR"
    assert SAMPLE_PATH.stat().st_size <= 5 * 1024 * 1024
    assert (SAMPLE_PATH.parent / "README.md").exists()

    log = read_orders_file(SAMPLE_PATH)

    assert 2_000 <= log.order_count <= 4_000
    assert 30_000 <= log.line_count <= 70_000
    assert sum(log.dropped.values()) == 0  # the sample is stored clean
    assert 500 <= log.shopper_count < log.order_count
    assert any(order.shopper_id is None for order in log.orders)  # guest checkouts
    assert all(line.category for line in log.lines())
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(log.orders, log.orders[1:], strict=False))

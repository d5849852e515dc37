"""Instacart order lines as an order log: shoppers' orders placed on one time line."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.evaluation.instacart import END_DAY, main, read_instacart
from streams.tools.replay.orderlog import OrderLogError, read_order_log
from streams.units import DAY_MS

HEADER = (
    ",order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,"
    "product_id,add_to_cart_order,reordered"
)
END_MS = int(END_DAY.timestamp() * 1000)
HOUR_MS = 3_600_000


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_every_shoppers_last_order_ends_on_the_same_day(tmp_path: Path) -> None:
    # Shopper 1: orders 10 (first), 11 (7 days later), 12 (3 days after that);
    # shopper 2: one order. Lines are out of cart order and one product repeats.
    rows = [
        "0,11,1,2,0,9,7.0,200,2.0,1.0",
        "1,11,1,2,0,9,7.0,100,1.0,1.0",
        "2,10,1,1,0,8,,100,1.0,0.0",
        "3,10,1,1,0,8,,300,2.0,0.0",
        "4,12,1,3,0,14,3.0,300,1.0,1.0",
        "5,12,1,3,0,14,3.0,300,2.0,1.0",
        "6,12,1,3,0,14,3.0,400,3.0,0.0",
        "7,20,2,1,0,10,,500,1.0,0.0",
    ]
    log = read_instacart(write(tmp_path / "lines.csv", rows))
    by_id = {o.order_id: o for o in log.orders}
    assert by_id["12"].ts_ms == END_MS + 14 * HOUR_MS + 3
    assert by_id["11"].ts_ms == END_MS - 3 * DAY_MS + 9 * HOUR_MS + 2
    assert by_id["10"].ts_ms == END_MS - 10 * DAY_MS + 8 * HOUR_MS + 1
    assert by_id["20"].ts_ms == END_MS + 10 * HOUR_MS + 1
    assert [line.product_id for line in by_id["11"].lines] == ["100", "200"]  # cart order
    assert [line.product_id for line in by_id["12"].lines] == ["300", "400"]
    assert log.dropped == {"merged_repeat_line": 1}
    assert all(o.shopper_id == "1" for o in log.orders if o.order_id.startswith("1"))
    assert all(line.unit_price == 1.0 and line.category is None for line in log.lines())
    assert [o.order_id for o in log.orders] == ["10", "11", "20", "12"]  # by time


def test_the_converter_writes_an_orders_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(
        tmp_path / "lines.csv", ["0,10,1,1,0,8,,100,1.0,0.0", "1,10,1,1,0,8,,200,2.0,0.0"]
    )
    out = tmp_path / "orders.parquet"
    main([str(source), str(out)])
    assert "1 orders, 2 lines, 1 shoppers" in capsys.readouterr().out
    assert read_order_log(out).orders == read_instacart(source).orders


def test_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,product_id\n1,2\n")
    with pytest.raises(OrderLogError, match="missing columns"):
        read_instacart(bad)

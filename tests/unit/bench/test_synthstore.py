"""The synthetic store generator (bench.synthstore): reproducible, readable, shaped as claimed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import synthstore
from bench.synthstore import (
    StoreSpec,
    build_catalog,
    catalog_events,
    comparison_table,
    store_stats,
    write_store,
)
from schemas import CatalogEvent
from streams.tools.replay.orderlog import read_orders_file

SMALL = StoreSpec(products=2_000, shoppers=1_500, orders=6_000, seed=7)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    path = tmp_path_factory.mktemp("store") / "store.parquet"
    write_store(SMALL, path)
    return path, pq.read_table(path)


def test_the_same_spec_writes_the_same_bytes_and_another_seed_other_orders(
    tmp_path: Path, small_store: tuple[Path, pa.Table]
) -> None:
    path, _table = small_store
    again = tmp_path / "again.parquet"
    other = tmp_path / "other.parquet"
    write_store(SMALL, again)
    write_store(StoreSpec(products=2_000, shoppers=1_500, orders=6_000, seed=8), other)
    assert again.read_bytes() == path.read_bytes()
    assert pq.read_table(other)["product_id"] != pq.read_table(path)["product_id"]


def test_the_project_order_log_reader_reads_every_line_and_drops_none(
    small_store: tuple[Path, pa.Table],
) -> None:
    path, table = small_store
    log = read_orders_file(path)
    assert log.order_count == SMALL.orders
    assert log.line_count == table.num_rows
    assert sum(log.dropped.values()) == 0
    first = log.orders[0].lines[0]
    assert first.category is not None and first.category.startswith("dept-")
    assert [o.ts_ms for o in log.orders] == sorted(o.ts_ms for o in log.orders)


def test_orders_stay_unique_and_in_time_order_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthstore, "CHUNK_ORDERS", 300)
    path = tmp_path / "chunked.parquet"
    write_store(StoreSpec(products=500, shoppers=200, orders=1_000, seed=1), path)
    assert pq.ParquetFile(path).num_row_groups == 4
    log = read_orders_file(path)
    assert log.order_count == 1_000
    assert len({o.order_id for o in log.orders}) == 1_000
    assert all(len({line.product_id for line in o.lines}) == len(o.lines) for o in log.orders)


def test_basket_sizes_average_about_eight_lines_with_a_long_tail(
    small_store: tuple[Path, pa.Table],
) -> None:
    stats = store_stats(small_store[1])
    assert 6.5 <= stats["basket_lines_mean"] <= 9.0
    assert stats["basket_lines_p50"] < stats["basket_lines_mean"]  # skewed right
    assert stats["basket_lines_max"] >= 60


def test_a_few_products_carry_a_large_share_of_the_lines(
    small_store: tuple[Path, pa.Table],
) -> None:
    stats = store_stats(small_store[1])
    # Uniform popularity would give the top 1% about 1% and the top 10% about 10%.
    assert stats["top1pct_products_line_share"] > 0.08
    assert stats["top10pct_products_line_share"] > 0.35
    assert stats["popularity_slope"] < -0.4


def test_repeat_shoppers_have_heavy_tailed_order_counts(
    small_store: tuple[Path, pa.Table],
) -> None:
    stats = store_stats(small_store[1])
    assert stats["repeat_shopper_share"] > 0.3
    assert stats["orders_per_shopper_max"] > 10 * stats["orders_per_shopper_p50"]


def _same_group_pairs(table: pa.Table, group: np.ndarray) -> int:
    """Pairs of lines of one order whose products share a complement group."""
    order = pa.compute.dictionary_encode(table["order_id"]).combine_chunks().indices.to_numpy()
    product = np.array([int(p[1:]) for p in table["product_id"].to_pylist()])
    _keys, counts = np.unique(
        order.astype(np.int64) * (group.max() + 1) + group[product], return_counts=True
    )
    return int((counts * (counts - 1) // 2).sum())


def test_complements_co_occur_far_more_often_than_chance(
    small_store: tuple[Path, pa.Table],
) -> None:
    table = small_store[1]
    group = build_catalog(SMALL).group
    shuffled = np.random.default_rng(0).permutation(group)
    assert _same_group_pairs(table, group) > 5 * max(1, _same_group_pairs(table, shuffled))


def test_complement_groups_are_cut_from_a_pair_of_leaf_categories() -> None:
    catalog = build_catalog(SMALL)
    groups = int(catalog.group.max()) + 1
    leaves = np.zeros(groups, dtype=np.int64)
    for g in range(groups):
        leaves[g] = len(set(catalog.leaf[catalog.group == g].tolist()))
    # Only a group cut across the boundary of two pairs spans more than two leaves.
    assert (leaves <= 2).mean() > 0.9
    assert (catalog.group_size == 4).sum() >= groups - 1


def test_catalog_events_cover_every_product_and_pass_the_contract() -> None:
    events = list(catalog_events(SMALL))
    assert len({e["product_id"] for e in events}) == SMALL.products
    for event in events[:200]:
        CatalogEvent.model_validate(event)
    prices = np.array([e["unit_price"] for e in events])
    assert prices.min() > 0 and np.median(prices) < prices.max() / 3  # log-normal tail


@pytest.mark.parametrize(
    "bad",
    [
        {"products": 2},
        {"orders": 0},
        {"shoppers": 0},
        {"complement_share": 1.0},
        {"mean_basket_lines": 1.0},
        {"days": 0},
    ],
)
def test_an_impossible_spec_is_refused(bad: dict[str, float]) -> None:
    fields = {"products": 100, "shoppers": 10, "orders": 10, **bad}
    with pytest.raises(ValueError):
        StoreSpec(**fields)  # type: ignore[arg-type]


def test_store_stats_of_a_hand_made_log() -> None:
    table = pa.table(
        {
            "order_id": ["a", "a", "a", "b", "c", "c"],
            "shopper_id": ["s1", "s1", "s1", "s1", None, None],
            "product_id": ["x", "y", "z", "x", "x", "y"],
            "unit_price": [1.0, 2.0, 3.0, 1.0, 1.0, 2.0],
        }
    )
    stats = store_stats(table)
    assert stats["orders"] == 3 and stats["lines"] == 6 and stats["products"] == 3
    assert stats["basket_lines_mean"] == 2.0 and stats["basket_lines_max"] == 3
    assert stats["shoppers"] == 1 and stats["orders_per_shopper_max"] == 2
    assert stats["guest_order_share"] == pytest.approx(1 / 3)
    assert stats["top1pct_products_line_share"] == pytest.approx(3 / 6)  # x: 3 of 6 lines


def test_compare_prints_the_store_next_to_the_shipped_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.parquet"
    synthstore.main(
        [
            "--products",
            "300",
            "--shoppers",
            "100",
            "--orders",
            "400",
            "--out",
            str(out),
            "--compare",
        ]
    )
    printed = capsys.readouterr().out
    assert "| statistic | synthetic (s.parquet) | UCI sample (shipped) |" in printed
    assert "| basket_lines_p99 |" in printed and "| products_gini |" in printed


def test_a_bad_spec_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        synthstore.main(["--products", "2", "--out", str(tmp_path / "s.parquet")])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().startswith("synthstore: products must be")


def test_comparison_table_has_one_column_per_store() -> None:
    text = comparison_table({"a": {"n": 1, "x": 0.5}, "b": {"n": 2, "x": 1234.5}})
    assert text.splitlines()[2] == "| n | 1 | 2 |"
    assert text.splitlines()[3] == "| x | 0.500 | 1,234 |"

"""The ranker bench (bench.ranker) runs at a tiny size and reports what it measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import ranker


def test_a_tiny_run_times_every_round_and_fingerprints_the_offers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASKETLIFT_BENCH_RESULTS", str(tmp_path))
    ranker.main(["--rounds", "2", "--carts", "40", "--name", "tiny"])
    result = json.loads((tmp_path / "ranker.json").read_text())["tiny"]
    assert result["carts"] == 40
    assert result["products_indexed"] > 1000  # the shipped sample's catalogue
    assert len(result["ms_per_decision_rounds"]) == 2
    assert result["ms_per_decision_best"] <= result["ms_per_decision_median"]
    assert len(result["offers_checksum"]) == 16
    assert result["machine"]["commit"]


def test_the_offers_fingerprint_follows_the_offers() -> None:
    workload = ranker.prepare(carts=30)
    same = ranker.time_rounds(workload, rounds=1)["offers_checksum"]
    assert ranker.time_rounds(workload, rounds=1)["offers_checksum"] == same
    fewer = ranker.Workload(
        workload.context, workload.cases[:29], workload.profiles[:29], workload.observed
    )
    assert ranker.time_rounds(fewer, rounds=1)["offers_checksum"] != same


def test_synthetic_stores_are_indexed_with_their_whole_catalog_and_timed_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASKETLIFT_BENCH_RESULTS", str(tmp_path))
    ranker.main(
        [
            "--store-products", "2000,500",
            "--store-orders", "300",
            "--store-shoppers", "100",
            "--carts", "25",
            "--rounds", "2",
            "--name", "stores",
        ]
    )  # fmt: skip
    result = json.loads((tmp_path / "ranker.json").read_text())["stores"]
    sizes = result["sizes"]
    assert [s["catalog_products"] for s in sizes] == [500, 2000]
    # 300 orders touch far fewer products than the catalog: the index holds the catalog too.
    assert [s["products_indexed"] for s in sizes] == [500, 2000]
    assert all(len(s["ms_per_decision_rounds"]) == 2 and s["carts"] == 25 for s in sizes)
    assert sizes[0]["median_over_smallest"] == 1.0
    expected = sizes[1]["ms_per_decision_median"] / sizes[0]["ms_per_decision_median"]
    assert sizes[1]["median_over_smallest"] == pytest.approx(expected, abs=0.002)
    assert result["store"] == {"orders": 300, "shoppers": 100, "seed": 0}

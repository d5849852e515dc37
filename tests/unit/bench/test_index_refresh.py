"""The index refresh bench (bench.index_refresh) runs at a tiny size and reports what it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import index_refresh


def test_a_tiny_run_reports_full_builds_and_refreshes_of_the_changed_products(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASKETLIFT_BENCH_RESULTS", str(tmp_path))
    index_refresh.main(
        ["--products", "300", "--changes", "5,40", "--k", "8", "--categories", "7",
         "--repeats", "2", "--name", "tiny"]
    )  # fmt: skip
    result = json.loads((tmp_path / "index_refresh.json").read_text())["tiny"]
    (size,) = result["sizes"]
    assert size["products"] == 300
    assert len(size["full_build_seconds"]) == 2
    assert {k: v["products_indexed"] for k, v in size["refresh"].items()} == {"5": 5, "40": 40}
    for refresh in size["refresh"].values():
        assert len(refresh["seconds"]) == 2
        assert refresh["over_full_build"] > 0
    assert result["machine"]["commit"]


def test_the_synthetic_graph_catalogues_every_product_with_at_most_k_neighbours() -> None:
    states, catalog = index_refresh.synthetic_graph(200, 6, 5, seed=1)
    products = [s for s in states if not s.product_id.startswith("\x00")]
    assert len(products) == 200 == len(catalog)
    assert all(len(s.neighbours) <= 6 and s.product_id not in s.neighbours for s in products)
    assert len({e.category for e in catalog.values()}) == 5

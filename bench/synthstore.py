"""A synthetic store: a seeded, reproducible order log of any size, in the ``orders`` format.

The shipped sample has 2,757 products; real stores carry 50,000 to millions. This module
writes an order log of the project's ``orders`` format (``streams.tools.replay.orderlog``:
Parquet, ``ORDERS_SCHEMA``), so ``basketlift replay``, ``basketlift evaluate`` and the benches
take it like the real sample. What it models, each drawn with numpy from the seed:

- a category tree: departments, each holding leaf categories (``dept-03/cat-0042``), of
  unequal sizes (leaf weights fall as rank^-0.7);
- power-law product popularity: each product has a popularity rank (a random permutation)
  and a line picks rank r with probability proportional to (r + 1)^-popularity_exponent;
- prices log-normal per leaf category: each leaf has its own median (itself log-normal
  around 5.0) and spread; a product keeps one price in every line;
- basket sizes: 1 + floor(X), X log-normal, mean about ``mean_basket_lines`` (8) with a
  long tail (baskets of 100+ lines appear at about 1 order in 1,000; capped at
  ``MAX_BASKET_LINES``);
- repeat shoppers with heavy-tailed order counts: a shopper's share of the orders is
  1 + Pareto(shopper_pareto_shape); a ``guest_share`` of orders have no shopper;
- cross-sell: leaf categories are paired, and the products of a pair are cut into
  complement groups of ``COMPLEMENT_GROUP_SIZE``; after a basket's first line, each line is,
  with probability ``complement_share``, a member of the previous line's complement group
  instead of a popularity draw, so complements co-occur far more often than chance;
- quantities 1 + Geometric; order times at exponential gaps over ``days`` from ``start``.

A product appears at most once per order (later duplicates are dropped before writing, so
the reader's ``merged_repeat_line`` count stays 0). Orders are generated and written in
chunks of ``CHUNK_ORDERS`` orders, so memory is that of the catalog and shopper arrays plus
one chunk: a 1,000,000-product, 5,000,000-shopper store needs a few hundred MiB whatever the
order count. The catalog and the shoppers come from their own random streams, so
``catalog_events`` yields a store's full catalog (every product, also those never ordered)
without generating its orders. The same ``StoreSpec`` gives byte-identical Parquet files.

Usage (from the repository root)::

    .venv/bin/python -m bench.synthstore --products 10000 --shoppers 20000 --orders 50000 \\
        --seed 1 --out /tmp/store.parquet [--compare [--uci-dir DIR]]

``--compare`` prints the file's statistics (basket-size quantiles, popularity skew, orders
per shopper, prices) side by side with the shipped real sample and, with ``--uci-dir``,
the two UCI files (``online_retail_2009_2010.parquet``, ``online_retail_2010_2011.parquet``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streams.resources import SAMPLE_ORDERS
from streams.tools.replay.orderlog import ORDERS_SCHEMA, read_online_retail
from streams.units import DAY_MS

__all__ = [
    "CHUNK_ORDERS",
    "COMPLEMENT_GROUP_SIZE",
    "MAX_BASKET_LINES",
    "StoreCatalog",
    "StoreSpec",
    "build_catalog",
    "catalog_events",
    "comparison_table",
    "order_tables",
    "store_stats",
    "write_store",
]

CHUNK_ORDERS = 20_000
"""Orders generated (and written as one Parquet row group) at a time."""
MAX_BASKET_LINES = 400
"""Largest basket drawn (before duplicate products are dropped)."""
COMPLEMENT_GROUP_SIZE = 4
"""Products per complement group (cut from a pair of leaf categories)."""
PRODUCTS_PER_LEAF = 500
"""About this many products per leaf category (at least 8 and at most 2,000 leaves)."""
LEAVES_PER_DEPARTMENT = 20
BASKET_SIGMA = 1.0
"""Sigma of the log-normal basket size draw (the tail's weight)."""
UCI_FILES = ("online_retail_2009_2010.parquet", "online_retail_2010_2011.parquet")


@dataclass(frozen=True)
class StoreSpec:
    """Everything that decides a synthetic store: the same spec gives the same file."""

    products: int
    shoppers: int
    orders: int
    seed: int = 0
    days: float = 365.0
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    mean_basket_lines: float = 8.0
    popularity_exponent: float = 0.8
    complement_share: float = 0.3
    guest_share: float = 0.05
    shopper_pareto_shape: float = 1.5

    def __post_init__(self) -> None:
        if self.products < COMPLEMENT_GROUP_SIZE:
            raise ValueError(f"products must be at least {COMPLEMENT_GROUP_SIZE}")
        if self.shoppers < 1 or self.orders < 1:
            raise ValueError("shoppers and orders must be at least 1")
        if self.mean_basket_lines < 1.5:
            raise ValueError("mean_basket_lines must be at least 1.5")
        if not 0 <= self.complement_share < 1 or not 0 <= self.guest_share < 1:
            raise ValueError("complement_share and guest_share must be in [0, 1)")
        if self.days <= 0 or self.popularity_exponent <= 0 or self.shopper_pareto_shape <= 0:
            raise ValueError("days, popularity_exponent and shopper_pareto_shape must be > 0")

    def rng(self, stream: int) -> np.random.Generator:
        """The random stream `stream` of this store (0 catalog, 1 shoppers, 2 orders)."""
        return np.random.default_rng([self.seed, stream])


@dataclass(frozen=True)
class StoreCatalog:
    """The products of a store, as arrays indexed by product number (id ``P%07d``)."""

    product_ids: pa.Array
    """Product id strings."""
    leaf: np.ndarray
    """Leaf category number of each product."""
    leaf_names: pa.Array
    """Category label of each leaf (``dept-DD/cat-LLLL``)."""
    price: np.ndarray
    """Unit price of each product."""
    group: np.ndarray
    """Complement group of each product."""
    group_members: np.ndarray
    """Product numbers sorted by group: group g is group_members[group_start[g]:...]."""
    group_start: np.ndarray
    group_size: np.ndarray
    product_of_rank: np.ndarray
    """Product number of each popularity rank (0 is the most popular)."""
    rank_cdf: np.ndarray
    """Cumulative draw probability by popularity rank."""


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative distribution of weights, ending exactly at 1."""
    cdf = np.cumsum(weights, dtype=np.float64)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _draw(cdf: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """n indices drawn from a cumulative distribution."""
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def build_catalog(spec: StoreSpec) -> StoreCatalog:
    """The store's products: categories, prices, complement groups and popularity."""
    rng = spec.rng(0)
    n = spec.products
    leaves = int(np.clip(n // PRODUCTS_PER_LEAF, 8, 2000))
    departments = max(2, math.ceil(leaves / LEAVES_PER_DEPARTMENT))
    leaf_department = rng.integers(0, departments, leaves)
    leaf_names = pa.array(
        [f"dept-{leaf_department[c]:02d}/cat-{c:04d}" for c in range(leaves)], pa.string()
    )
    leaf_weights = rng.permutation((1.0 + np.arange(leaves)) ** -0.7)
    leaf = _draw(_cdf(leaf_weights), rng, n)
    # Prices: log-normal per leaf, each leaf with its own median and spread.
    leaf_mu = rng.normal(math.log(5.0), 0.8, leaves)
    leaf_sigma = rng.uniform(0.3, 0.7, leaves)
    price = np.round(np.exp(rng.normal(leaf_mu[leaf], leaf_sigma[leaf])), 2)
    price = np.maximum(price, 0.01)
    # Complement groups: leaves are paired; products of a pair are cut into groups.
    leaf_order = rng.permutation(leaves)
    pair_of_leaf = np.empty(leaves, dtype=np.int64)
    pair_of_leaf[leaf_order] = np.arange(leaves) // 2
    members = np.lexsort((rng.random(n), pair_of_leaf[leaf]))
    group = np.empty(n, dtype=np.int64)
    group[members] = np.arange(n) // COMPLEMENT_GROUP_SIZE
    groups = int(group.max()) + 1
    group_size = np.bincount(group, minlength=groups)
    group_start = np.concatenate(([0], np.cumsum(group_size)[:-1]))
    product_of_rank = rng.permutation(n)
    rank_cdf = _cdf((1.0 + np.arange(n)) ** -spec.popularity_exponent)
    product_ids = pa.array([f"P{i:07d}" for i in range(n)], pa.string())
    return StoreCatalog(
        product_ids=product_ids,
        leaf=leaf,
        leaf_names=leaf_names,
        price=price,
        group=group,
        group_members=members,
        group_start=group_start,
        group_size=group_size,
        product_of_rank=product_of_rank,
        rank_cdf=rank_cdf,
    )


def _shopper_cdf(spec: StoreSpec) -> np.ndarray:
    """Cumulative order share of the shoppers: heavy-tailed (1 + Pareto) weights."""
    rng = spec.rng(1)
    return _cdf(1.0 + rng.pareto(spec.shopper_pareto_shape, spec.shoppers))


def _basket_sizes(spec: StoreSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Lines drawn per basket: 1 + floor(log-normal), mean about spec.mean_basket_lines."""
    mu = math.log(spec.mean_basket_lines - 0.5) - BASKET_SIGMA**2 / 2
    sizes = 1 + np.floor(rng.lognormal(mu, BASKET_SIGMA, n)).astype(np.int64)
    return np.minimum(sizes, MAX_BASKET_LINES)


def order_tables(spec: StoreSpec, catalog: StoreCatalog | None = None) -> Iterator[pa.Table]:
    """The store's order lines, ``CHUNK_ORDERS`` orders per table, in time order."""
    catalog = catalog or build_catalog(spec)
    shopper_cdf = _shopper_cdf(spec)
    rng = spec.rng(2)
    mean_gap_ms = spec.days * DAY_MS / spec.orders
    clock_ms = float(spec.start.timestamp() * 1000)
    product_count = spec.products
    for first in range(0, spec.orders, CHUNK_ORDERS):
        n = min(CHUNK_ORDERS, spec.orders - first)
        sizes = _basket_sizes(spec, rng, n)
        gaps = rng.exponential(mean_gap_ms, n)
        order_ts = (clock_ms + np.cumsum(gaps)).astype(np.int64)
        clock_ms += float(gaps.sum())
        shopper = _draw(shopper_cdf, rng, n)
        guest = rng.random(n) < spec.guest_share
        # Lines: a popularity draw each; after the first line of a basket, some are swapped
        # for a member of the previous line's complement group.
        line_order = np.repeat(np.arange(n, dtype=np.int64), sizes)
        product = catalog.product_of_rank[_draw(catalog.rank_cdf, rng, len(line_order))]
        first_line = np.zeros(len(line_order), dtype=bool)
        first_line[np.concatenate(([0], np.cumsum(sizes)[:-1]))] = True
        swap = ~first_line & (rng.random(len(line_order)) < spec.complement_share)
        swapped = np.flatnonzero(swap)
        previous_group = catalog.group[product[swapped - 1]]
        offset = (rng.random(len(swapped)) * catalog.group_size[previous_group]).astype(np.int64)
        product[swapped] = catalog.group_members[catalog.group_start[previous_group] + offset]
        quantity = rng.geometric(0.5, len(line_order)).astype(np.int64)
        # A product once per order: keep each (order, product)'s first line.
        _, kept = np.unique(line_order * product_count + product, return_index=True)
        kept.sort()
        line_order, product, quantity = line_order[kept], product[kept], quantity[kept]
        order_ids = pa.array([f"O{first + i:09d}" for i in range(n)], pa.string())
        shopper_ids = pa.array(
            [
                None if g else f"U{s:08d}"
                for s, g in zip(shopper.tolist(), guest.tolist(), strict=True)
            ],
            pa.string(),
        )
        product_rows = pa.array(product)
        yield pa.Table.from_arrays(
            [
                order_ids.take(pa.array(line_order)),
                shopper_ids.take(pa.array(line_order)),
                pa.array(order_ts[line_order], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
                catalog.product_ids.take(product_rows),
                pa.array(quantity, pa.int64()),
                pa.array(catalog.price[product], pa.float64()),
                catalog.leaf_names.take(pa.array(catalog.leaf[product])),
                pa.nulls(len(product), pa.string()),
            ],
            schema=ORDERS_SCHEMA,
        )


def write_store(spec: StoreSpec, path: Path) -> dict[str, Any]:
    """Write the store's order log (Parquet, zstd) chunk by chunk; return counts."""
    if not path.name.endswith((".parquet", ".pq")):
        raise ValueError(f"{path}: the orders file is Parquet; use a .parquet name")
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog(spec)
    lines = 0
    with pq.ParquetWriter(path, ORDERS_SCHEMA, compression="zstd") as writer:
        for table in order_tables(spec, catalog):
            writer.write_table(table)
            lines += table.num_rows
    return {"orders": spec.orders, "lines": lines, "bytes": path.stat().st_size}


def catalog_events(spec: StoreSpec, ts_ms: int | None = None) -> Iterator[dict[str, Any]]:
    """One ``shop.catalog`` event per product of the store (ordered or not), in stock."""
    catalog = build_catalog(spec)
    ts = int(spec.start.timestamp() * 1000) if ts_ms is None else ts_ms
    names = catalog.leaf_names.to_pylist()
    for number, (product_id, leaf, price) in enumerate(
        zip(
            catalog.product_ids.to_pylist(),
            catalog.leaf.tolist(),
            catalog.price.tolist(),
            strict=True,
        )
    ):
        yield {
            "event_id": f"{product_id}@{ts}",
            "ts": ts + number % 1000,
            "product_id": product_id,
            "category": names[leaf],
            "unit_price": price,
            "in_stock": True,
        }


# --------------------------------------------------------------------------- statistics


def _quantiles(values: np.ndarray, qs: tuple[float, ...]) -> dict[str, float]:
    return {f"p{q:g}": float(np.percentile(values, q)) for q in qs}


def store_stats(table: pa.Table) -> dict[str, Any]:
    """Distribution facts of an orders-format table (``order_id, shopper_id, product_id,
    unit_price``): basket sizes, product popularity skew, orders per shopper, prices."""
    orders = pc.dictionary_encode(table["order_id"]).combine_chunks()
    order_index = orders.indices.to_numpy(zero_copy_only=False)
    basket = np.bincount(order_index)
    products = pc.dictionary_encode(table["product_id"]).combine_chunks()
    lines_per_product = np.sort(np.bincount(products.indices.to_numpy(zero_copy_only=False)))[::-1]
    n_products = len(lines_per_product)
    share = np.cumsum(lines_per_product) / lines_per_product.sum()
    cumulative = np.cumsum(np.sort(lines_per_product))
    gini = float(1 - 2 * (cumulative.sum() / cumulative[-1]) / n_products + 1 / n_products)
    # Popularity slope: least squares of log(lines) on log(rank) over ranks 10 .. n/10.
    low, high = 10, max(11, n_products // 10)
    ranks = np.arange(1, n_products + 1)[low - 1 : high]
    slope = float(
        np.polyfit(np.log(ranks), np.log(lines_per_product[low - 1 : high]), 1)[0]
        if len(ranks) >= 2
        else float("nan")
    )
    first_line = np.unique(order_index, return_index=True)[1]
    order_shopper = pc.take(table["shopper_id"], pa.array(first_line)).combine_chunks()
    known = order_shopper.filter(pc.is_valid(order_shopper))
    shopper_orders = np.bincount(pc.dictionary_encode(known).indices.to_numpy(zero_copy_only=False))
    prices = table["unit_price"].to_numpy()
    qs = (10, 50, 90, 99)
    return {
        "orders": len(basket),
        "lines": table.num_rows,
        "products": n_products,
        "shoppers": len(shopper_orders),
        "guest_order_share": 1 - len(known) / len(basket),
        "basket_lines_mean": float(basket.mean()),
        **{f"basket_lines_{k}": v for k, v in _quantiles(basket, qs).items()},
        "basket_lines_max": int(basket.max()),
        "top1pct_products_line_share": float(share[max(0, math.ceil(n_products / 100) - 1)]),
        "top10pct_products_line_share": float(share[max(0, math.ceil(n_products / 10) - 1)]),
        "products_gini": gini,
        "popularity_slope": slope,
        "orders_per_shopper_mean": float(shopper_orders.mean()) if len(shopper_orders) else 0.0,
        **{
            f"orders_per_shopper_{k}": v
            for k, v in _quantiles(shopper_orders, (50, 90, 99)).items()
        },
        "orders_per_shopper_max": int(shopper_orders.max()) if len(shopper_orders) else 0,
        "repeat_shopper_share": float((shopper_orders >= 2).mean()),
        **{f"unit_price_{k}": v for k, v in _quantiles(prices, (10, 50, 90)).items()},
    }


def comparison_table(columns: dict[str, dict[str, Any]]) -> str:
    """The statistics of several stores as a Markdown table, one column per store."""
    names = list(columns)
    keys = list(next(iter(columns.values())))
    lines = [
        "| statistic | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in keys:
        cells = []
        for name in names:
            value = columns[name].get(key)
            if isinstance(value, float):
                cells.append(f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}")
            else:
                cells.append(f"{value:,}" if isinstance(value, int) else str(value))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reference_stats(uci_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Statistics of the shipped real sample and, when given, the two UCI files."""
    references = {"UCI sample (shipped)": store_stats(pq.read_table(SAMPLE_ORDERS))}
    if uci_dir is not None:
        files = [uci_dir / name for name in UCI_FILES]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise SystemExit(f"synthstore: --uci-dir lacks {', '.join(missing)}")
        references["UCI two years"] = store_stats(read_online_retail(files).to_table())
    return references


def main(argv: list[str] | None = None) -> None:
    """Write a synthetic store and optionally compare it with the real data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--shoppers", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=float, default=365.0, help="Time the orders span.")
    parser.add_argument("--mean-basket-lines", type=float, default=8.0)
    parser.add_argument("--popularity-exponent", type=float, default=0.8)
    parser.add_argument("--complement-share", type=float, default=0.3)
    parser.add_argument("--out", type=Path, help="Orders file to write (.parquet).")
    parser.add_argument(
        "--compare", action="store_true", help="Print statistics next to the real data."
    )
    parser.add_argument("--uci-dir", type=Path, help="Directory of the two UCI files.")
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("--out FILE is required")
    try:
        spec = StoreSpec(
            products=args.products,
            shoppers=args.shoppers,
            orders=args.orders,
            seed=args.seed,
            days=args.days,
            mean_basket_lines=args.mean_basket_lines,
            popularity_exponent=args.popularity_exponent,
            complement_share=args.complement_share,
        )
    except ValueError as error:
        print(f"synthstore: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    started = time.monotonic()
    written = write_store(spec, args.out)
    print(
        f"wrote {args.out}: {written['orders']:,} orders, {written['lines']:,} lines, "
        f"{written['bytes']:,} bytes in {time.monotonic() - started:.1f}s"
    )
    if args.compare:
        columns = {f"synthetic ({args.out.name})": store_stats(pq.read_table(args.out))}
        columns.update(_reference_stats(args.uci_dir))
        print(comparison_table(columns))


if __name__ == "__main__":
    main()

"""streams/tools/evaluation: the protocol on small synthetic order logs whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import main
from streams.copurchase.model import (
    CopurchaseConfig,
    OrderFacts,
    ProductState,
    deltas_for_order,
)
from streams.profiles.model import ProfileConfig
from streams.tools.evaluation import (
    RANKER_NAMES,
    fold_orders,
    make_case,
    make_cases,
    parse_split_at,
    run_evaluation,
)
from streams.tools.evaluation.report import report_table, write_plot
from streams.tools.replay.orderlog import Order, OrderLine, OrderLog, write_orders_file
from streams.units import DAY_MS

SPLIT = parse_split_at("2024-03-01")
PRICE = 3.0


def order(order_id: str, ts_ms: int, *products: str, shopper: str | None = None) -> Order:
    prices = {p: PRICE for p in products}
    lines = tuple(
        OrderLine(order_id, shopper, ts_ms, p, 1, prices[p], f"cat-{p[0]}", None) for p in products
    )
    return Order(order_id, shopper, ts_ms, lines)


def planted_log(test_pairs: int = 4, unknown: int = 1) -> OrderLog:
    """Training: pairs (xi, yi) bought together 5 times each, plus filler orders; test: the
    pairs once more (each can be completed from the other) and `unknown` orders of two
    products never seen in training (neither can be offered). Every price is PRICE."""
    orders = []
    ts = SPLIT - 40 * DAY_MS
    for i in range(test_pairs):
        for n in range(5):
            ts += 3_600_000
            orders.append(order(f"t{i}-{n}", ts, f"x{i}", f"y{i}"))
    for n in range(3):
        ts += 3_600_000
        orders.append(order(f"f{n}", ts, "filler", f"x{n}"))
    ts = SPLIT
    for i in range(test_pairs):
        orders.append(order(f"test{i}", ts, f"x{i}", f"y{i}"))
        ts += 3_600_000
    for n in range(unknown):
        orders.append(order(f"new{n}", ts, f"new-a{n}", f"new-b{n}"))
        ts += 3_600_000
    orders.append(order("single", ts, "x0"))  # one product: not a case
    return OrderLog(tuple(orders))


# --------------------------------------------------------------------------- cases


def test_a_case_hides_one_product_and_keeps_the_rest_in_basket_order() -> None:
    products = [f"p{i:02d}" for i in range(30)]
    big = order("big", SPLIT, *products)
    case = make_case(big, seed=7)
    assert case is not None
    cart = [item.product_id for item in case.cart]
    assert case.hidden in products and case.hidden not in cart
    assert len(cart) == 20 and len(set(cart)) == 20
    assert cart == sorted(cart)  # basket order kept
    assert case.hidden_price == PRICE
    # Bought outside the cart: the hidden product and the 9 the cart cap left out.
    assert case.bought == frozenset(products) - frozenset(cart)
    assert case.hidden in case.bought and len(case.bought) == 10
    small = make_case(order("small", SPLIT, "a", "b", "c"), seed=7)
    assert small is not None and len(small.cart) == 2 and small.bought == {small.hidden}
    assert make_case(order("one", SPLIT, "a"), seed=7) is None


def test_cases_are_seeded_per_order() -> None:
    orders = [order(f"o{i}", SPLIT + i, *[f"p{j}" for j in range(10)]) for i in range(40)]
    first = make_cases(orders, seed=1)
    assert first == make_cases(orders, seed=1)
    assert [c.hidden for c in first] != [c.hidden for c in make_cases(orders, seed=2)]
    # A case does not depend on the other orders evaluated.
    assert make_cases(orders[5:], seed=1) == first[5:]
    # Every product gets hidden sometimes (uniform choice, not always the same position).
    hidden = {c.hidden for c in make_cases(orders, seed=3)}
    assert len(hidden) >= 6


# --------------------------------------------------------------------------- the protocol


@pytest.mark.parametrize("k", [1, 2, 3])
def test_planted_pairs_are_found_and_metrics_follow_the_protocol(k: int) -> None:
    report = run_evaluation(planted_log(test_pairs=4, unknown=1), SPLIT, k=k)
    assert report.test_orders == 6  # 4 pairs, 1 unknown pair, 1 single-product order
    for name in ("copurchase_count", "copurchase_plain", "basketlift"):
        result = report.results[name]
        assert result.cases == 5
        assert result.hits == 4  # the planted partner is the strongest neighbour
        assert result.hit_at_k == pytest.approx(4 / 5)
        # revenue = the hidden line's unit price per hit, over (cases x k) impressions
        assert result.revenue_per_impression == pytest.approx(4 * PRICE / (5 * k))
        # Two-product orders: an offer is accepted exactly when it is a hit.
        assert len(result.accepted) == result.offers and sum(result.accepted) == 4
    if k == 1:
        # Popularity ranks the same candidates by purchases; the partner is always the most
        # purchased one (with k > 1 the fallbacks can outrank it).
        assert report.results["popularity"].hits == 4


def test_coverage_counts_distinct_offers_over_the_training_catalogue() -> None:
    report = run_evaluation(planted_log(test_pairs=4, unknown=0), SPLIT, k=1)
    # Training products: x0..x3, y0..y3 and filler = 9; k=1 offers the 4 hidden partners.
    assert report.catalogue_size == 9
    offered = report.results["copurchase_count"].offered
    assert report.results["copurchase_count"].coverage == pytest.approx(len(offered) / 9)
    assert len(offered) == 4


def test_the_split_is_respected() -> None:
    log = planted_log()
    report = run_evaluation(log, SPLIT, k=1)
    assert report.train_orders == sum(1 for o in log.orders if o.ts_ms < SPLIT)
    # An order exactly at the split is a test order; test products never reach the state.
    assert report.results["basketlift"].cases == 5
    later = run_evaluation(log, SPLIT + 3_600_000, k=1)
    assert later.train_orders == report.train_orders + 1
    assert later.results["basketlift"].cases == 4
    # The new products of the test period are unknown to the frozen state: never offered.
    for result in report.results.values():
        assert not any(p.startswith("new") for p in result.offered)


def test_limit_orders_takes_the_first_test_orders() -> None:
    report = run_evaluation(planted_log(), SPLIT, k=1, limit_orders=2)
    assert report.test_orders == 2
    assert report.results["basketlift"].cases == 2


def test_refresh_folds_the_test_orders_as_it_goes() -> None:
    # The new pair is bought twice after the split, a day apart: with daily refresh the
    # second purchase can be completed from the first; frozen it cannot.
    base = planted_log(test_pairs=1, unknown=0).orders
    extra = (
        order("n1", SPLIT + 5 * DAY_MS, "new-a", "new-b"),
        order("n2", SPLIT + 7 * DAY_MS, "new-a", "new-b"),
    )
    log = OrderLog(base + extra)
    frozen = run_evaluation(log, SPLIT, k=1)
    refreshed = run_evaluation(log, SPLIT, k=1, refresh_days=1)
    for name in ("copurchase_count", "copurchase_plain"):
        assert frozen.results[name].hits == 1
        assert refreshed.results[name].hits == 2
        assert refreshed.results[name].cases == 3


def test_copurchase_plain_counts_old_orders_as_much_as_new_ones() -> None:
    # x and "old" were bought together 10 times two years before the split, x and "new" 3
    # times in the last week. The decayed graph (90-day half-life) offers "new"; the plain
    # same-order count offers "old" (10 > 3), which the test order completes.
    orders = [order(f"old{i}", SPLIT - 730 * DAY_MS + i, "x", "old") for i in range(10)]
    orders += [order(f"new{i}", SPLIT - 7 * DAY_MS + i, "x", "new") for i in range(3)]
    orders.append(order("test", SPLIT, "x", "old"))
    report = run_evaluation(OrderLog(tuple(orders)), SPLIT, k=1)
    assert report.results["copurchase_count"].offered == {"new"}
    assert report.results["copurchase_plain"].offered == {"old"}
    cases = report.results["copurchase_plain"].cases
    assert report.results["copurchase_plain"].hits == cases  # every case hides x or old
    ratios = report.ratios()
    assert ratios["copurchase_plain"]["hit_at_k"] == 1.0
    assert ratios["copurchase_count"]["hit_at_k"] == pytest.approx(
        report.results["copurchase_count"].hit_at_k
    )


def test_seed_changes_hidden_products_not_the_protocol() -> None:
    log = planted_log(test_pairs=6, unknown=0)
    one = run_evaluation(log, SPLIT, k=1, seed=1).to_dict()
    again = run_evaluation(log, SPLIT, k=1, seed=1).to_dict()
    for report in (one, again):
        for metrics in report["rankers"].values():
            metrics.pop("decisions_per_second")
        report.pop("timings_seconds")
    assert one == again
    other = run_evaluation(log, SPLIT, k=1, seed=2)
    assert other.results["copurchase_count"].hit_at_k == pytest.approx(1.0)


# --------------------------------------------------------------------------- the state


def test_fold_equals_applying_every_order_one_by_one() -> None:
    # Without decay and with a large K the batched, newest-first merge must give exactly
    # what applying each order's deltas in turn gives.
    config = CopurchaseConfig(half_life_days=0.0, neighbours_k=10_000)
    orders = [
        order(f"o{i}", SPLIT + i * DAY_MS, *[f"p{(i * 7 + j) % 13}" for j in range(1 + i % 5)],
              shopper=f"s{i % 3}")
        for i in range(40)
    ]  # fmt: skip
    state = fold_orders(orders, copurchase=config, batch_orders=7)
    expected: dict[str, ProductState] = {}
    recent: dict[str, dict[str, int]] = {}
    profile_config = ProfileConfig()
    for o in orders:
        shopper = o.shopper_id or ""
        history = recent.get(shopper, {})
        facts = OrderFacts.from_lines(o.ts_ms, o.lines)
        for pid, delta in deltas_for_order(facts, history, config).items():
            expected[pid] = (expected.get(pid) or ProductState.empty(pid)).apply(delta, config)
        window = profile_config.recent_ms
        history = {p: t for p, t in history.items() if o.ts_ms - t <= window}
        history.update(dict.fromkeys(facts.product_ids, o.ts_ms))
        recent[shopper] = history
    products = state.product_states()
    assert products.keys() == expected.keys()
    for pid, want in expected.items():
        assert products[pid].purchases == want.purchases
        assert dict(products[pid].neighbours) == dict(want.neighbours)
    assert state.total_orders_state().purchases == len(orders)
    assert set(state.profiles) == {"s0", "s1", "s2"}


# --------------------------------------------------------------------------- output


def test_report_json_table_and_plot(tmp_path: Path) -> None:
    report = run_evaluation(planted_log(), SPLIT, k=2)
    data = json.loads(json.dumps(report.to_dict()))
    # Too few orders to fit an acceptance model on: basketlift_fitted is left out, and why.
    assert set(data["rankers"]) == set(RANKER_NAMES) - {"basketlift_fitted"}
    assert "too few orders" in data["acceptance_model_fit_error"]
    for metrics in data["rankers"].values():
        for key in ("hit_at_k", "revenue_per_impression", "coverage", "decisions_per_second"):
            assert isinstance(metrics[key], float)
    assert data["baseline"] == "copurchase_plain"
    assert data["ratios_vs_copurchase_plain"]["copurchase_plain"]["hit_at_k"] == 1.0
    for metrics in data["rankers"].values():
        deciles = metrics["calibration_deciles"]
        assert sum(d["offers"] for d in deciles) == metrics["offers"]
        assert 0.0 <= metrics["expected_calibration_error"] <= 1.0
    assert data["protocol"]["k"] == 2 and data["protocol"]["state"] == "frozen at the split"
    assert report_table(report).row_count == 4
    png = tmp_path / "eval.png"
    write_plot(report, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_prints_one_json_object(tmp_path: Path) -> None:
    path = write_orders_file(planted_log(), tmp_path / "orders.parquet")
    png = tmp_path / "plot.png"
    result = CliRunner().invoke(
        main,
        ["evaluate", "--orders", str(path), "--split-at", "2024-03-01", "--k", "2", "--json",
         "--plot", str(png)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rankers"]["basketlift"]["hit_at_k"] == pytest.approx(4 / 5)
    assert data["rankers"]["basketlift"]["revenue_per_impression"] == pytest.approx(
        4 * PRICE / (5 * 2)
    )
    assert png.exists()
    table = CliRunner().invoke(
        main, ["evaluate", "--orders", str(path), "--split-at", "2024-03-01"]
    )
    assert table.exit_code == 0, table.output
    assert "basketlift" in table.stdout and "copurchase_count" in table.stdout
    bad = CliRunner().invoke(main, ["evaluate", "--orders", str(path), "--split-at", "soon"])
    assert bad.exit_code != 0


def test_parse_split_at() -> None:
    assert parse_split_at("2011-09-01") == 1_314_835_200_000
    assert parse_split_at("2011-09-01T01:00:00") == 1_314_835_200_000 + 3_600_000
    assert parse_split_at("2011-09-01T01:00:00+01:00") == 1_314_835_200_000
    with pytest.raises(ValueError):
        parse_split_at("next tuesday")

"""streams/config.py: every domain config comes from the settings, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streams import cli
from streams.config import domain_configs
from streams.copurchase.model import CopurchaseConfig
from streams.settings import Settings


def test_default_settings_give_the_graphs_default_config() -> None:
    # The graph's defaults (K, decay, cross-order pairs) are chosen by the offline
    # evaluation; the settings and the pure config must not drift apart.
    assert domain_configs(Settings()).copurchase == CopurchaseConfig()
    assert Settings().neighbours_k == CopurchaseConfig().neighbours_k == 50


def test_each_domain_setting_reaches_its_config() -> None:
    settings = Settings(
        decay_half_life_days=30,
        neighbours_k=7,
        max_paired_products=9,
        consent_default_granted=False,
        profile_typical_orders=4,
        offers_top_n=2,
        offers_max_per_category=1,
        fatigue_max_impressions=5,
        attribution_cart_hours=2,
        free_shipping_base=60,
        batch_max=77,
    )
    configs = domain_configs(settings)
    assert configs.copurchase.half_life_days == 30
    assert configs.copurchase.neighbours_k == 7
    assert configs.copurchase.max_paired_products == 9
    assert configs.consent_default_granted is False
    assert configs.profile.typical_orders == 4
    assert configs.offers.decision.profile is configs.profile
    assert configs.offers.decision.ranker.top_n == 2
    assert configs.offers.decision.ranker.max_per_category == 1
    assert configs.offers.fatigue.max_impressions == 5
    assert configs.offers.attribution.cart_window_ms == 2 * 3_600_000
    assert configs.offers.decision.nudges.shipping_base == 60
    assert configs.batch_max == 77


def test_evaluate_runs_with_the_workers_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`basketlift evaluate` takes its domain configs from BASKETLIFT_* like the worker."""
    seen: dict[str, Any] = {}

    def run_evaluation(log: Any, split_ms: int, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise SystemExit(0)

    import streams.tools.evaluation.runner as runner
    import streams.tools.replay.orderlog as orderlog

    monkeypatch.setattr(runner, "run_evaluation", run_evaluation)
    monkeypatch.setattr(orderlog, "read_order_log", lambda files, fmt: object())
    monkeypatch.setenv("BASKETLIFT_NEIGHBOURS_K", "11")
    monkeypatch.setenv("BASKETLIFT_CONSENT_DEFAULT_GRANTED", "false")
    cli.get_settings.cache_clear()
    try:
        orders = tmp_path / "orders.csv"
        orders.write_text("")
        result = CliRunner().invoke(
            cli.main, ["evaluate", "--orders", str(orders), "--split-at", "2011-09-01"]
        )
    finally:
        cli.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert seen["configs"].copurchase.neighbours_k == 11
    assert seen["configs"].consent_default_granted is False

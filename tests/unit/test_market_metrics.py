"""The market step from Vast's own market metrics (`[pricing.market] source = "metrics"`): what renters pay,
moved by demand within documented bounds, and always through the same guard rails."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from core_values import GPU_NAME, NOW, machine
from hypothesis import given
from hypothesis import strategies as st

from hostagent.config.model import GuardConfig, MarketConfig, PricingConfig
from hostagent.core.market_metrics import demand_adjust_pct
from hostagent.core.model import GpuMetricsRow, GpuPricePoint, History, MarketSample
from hostagent.core.pricing import price

NO_GUARD = GuardConfig(floor_usd_per_gpu_hour=0.01, ceiling_usd_per_gpu_hour=100.0, max_change_pct=1000.0)
METRICS = MarketConfig(enabled=True, source="metrics")
BASE = PricingConfig(models=((GPU_NAME, 2.00),), guard=NO_GUARD, market=METRICS)


def metrics_sample(
    usage_pct: float = 83.0, rented: tuple[float | None, float | None, float | None] = (1.80, 2.10, 2.60),
    point_age_s: float = 300.0, gpu_name: str = GPU_NAME,
) -> MarketSample:
    row = GpuMetricsRow(gpu_name=gpu_name, total=100, available=17, usage_pct=usage_pct)
    older = GpuPricePoint(NOW.timestamp() - point_age_s - 300.0, 1.0, 1.0, 1.0)
    latest = GpuPricePoint(NOW.timestamp() - point_age_s, *rented)
    return MarketSample((), NOW, metrics=row, history=(older, latest))


def reason(cfg: PricingConfig, sample: MarketSample | None) -> str:
    return {r.step: r.text for r in price(cfg, machine(), sample, NOW, History()).reasons}["market"]


@pytest.mark.parametrize(("which", "expected"), [("p10", 1.80), ("median", 2.10), ("p90", 2.60)])
def test_the_target_is_the_chosen_percentile_of_the_latest_rented_prices(which: str, expected: float) -> None:
    """The newest history point counts; its rented percentile replaces the scheduled price."""
    cfg = replace(BASE, market=replace(METRICS, metrics_percentile=which))
    decision = price(cfg, machine(), metrics_sample(), NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(expected)
    assert decision.rule == "market"


def test_the_journal_reason_names_the_source_the_percentile_and_the_usage() -> None:
    """The reason reads like the issue asks: source, model, what renters paid, usage, the result."""
    cfg = replace(BASE, market=replace(METRICS, offset_usd_per_gpu_hour=-0.05))
    text = reason(cfg, metrics_sample())
    assert text.startswith("Vast metrics, H100 SXM rented median $2.10 (")
    assert "usage 83 % -> demand +0.0% = $2.10 + offset -$0.05 = $2.05 replaces $2.00" in text


def test_demand_raises_the_price_above_the_pivot_and_lowers_it_below() -> None:
    """With demand_adjust_pct 10 and pivot 70: usage 85 % -> +5 %, 35 % -> -5 %, 100 % -> +10 %."""
    cfg = replace(METRICS, demand_adjust_pct=10.0, demand_pivot_pct=70.0)
    assert demand_adjust_pct(cfg, 85.0) == pytest.approx(5.0)
    assert demand_adjust_pct(cfg, 35.0) == pytest.approx(-5.0)
    assert demand_adjust_pct(cfg, 100.0) == pytest.approx(10.0)
    assert demand_adjust_pct(cfg, 70.0) == 0.0
    decision = price(replace(BASE, market=cfg), machine(), metrics_sample(usage_pct=85.0), NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(2.10 * 1.05)


@given(st.floats(0.0, 100.0), st.floats(0.0, 50.0), st.floats(1.0, 99.0))
def test_the_demand_adjustment_never_leaves_its_bounds(usage: float, most: float, pivot: float) -> None:
    """Whatever the usage, the move stays within +-demand_adjust_pct."""
    cfg = replace(METRICS, demand_adjust_pct=most, demand_pivot_pct=pivot)
    assert -most - 1e-9 <= demand_adjust_pct(cfg, usage) <= most + 1e-9


@pytest.mark.parametrize(("sample", "why"), [
    (None, "no market metrics yet"),
    (replace(metrics_sample(), taken_at=NOW - timedelta(hours=2)), "metrics are 7200 s old"),
    (metrics_sample(gpu_name="RTX 4090"), "no H100 SXM row"),
    (replace(metrics_sample(), history=(GpuPricePoint(NOW.timestamp() - 300.0),)), "no rented median price"),
    (metrics_sample(point_age_s=7200.0), "the latest rented price is 7200 s old"),
])  # fmt: skip
def test_unusable_metrics_skip_the_step_with_a_reason_and_the_price_stays(sample: MarketSample | None,
                                                                         why: str) -> None:
    """No guess: the scheduled price stands and the journal says why."""
    decision = price(BASE, machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(2.00)
    text = reason(BASE, sample)
    assert text.startswith("Vast metrics: skipped: ")
    assert why in text
    assert text.endswith("keeping $2.00")


def test_a_newer_point_without_a_rented_price_leaves_the_latest_priced_one() -> None:
    """Vast sends null where no machine of the model was rented; the newest priced point still counts."""
    decision = price(BASE, machine(), metrics_sample(rented=(None, None, None)), NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(1.0)


def test_a_metrics_price_passes_the_same_guard_rails() -> None:
    """A dear market cannot lift the price past the ceiling, nor the largest change per cycle."""
    guard = GuardConfig(floor_usd_per_gpu_hour=0.5, ceiling_usd_per_gpu_hour=3.0, max_change_pct=15.0)
    cfg = replace(BASE, guard=guard)
    dear = metrics_sample(rented=(9.0, 9.5, 9.9))
    assert price(cfg, machine(), dear, NOW, History()).price_usd_per_gpu_hour == pytest.approx(3.0)
    remembered = History(last_published_price_usd_per_gpu_hour=2.0)
    assert price(cfg, machine(), dear, NOW, remembered).price_usd_per_gpu_hour == pytest.approx(2.30)


def test_the_offers_source_ignores_metrics_and_the_metrics_source_ignores_offers() -> None:
    """The default source stays the peer offers; metrics alone do not make an offers sample."""
    offers_cfg = replace(BASE, market=MarketConfig(enabled=True, min_peers=1))
    offers_reason = reason(offers_cfg, metrics_sample())
    assert offers_reason.startswith("skipped: 0 peers")
    assert "fewer than min_peers" in offers_reason

"""Pricing under hostile numbers: non-finite values are refused; the largest change per cycle holds on every path."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from core_values import GPU_NAME, NOW, machine, market
from test_pricing import BASE, MARKET_ON, NO_GUARD, steps

from hostagent.config.model import GuardConfig, MinBidConfig, PriceBounds
from hostagent.core.model import History, MarketSample, Offer
from hostagent.core.pricing import clamp, price

BOUNDS = PriceBounds(0.30, 0.80)
GUARD = GuardConfig(floor_usd_per_gpu_hour=0.30, ceiling_usd_per_gpu_hour=0.80, max_change_pct=15.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_clamp_refuses_a_non_finite_value(value: float) -> None:
    """NaN compares false with every bound, so a clamp that lets it through publishes `nan`."""
    with pytest.raises(ValueError, match="not finite"):
        clamp(value, BOUNDS)


def test_peers_with_impossible_prices_are_dropped_and_counted_and_the_price_stays_finite() -> None:
    """Extreme and negative peer prices once made the percentile NaN; they are not peers at all."""
    hostile = [Offer(900 + i, 900 + i, GPU_NAME, 8, dph, True) for i, dph in
               enumerate([-1e308, 1e308, 1e308, math.nan, math.inf, -8.0, 0.0])]
    sample = MarketSample((*market(1.90, 2.00, 2.10).offers, *hostile), NOW)
    decision = price(replace(BASE, market=MARKET_ON), machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(2.00)
    assert "7 offers with impossible prices dropped" in steps(decision)["market"]


@pytest.mark.parametrize("power_w", [math.nan, math.inf, -math.inf, -50.0])
def test_a_non_finite_or_negative_power_never_sets_the_min_bid(power_w: float) -> None:
    power = MinBidConfig(mode="power", tariff_usd_per_kwh=0.25, margin=1.0, fallback_power_w=400.0)
    cfg = replace(BASE, min_bid=power)
    decision = price(cfg, machine(), None, NOW, History(median_power_under_load_w=power_w))
    assert decision.min_bid_usd_per_gpu_hour == pytest.approx(0.10)  # 400 W fallback x $0.25/kWh
    assert "refused" in steps(decision)["min_bid"]


def test_a_min_bid_above_the_price_raises_it_by_at_most_max_change_per_cycle() -> None:
    """One high power reading made the min bid pull the price from $0.49 to the $0.80 ceiling in one step."""
    cfg = replace(BASE, models=((GPU_NAME, 0.49),), guard=GUARD, min_bid=MinBidConfig(usd_per_gpu_hour=0.80))
    decision = price(cfg, machine(), None, NOW, History(last_published_price_usd_per_gpu_hour=0.49))
    assert decision.price_usd_per_gpu_hour == pytest.approx(0.5635)  # 0.49 + 15 %
    assert decision.min_bid_usd_per_gpu_hour == pytest.approx(0.5635)  # kept at or below the price
    assert "at most 15%" in steps(decision)["guard.min_bid"]


def test_after_a_restart_the_price_vast_shows_on_an_unlisted_machine_limits_the_first_listing() -> None:
    """History was lost and the machine is unlisted: the last price Vast shows is the reference."""
    cfg = replace(BASE, models=((GPU_NAME, 0.80),), guard=GUARD)
    unlisted = machine(listed_gpu_cost=0.49)
    decision = price(cfg, unlisted, None, NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(0.5635)
    assert "from $0.49" in steps(decision)["guard.max_change"]


def test_with_no_previous_price_known_the_first_price_is_the_target_and_a_reason_says_so() -> None:
    cfg = replace(BASE, models=((GPU_NAME, 0.80),), guard=GUARD)
    decision = price(cfg, machine(), None, NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(0.80)
    assert "no previous price known" in steps(decision)["guard"]


def test_a_non_finite_remembered_price_is_not_a_reference() -> None:
    cfg = replace(BASE, models=((GPU_NAME, 0.80),), guard=replace(NO_GUARD, max_change_pct=15.0))
    for remembered in (math.nan, math.inf, -1.0):
        decision = price(cfg, machine(listed_gpu_cost=0.70), None, NOW,
                         History(last_published_price_usd_per_gpu_hour=remembered))
        assert decision.price_usd_per_gpu_hour == pytest.approx(0.80)  # 0.70 + 15 % = 0.805

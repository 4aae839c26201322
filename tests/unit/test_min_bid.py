"""The min bid: near the cost of power, in its own bounds, under Vast's cap, never above the published price."""

from __future__ import annotations

from dataclasses import replace

import pytest
from core_values import GPU_NAME, NOW, ago, machine

from hostagent.config.model import GuardConfig, MinBidConfig, PriceBounds, PricingConfig
from hostagent.core.model import History
from hostagent.core.pricing import price

# config/demo.toml's H100: on-demand bounds $1.00-$4.00, a power min bid of 700 W x $0.30/kWh x 1.5 = $0.315.
H100_GUARD = GuardConfig(models=((GPU_NAME, PriceBounds(1.00, 4.00)),))
POWER = MinBidConfig(mode="power", tariff_usd_per_kwh=0.30, margin=1.5, fallback_power_w=700.0)
DEMO = PricingConfig(models=((GPU_NAME, 2.00),), guard=H100_GUARD, min_bid=POWER)


def steps(decision: object) -> dict[str, str]:
    return {r.step: r.text for r in decision.reasons}  # type: ignore[attr-defined]


def test_a_power_derived_min_bid_is_not_lifted_to_the_on_demand_floor() -> None:
    """$0.315 from power stays $0.315 although the H100's on-demand floor is $1.00."""
    decision = price(DEMO, machine(), None, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.00
    assert decision.min_bid_usd_per_gpu_hour == pytest.approx(0.315)
    assert "min_bid.bounds" not in steps(decision)


def test_the_min_bid_is_clamped_into_its_own_floor_and_ceiling_with_a_reason() -> None:
    """[pricing.min_bid] floor_usd_per_gpu_hour / ceiling_usd_per_gpu_hour bound the bid, each step named."""
    high = price(replace(DEMO, min_bid=replace(POWER, ceiling_usd_per_gpu_hour=0.25)), machine(), None, NOW, History())
    assert high.min_bid_usd_per_gpu_hour == 0.25
    assert "clamped into the min bid's own bounds [$0.01, $0.25]" in steps(high)["min_bid.bounds"]
    low = price(replace(DEMO, min_bid=replace(POWER, floor_usd_per_gpu_hour=0.40)), machine(), None, NOW, History())
    assert low.min_bid_usd_per_gpu_hour == 0.40


def test_the_min_bid_is_never_above_the_published_price_and_says_so() -> None:
    """A bid above the price raises the price by at most max_change_pct; meanwhile the bid follows the price."""
    cfg = replace(DEMO, min_bid=MinBidConfig(usd_per_gpu_hour=3.00))
    decision = price(cfg, machine(), None, NOW, History(last_published_price_usd_per_gpu_hour=2.00))
    assert decision.price_usd_per_gpu_hour == pytest.approx(2.30)  # 15 % up from $2.00, toward the bid
    assert decision.min_bid_usd_per_gpu_hour == decision.price_usd_per_gpu_hour
    assert "lowered to the published price $2.30" in steps(decision)["min_bid.price"]


def test_vasts_remembered_cap_keeps_the_min_bid_at_or_below_it_with_a_reason() -> None:
    """After Vast's 422 "min_bid must be <= 0.3", the next plan asks for at most $0.30 and says why."""
    memory = History(vast_min_bid_max_usd_per_gpu_hour=0.3, vast_min_bid_max_seen_at=ago(hours=1))
    decision = price(DEMO, machine(), None, NOW, memory)
    assert decision.min_bid_usd_per_gpu_hour == 0.30
    why = steps(decision)["min_bid.vast_cap"]
    assert "$0.315 lowered to $0.30" in why
    assert 'min_bid must be <= 0.3' in why
    below = price(replace(DEMO, min_bid=MinBidConfig(usd_per_gpu_hour=0.20)), machine(), None, NOW, memory)
    assert below.min_bid_usd_per_gpu_hour == 0.20
    assert "min_bid.vast_cap" not in steps(below)


def test_vasts_cap_is_rounded_down_so_the_rounded_bid_is_never_refused_again() -> None:
    """A cap of $0.31237 allows $0.3123, not the rounded-up $0.3124."""
    memory = History(vast_min_bid_max_usd_per_gpu_hour=0.31237)
    assert price(DEMO, machine(), None, NOW, memory).min_bid_usd_per_gpu_hour == 0.3123


def test_each_step_of_the_min_bid_is_a_reason_in_order() -> None:
    """Source, own bounds, Vast's cap, published price: the journal and `plan` show the chain."""
    cfg = replace(DEMO, min_bid=MinBidConfig(usd_per_gpu_hour=12.0, ceiling_usd_per_gpu_hour=20.0))
    memory = History(vast_min_bid_max_usd_per_gpu_hour=5.0, last_published_price_usd_per_gpu_hour=2.0)
    decision = price(cfg, machine(), None, NOW, memory)
    chain = [r.step for r in decision.reasons if r.step.startswith("min_bid")]
    assert chain == ["min_bid", "min_bid.vast_cap", "min_bid.price"]
    assert decision.min_bid_usd_per_gpu_hour == decision.price_usd_per_gpu_hour == pytest.approx(2.30)


def test_a_cap_from_vast_that_leaves_no_positive_min_bid_leaves_vasts_min_bid_alone() -> None:
    """A bound below $0.0001 cannot be met at 4 decimals; a bid of $0 would be refused (422 "greater than 0")."""
    decision = price(DEMO, machine(), None, NOW, History(vast_min_bid_max_usd_per_gpu_hour=0.00004))
    assert decision.min_bid_usd_per_gpu_hour is None
    assert "left alone" in steps(decision)["min_bid.vast_cap"]

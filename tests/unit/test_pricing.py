"""Pricing: base -> schedule -> market -> idle decay -> guard rails, and the min bid. Values in, price out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import pytest
from core_values import GPU_NAME, NOW, ago, listed_machine, machine, market, offer
from hypothesis import given, settings
from hypothesis import strategies as st

from hostagent.config.model import (
    DecayStep,
    GuardConfig,
    IdleDecayConfig,
    MarketConfig,
    MinBidConfig,
    PriceBounds,
    PricingConfig,
    ScheduleRule,
)
from hostagent.core.market import drop_outliers, lowest_price_per_machine, percentile
from hostagent.core.model import History, MarketSample
from hostagent.core.pricing import price

NO_GUARD = GuardConfig(floor_usd_per_gpu_hour=0.01, ceiling_usd_per_gpu_hour=100.0, max_change_pct=1000.0)
BASE = PricingConfig(models=((GPU_NAME, 2.00),), guard=NO_GUARD)
MARKET_ON = MarketConfig(enabled=True, min_peers=3)
DECAY_ON = IdleDecayConfig(enabled=True, steps=(DecayStep(6, 5), DecayStep(12, 10), DecayStep(24, 20)))


def steps(decision: object) -> dict[str, str]:
    return {r.step: r.text for r in decision.reasons}  # type: ignore[attr-defined]


# ---- base and schedule ----------------------------------------------------------------------


def test_base_price_comes_from_the_gpu_model_and_falls_back_to_the_default() -> None:
    assert price(BASE, machine(), None, NOW, History()).price_usd_per_gpu_hour == 2.00
    other = price(BASE, machine(gpu_name="RTX 4090"), None, NOW, History())
    assert other.price_usd_per_gpu_hour == 0.30
    assert "default" in steps(other)["base"]


def test_a_multiplier_rule_scales_the_base_price_in_the_configured_timezone() -> None:
    evening = ScheduleRule("evening", start=time(18), end=time(23), multiplier=1.25)
    cfg = replace(BASE, timezone="America/New_York", rules=(evening,))
    at_19_new_york = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)  # 19:00 EST
    at_19_utc = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)  # 14:00 EST
    assert price(cfg, machine(), None, at_19_new_york, History()).price_usd_per_gpu_hour == 2.50
    assert price(cfg, machine(), None, at_19_utc, History()).price_usd_per_gpu_hour == 2.00
    assert "evening" in steps(price(cfg, machine(), None, at_19_new_york, History()))["schedule"]


def test_an_absolute_rule_replaces_the_base_price_on_its_days_only() -> None:
    weekend = ScheduleRule("weekend", days=("sat", "sun"), price_usd_per_gpu_hour=1.60)
    cfg = replace(BASE, rules=(weekend,))
    saturday = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)
    assert price(cfg, machine(), None, saturday, History()).price_usd_per_gpu_hour == 1.60
    assert price(cfg, machine(), None, NOW, History()).price_usd_per_gpu_hour == 2.00


def test_a_window_that_wraps_midnight_covers_the_early_hours_of_the_next_day() -> None:
    night = ScheduleRule("friday night", days=("fri",), start=time(22), end=time(6), multiplier=0.5)
    cfg = replace(BASE, timezone="Europe/Berlin", rules=(night,))
    berlin = timezone(timedelta(hours=1))  # CET in late November

    def at(day: int, hour: int, minute: int = 0) -> float:
        when = datetime(2026, 11, day, hour, minute, tzinfo=berlin)
        return price(cfg, machine(), None, when, History()).price_usd_per_gpu_hour

    assert at(27, 21, 59) == 2.00  # Friday before the window
    assert at(27, 22) == 1.00  # Friday 22:00
    assert at(28, 3) == 1.00  # Saturday 03:00 belongs to Friday's window
    assert at(28, 6) == 2.00  # the window has ended
    assert at(28, 23) == 2.00  # Saturday night is not Friday night


def test_the_last_matching_rule_wins() -> None:
    everyday = ScheduleRule("all day", multiplier=1.5)
    thursday = ScheduleRule("thursday", days=("thu",), price_usd_per_gpu_hour=1.10)
    in_order = price(replace(BASE, rules=(everyday, thursday)), machine(), None, NOW, History())
    reversed_order = price(replace(BASE, rules=(thursday, everyday)), machine(), None, NOW, History())
    assert in_order.price_usd_per_gpu_hour == 1.10
    assert reversed_order.price_usd_per_gpu_hour == 3.00


# ---- market ---------------------------------------------------------------------------------


def test_the_market_target_is_the_percentile_plus_offset_and_replaces_the_scheduled_price() -> None:
    cfg = replace(BASE, market=replace(MARKET_ON, percentile=50, offset_usd_per_gpu_hour=-0.05))
    decision = price(cfg, machine(), market(1.80, 1.90, 2.00, 2.10), NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(1.90)  # median 1.95 - 0.05
    assert "replaces $2.00" in steps(decision)["market"]


def test_percentiles_interpolate_linearly_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 25) == 1.75
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([7.0], 30) == 7.0


@pytest.mark.parametrize(
    ("sample", "why"),
    [
        (None, "no market sample"),
        (market(1.5, 1.6), "fewer than min_peers 3"),
        (market(1.5, 1.6, 1.7, hit_limit=True), "hit its limit"),
        (market(1.5, 1.6, 1.7, at=NOW - timedelta(hours=2)), "old"),
    ],
)
def test_the_market_step_is_skipped_with_a_reason_and_the_price_stays(sample: MarketSample | None, why: str) -> None:
    decision = price(replace(BASE, market=MARKET_ON), machine(), sample, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.00
    assert "skipped" in steps(decision)["market"]
    assert why in steps(decision)["market"]


def test_a_search_returning_search_limit_offers_counts_as_hitting_the_limit() -> None:
    cfg = replace(BASE, market=replace(MARKET_ON, search_limit=4))
    decision = price(cfg, machine(), market(1.5, 1.6, 1.7, 1.8), NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.00
    assert "hit its limit" in steps(decision)["market"]


def test_peers_count_once_per_machine_at_their_lowest_price() -> None:
    offers = [offer(1, 2.0, offer_id=11), offer(1, 1.0, offer_id=12), offer(2, 3.0)]
    assert lowest_price_per_machine(offers, GPU_NAME, 8, None, verified_only=True) == [1.0, 3.0]


def test_peers_exclude_our_machine_other_gpu_counts_other_models_and_unverified_offers() -> None:
    offers = [
        offer(4242, 0.5),  # ourselves
        offer(2, 1.0, num_gpus=4),
        offer(3, 1.0, gpu_name="A100 SXM4"),
        offer(4, 1.0, verified=False),
        offer(5, 2.2),
    ]
    assert lowest_price_per_machine(offers, GPU_NAME, 8, 4242, verified_only=True) == [2.2]
    assert lowest_price_per_machine(offers, GPU_NAME, 8, 4242, verified_only=False) == [1.0, 2.2]


def test_outliers_outside_the_iqr_fences_are_dropped() -> None:
    peers = drop_outliers([0.05, 1.9, 2.0, 2.0, 2.1, 2.2, 9.0], k=1.5)
    assert peers.prices == (1.9, 2.0, 2.0, 2.1, 2.2)
    assert peers.outliers_dropped == 2


def test_outliers_do_not_move_the_market_target() -> None:
    cfg = replace(BASE, market=replace(MARKET_ON, percentile=100))
    decision = price(cfg, machine(), market(1.9, 2.0, 2.1, 2.2, 40.0), NOW, History())
    assert decision.price_usd_per_gpu_hour == pytest.approx(2.2)
    assert "1 outliers dropped" in steps(decision)["market"]


# ---- idle decay -----------------------------------------------------------------------------


def decayed(idle_h: float, **history: object) -> float:
    memory = History(last_rented_at=ago(hours=idle_h), **history)  # type: ignore[arg-type]
    return price(replace(BASE, idle_decay=DECAY_ON), machine(), None, NOW, memory).price_usd_per_gpu_hour


def test_idle_decay_holds_the_price_before_the_first_step() -> None:
    assert decayed(5.9) == 2.00


def test_idle_decay_steps_down_from_the_price_before_decay_when_nothing_was_rented_at_a_known_price() -> None:
    assert decayed(6) == pytest.approx(1.90)
    assert decayed(12.5) == pytest.approx(1.80)
    assert decayed(30) == pytest.approx(1.60)


def test_idle_decay_is_anchored_on_the_last_price_that_got_rented() -> None:
    assert decayed(13, last_rented_price_usd_per_gpu_hour=1.50) == pytest.approx(1.35)


def test_idle_decay_never_raises_the_price_above_the_price_before_decay() -> None:
    assert decayed(7, last_rented_price_usd_per_gpu_hour=3.00) == 2.00


def test_a_never_rented_machine_decays_from_when_the_agent_first_saw_it() -> None:
    memory = History(first_seen_at=ago(hours=25))
    decision = price(replace(BASE, idle_decay=DECAY_ON), machine(), None, NOW, memory)
    assert decision.price_usd_per_gpu_hour == pytest.approx(1.60)
    assert "after 24 h" in steps(decision)["idle_decay"]


def test_a_rented_machine_goes_back_up_limited_by_the_largest_change_per_cycle() -> None:
    memory = History(last_rented_at=ago(hours=30), last_published_price_usd_per_gpu_hour=1.60)
    cfg = replace(BASE, idle_decay=DECAY_ON, guard=replace(NO_GUARD, max_change_pct=10))
    rented = listed_machine(1.60, current_rentals_running=1)
    decision = price(cfg, rented, None, NOW, replace(memory, last_rented_at=NOW))
    assert "no cut" in steps(decision)["idle_decay"]
    assert decision.price_usd_per_gpu_hour == pytest.approx(1.76)
    assert decision.target_usd_per_gpu_hour == 2.00


# ---- min bid --------------------------------------------------------------------------------


def test_the_min_bid_comes_from_measured_power_times_tariff_and_margin() -> None:
    cfg = replace(BASE, min_bid=MinBidConfig(mode="power", tariff_usd_per_kwh=0.25, margin=1.2))
    decision = price(cfg, machine(), None, NOW, History(median_power_under_load_w=600.0))
    assert decision.min_bid_usd_per_gpu_hour == pytest.approx(0.18)  # 0.6 kW x 0.25 x 1.2
    assert "measured under load" in steps(decision)["min_bid"]


def test_the_min_bid_uses_the_fallback_power_until_load_was_measured_and_none_without_either() -> None:
    power = MinBidConfig(mode="power", tariff_usd_per_kwh=0.20, margin=1.0, fallback_power_w=500.0)
    assert price(replace(BASE, min_bid=power), machine(), None, NOW, History()).min_bid_usd_per_gpu_hour == 0.10
    unmeasured = replace(power, fallback_power_w=None)
    assert price(replace(BASE, min_bid=unmeasured), machine(), None, NOW, History()).min_bid_usd_per_gpu_hour is None


def test_a_fixed_min_bid_is_clamped_into_its_own_bounds_and_none_leaves_it_alone() -> None:
    """The min bid's own floor ([pricing.min_bid] floor_usd_per_gpu_hour), not the on-demand guard floor."""
    cfg = replace(BASE, min_bid=MinBidConfig(usd_per_gpu_hour=0.001, floor_usd_per_gpu_hour=0.02))
    assert price(cfg, machine(), None, NOW, History()).min_bid_usd_per_gpu_hour == 0.02
    assert price(BASE, machine(), None, NOW, History()).min_bid_usd_per_gpu_hour is None


# ---- guard rails ----------------------------------------------------------------------------


def test_the_floor_and_ceiling_bound_the_price_per_gpu_model() -> None:
    bounds = ((GPU_NAME, PriceBounds(1.00, 1.50)),)
    cfg = replace(BASE, guard=replace(NO_GUARD, models=bounds))
    high = price(cfg, machine(), None, NOW, History())
    assert high.price_usd_per_gpu_hour == 1.50
    assert "guard.ceiling" in steps(high)
    low = price(replace(cfg, models=((GPU_NAME, 0.20),)), machine(), None, NOW, History())
    assert low.price_usd_per_gpu_hour == 1.00
    assert "guard.floor" in steps(low)


def test_the_largest_change_per_cycle_is_measured_from_the_last_published_price() -> None:
    cfg = replace(BASE, guard=replace(NO_GUARD, max_change_pct=15))
    down = price(replace(cfg, models=((GPU_NAME, 1.00),)), machine(), None, NOW,
                 History(last_published_price_usd_per_gpu_hour=2.00))
    assert down.price_usd_per_gpu_hour == pytest.approx(1.70)
    assert "guard.max_change" in steps(down)
    up = price(cfg, machine(), None, NOW, History(last_published_price_usd_per_gpu_hour=1.00))
    assert up.price_usd_per_gpu_hour == pytest.approx(1.15)


def test_a_change_smaller_than_min_change_keeps_the_listed_price() -> None:
    cfg = replace(BASE, guard=replace(NO_GUARD, min_change_usd=0.01))
    decision = price(cfg, listed_machine(2.005), None, NOW, History())
    assert decision.price_usd_per_gpu_hour == 2.005
    assert "guard.min_change" in steps(decision)
    assert price(cfg, listed_machine(2.02), None, NOW, History()).price_usd_per_gpu_hour == 2.00


def test_a_listed_price_outside_the_bounds_is_not_kept_however_close() -> None:
    cfg = replace(BASE, guard=replace(NO_GUARD, ceiling_usd_per_gpu_hour=2.00, min_change_usd=0.01))
    assert price(cfg, listed_machine(2.004), None, NOW, History()).price_usd_per_gpu_hour == 2.00


def test_the_price_never_goes_below_the_min_bid() -> None:
    cfg = replace(BASE, models=((GPU_NAME, 0.10),), min_bid=MinBidConfig(usd_per_gpu_hour=0.25))
    decision = price(cfg, machine(), None, NOW, History())
    assert decision.price_usd_per_gpu_hour == 0.25
    assert decision.min_bid_usd_per_gpu_hour == 0.25
    assert "guard.min_bid" in steps(decision)


# ---- the invariant --------------------------------------------------------------------------

prices = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)


@st.composite
def pricing_configs(draw: st.DrawFn) -> PricingConfig:
    floor = draw(st.floats(min_value=0.01, max_value=5.0))
    ceiling = floor + draw(st.floats(min_value=0.0, max_value=10.0))
    rules = tuple(
        ScheduleRule(f"r{i}", start=time(draw(st.integers(0, 23))), end=time(draw(st.integers(0, 23))),
                     **draw(st.sampled_from([{"multiplier": draw(st.floats(0.0, 5.0))},
                                             {"price_usd_per_gpu_hour": draw(prices)}])))
        for i in range(draw(st.integers(0, 3)))
    )
    return PricingConfig(
        models=((GPU_NAME, draw(prices)),),
        timezone=draw(st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Auckland"])),
        rules=rules,
        market=MarketConfig(enabled=draw(st.booleans()), percentile=draw(st.floats(0, 100)),
                            offset_usd_per_gpu_hour=draw(st.floats(-5, 5)), min_peers=draw(st.integers(1, 4)),
                            outlier_iqr_k=draw(st.floats(0, 3))),
        idle_decay=IdleDecayConfig(enabled=draw(st.booleans()),
                                   steps=(DecayStep(draw(st.floats(0, 48)), draw(st.floats(0, 100))),)),
        min_bid=MinBidConfig(mode=draw(st.sampled_from(["fixed", "power"])), usd_per_gpu_hour=draw(st.none() | prices),
                             fallback_power_w=draw(st.none() | st.floats(0, 2000))),
        guard=GuardConfig(floor_usd_per_gpu_hour=floor, ceiling_usd_per_gpu_hour=ceiling,
                          max_change_pct=draw(st.floats(0, 100)), min_change_usd=draw(st.floats(0, 1))),
    )


@settings(max_examples=300, deadline=None)
@given(
    cfg=pricing_configs(),
    peer_prices=st.lists(prices, max_size=8),
    listed=st.none() | prices,
    published=st.none() | prices,
    rented_price=st.none() | prices,
    idle_h=st.none() | st.floats(0, 100),
    power_w=st.none() | st.floats(0, 3000),
    hour=st.integers(0, 24 * 7),
)
def test_no_path_publishes_a_price_outside_floor_and_ceiling_or_a_min_bid_outside_its_bounds_or_above_it(  # noqa: PLR0917 - hypothesis
    cfg: PricingConfig, peer_prices: list[float], listed: float | None, published: float | None,
    rented_price: float | None, idle_h: float | None, power_w: float | None, hour: int,
) -> None:
    now = NOW + timedelta(hours=hour)
    host = machine() if listed is None else listed_machine(listed)
    memory = History(
        last_rented_at=None if idle_h is None else now - timedelta(hours=idle_h),
        last_rented_price_usd_per_gpu_hour=rented_price,
        last_published_price_usd_per_gpu_hour=published,
        median_power_under_load_w=power_w,
    )
    decision = price(cfg, host, market(*peer_prices, at=now), now, memory)
    bounds = cfg.guard.bounds_for(GPU_NAME)
    assert bounds.floor_usd_per_gpu_hour <= decision.price_usd_per_gpu_hour <= bounds.ceiling_usd_per_gpu_hour
    if decision.min_bid_usd_per_gpu_hour is not None:
        own_floor = min(cfg.min_bid.floor_usd_per_gpu_hour, decision.price_usd_per_gpu_hour)
        assert own_floor <= decision.min_bid_usd_per_gpu_hour <= decision.price_usd_per_gpu_hour
        assert decision.min_bid_usd_per_gpu_hour <= cfg.min_bid.ceiling_usd_per_gpu_hour


def test_the_decision_names_the_step_that_set_the_published_price() -> None:
    """`status` shows this as "the rule that set it": the last step that moved the price, or a guard that acted."""
    assert price(BASE, machine(), None, NOW, History()).rule == "base"
    evening = ScheduleRule("evening", start=time(0), end=time(0), multiplier=1.0)  # matches, even at x1
    assert price(replace(BASE, rules=(evening,)), machine(), None, NOW, History()).rule == "schedule"
    with_market = replace(BASE, market=MARKET_ON)
    assert price(with_market, machine(), market(1.5, 1.6, 1.7), NOW, History()).rule == "market"
    assert price(with_market, machine(), market(1.5), NOW, History()).rule == "base"  # skipped: base stands
    idle = History(last_rented_at=ago(hours=7))
    assert price(replace(BASE, idle_decay=DECAY_ON), machine(), None, NOW, idle).rule == "idle_decay"
    capped = replace(BASE, guard=replace(NO_GUARD, max_change_pct=15))
    assert price(capped, machine(), None, NOW, History(last_published_price_usd_per_gpu_hour=1.00)).rule == (
        "guard.max_change"
    )
    floored = replace(BASE, models=((GPU_NAME, 0.001),))
    assert price(floored, machine(), None, NOW, History()).rule == "guard.floor"


def test_idle_decay_cuts_nothing_when_the_clock_went_back_before_the_last_rental() -> None:
    decision = price(replace(BASE, idle_decay=DECAY_ON), machine(), None, NOW,
                     History(last_rented_at=NOW + timedelta(days=3)))
    assert decision.price_usd_per_gpu_hour == 2.00
    assert "after now: no cut" in steps(decision)["idle_decay"]

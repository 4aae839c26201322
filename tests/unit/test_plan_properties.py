"""plan() under hostile numbers from Vast, the sensors and memory: no action ever carries a non-finite or
out-of-bounds number, whatever the config, and the largest change per cycle holds.

10,000 cases run in a normal run; HOSTAGENT_HYPOTHESIS_EXAMPLES raises it for a slow run, e.g.
`HOSTAGENT_HYPOTHESIS_EXAMPLES=500000 pytest tests/unit/test_plan_properties.py` (see tests/conftest.py).
Every choice of a case is read from one drawn byte string (`Picks`): a whole plan per case costs ~0.1 ms,
and drawing ~90 separate values would cost ten times that; hypothesis still shrinks the bytes toward
zeros (None and the first, plain options), and `note()` prints the decoded case when one fails.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

from core_values import GPU_NAME, MACHINE_ID, NOW, gpu, snapshot
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.configuration import storage_directory

from hostagent.config.model import (
    Config,
    DecayStep,
    GuardConfig,
    IdleDecayConfig,
    MaintenanceConfig,
    MaintenanceWindow,
    MarketConfig,
    MinBidConfig,
    PricingConfig,
    ScheduleRule,
)
from hostagent.core.model import (
    ActionKind,
    GpuHealth,
    History,
    HostSnapshot,
    MachineState,
    MarketSample,
    Offer,
    Plan,
    VastMaintenance,
)
from hostagent.core.plan import plan

T = TypeVar("T")
EXAMPLES = int(os.environ.get("HOSTAGENT_HYPOTHESIS_EXAMPLES", "10000"))
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, -1e308, 1e308, 5e-324, 1e-9, 1e6, 2.0**63]
PLAUSIBLE = [0.05, 0.3, 0.49, 0.5, 0.8, 1.0, 1.2, 1.5, 1.99, 2.0, 2.3, 3.5, 4.0, 10.0, 60.0, 350.0, 700.0]
HOSTILE: list[float | None] = [None, *SPECIAL, *PLAUSIBLE]
SECONDS = [0, 1, 59, 3600, 6 * 3600, 13 * 3600, 86400, 3 * 86400, 30 * 86400]
MOMENTS = [NOW + timedelta(seconds=sign * s) for s in SECONDS for sign in (1, -1)]
WINDOW = MaintenanceWindow("patch", duration_h=2.0, start=datetime(2026, 11, 27, 3, 0))  # noqa: DTZ001 - naive local
PRICE_PARAMS = ("price_usd_per_gpu_hour", "min_bid_usd_per_gpu_hour")


class Picks:
    """Choices read one byte at a time from a drawn byte string (all zeros: the first option everywhere)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def one(self, options: Sequence[T]) -> T:
        byte = self._data[self._at % len(self._data)] if self._data else 0
        self._at += 1
        return options[byte % len(options)]

    def number(self) -> float | None:
        return self.one(HOSTILE)

    def price(self) -> float:
        return self.one(PLAUSIBLE)

    def flag(self) -> bool:
        return self.one((False, True))


def pricing(p: Picks) -> PricingConfig:
    """A valid pricing config (as config validation admits), the shape of test_pricing.pricing_configs."""
    floor = p.one([0.01, 0.05, 0.3, 1.0, 1.2, 5.0])
    ceiling = floor + p.one([0.0, 0.5, 2.0, 10.0])
    rules = tuple(
        ScheduleRule(f"r{i}", start=time(p.one(range(24))), end=time(p.one(range(24))),
                     **({"multiplier": p.one([0.0, 0.5, 1.15, 5.0])} if p.flag()
                        else {"price_usd_per_gpu_hour": p.price()}))
        for i in range(p.one(range(3)))
    )
    return PricingConfig(
        models=((GPU_NAME, p.price()),),
        timezone=p.one(["UTC", "Europe/Berlin", "Pacific/Auckland"]),
        rules=rules,
        market=MarketConfig(enabled=p.flag(), percentile=p.one([0.0, 25.0, 50.0, 100.0]),
                            offset_usd_per_gpu_hour=p.one([-5.0, -0.02, 0.0, 5.0]), min_peers=p.one([1, 2, 3]),
                            outlier_iqr_k=p.one([0.0, 1.5, 3.0]), search_limit=p.one([3, 200])),
        idle_decay=IdleDecayConfig(enabled=p.flag(), steps=(DecayStep(p.one([0.0, 6.0]), p.one([0.0, 20.0, 100.0])),)),
        min_bid=MinBidConfig(mode=p.one(["fixed", "power"]), usd_per_gpu_hour=p.one([None, 0.25, 0.8, 50.0]),
                             tariff_usd_per_kwh=p.one([0.0, 0.3, 2.0]), margin=p.one([1.0, 1.5]),
                             fallback_power_w=p.one([None, 0.0, 700.0, 2000.0])),
        guard=GuardConfig(floor_usd_per_gpu_hour=floor, ceiling_usd_per_gpu_hour=ceiling,
                          max_change_pct=p.one([0.0, 15.0, 100.0]), min_change_usd=p.one([0.0, 0.005, 1.0])),
    )


def machine(p: Picks) -> MachineState:
    return MachineState(
        id=MACHINE_ID, hostname="demo-h100-01", gpu_name=GPU_NAME, num_gpus=p.one([8, 8, 1, 0, -1]),
        listed=p.flag(), listed_gpu_cost=p.number(), listed_storage_cost=p.number(),
        listed_inet_up_cost=p.number(), listed_inet_down_cost=p.number(), min_bid_price=p.number(),
        listed_min_gpu_count=p.one([None, -1, 1, 8]), credit_discount_max=p.number(), end_date=p.number(),
        client_end_date=p.number(), bid_gpu_cost=p.number(), current_rentals_running=p.one([-1, 0, 0, 1, 3]),
    )


def market(p: Picks) -> MarketSample | None:
    if p.flag():
        return None
    offers = tuple(Offer(i, 100 + p.one(range(4)), GPU_NAME, p.one([8, 8, 1, 0]), p.number() or 0.0, p.flag())
                   for i in range(p.one(range(7))))
    return MarketSample(offers, p.one(MOMENTS), p.flag())


def host(p: Picks) -> HostSnapshot:
    def reading(i: int) -> object:
        return gpu(i, temperature_c=p.number(), power_w=p.number(), power_limit_w=p.number(),
                   utilization_pct=p.number(), memory_used_mib=p.number(), health=p.one(list(GpuHealth)),
                   stale=p.flag())
    readings = [reading(i) for i in range(p.one(range(3)))]
    return snapshot(*readings, free_gb=p.one([0.0, 500.0])) if readings else snapshot(count=0)  # type: ignore[arg-type]


def history(p: Picks) -> History:
    maint = VastMaintenance(1, MACHINE_ID, p.number() or 0.0, p.number() or 0.0, "power")
    return History(
        last_rented_at=p.one([None, *MOMENTS]), last_rented_price_usd_per_gpu_hour=p.number(),
        last_published_price_usd_per_gpu_hour=p.number(), median_power_under_load_w=p.number(),
        first_seen_at=p.one([None, *MOMENTS]), last_telemetry_at=p.one([None, *MOMENTS]),
        vast_maintenances=p.one([(), (maint,)]), rentals_running=p.one([-1, 0, 1]),
        vast_min_bid_max_usd_per_gpu_hour=p.number(),
    )


def check(result: Plan, cfg: PricingConfig, vast: MachineState, memory: History) -> None:
    bounds = cfg.guard.bounds_for(GPU_NAME)
    floor, ceiling = bounds.floor_usd_per_gpu_hour, bounds.ceiling_usd_per_gpu_hour
    for action in result.actions:
        for name, value in action.params():
            assert not isinstance(value, float) or math.isfinite(value), f"{action.kind.value} {name}={value!r}"
        if action.kind in (ActionKind.LIST, ActionKind.SET_MIN_BID):
            for name in PRICE_PARAMS:
                value = dict(action.params()).get(name)
                # the min bid has its own bounds, under the price: only the on-demand ceiling holds for both
                low = floor if name == "price_usd_per_gpu_hour" else 0.0
                assert value is None or low - 1e-9 < value <= ceiling + 1e-9, f"{name}={value!r}"
    price = result.desired.price_usd_per_gpu_hour
    assert price is not None
    assert floor - 1e-9 <= price <= ceiling + 1e-9
    bid = result.desired.min_bid_usd_per_gpu_hour
    cap = memory.vast_min_bid_max_usd_per_gpu_hour
    possible_cap = cap if cap is not None and 0 < cap < 1000 else None  # a cap from Vast is never exceeded
    own_floor = min(cfg.min_bid.floor_usd_per_gpu_hour, price, possible_cap or math.inf)
    assert bid is None or (bid > 0 and own_floor - 1e-4 <= bid <= min(price, possible_cap or math.inf) + 1e-9)
    assert result.desired.end_date is None or math.isfinite(result.desired.end_date)
    reference = next((x for x in (memory.last_published_price_usd_per_gpu_hour, vast.listed_gpu_cost)
                      if x is not None and math.isfinite(x) and 0 < x < 1000), None)
    if reference is not None:
        step = reference * cfg.guard.max_change_pct / 100.0
        low, high = max(reference - step, floor), min(reference + step, ceiling)
        if low <= high:  # the band meets the bounds: it holds on every path (rounding to 4 decimals aside)
            assert low - 1e-4 <= price <= high + 1e-4, f"{price} outside [{low}, {high}] from {reference}"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(min_size=160, max_size=160))
def test_no_action_ever_carries_a_non_finite_or_out_of_bounds_number(data: bytes) -> None:
    p = Picks(data)
    prices = pricing(p)
    config = Config(pricing=prices, maintenance=MaintenanceConfig(windows=(WINDOW,) if p.flag() else ()))
    case = (host(p), machine(p), market(p), config, p.one(MOMENTS), history(p))
    note(repr(case))
    check(plan(*case), prices, case[1], case[5])


def test_no_hypothesis_run_writes_an_example_database_into_the_checkout() -> None:
    """tests/conftest.py loads a profile without one, for this and every other property test."""
    assert settings.default.database is None
    repo = Path(__file__).resolve().parents[2]
    assert repo not in storage_directory(intent_to_write=False).path.resolve().parents

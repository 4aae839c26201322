"""The scripted week: config/demo.toml's rules, lived for seven simulated days by the real agent.

Shared by tests/e2e/test_week.py (which asserts on it) and bench/agent.py (which counts its writes).
Monday 2 November 2026 00:00 UTC (01:00 Europe/Berlin) to the next Monday, on a FakeClock:

    Mon 00:00  no renters, too few 8-GPU peers on the market: listed at the base price; default job; cleanup
    Mon 06:00+ unrented: idle decay steps the price down (6 h -5 %, 12 h -10 %, 24 h -20 %)
    Tue 00:00  a rush of renters: rented, the price goes back up; evenings 18-23 Berlin ask 15 % more
    Wed 00:00  the 8-GPU peers are back: market-relative price (p50 - $0.02) replaces the schedule
    Wed 10:00  GPU 3 at 91 C: unlisted after hot_for_s; cooled at 12:00, relisted after the cool-down
    Wed 18:00  GPU 5 lost: unlisted at once; back at Thu 00:00, relisted after the cool-down
    Thu 01:00  48 h before Saturday's window: the notice is scheduled; the offer already ends at its start
    Sat 00:00  one hour before the window: unlisted; relisted after it ends (05:00 UTC)
    Sun        renters keep the machine busy: a steady state with no write between the daily cleanups
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone

from hostagent.config.model import Config, MaintenanceWindow
from hostagent.testing.scenario import Simulation

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
DAYS = 7
WINDOW_START_UTC = datetime(2026, 11, 7, 1, 0, tzinfo=timezone.utc)  # Sat 02:00 Berlin
WINDOW_END_UTC = WINDOW_START_UTC + timedelta(hours=4)
HOT_GPU, LOST_GPU = 3, 5
STEADY_FROM = datetime(2026, 11, 8, 1, 0, tzinfo=timezone.utc)  # Sunday, after the daily cleanup
STEADY_UNTIL = datetime(2026, 11, 8, 23, 30, tzinfo=timezone.utc)


def week_config(base: Config) -> Config:
    """demo.toml with coarser cadences (a week in seconds) and a one-off window inside the week."""
    window = MaintenanceWindow(
        name="disk swap", duration_h=4.0, category="disk", timezone="Europe/Berlin",
        start=datetime(2026, 11, 7, 2, 0), recur=None,  # noqa: DTZ001  (naive local time, as in TOML)
    )
    return replace(
        base,
        agent=replace(base.agent, tick_s=300.0, reconcile_s=600.0),
        health=replace(base.health, hot_for_s=900.0, stale_after_s=900.0, relist_cooldown_s=1800.0),
        maintenance=replace(base.maintenance, lead_time_h=48.0, unlist_before_h=1.0, windows=(window,)),
    )


@dataclass(frozen=True)
class Step:
    at: datetime
    what: str
    act: Callable[[Simulation], None]


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine((START + timedelta(days=day)).date(), time(hour, minute), tzinfo=timezone.utc)


def _quiet_start(sim: Simulation) -> None:
    sim.set_demand(0.0)
    sim.thin_market()


def week_steps() -> list[Step]:
    """The world's changes, in time order (the agent reacts to them by itself)."""
    return [
        Step(_at(0, 0), "no renters; the market has too few 8-GPU peers", _quiet_start),
        Step(_at(1, 0), "a rush of renters", lambda s: s.set_demand(4.0)),
        Step(_at(1, 12), "normal demand", lambda s: s.set_demand(1.0)),
        Step(_at(2, 0), "the 8-GPU peers are back on the market", lambda s: s.restore_market()),
        Step(_at(2, 10), f"GPU {HOT_GPU} runs at 91 C", lambda s: s.set_gpu(HOT_GPU, temperature_c=91)),
        Step(_at(2, 12), f"GPU {HOT_GPU} cooled down", lambda s: s.set_gpu(HOT_GPU, temperature_c=None)),
        Step(_at(2, 18), f"GPU {LOST_GPU} is lost", lambda s: s.set_gpu(LOST_GPU, health="lost")),
        Step(_at(3, 0), f"GPU {LOST_GPU} is back", lambda s: s.set_gpu(LOST_GPU, health=None)),
        Step(_at(6, 0), "a rush of renters keeps Sunday busy", lambda s: s.set_demand(4.0)),
    ]


def run_week(sim: Simulation, *, days: int = DAYS, on_step: Callable[[Step], None] | None = None) -> None:
    """Live the scripted week (or its first `days` days) on the simulation's fake clock."""
    end = START + timedelta(days=days)
    for step in week_steps():
        if step.at >= end:
            break
        sim.run_until(step.at)
        step.act(sim)
        if on_step is not None:
            on_step(step)
    sim.run_until(end)

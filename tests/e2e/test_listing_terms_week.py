"""A week of the real agent against the emulator, read for the listing terms as Vast pays hosts.

demo.toml (min bid from measured power: ~700 W x $0.30/kWh x 1.5 = $0.315/GPU/h) with a 2.5 h software window
on Friday and a window Vast itself schedules on Sunday. The agent is restarted three times a day and reloaded
once a day (on Thursday the reload switches the market to Vast's own metrics). Each test reads one term from
what the emulator recorded and the agent journaled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.config.load import load_config
from hostagent.config.model import Config, MaintenanceWindow
from hostagent.runtime.logs import configure_logging
from hostagent.service.earnings import day_of, summarize
from hostagent.testing.scenario import Simulation

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
DAYS = 7
WINDOW_START = datetime(2026, 11, 6, 2, 0, tzinfo=timezone.utc)  # Friday, 2.5 h
VAST_WINDOW_START = datetime(2026, 11, 8, 10, 0, tzinfo=timezone.utc)  # Sunday, scheduled by Vast, 2 h
METRICS_FROM = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)  # Thursday noon: the reload to metrics
RESTART_HOURS = (3, 9, 15)  # UTC, every day
RELOAD_HOUR = 12
POWER_MIN_BID = 0.315  # 700 W x $0.30/kWh x 1.5


def _config() -> Config:
    base = load_config(REPO / "config" / "demo.toml", environ={})
    window = MaintenanceWindow(
        name="firmware", duration_h=2.5, category="software", timezone="UTC",
        start=WINDOW_START.replace(tzinfo=None), recur=None,
    )
    return replace(
        base,
        agent=replace(base.agent, tick_s=300.0, reconcile_s=600.0),
        health=replace(base.health, hot_for_s=900.0, stale_after_s=900.0, relist_cooldown_s=1800.0),
        maintenance=replace(base.maintenance, lead_time_h=48.0, unlist_before_h=0.0, windows=(window,)),
    )


def _metrics_config(config: Config) -> Config:
    market = replace(config.pricing.market, source="metrics")
    return replace(config, pricing=replace(config.pricing, market=market))


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulation, int, int]]:
    configure_logging(level="warning")
    config = _config()
    restarts = reloads = 0
    with Simulation(config, tmp_path_factory.mktemp("terms-week"), start=START, seed=0) as sim:
        sim.emu.schedule_vast_maintenance(sim.machine_id, VAST_WINDOW_START.timestamp(), 2.0, "power")
        for day in range(DAYS):
            midnight = START + timedelta(days=day)
            for hour in sorted((*RESTART_HOURS, RELOAD_HOUR)):
                sim.run_until(midnight + timedelta(hours=hour))
                if hour == RELOAD_HOUR:
                    sim.reload(_metrics_config(config) if midnight + timedelta(hours=hour) >= METRICS_FROM else None)
                    reloads += 1
                else:
                    sim.restart()
                    restarts += 1
        sim.run_until(START + timedelta(days=DAYS))
        yield sim, restarts, reloads


def _bodies(sim: Simulation, path_part: str) -> list[dict[str, object]]:
    return [r.json_body for r in sim.emu.requests  # type: ignore[misc]
            if path_part in r.path and r.method == "PUT" and r.status == 200 and isinstance(r.json_body, dict)]


def test_the_min_bid_sits_at_the_power_floor_below_the_on_demand_price(week: tuple[Simulation, int, int]) -> None:
    sim, _, _ = week
    listings = _bodies(sim, "create_asks")
    assert listings
    for body in listings:
        assert body["price_min_bid"] == pytest.approx(POWER_MIN_BID, abs=0.002)
        assert float(body["price_min_bid"]) < float(body["price_gpu"])  # type: ignore[arg-type]
    assert sim.machine.min_bid_price == pytest.approx(POWER_MIN_BID, abs=0.002)


def test_every_listing_carries_a_horizon_a_rolling_duration_or_the_windows_start(
    week: tuple[Simulation, int, int],
) -> None:
    sim, _, _ = week
    listings = _bodies(sim, "create_asks")
    rolling = [b for b in listings if b["duration"] is not None]
    ending = [b for b in listings if b["end_date"] is not None]
    assert all((b["duration"] is None) != (b["end_date"] is None) for b in listings), "exactly one of the two"
    assert rolling
    assert {b["duration"] for b in rolling} == {"30 days"}
    assert {b["end_date"] for b in ending} <= {WINDOW_START.timestamp(), VAST_WINDOW_START.timestamp()}
    assert ending, "a window inside the horizon ends the offer at its start"


def test_a_raise_that_keeps_vast_from_extending_running_contracts_is_journaled(
    week: tuple[Simulation, int, int],
) -> None:
    sim, _, _ = week
    blocked = [e for e in sim.journal("list_machine") if "Vast will not extend" in e.why]
    assert blocked, "the weekday-evening raise on a rented machine says what it costs"
    assert "price raised from $" in blocked[0].why


def test_no_volume_offer_is_created_unless_configured(week: tuple[Simulation, int, int]) -> None:
    sim, _, _ = week
    assert {b["vol_size"] for b in _bodies(sim, "create_asks")} == {0}
    assert sim.machine.vol_size_gb == 0, "Vast shows no volume offer next to the machine"


def test_market_prices_come_from_dph_base_and_then_from_vasts_metrics(week: tuple[Simulation, int, int]) -> None:
    sim, _, _ = week
    decisions = sim.journal("decision")
    before = [e for e in decisions if e.at < METRICS_FROM]
    after = [e for e in decisions if e.at > METRICS_FROM + timedelta(hours=1)]
    assert any("market: " in e.why and "peers" in e.why for e in before)
    assert not any("dph_total" in e.why for e in before), "every peer quoted its GPU price (dph_base)"
    assert any("Vast metrics" in e.why for e in after)
    assert any("/metrics/gpu/current" in r.path for r in sim.emu.requests)


def test_windows_are_sent_in_whole_hours_and_no_foreign_window_is_cancelled(
    week: tuple[Simulation, int, int],
) -> None:
    sim, _, _ = week
    notices = _bodies(sim, "dnotify")
    assert [(b["sdate"], b["duration"]) for b in notices] == [(WINDOW_START.timestamp(), 3.0)]
    assert _bodies(sim, "cancel_maint") == []
    held = {(m.start_time, m.duration_hours) for m in sim.machine.maintenances if m.cancelled_at is None}
    assert (VAST_WINDOW_START.timestamp(), 2.0) in held, "Vast's own window was never touched"


def test_cleanup_runs_once_a_day_across_restarts_and_reloads(week: tuple[Simulation, int, int]) -> None:
    sim, restarts, reloads = week
    assert restarts + reloads >= 20
    per_day = Counter(day_of(at) for at, kind, _ in sim.writes() if kind == "cleanup_machine")
    assert sorted(per_day.values()) == [1] * DAYS, per_day


def test_a_machine_whose_only_job_is_its_default_job_shows_zero_occupancy(tmp_path: Path) -> None:
    configure_logging(level="warning")
    with Simulation(_config(), tmp_path, start=START, seed=0) as sim:
        sim.set_demand(0.0)  # no renters: only the host's own default job runs
        sim.run_until(START + timedelta(days=1, hours=6))
        summary = summarize(sim.parts.store, sim.machine_id, day_of(sim.now), days=30)
    assert summary.occupancy == 0.0
    assert summary.default_job_share is not None
    assert summary.default_job_share > 0.5

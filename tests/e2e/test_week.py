"""A simulated week of the real agent against the emulator and fake GPUs, on one FakeClock (a few seconds).

The week is scripted in hostagent/testing/week.py; the agent, its client, its store and the service's
scheduler are the production ones. Each test below reads one aspect of the same week: Vast's state and
requests as the emulator recorded them, and the agent's journal.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hostagent.config.load import load_config
from hostagent.core.model import ActionKind
from hostagent.runtime.logs import configure_logging
from hostagent.service.earnings import day_of
from hostagent.store.rows import JournalEntry
from hostagent.testing.scenario import WRITE_KINDS, Simulation
from hostagent.testing.week import (
    HOT_GPU,
    LOST_GPU,
    START,
    STEADY_FROM,
    STEADY_UNTIL,
    WINDOW_END_UTC,
    WINDOW_START_UTC,
    run_week,
    week_config,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    configure_logging(level="warning")  # a week of info lines costs more than the week itself
    config = week_config(load_config(REPO / "config" / "demo.toml", environ={}))
    with Simulation(config, tmp_path_factory.mktemp("week"), start=START, seed=0) as sim:
        run_week(sim)
        writes = Counter(kind for _, kind, _ in sim.writes())
        print(f"\nweek: write requests by kind {dict(sorted(writes.items()))}, total {sum(writes.values())}")
        print(f"week: all requests {len(sim.emu.requests)}")
        yield sim


def _lists(sim: Simulation) -> list[tuple[datetime, float, dict[str, object]]]:
    """(time, price $/GPU/h, body) of every create_asks request."""
    out = []
    for at, kind, request in sim.writes():
        if kind == ActionKind.LIST.value:
            body = request.json_body
            assert isinstance(body, dict)
            out.append((at, float(body["price_gpu"]), body))
    return out


def _actions(sim: Simulation, kind: ActionKind) -> list[JournalEntry]:
    return [e for e in sim.journal(kind.value) if e.ok]


def _price_at(sim: Simulation, when: datetime) -> float:
    """The last price published at or before `when`."""
    return [price for at, price, _ in _lists(sim) if at <= when][-1]


def _day(day: int, hour: int, minute: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hour, minutes=minute)


def test_every_write_vast_received_is_one_journaled_action_and_the_counts_match(week: Simulation) -> None:
    sent = Counter(kind for _, kind, _ in week.writes())
    journaled = Counter(e.kind for e in week.journal() if e.kind in WRITE_KINDS)
    print(f"\nweek: journaled actions by kind {dict(sorted(journaled.items()))}")
    assert sent == journaled
    assert not [e for e in week.journal() if e.kind in WRITE_KINDS and not e.ok], "no write failed"
    assert not week.journal("mismatch"), "every read-back matched"
    assert sent[ActionKind.SET_DEFJOB.value] == 1
    assert sent[ActionKind.SCHEDULE_MAINT.value] == 1
    assert sent[ActionKind.UNLIST.value] == 3  # hot GPU, lost GPU, maintenance
    assert sent[ActionKind.CLEANUP.value] == 7  # daily


def test_the_week_ends_with_vasts_listing_equal_to_the_agents_plan(week: Simulation) -> None:
    plan = week.agent.plan
    assert plan is not None
    assert plan.desired.listed
    machine = week.machine
    assert machine.listed
    assert machine.listed_gpu_cost == pytest.approx(plan.desired.price_usd_per_gpu_hour, abs=1e-4)
    assert machine.min_bid_price == pytest.approx(plan.desired.min_bid_usd_per_gpu_hour, abs=1e-4)
    assert machine.bid_image == week.config.default_job.image if week.config.default_job else None


def test_every_published_price_is_within_the_guard_rails_and_never_below_the_min_bid(week: Simulation) -> None:
    bounds = week.config.pricing.guard.bounds_for(week.machine.gpu_name)
    lists = _lists(week)
    assert len(lists) >= 10
    for _, price, body in lists:
        assert bounds.floor_usd_per_gpu_hour <= price <= bounds.ceiling_usd_per_gpu_hour
        assert float(str(body["price_min_bid"])) <= price


def test_the_weekday_evening_rule_raises_the_price_from_18_to_23_berlin_while_the_market_is_thin(
    week: Simulation,
) -> None:
    assert _price_at(week, _day(1, 16, 50)) == pytest.approx(2.00)  # Tuesday, rented, base price
    assert _price_at(week, _day(1, 17, 30)) == pytest.approx(2.30)  # 18:30 Berlin: x1.15
    assert _price_at(week, _day(1, 22, 30)) == pytest.approx(2.00)  # 23:30 Berlin: back
    evening = [e for e in _actions(week, ActionKind.LIST) if "weekday evenings" in e.why and "x 1.15" in e.why]
    assert evening


def test_with_the_peers_back_the_price_follows_the_market_median_minus_the_offset(week: Simulation) -> None:
    gpu_name, count = week.machine.gpu_name, week.machine.num_gpus
    prices = [
        float(str(o["dph_base"])) / count for o in week.emu.state.peer_offers
        if o["gpu_name"] == gpu_name and o["num_gpus"] == count and o["verified"]
    ]
    rough = statistics.median(prices)
    median = statistics.median([p for p in prices if rough / 2 < p < rough * 2])  # outliers out
    target = median + week.config.pricing.market.offset_usd_per_gpu_hour
    published = _price_at(week, _day(2, 9))  # Wednesday morning, rented, market restored at 00:00
    assert published == pytest.approx(target, abs=0.03)
    assert published != pytest.approx(2.00, abs=0.005)
    (entry, *_) = [e for e in _actions(week, ActionKind.LIST) if e.at >= _day(2, 0)]
    assert "market:" in entry.why
    assert "replaces" in entry.why


def test_unrented_the_price_decays_in_steps_and_climbs_back_once_rented(week: Simulation) -> None:
    assert _price_at(week, _day(0, 5, 50)) == pytest.approx(2.00)
    assert _price_at(week, _day(0, 6, 10)) == pytest.approx(1.90)  # 6 h unrented: -5 %
    assert _price_at(week, _day(0, 12, 10)) == pytest.approx(1.80)  # 12 h: -10 %
    assert _price_at(week, _day(1, 0, 10)) == pytest.approx(1.60)  # 24 h: -20 %
    rented = next(e for e in _actions(week, ActionKind.LIST) if e.at > _day(1, 0, 10))
    assert "idle_decay: rented now" in rented.why
    assert rented.at <= _day(1, 2)
    assert _price_at(week, _day(1, 3)) == pytest.approx(2.00)  # back up, at most 15 % per cycle
    assert any("idle_decay: unrented" in e.why for e in _actions(week, ActionKind.LIST))


def _unlist(week: Simulation, cause: str, after: datetime) -> JournalEntry:
    return next(e for e in _actions(week, ActionKind.UNLIST) if e.at >= after and f"cause={cause}" in e.what)


def _relist_after(week: Simulation, when: datetime) -> JournalEntry:
    return next(e for e in _actions(week, ActionKind.LIST) if e.at > when)


def test_a_hot_gpu_unlists_after_hot_for_s_and_relists_after_the_cool_down(week: Simulation) -> None:
    health = week.config.health
    unlist = _unlist(week, "health", _day(2, 10))
    assert f"GPU {HOT_GPU} above" in unlist.why
    assert _day(2, 10) + timedelta(seconds=health.hot_for_s) <= unlist.at <= _day(2, 10, 30)
    relist = _relist_after(week, unlist.at)
    assert relist.at >= _day(2, 12) + timedelta(seconds=health.relist_cooldown_s)
    assert relist.at <= _day(2, 12) + timedelta(seconds=health.relist_cooldown_s + 2 * week.config.agent.reconcile_s)


def test_a_lost_gpu_unlists_at_once_and_relists_when_it_is_back(week: Simulation) -> None:
    unlist = _unlist(week, "health", _day(2, 18))
    assert f"GPU {LOST_GPU} lost" in unlist.why
    assert unlist.at <= _day(2, 18) + timedelta(seconds=week.config.agent.tick_s)  # no wait for reconcile_s
    relist = _relist_after(week, unlist.at)
    assert _day(3, 0) + timedelta(seconds=week.config.health.relist_cooldown_s) <= relist.at <= _day(3, 1)


def test_the_maintenance_notice_goes_out_once_at_lead_time_and_the_machine_sits_out_the_window(
    week: Simulation,
) -> None:
    lead = timedelta(hours=week.config.maintenance.lead_time_h)
    (notice,) = [(at, r) for at, kind, r in week.writes() if kind == ActionKind.SCHEDULE_MAINT.value]
    assert WINDOW_START_UTC - lead <= notice[0] <= WINDOW_START_UTC - lead + timedelta(minutes=15)
    (vast_window,) = week.machine.maintenances
    assert vast_window.start_time == WINDOW_START_UTC.timestamp()
    assert vast_window.cancelled_at is None
    for at, _, body in _lists(week):  # before the window every offer ended at its start
        if at < WINDOW_START_UTC:
            assert body["end_date"] == WINDOW_START_UTC.timestamp()
    unlist = _unlist(week, "maintenance", _day(4, 0))
    unlist_by = WINDOW_START_UTC - timedelta(hours=week.config.maintenance.unlist_before_h)
    reconcile = timedelta(seconds=week.config.agent.reconcile_s)
    assert unlist_by - reconcile <= unlist.at < unlist_by  # at the last reconcile before the deadline
    relist = _relist_after(week, unlist.at)
    assert WINDOW_END_UTC <= relist.at <= WINDOW_END_UTC + timedelta(minutes=15)


def test_the_default_job_is_set_once_and_runs_on_idle_gpus(week: Simulation) -> None:
    job = week.config.default_job
    assert job is not None
    (entry,) = _actions(week, ActionKind.SET_DEFJOB)
    assert entry.at < START + timedelta(minutes=1)
    assert (week.machine.bid_image, week.machine.bid_gpu_cost) == (job.image, job.price_usd_per_gpu_hour)


def test_cleanup_runs_daily_and_journals_how_many_expired_contracts_it_deleted(week: Simulation) -> None:
    cleanups = _actions(week, ActionKind.CLEANUP)
    assert [e.at.replace(second=0, microsecond=0) for e in cleanups] == [START + timedelta(days=d) for d in range(7)]
    assert cleanups[0].result.startswith("2 ")  # the two expired contracts the account started with
    last = cleanups[-1].at.timestamp()
    assert all(x.ended_s > last - 3600 for x in week.machine.expired), "only contracts ended since are left"


def test_earnings_are_fetched_and_stored_per_day_as_vast_reports_them(week: Simulation) -> None:
    store, machine_id = week.agent.store, week.machine_id
    first, last = day_of(START), day_of(week.now) - 1
    stored = {d.day: d for d in store.earnings(first, last, machine_id)}
    vast = week.emu.state.earnings
    for day in range(first, last):  # whole days before the last fetch
        expected = vast.get((machine_id, day))
        got = stored.get(day)
        assert (expected.gpu_usd if expected else 0.0) == pytest.approx(got.gpu_usd if got else 0.0, abs=0.01)
    assert sum(d.gpu_usd for d in stored.values()) > 100


def test_in_a_steady_state_no_write_is_sent(week: Simulation) -> None:
    steady = [(at, kind) for at, kind, _ in week.writes() if STEADY_FROM <= at < STEADY_UNTIL]
    assert steady == []
    reads = [r for r in week.emu.requests if r.method == "GET"]
    assert len(reads) > 1000  # the agent kept reading Vast all the while


def test_a_week_of_the_agents_own_writes_renters_and_daily_rolls_is_never_taken_for_a_change_made_outside(
    week: Simulation,
) -> None:
    """Price moves, health and maintenance unlists, relists, rentals, end-date rolls: no `changed_outside` event."""
    assert [e.what for e in week.journal("event") if e.what.startswith("changed_outside")] == []

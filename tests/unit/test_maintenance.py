"""Maintenance: configured windows -> concrete UTC windows (DST-correct), notices, end date, unlist, warnings."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from core_values import MACHINE_ID, machine

from hostagent.config.model import MaintenanceConfig, MaintenanceWindow
from hostagent.core.maintenance import ConcreteWindow, plan_maintenance, upcoming_windows
from hostagent.core.model import ActionKind, History, VastMaintenance

UTC = timezone.utc
FIRST_SUNDAY_BERLIN = MaintenanceWindow("monthly power", duration_h=4, category="power", timezone="Europe/Berlin",
                                        recur="monthly", weekday="sun", nth=1, at=time(2, 0))
CFG = MaintenanceConfig(lead_time_h=72, unlist_before_h=2, windows=(FIRST_SUNDAY_BERLIN,))
DEC_6 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 02:00 CET


def starts(windows: list[ConcreteWindow]) -> list[datetime]:
    return [w.start for w in windows]


def vast_window(start: datetime, hours: float = 4, ident: int = 1) -> VastMaintenance:
    return VastMaintenance(ident, MACHINE_ID, start.timestamp(), hours, "power")


def test_first_sunday_02_00_berlin_keeps_local_time_across_the_dst_change() -> None:
    found = upcoming_windows(CFG, datetime(2026, 9, 30, tzinfo=UTC), timedelta(days=70))
    assert starts(found) == [
        datetime(2026, 10, 4, 0, 0, tzinfo=UTC),  # 02:00 CEST
        datetime(2026, 11, 1, 1, 0, tzinfo=UTC),  # 02:00 CET, after the change on Oct 25
        DEC_6,
    ]
    assert all(w.end - w.start == timedelta(hours=4) for w in found)
    assert found[0].category == "power"


def test_the_last_friday_of_the_month() -> None:
    last_friday = MaintenanceWindow("patch", 2, recur="monthly", weekday="fri", nth=-1, at=time(22, 0))
    found = upcoming_windows(MaintenanceConfig(windows=(last_friday,)), datetime(2026, 11, 1, tzinfo=UTC),
                             timedelta(days=120))
    assert [w.start.date().isoformat() for w in found] == ["2026-11-27", "2026-12-25", "2027-01-29", "2027-02-26"]


def test_weekly_and_daily_windows_and_a_one_off_in_its_own_timezone() -> None:
    weekly = MaintenanceWindow("weekly", 1, recur="weekly", weekday="wed", at=time(3, 0))
    daily = MaintenanceWindow("daily", 1, timezone="America/New_York", recur="daily", at=time(23, 30))
    once = MaintenanceWindow("once", 3, timezone="Asia/Tokyo", start=datetime(2026, 12, 1, 9, 0))  # noqa: DTZ001
    now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert starts(upcoming_windows(MaintenanceConfig(windows=(weekly,)), now, timedelta(days=10))) == [
        datetime(2026, 12, 2, 3, tzinfo=UTC), datetime(2026, 12, 9, 3, tzinfo=UTC)]
    assert starts(upcoming_windows(MaintenanceConfig(windows=(daily,)), now, timedelta(days=1))) == [
        datetime(2026, 11, 30, 4, 30, tzinfo=UTC)]  # 23:30 EST on Nov 29
    assert starts(upcoming_windows(MaintenanceConfig(windows=(once,)), now, timedelta(days=30))) == [
        datetime(2026, 12, 1, 0, 0, tzinfo=UTC)]


def test_a_window_that_is_running_now_is_included_and_an_ended_one_is_not() -> None:
    assert starts(upcoming_windows(CFG, DEC_6 + timedelta(hours=3), timedelta(days=1))) == [DEC_6]
    assert upcoming_windows(CFG, DEC_6 + timedelta(hours=4), timedelta(days=1)) == []


def test_a_recurring_window_without_its_weekday_is_refused() -> None:
    broken = MaintenanceWindow("broken", 1, recur="weekly")
    with pytest.raises(ValueError, match="needs a weekday"):
        upcoming_windows(MaintenanceConfig(windows=(broken,)), DEC_6, timedelta(days=8))


def test_the_notice_is_planned_once_the_lead_time_is_reached() -> None:
    early = plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=73), History())
    assert [a.kind for a in early.actions] == []
    due = plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=71), History())
    assert [a.kind for a in due.actions] == [ActionKind.SCHEDULE_MAINT]
    notice = due.actions[0]
    assert notice.start_epoch_s == DEC_6.timestamp()
    assert notice.duration_h == 4.0
    assert notice.category == "power"


def test_no_notice_when_vast_already_holds_the_window() -> None:
    held = History(vast_maintenances=(vast_window(DEC_6 + timedelta(seconds=30)),))
    assert plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=71), held).actions == ()


def test_a_fractional_window_is_announced_in_whole_hours() -> None:
    short = MaintenanceConfig(windows=(MaintenanceWindow("short", 0.5, start=datetime(2026, 12, 6, 1, 0)),))  # noqa: DTZ001
    due = plan_maintenance(short, machine(), DEC_6 - timedelta(hours=1), History())
    assert due.actions[0].duration_h == 1.0
    held = History(vast_maintenances=(vast_window(DEC_6, hours=1),))
    assert plan_maintenance(short, machine(), DEC_6 - timedelta(hours=1), held).actions == ()


def test_a_window_removed_from_the_config_is_cancelled_and_the_due_ones_are_scheduled_again() -> None:
    stray = vast_window(DEC_6 + timedelta(days=1), ident=7)
    kept = vast_window(DEC_6, ident=8)
    ours = ((stray.start_time, 4.0), (kept.start_time, 4.0))
    memory = History(vast_maintenances=(stray, kept), maintenances_scheduled=ours)
    result = plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=10), memory)
    assert [a.kind for a in result.actions] == [ActionKind.CANCEL_MAINT, ActionKind.SCHEDULE_MAINT]
    assert result.actions[0].maintenance_ids == (7,)
    assert result.actions[1].start_epoch_s == DEC_6.timestamp()


def test_a_stale_window_of_ours_is_kept_when_vast_also_holds_one_hostagent_did_not_schedule() -> None:
    """Cancelling would remove the foreign window too: hostagent keeps its stale one and says why."""
    stray = vast_window(DEC_6 + timedelta(days=1), ident=7)
    foreign = vast_window(DEC_6 + timedelta(days=3), hours=2, ident=8)
    memory = History(vast_maintenances=(stray, foreign), maintenances_scheduled=((stray.start_time, 4.0),))
    result = plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=10), memory)
    assert result.actions == ()
    kept = [r.text for r in result.reasons if r.step == "maintenance.keep_stale"]
    assert len(kept) == 1
    assert "ids 8" in kept[0]
    assert "harmless" in kept[0]


def test_a_window_hostagent_did_not_schedule_is_never_cancelled_even_when_the_config_lacks_it() -> None:
    """The operator's window (or Vast's) is not a stray: no cancel, whatever the config says."""
    foreign = vast_window(DEC_6 + timedelta(days=1), ident=7)
    result = plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=10), History(vast_maintenances=(foreign,)))
    assert all(a.kind is not ActionKind.CANCEL_MAINT for a in result.actions)


def test_a_foreign_window_is_planned_around_like_ours() -> None:
    """Its start ends the offer, and the machine stays unlisted while it runs."""
    foreign = vast_window(DEC_6 - timedelta(days=3), hours=2, ident=7)
    memory = History(vast_maintenances=(foreign,))
    before = plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=4), memory)
    assert before.end_date == foreign.start_time
    during = plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=3) + timedelta(hours=1), memory)
    assert during.unlist
    assert during.active is not None
    assert during.active.name == "Vast window 7"


def test_a_fractional_window_shows_the_whole_hour_end_vast_holds() -> None:
    """Vast rounds a fraction down, so hostagent sends 3 h for 2.5 h and shows the window ending at 3 h."""
    window = ConcreteWindow("w", DEC_6, DEC_6 + timedelta(hours=2.5), "power")
    assert window.vast_end == DEC_6 + timedelta(hours=3)


def test_other_machines_windows_are_not_ours_to_cancel() -> None:
    theirs = VastMaintenance(9, 77, (DEC_6 + timedelta(days=2)).timestamp(), 4, "power")
    memory = History(vast_maintenances=(theirs,))
    assert plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=10), memory).actions == ()


def test_the_offer_end_date_is_pulled_in_to_the_next_window_start() -> None:
    result = plan_maintenance(CFG, machine(), DEC_6 - timedelta(days=5), History())
    assert result.end_date == DEC_6.timestamp()
    assert any(r.step == "maintenance.end_date" for r in result.reasons)


def test_unlisting_starts_unlist_before_h_ahead_and_lasts_through_the_window() -> None:
    assert not plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=2, seconds=1), History()).unlist
    assert plan_maintenance(CFG, machine(), DEC_6 - timedelta(hours=2), History()).unlist
    during = plan_maintenance(CFG, machine(), DEC_6 + timedelta(hours=3), History())
    assert during.unlist
    assert during.active is not None
    assert not plan_maintenance(CFG, machine(), DEC_6 + timedelta(hours=4), History()).unlist


def test_with_no_lead_for_unlisting_the_machine_is_unlisted_at_the_window_start_at_the_latest() -> None:
    cfg = MaintenanceConfig(unlist_before_h=0, windows=(FIRST_SUNDAY_BERLIN,))
    assert not plan_maintenance(cfg, machine(), DEC_6 - timedelta(seconds=1), History()).unlist
    assert plan_maintenance(cfg, machine(), DEC_6, History()).unlist


def test_a_contract_running_into_the_window_is_warned_about_and_an_earlier_one_is_reported() -> None:
    late = machine(client_end_date=(DEC_6 + timedelta(hours=6)).timestamp())
    result = plan_maintenance(CFG, late, DEC_6 - timedelta(days=1), History())
    assert len(result.warnings) == 1
    assert "6.0 h after window 'monthly power'" in result.warnings[0]
    early = machine(client_end_date=(DEC_6 - timedelta(hours=10)).timestamp())
    fine = plan_maintenance(CFG, early, DEC_6 - timedelta(days=1), History())
    assert fine.warnings == ()
    assert any("10.0 h before" in r.text for r in fine.reasons if r.step == "maintenance.contracts")


def test_the_unlist_happens_at_the_last_reconcile_before_the_window_never_after_it_starts() -> None:
    """With a reconcile every 300 s, the tick that would be the last one before the deadline unlists."""
    cfg = MaintenanceConfig(unlist_before_h=0, windows=(FIRST_SUNDAY_BERLIN,))
    early = DEC_6 - timedelta(seconds=301)
    last = DEC_6 - timedelta(seconds=299)
    assert not plan_maintenance(cfg, machine(), early, History(), lookahead_s=300).unlist
    unlisting = plan_maintenance(cfg, machine(), last, History(), lookahead_s=300)
    assert unlisting.unlist
    assert any("one reconcile, 300 s" in r.text for r in unlisting.reasons)

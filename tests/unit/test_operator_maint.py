"""The operator's windows (`hostagent maint add|cancel`) in the pure plan, and their stored form."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from core_values import MACHINE_ID, machine

from hostagent.config.model import MaintenanceConfig
from hostagent.core.actions import CancelMaint, ScheduleMaint
from hostagent.core.maintenance import plan_maintenance
from hostagent.core.model import History, VastMaintenance
from hostagent.core.operator_maint import OperatorCancel, OperatorMaints, OperatorWindow, from_json, overlap, to_json

UTC = timezone.utc
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CFG = MaintenanceConfig(lead_time_h=72, unlist_before_h=2, windows=())
OP = OperatorWindow("op-1", MACHINE_ID, NOW + timedelta(days=10), 2.5, "disk", "swap a disk", "alice@h", NOW)


def held(start: datetime, hours: float, ident: int = 7) -> VastMaintenance:
    return VastMaintenance(ident, MACHINE_ID, start.timestamp(), hours, "disk")


def test_a_queued_window_is_notified_at_once_in_whole_hours_whatever_the_lead_time() -> None:
    """Ten days ahead is beyond lead_time_h 72: the operator asked now, so the notice goes now."""
    plan = plan_maintenance(CFG, machine(), NOW, History(), operator=OperatorMaints((OP,)))
    assert plan.actions == (ScheduleMaint(MACHINE_ID, plan.actions[0].reason, OP.start.timestamp(), 3.0, "disk"),)
    assert "operator window op-1 added by alice@h (swap a disk)" in plan.actions[0].reason
    assert plan.end_date == OP.start.timestamp()  # planned around before it is even sent


def test_a_sent_window_vast_holds_asks_for_nothing_and_is_never_a_stray() -> None:
    """Recorded as ours (sent by the agent) and in no config: still no cancel, because the operator asked for it."""
    sent = dataclasses.replace(OP, state="sent")
    history = History(vast_maintenances=(held(OP.start, 3.0),), maintenances_scheduled=((OP.start.timestamp(), 3.0),))
    plan = plan_maintenance(CFG, machine(), NOW, history, operator=OperatorMaints((sent,)))
    assert plan.actions == ()


def test_a_sent_window_someone_cancelled_on_vast_is_not_sent_again() -> None:
    sent = OperatorMaints((dataclasses.replace(OP, state="sent"),))
    assert plan_maintenance(CFG, machine(), NOW, History(), operator=sent).actions == ()


def test_a_cancel_of_our_stray_sends_the_operator_window_again_in_the_same_plan() -> None:
    """Vast's cancel removes every window: the operator's, wiped by our own cancel, is notified again after it."""
    stray = NOW + timedelta(days=2)
    history = History(vast_maintenances=(held(stray, 2.0, 1), held(OP.start, 3.0, 2)),
                      maintenances_scheduled=((stray.timestamp(), 2.0), (OP.start.timestamp(), 3.0)))
    sent = OperatorMaints((dataclasses.replace(OP, state="sent"),))
    plan = plan_maintenance(CFG, machine(), NOW, history, operator=sent)
    assert [type(a) for a in plan.actions] == [CancelMaint, ScheduleMaint]


def test_the_operators_cancel_cancels_every_window_and_a_window_queued_after_it_is_notified() -> None:
    later = dataclasses.replace(OP, id="op-2", start=NOW + timedelta(days=20))
    cancel = OperatorCancel("cancel-1", MACHINE_ID, NOW, "bob@h")
    history = History(vast_maintenances=(held(OP.start, 3.0),))
    plan = plan_maintenance(CFG, machine(), NOW, history,
                            operator=OperatorMaints((dataclasses.replace(OP, state="cancelled"), later), cancel))
    assert [type(a) for a in plan.actions] == [CancelMaint, ScheduleMaint]
    assert "bob@h asked" in plan.actions[0].reason
    assert plan.actions[1].start_epoch_s == later.start.timestamp()  # type: ignore[attr-defined]


def test_another_machines_operator_window_is_ignored() -> None:
    other = dataclasses.replace(OP, machine_id=MACHINE_ID + 1)
    plan = plan_maintenance(CFG, machine(), NOW, History(), operator=OperatorMaints((other,)))
    assert plan.actions == ()
    assert plan.end_date is None


def test_the_machine_stays_unlisted_while_an_operator_window_runs() -> None:
    running = dataclasses.replace(OP, start=NOW - timedelta(hours=1), state="sent")
    plan = plan_maintenance(CFG, machine(), NOW, History(), operator=OperatorMaints((running,)))
    assert plan.unlist
    assert plan.active is not None
    assert plan.active.name == "operator op-1"


def test_the_stored_form_round_trips_and_a_damaged_entry_is_dropped_alone() -> None:
    doc = OperatorMaints((OP,), OperatorCancel("cancel-1", MACHINE_ID, NOW, "bob@h"))
    assert from_json(to_json(doc)) == (doc, [])
    raw = to_json(doc)
    raw["windows"] = [*raw["windows"], {"id": "broken", "machine_id": "x"}]  # type: ignore[misc]
    parsed, problems = from_json(raw)
    assert parsed == doc
    assert len(problems) == 1
    assert from_json(None) == (OperatorMaints(), [])


def test_overlap_names_the_first_window_that_shares_time_and_touching_ends_do_not_overlap() -> None:
    start = NOW + timedelta(days=1)
    others = [("a", start - timedelta(hours=2), start), ("b", start + timedelta(hours=1), start + timedelta(hours=2))]
    assert overlap(start, start + timedelta(hours=1), others) is None
    assert overlap(start, start + timedelta(hours=2), others) == (
        f"b ({start + timedelta(hours=1):%Y-%m-%d %H:%M} → {start + timedelta(hours=2):%Y-%m-%d %H:%M} UTC)")

"""Vast's signals about the machine: each piece of news becomes one event, once; the first look is a baseline."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core_values import MACHINE_ID, NOW, listed_machine, machine, snapshot

from hostagent.config.model import Config, HealthConfig, VastConfig
from hostagent.core import signals
from hostagent.core.actions import UnlistMachine
from hostagent.core.events import EventKind, Severity
from hostagent.core.model import History, MachineReport, VastMaintenance
from hostagent.core.plan import plan
from hostagent.core.signals import SignalState, observe_machine, observe_reports, reports_due

OFFLINE_AFTER_S = 300.0
REPORT = MachineReport("Machine Performance Is Less Than Expected", "GPU utilization is inconsistent.", 1795628817.88)


def _look(previous: SignalState | None, **fields: object) -> tuple[SignalState, list[EventKind]]:
    state, events = observe_machine(previous, machine(**fields), (), OFFLINE_AFTER_S, NOW)
    return state, [e.kind for e in events]


def _baseline() -> SignalState:
    state, _ = _look(None, verification="verified", timeout_s=0.0, num_reports=0)
    state, _ = observe_reports(state, [], NOW)
    return state


def test_the_first_look_announces_only_what_is_wrong_now() -> None:
    """No state kept: an error and offline are announced; verification is a baseline, not news."""
    _, quiet = _look(None, verification="unverified", timeout_s=0.0)
    _, loud = _look(None, verification="verified", timeout_s=3600.0, error_description="GPU 2 not detected")
    assert quiet == []
    assert loud == [EventKind.VAST_OFFLINE, EventKind.VAST_ERROR]


def test_offline_is_announced_once_then_online_once() -> None:
    """Three looks while Vast does not hear from the machine: one VAST_OFFLINE; then one VAST_ONLINE."""
    state = _baseline()
    kinds: list[EventKind] = []
    for timeout_s in (400.0, 700.0, 1000.0, 0.0, 0.0):
        state, seen = _look(state, verification="verified", timeout_s=timeout_s)
        kinds += seen
    assert kinds == [EventKind.VAST_OFFLINE, EventKind.VAST_ONLINE]


def test_a_timeout_under_the_threshold_is_not_offline_and_a_missing_one_keeps_the_last_state() -> None:
    """Vast's timeout up to vast.offline_after_s is online; a reply without it changes nothing."""
    state, kinds = _look(_baseline(), timeout_s=OFFLINE_AFTER_S)
    assert (state.offline, kinds) == (False, [])
    state, _ = _look(state, timeout_s=5000.0)
    state, kinds = _look(state, timeout_s=None)
    assert (state.offline, kinds) == (True, [])


def test_a_verification_change_is_one_event_and_losing_it_is_a_warning() -> None:
    """verified -> deverified warns; back to verified informs; unknown in between is no news."""
    state = _baseline()
    events = []
    for verification in ("deverified", "deverified", None, "verified"):
        state, seen = observe_machine(state, machine(verification=verification), (), OFFLINE_AFTER_S, NOW)
        events += seen
    assert [(e.kind, e.severity) for e in events] == [
        (EventKind.VERIFICATION_CHANGED, Severity.WARNING), (EventKind.VERIFICATION_CHANGED, Severity.INFO)]
    assert "verified → deverified" in events[0].summary


def test_an_error_is_news_when_it_appears_not_while_it_stays_and_again_after_it_cleared() -> None:
    """The same red line seen on three reads is one VAST_ERROR; cleared and back, it is a second one."""
    state = _baseline()
    kinds: list[EventKind] = []
    for error in ("disk full", "disk full", None, "disk full", "GPU 3 missing"):
        state, seen = _look(state, error_description=error)
        kinds += seen
    assert kinds == [EventKind.VAST_ERROR] * 3


def test_a_window_vast_scheduled_is_announced_once() -> None:
    """A window hostagent did not schedule: one VAST_MAINTENANCE naming it, however often it is seen."""
    window = VastMaintenance(id=77, machine_id=MACHINE_ID, start_time=NOW.timestamp() + 86400, duration_hours=2.0,
                             category="power")
    state, first = observe_machine(_baseline(), machine(), (window,), OFFLINE_AFTER_S, NOW)
    _, again = observe_machine(state, machine(), (window,), OFFLINE_AFTER_S, NOW)
    assert [e.kind for e in first] == [EventKind.VAST_MAINTENANCE]
    assert "(power); not by hostagent" in first[0].summary
    assert again == []


def test_reports_at_the_first_read_are_a_baseline_and_each_later_one_is_one_event() -> None:
    """Old reports are shown, not announced; a new one is announced once, with a dedup key of its own."""
    state, _ = _look(None, num_reports=1)
    state, first = observe_reports(state, [REPORT], NOW)
    later = MachineReport("Network Issue", "", REPORT.created_at + 3600)
    state, second = observe_reports(state, [REPORT, later], NOW)
    state, third = observe_reports(state, [REPORT, later], NOW)
    assert first == third == []
    assert [(e.kind, e.summary) for e in second] == [
        (EventKind.RENTER_REPORT, f"renter report on machine {MACHINE_ID}: Network Issue")]
    assert second[0].key == f"renter_report:{MACHINE_ID}:{later.key}"
    assert state.reports == (REPORT, later)


def test_reports_are_read_when_never_read_when_the_count_moves_and_every_interval() -> None:
    """Due: never read; Vast's num_reports moved since; the interval passed; the clock went back."""
    state, _ = _look(None, num_reports=1)
    assert reports_due(state, 900.0, NOW)
    state, _ = observe_reports(state, [REPORT], NOW)
    assert not reports_due(state, 900.0, NOW + timedelta(seconds=899))
    assert reports_due(state, 900.0, NOW + timedelta(seconds=900))
    assert reports_due(state, 900.0, NOW - timedelta(seconds=1))
    moved, _ = _look(state, num_reports=2)
    assert reports_due(moved, 900.0, NOW + timedelta(seconds=1))


def test_the_kept_state_survives_its_json_and_a_damaged_one_reads_as_a_first_look() -> None:
    """to_json/from_json round-trip (what a restart reads); anything else is None, never an exception."""
    state, _ = observe_reports(_look(None, verification="verified", timeout_s=0.0, num_reports=1)[0], [REPORT], NOW)
    assert signals.from_json(signals.to_json(state)) == state
    assert signals.from_json({"machine_id": "x"}) is None
    assert signals.from_json({"machine_id": 1, "offline": "yes"}) is None
    assert signals.from_json([1, 2]) is None


def test_another_machine_starts_a_new_baseline() -> None:
    """State kept for machine 1 says nothing about machine 2: its verification is a baseline again."""
    other = replace(_baseline(), machine_id=1, verification="deverified")
    state, kinds = _look(other, verification="verified")
    assert (state.machine_id, kinds) == (MACHINE_ID, [])


def test_offline_unlists_only_when_the_owner_asks_and_the_reason_says_so() -> None:
    """health.unlist_when_vast_offline false (default): stays listed; true: unlisted with a vast.offline reason."""
    offline = listed_machine(2.0, timeout_s=3600.0)
    default = plan(snapshot(), offline, None, Config(), NOW, History())
    strict = Config(health=HealthConfig(unlist_when_vast_offline=True), vast=VastConfig(offline_after_s=600.0))
    unlisted = plan(snapshot(), offline, None, strict, NOW, History())
    assert default.desired.listed is True
    assert unlisted.desired.listed is False
    assert [a.cause for a in unlisted.actions if isinstance(a, UnlistMachine)] == ["vast"]
    steps = {r.step: r.text for r in unlisted.reasons}
    assert steps["vast.offline"].startswith(
        "Vast last heard from the machine 3600 s ago (over vast.offline_after_s 600)")
    assert steps["listing"] == "unlist: Vast reports the machine offline (rentals continue)"

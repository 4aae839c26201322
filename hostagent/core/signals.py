"""Vast's signals about the machine: what changed since the last look, as events. Pure: no I/O, no clock reads.

Vast shows the host what its renters and its own checks think of the machine: renter reports, verification,
the reliability score, `timeout` (seconds since Vast last heard from the machine: offline past
`vast.offline_after_s`), a red `error_description`, and maintenance windows it scheduled itself. The agent keeps
what it last saw (`SignalState`, in the state store), so each piece of news is announced once, across restarts:

- a renter report not seen before: RENTER_REPORT, one per report (dedup key: its time and problem);
- verification moved between two known states: VERIFICATION_CHANGED;
- offline per Vast: VAST_OFFLINE once, then VAST_ONLINE when Vast hears from the machine again;
- an error that was not showing: VAST_ERROR (the same error again after it cleared is news again);
- a window Vast holds that hostagent did not schedule: VAST_MAINTENANCE, once per window.

The first look (no state kept, or another machine) announces what is wrong now (offline, an error, Vast's
windows) but not the past: reports filed before hostagent watched are shown in `status`, not notified, and the
verification state is only a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TypeVar

from hostagent.config.model import Config
from hostagent.core.events import Event, EventKind, Severity
from hostagent.core.model import MachineReport, MachineState, Reason, VastMaintenance

_T = TypeVar("_T")
SEEN_REPORTS_KEPT = 200  # Vast lists the 20 most recent: a key older than this can never come back
REPORTS_SHOWN = 20


@dataclass(frozen=True)
class SignalState:
    """What the agent last saw of Vast's signals about one machine (kept under kv `vast_signals`)."""

    machine_id: int
    verification: str | None = None
    reliability: float | None = None
    timeout_s: float | None = None
    offline: bool | None = None  # None: Vast has not said (no `timeout` yet)
    error_description: str | None = None
    num_reports: int | None = None
    reports: tuple[MachineReport, ...] = ()  # the most recent ones read, oldest first
    seen_reports: tuple[str, ...] = ()  # keys of the reports already announced (or seen at the first read)
    reports_read_at_s: float | None = None  # epoch s of the last read of the reports; None: never read
    reports_count_read: int | None = None  # Vast's num_reports when the reports were last read
    vast_windows: tuple[int, ...] = ()  # ids of Vast-scheduled windows already announced


def is_offline(timeout_s: float | None, offline_after_s: float) -> bool | None:
    return None if timeout_s is None else timeout_s > offline_after_s


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _event(kind: EventKind, now: datetime, machine_id: int, summary: str, *, severity: Severity = Severity.WARNING,
           detail: str = "", dedup: str = "") -> Event:
    return Event(kind, now, summary, machine_id, severity, detail or summary, dedup)


def observe_machine(
    previous: SignalState | None, machine: MachineState, vast_windows: Sequence[VastMaintenance],
    offline_after_s: float, now: datetime,
) -> tuple[SignalState, list[Event]]:
    """The signals of a fresh machine read, and the events they make. `vast_windows`: the windows Vast holds
    that hostagent did not schedule (hostagent.core.maintenance.foreign_windows). A value Vast did not send
    (None) keeps the last one known: missing is not news."""
    first = previous is None or previous.machine_id != machine.id
    prev = SignalState(machine.id) if previous is None or first else previous
    mid = machine.id
    events: list[Event] = []
    offline = is_offline(machine.timeout_s, offline_after_s)
    if offline is True and prev.offline is not True:
        events.append(_event(EventKind.VAST_OFFLINE, now, mid, f"Vast reports machine {mid} offline: it last heard "
                             f"from it {machine.timeout_s:.0f} s ago", detail=f"Vast's timeout {machine.timeout_s:.0f} "
                             f"s is over vast.offline_after_s {offline_after_s:g}", dedup=f"vast_offline:{mid}"))
    elif offline is False and prev.offline is True:
        events.append(_event(EventKind.VAST_ONLINE, now, mid, f"Vast hears from machine {mid} again (online)",
                             severity=Severity.INFO, dedup=f"vast_online:{mid}"))
    verification = machine.verification or prev.verification
    if not first and None not in (machine.verification, prev.verification) and verification != prev.verification:
        worse = verification != "verified"
        events.append(_event(EventKind.VERIFICATION_CHANGED, now, mid, f"Vast's verification of machine {mid}: "
                             f"{prev.verification} → {verification}",
                             severity=Severity.WARNING if worse else Severity.INFO,
                             dedup=f"verification_changed:{mid}:{verification}"))
    error = machine.error_description
    if error is not None and error != prev.error_description:
        events.append(_event(EventKind.VAST_ERROR, now, mid, f"Vast shows an error on machine {mid}: {error}",
                             dedup=f"vast_error:{mid}:{error}"))
    for window in vast_windows:
        if window.id not in prev.vast_windows:
            end_s = window.start_time + window.duration_hours * 3600.0
            events.append(_event(
                EventKind.VAST_MAINTENANCE, now, mid, f"Vast scheduled maintenance on machine {mid}: "
                f"{_iso(window.start_time)} → {_iso(end_s)} ({window.category or 'no category'}); not by hostagent",
                dedup=f"vast_maintenance:{mid}:{window.id}"))
    state = replace(
        prev, verification=verification,
        reliability=machine.reliability if machine.reliability is not None else prev.reliability,
        timeout_s=machine.timeout_s if machine.timeout_s is not None else prev.timeout_s,
        offline=offline if offline is not None else prev.offline,
        error_description=error,  # None: Vast shows none (a blank line reads as none)
        num_reports=machine.num_reports if machine.num_reports is not None else prev.num_reports,
        vast_windows=tuple(w.id for w in vast_windows),
    )
    return state, events


def reports_due(state: SignalState, every_s: float, now: datetime) -> bool:
    """Read the reports now: never read, Vast's count moved since, `every_s` passed, or the clock went back."""
    if state.reports_read_at_s is None or state.num_reports != state.reports_count_read:
        return True
    age_s = now.timestamp() - state.reports_read_at_s
    return age_s < 0 or age_s >= every_s


def observe_reports(
    state: SignalState, reports: Sequence[MachineReport], now: datetime
) -> tuple[SignalState, list[Event]]:
    """A fresh read of the reports: one RENTER_REPORT per report not seen before (none at the first read)."""
    ordered = sorted(reports, key=lambda r: r.created_at)
    fresh = [r for r in ordered if r.key not in state.seen_reports]
    events = [] if state.reports_read_at_s is None else [
        _event(EventKind.RENTER_REPORT, now, state.machine_id,
               f"renter report on machine {state.machine_id}: {r.problem}" + (f": {r.message}" if r.message else ""),
               detail=f"filed {_iso(r.created_at)}: {r.problem}" + (f": {r.message}" if r.message else ""),
               dedup=f"renter_report:{state.machine_id}:{r.key}")
        for r in fresh
    ]
    seen = (*state.seen_reports, *(r.key for r in fresh))[-SEEN_REPORTS_KEPT:]
    return replace(state, reports=tuple(ordered[-REPORTS_SHOWN:]), seen_reports=seen,
                   reports_read_at_s=now.timestamp(), reports_count_read=state.num_reports), events


def offline_reason(machine: MachineState, config: Config) -> Reason | None:
    """Why the machine stays unlisted per Vast's signals (opt-in `health.unlist_when_vast_offline`), or None."""
    if not config.health.unlist_when_vast_offline or not is_offline(machine.timeout_s, config.vast.offline_after_s):
        return None
    return Reason("vast.offline", f"Vast last heard from the machine {machine.timeout_s:.0f} s ago (over "
                  f"vast.offline_after_s {config.vast.offline_after_s:g}) and health.unlist_when_vast_offline is true")


def to_json(state: SignalState) -> dict[str, object]:
    return {
        "machine_id": state.machine_id, "verification": state.verification, "reliability": state.reliability,
        "timeout_s": state.timeout_s, "offline": state.offline, "error_description": state.error_description,
        "num_reports": state.num_reports,
        "reports": [{"problem": r.problem, "message": r.message, "created_at": r.created_at} for r in state.reports],
        "seen_reports": list(state.seen_reports), "reports_read_at_s": state.reports_read_at_s,
        "reports_count_read": state.reports_count_read, "vast_windows": list(state.vast_windows),
    }


def from_json(doc: object) -> SignalState | None:
    """Tolerant: a document that does not fit (damaged, older) reads as None, a first look."""
    if not isinstance(doc, Mapping):
        return None
    try:
        reports = tuple(MachineReport(str(r["problem"]), str(r["message"]), float(r["created_at"]))
                        for r in doc.get("reports") or ())
        return SignalState(
            machine_id=int(doc["machine_id"]), verification=_opt(doc, "verification", str),
            reliability=_opt(doc, "reliability", float), timeout_s=_opt(doc, "timeout_s", float),
            offline=_opt(doc, "offline", bool), error_description=_opt(doc, "error_description", str),
            num_reports=_opt(doc, "num_reports", int), reports=reports,
            seen_reports=tuple(str(k) for k in doc.get("seen_reports") or ()),
            reports_read_at_s=_opt(doc, "reports_read_at_s", float),
            reports_count_read=_opt(doc, "reports_count_read", int),
            vast_windows=tuple(int(i) for i in doc.get("vast_windows") or ()),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _opt(doc: Mapping[str, object], key: str, kind: type[_T]) -> _T | None:
    value = doc.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TypeError(f"{key}: {value!r}")
    return value

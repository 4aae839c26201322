"""Maintenance windows from config -> concrete UTC windows, Vast notices, the offer end date, unlist/relist.

Recurring windows are expanded in their own time zone with zoneinfo, so "first Sunday 02:00
Europe/Berlin" stays 02:00 local across DST changes; the duration is real elapsed hours. A local start
that does not exist (the spring-forward gap) is read with the offset before the change, i.e. shifted
forward by the gap. Pure: `now` is a parameter.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hostagent.config.model import WEEKDAYS, MaintenanceConfig, MaintenanceWindow
from hostagent.core.actions import Action, CancelMaint, ScheduleMaint
from hostagent.core.model import MAX_EPOCH_S, History, MachineState, Reason, VastMaintenance
from hostagent.core.operator_maint import OperatorCancel, OperatorMaints, OperatorWindow

VAST_HORIZON = timedelta(days=365)  # Vast accepts a notice only for a start within a year
MATCH_START_S = 60.0  # a Vast window within this of a configured start is the same window


@dataclass(frozen=True, slots=True)
class ConcreteWindow:
    name: str
    start: datetime  # UTC
    end: datetime  # UTC
    category: str
    timezone: str = "UTC"

    @property
    def duration_h(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def vast_end(self) -> datetime:
        """The end of the window as Vast holds it: the start plus the whole hours hostagent sends."""
        return self.start + timedelta(hours=vast_duration_h(self))

    def local_text(self) -> str:
        local = self.start.astimezone(ZoneInfo(self.timezone))
        return f"'{self.name}' {local:%Y-%m-%d %H:%M} {self.timezone} ({self.start:%Y-%m-%d %H:%M} UTC)"


def _recurs_on(window: MaintenanceWindow, day: date) -> bool:
    if window.recur == "daily":
        return True
    if window.weekday is None:
        raise ValueError(f"maintenance window '{window.name}': {window.recur} needs a weekday")
    if WEEKDAYS[day.weekday()] != window.weekday:
        return False
    if window.recur == "weekly":
        return True
    if window.nth is None:
        raise ValueError(f"maintenance window '{window.name}': monthly needs nth (1..4 or -1)")
    if window.nth == -1:
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 + 1 == window.nth


def _local_starts(window: MaintenanceWindow, first: date, last: date) -> Iterator[datetime]:
    """Naive local start times between two local dates (inclusive)."""
    if window.recur is None:
        if window.start is not None:
            start = window.start
            if start.tzinfo is not None:  # an offset in the file wins: read it in the window's zone
                start = start.astimezone(ZoneInfo(window.timezone))
            yield start.replace(tzinfo=None)
        return
    day = first
    while day <= last:
        if _recurs_on(window, day):
            yield datetime.combine(day, window.at)
        day += timedelta(days=1)


def expand(window: MaintenanceWindow, since: datetime, until: datetime) -> list[ConcreteWindow]:
    """Occurrences of one configured window that have not ended by `since` and start before `until`.

    Raises ValueError for a recurring window missing its weekday/nth (config validation rejects those).
    """
    zone = ZoneInfo(window.timezone)
    length = timedelta(hours=window.duration_h)
    first = (since - length).astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    found: list[ConcreteWindow] = []
    for local in _local_starts(window, first, last):
        start = local.replace(tzinfo=zone).astimezone(timezone.utc)
        end = start + length
        if end > since and start < until:
            found.append(ConcreteWindow(window.name, start, end, window.category, window.timezone))
    return found


def upcoming_windows(cfg: MaintenanceConfig, now: datetime, horizon: timedelta) -> list[ConcreteWindow]:
    """Every configured window running now or starting within `horizon`, sorted by start."""
    windows = [w for cw in cfg.windows for w in expand(cw, now, now + horizon)]
    return sorted(windows, key=lambda w: (w.start, w.name))


def vast_duration_h(window: ConcreteWindow) -> float:
    """Vast takes whole hours, at least one: round up so the notice covers the whole window."""
    return float(max(1, math.ceil(window.duration_h - 1e-9)))


def matches(vast: VastMaintenance, window: ConcreteWindow) -> bool:
    same_start = abs(vast.start_time - window.start.timestamp()) <= MATCH_START_S
    same_length = any(abs(vast.duration_hours - h) < 0.01 for h in (window.duration_h, vast_duration_h(window)))
    return same_start and same_length


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    actions: tuple[Action, ...]
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...]
    unlist: bool  # keep the machine unlisted now (before or during a window)
    end_date: float | None  # epoch s: the next window's start, so no new contract runs into it
    active: ConcreteWindow | None
    next_window: ConcreteWindow | None


def schedule_notice(window: ConcreteWindow, machine_id: int, why: str) -> ScheduleMaint:
    """The notice for one window: its UTC start, its length in Vast's whole hours, its category."""
    return ScheduleMaint(machine_id, why, window.start.timestamp(), vast_duration_h(window), window.category)


def cancel_notices(machine_id: int, why: str, ids: tuple[int, ...] = ()) -> CancelMaint:
    """The write that cancels the machine's windows on Vast (Vast's cancel removes every one of them)."""
    return CancelMaint(machine_id, why, ids)


def is_record_of(vast: VastMaintenance, record: tuple[float, float]) -> bool:
    """The window Vast holds for a notice hostagent sent: (start epoch s, whole hours sent)."""
    start_s, hours = record
    return abs(vast.start_time - start_s) <= MATCH_START_S and abs(vast.duration_hours - hours) < 0.01


def scheduled_by_us(vast: VastMaintenance, history: History) -> bool:
    """A window Vast holds that hostagent scheduled itself."""
    return any(is_record_of(vast, record) for record in history.maintenances_scheduled)


def foreign_windows(machine_id: int, history: History) -> list[VastMaintenance]:
    """Windows of the machine that hostagent did not schedule: the operator's, or Vast's own."""
    return [v for v in history.vast_maintenances if v.machine_id == machine_id and not scheduled_by_us(v, history)]


def _as_window(vast: VastMaintenance) -> ConcreteWindow:
    start = datetime.fromtimestamp(vast.start_time, tz=timezone.utc)
    end = datetime.fromtimestamp(vast.end_time, tz=timezone.utc)
    return ConcreteWindow(f"Vast window {vast.id}", start, end, vast.category)


def operator_window(w: OperatorWindow) -> ConcreteWindow:
    """An operator's window as the plan holds it (named by its id, in the zone it was given in)."""
    return ConcreteWindow(f"operator {w.id}", w.start, w.end, w.category, w.timezone)


def _notices(  # noqa: PLR0917 -- the config's windows, the operator's, and the operator's cancel
    cfg: MaintenanceConfig, windows: list[ConcreteWindow], machine: MachineState, now: datetime, history: History,
    ops: list[OperatorWindow], cancel: OperatorCancel | None,
) -> tuple[list[Action], list[Reason]]:
    """The operator's cancel, else cancel our Vast windows no window asks for any more; then notify what is due.

    Vast's cancel removes EVERY window of the machine, so a stray is cancelled only when every window Vast
    holds is one hostagent scheduled; with a foreign window there, our stale one is kept (renters were told of
    a window that will not happen: harmless, and it ends by itself). The operator's windows are windows asked
    for: never strays, notified at once (not at lead_time_h), and notified again after a cancel wiped them.
    """
    held = [v for v in history.vast_maintenances if v.machine_id == machine.id]
    op_windows = [operator_window(w) for w in ops]
    wanted = [*windows, *op_windows]
    strays = [v for v in held if v.start_time > now.timestamp() and not any(matches(v, w) for w in wanted)
              and scheduled_by_us(v, history)]
    foreign = [v for v in held if not scheduled_by_us(v, history)]
    actions: list[Action] = []
    reasons: list[Reason] = []
    wiped = False  # a cancel in this plan: every window Vast held is gone, ours are notified again
    if cancel is not None:
        text = (f"{cancel.by} asked at {cancel.requested_at:%Y-%m-%d %H:%M} UTC to cancel the machine's windows "
                f"(`hostagent maint cancel`, {cancel.id})")
        if held:
            ids = tuple(sorted(v.id for v in held))
            text += f": Vast holds {len(held)} (ids {', '.join(map(str, ids))}); Vast's cancel removes them all"
            actions.append(cancel_notices(machine.id, text, ids))
            held, wiped = [], True
        else:
            text += ": Vast holds none, nothing to send"
        reasons.append(Reason("maintenance.operator_cancel", text))
    elif strays and foreign:
        text = (f"Vast holds {len(strays)} window(s) hostagent scheduled that the config no longer has "
                f"(ids {', '.join(str(v.id) for v in strays)}), but also {len(foreign)} it did not schedule "
                f"(ids {', '.join(str(v.id) for v in foreign)}): cancelling would remove those too, so the stale "
                "notice stays (harmless: the machine is listed as planned)")
        reasons.append(Reason("maintenance.keep_stale", text))
    elif strays:
        ids = tuple(sorted(v.id for v in strays))
        text = (f"Vast holds {len(strays)} window(s) not in the config (ids {', '.join(map(str, ids))}), all "
                "scheduled by hostagent; cancelling removes every window of the machine, due ones are scheduled again")
        actions.append(cancel_notices(machine.id, text, ids))
        reasons.append(Reason("maintenance.cancel", text))
        held, wiped = [], True
    lead = timedelta(hours=cfg.lead_time_h)
    for window in windows:
        if not now < window.start <= now + lead or any(matches(v, window) for v in held):
            continue
        text = (f"window {window.local_text()} is within lead_time_h {cfg.lead_time_h:g}: notify renters; "
                f"Vast holds it {window.start:%Y-%m-%d %H:%M} → {window.vast_end:%Y-%m-%d %H:%M} UTC (whole hours)")
        actions.append(schedule_notice(window, machine.id, text))
        reasons.append(Reason("maintenance.notice", text))
    for op, window in zip(ops, op_windows, strict=True):
        due = op.state == "queued" or wiped  # a sent one is never sent again, unless our own cancel wiped it
        if not due or window.start <= now or any(matches(v, window) for v in held):
            continue
        text = (f"operator window {op.id} added by {op.by} ({op.reason}): notify renters; Vast holds it "
                f"{window.start:%Y-%m-%d %H:%M} → {window.vast_end:%Y-%m-%d %H:%M} UTC (whole hours)")
        actions.append(schedule_notice(window, machine.id, text))
        reasons.append(Reason("maintenance.operator_notice", text))
    return actions, reasons


def _contracts(client_end_s: float, window: ConcreteWindow) -> tuple[Reason, str | None]:
    ends = datetime.fromtimestamp(client_end_s, tz=timezone.utc)
    gap_h = (window.start - ends).total_seconds() / 3600.0
    if gap_h >= 0:
        text = f"latest contract ends {ends:%Y-%m-%d %H:%M} UTC, {gap_h:.1f} h before window {window.local_text()}"
        return Reason("maintenance.contracts", text), None
    text = (f"latest contract ends {ends:%Y-%m-%d %H:%M} UTC, {-gap_h:.1f} h after window "
            f"{window.local_text()} starts: the renter is owed the machine until then")
    return Reason("maintenance.contracts", text), text


def plan_maintenance(
    cfg: MaintenanceConfig, machine: MachineState, now: datetime, history: History, *, lookahead_s: float = 0.0,
    operator: OperatorMaints | None = None,
) -> MaintenancePlan:
    """Notices, the end date, whether to stay unlisted, and a warning when a running contract runs into a window.

    `lookahead_s` is the time until the next planned reconcile: the unlist happens at the last reconcile
    before `unlist_before_h` is reached, so the machine is unlisted before the window, never after it starts.
    """
    windows = upcoming_windows(cfg, now, VAST_HORIZON)
    operator = operator or OperatorMaints()
    ops = [w for w in operator.for_machine(machine.id) if w.live and w.end > now]
    actions, reasons = _notices(cfg, windows, machine, now, history, ops, operator.cancel_for(machine.id))
    op_windows = [operator_window(w) for w in ops]  # planned around as soon as asked for, sent or not
    # A window someone else had Vast hold is planned around like ours: unlisted during it, no contract into it.
    others = [_as_window(v) for v in foreign_windows(machine.id, history)
              if 0.0 <= v.start_time < v.end_time <= MAX_EPOCH_S  # a number from outside that is no time: ignored
              and v.end_time > now.timestamp() and not any(matches(v, w) for w in [*windows, *op_windows])]
    planned = sorted([*windows, *op_windows, *others], key=lambda w: (w.start, w.name))
    active = next((w for w in planned if w.start <= now < w.end), None)
    coming = next((w for w in planned if w.start > now), None)
    warnings: list[str] = []
    unlist = False
    if active is not None:
        unlist = True
        reasons.append(Reason("maintenance.active", f"window {active.local_text()} runs until "
                              f"{active.end:%Y-%m-%d %H:%M} UTC: stay unlisted"))
    elif coming is not None and now + timedelta(seconds=lookahead_s) >= coming.start - timedelta(
        hours=cfg.unlist_before_h
    ):
        unlist = True
        reasons.append(Reason("maintenance.unlist", f"window {coming.local_text()} starts within "
                              f"unlist_before_h {cfg.unlist_before_h:g} (+ one reconcile, {lookahead_s:g} s): unlist"))
    end_date = coming.start.timestamp() if coming is not None else None
    if coming is not None:
        reasons.append(Reason("maintenance.end_date", f"offer ends at the start of window {coming.local_text()}, "
                              "so no new contract runs into it"))
    shown = active or coming
    contract_end_s = machine.client_end_date
    if contract_end_s is not None and not 0.0 <= contract_end_s <= MAX_EPOCH_S:
        # parse refuses such a reply; kept here too so the pure core never crashes on a number from outside
        reasons.append(Reason("maintenance.contracts", f"latest contract end {contract_end_s!r} is no time: ignored"))
        contract_end_s = None
    if shown is not None and contract_end_s is not None:
        reason, warning = _contracts(contract_end_s, shown)
        reasons.append(reason)
        if warning is not None:
            warnings.append(warning)
    return MaintenancePlan(tuple(actions), tuple(reasons), tuple(warnings), unlist, end_date, active, coming)

"""What `hostagent status` shows, gathered read-only and fast: the saved status document, the journal's
tail, the stored earnings, and whether the daemon holds the state directory.

The store is read through `hostagent.store.reader.StateReader` (stdlib sqlite3, read-only), which
`hostagent.bootstrap.open_reader` opens. This module must import nothing heavy: no httpx, pynvml, structlog.

`hostagent status --json` prints a `StatusView` (STATUS_SCHEMA = 1); `hostagent/data/status.schema.json` is its
JSON Schema, and docs/operating.md describes it.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypedDict, cast

from hostagent.config.model import Config
from hostagent.core.maintenance import operator_window, upcoming_windows
from hostagent.core.operator_maint import OPERATOR_MAINTS_KEY
from hostagent.core.operator_maint import from_json as operator_maints_from_json
from hostagent.core.owner import HOLD_KEY, PAUSE_KEY
from hostagent.runtime.lock import LOCK_NAME
from hostagent.service.status_types import Owner, StatusDoc, owner_status, read_saved
from hostagent.store.reader import StateReader

STATUS_SCHEMA = 1
MACHINE_ID_KEY = "machine_id"  # hostagent.service.agent.MACHINE_ID_KEY
DAY_S = 86400.0
SPARK_DAYS = 30
MAINT_HORIZON = timedelta(days=35)  # as hostagent.service.agent.MAINT_HORIZON: shows the next monthly window


class Daemon(TypedDict):
    running: bool | None
    pid: int | None


class NextWindow(TypedDict):
    name: str
    start: str
    end: str
    category: str
    timezone: str
    active: bool


class OperatorWindowView(TypedDict):
    id: str
    start: str
    end: str  # as Vast holds it: whole hours
    category: str
    timezone: str
    state: str  # queued | sent | refused (cancelled ones are not shown)
    by: str
    reason: str
    result: str


class OperatorCancelView(TypedDict):
    id: str
    requested_at: str
    by: str


class OperatorMaintView(TypedDict):
    """`hostagent maint add|cancel` requests, read live from the store (not from the last tick)."""

    windows: list[OperatorWindowView]
    cancel: OperatorCancelView | None


class EarningsDayView(TypedDict):
    date: str
    usd: float


class EarningsView(TypedDict):
    machine_id: int | None
    today_usd: float
    last_7d_usd: float
    last_30d_usd: float
    occupancy_30d: float | None
    default_job_share_30d: float | None
    realised_usd_per_gpu_hour_30d: float | None
    days: list[EarningsDayView]


class JournalEntry(TypedDict):
    id: int
    at: str
    kind: str
    what: str
    why: str
    result: str
    ok: bool


class StatusView(TypedDict):
    """`status --json`: the envelope around the agent's saved document."""

    schema: int
    generated_at: str
    state_dir: str
    daemon: Daemon
    tick_at: str
    tick_age_s: float
    stale: bool
    agent: StatusDoc
    next_maintenance: NextWindow | None
    operator_maintenance: OperatorMaintView
    earnings: EarningsView
    recent_actions: list[JournalEntry]


@dataclass(frozen=True)
class DaemonState:
    """Whether an agent holds the state directory's lock. `running` None: could not tell (no permission)."""

    running: bool | None
    pid: int | None


def daemon_state(state_dir: Path) -> DaemonState:
    """Probe `agent.lock` with a shared, non-blocking flock on a read-only descriptor: it fails only
    while an agent holds the exclusive lock, and it never creates or writes the file."""
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return DaemonState(running=False, pid=None)
    except OSError:
        return DaemonState(running=None, pid=None)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return DaemonState(running=True, pid=int(text) if text.isdigit() else None)
        except OSError:
            return DaemonState(running=None, pid=None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return DaemonState(running=False, pid=None)
    finally:
        os.close(fd)


def load_doc(reader: StateReader) -> tuple[StatusDoc, datetime] | None:
    """The saved document as this version reads it (`read_saved`: older ones upgraded); StateError when it
    cannot be read."""
    saved = reader.load_status()
    return None if saved is None else (read_saved(saved[0]), saved[1])


def journal_tail(reader: StateReader, limit: int) -> list[JournalEntry]:
    """The newest `limit` journal entries, newest last."""
    return cast("list[JournalEntry]", reader.journal_tail(limit))


def machine_id_of(reader: StateReader, config: Config, doc: StatusDoc) -> int | None:
    if config.machine.id is not None:
        return config.machine.id
    stored = reader.get(MACHINE_ID_KEY)
    if isinstance(stored, int):
        return stored
    machine = doc["machine"]
    return None if machine is None else machine["id"]


def owner_now(reader: StateReader, now: datetime) -> Owner:
    """The hold and pause as stored now (`hostagent hold` shows at once, before the agent's next reconcile)."""
    from hostagent.core.owner import hold_from_json, pause_from_json  # noqa: PLC0415

    hold = hold_from_json(reader.get(HOLD_KEY))
    return owner_status(hold if hold is not None and hold.active(now) else None, pause_from_json(reader.get(PAUSE_KEY)))


def earnings_view(reader: StateReader, machine_id: int | None, today: int) -> EarningsView:
    """Today, last 7 and 30 days (counted as hostagent.service.earnings.summarize counts them) and 30 daily totals."""
    first = today - SPARK_DAYS + 1
    totals: dict[int, tuple[float, float]] = {}
    rented_s = offered_s = default_job_s = default_job_usd = 0.0
    if machine_id is not None:
        totals = reader.earnings_totals(first, today, machine_id)
        rented_s, offered_s, default_job_s, default_job_usd = reader.occupancy_seconds(first, today, machine_id)
    rented_h = rented_s / 3600.0
    gpu_usd = max(0.0, sum(gpu for _total, gpu in totals.values()) - default_job_usd)  # renters' GPU income
    return {
        "machine_id": machine_id,
        "today_usd": round(totals.get(today, (0.0, 0.0))[0], 2),
        "last_7d_usd": round(sum(t for d, (t, _g) in totals.items() if d >= today - 6), 2),
        "last_30d_usd": round(sum(t for t, _g in totals.values()), 2),
        "occupancy_30d": round(rented_s / offered_s, 4) if offered_s > 0 else None,  # renters only
        "default_job_share_30d": round(default_job_s / offered_s, 4) if offered_s > 0 else None,
        "realised_usd_per_gpu_hour_30d": round(gpu_usd / rented_h, 4) if rented_h > 0 else None,
        "days": [
            {"date": _date(d), "usd": round(totals.get(d, (0.0, 0.0))[0], 2)} for d in range(first, today + 1)
        ],
    }


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, tz=timezone.utc).date().isoformat()


def _next_window(config: Config, now: datetime) -> NextWindow | None:
    """Recomputed from the config now, so an old tick never shows a window that has passed."""
    windows = upcoming_windows(config.maintenance, now, MAINT_HORIZON)
    if not windows:
        return None
    w = windows[0]
    return {
        # the end Vast holds (whole hours): the window renters are told of
        "name": w.name, "start": w.start.isoformat(), "end": w.vast_end.isoformat(), "category": w.category,
        "timezone": w.timezone, "active": w.start <= now < w.end,
    }


def operator_view(reader: StateReader, now: datetime) -> OperatorMaintView:
    """The operator's windows that have not ended (a queued one waits for the agent), and a queued cancel."""
    doc, _problems = operator_maints_from_json(reader.get(OPERATOR_MAINTS_KEY))  # the agent logs the problems
    windows: list[OperatorWindowView] = []
    for w in doc.windows:
        held = operator_window(w)
        if w.state == "cancelled" or held.vast_end <= now:
            continue
        windows.append({
            "id": w.id, "start": held.start.isoformat(), "end": held.vast_end.isoformat(), "category": w.category,
            "timezone": w.timezone, "state": w.state, "by": w.by, "reason": w.reason, "result": w.result,
        })
    cancel = doc.cancel
    return {
        "windows": windows,
        "cancel": None if cancel is None else {
            "id": cancel.id, "requested_at": cancel.requested_at.isoformat(), "by": cancel.by,
        },
    }


def stale_after_s(config: Config) -> float:
    """A status older than three ticks (at least 90 s) means the agent is not ticking."""
    return max(3 * config.agent.tick_s, 90.0)


def build_view(
    config: Config, reader: StateReader, daemon: DaemonState, now: datetime, *, actions: int = 5
) -> StatusView | None:
    """The `status --json` document (schema 1), or None when no tick has saved a status yet. Raises StateError."""
    saved = load_doc(reader)
    if saved is None:
        return None
    doc, tick_at = saved
    doc["owner"] = owner_now(reader, now)
    age_s = (now - tick_at).total_seconds()
    machine_id = machine_id_of(reader, config, doc)
    return {
        "schema": STATUS_SCHEMA,
        "generated_at": now.isoformat(),
        "state_dir": str(config.agent.state_dir),
        "daemon": {"running": daemon.running, "pid": daemon.pid},
        "tick_at": tick_at.isoformat(),
        "tick_age_s": round(age_s, 1),
        "stale": age_s > stale_after_s(config),
        "agent": doc,
        "next_maintenance": _next_window(config, now),
        "operator_maintenance": operator_view(reader, now),
        # A tick ahead of this clock (the demo's simulated days) dates "today" by the tick instead.
        "earnings": earnings_view(reader, machine_id, int(max(now, tick_at).timestamp() // DAY_S)),
        "recent_actions": journal_tail(reader, actions),
    }

"""What `hostagent status` shows, gathered read-only and fast: the saved status document, the journal's
tail, the stored earnings, and whether the daemon holds the state directory.

Why not `StateStore`: importing `hostagent.store` pulls in structlog (and, through it, rich), which
costs about 0.13 s of the 0.25 s `status` may take. This module reads the same tables with the stdlib
`sqlite3` in read-only mode (`?mode=ro`: it never creates, migrates or writes). A test checks that its
journal rows and earnings totals agree with `StateStore` and `hostagent.service.earnings.summarize`, so the
two cannot drift apart silently. It must import nothing heavy: no httpx, pynvml, structlog.

`hostagent status --json` prints a `StatusView` (STATUS_SCHEMA = 1); `hostagent/data/status.schema.json` is its
JSON Schema, and the README describes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypedDict

from hostagent.config.model import Config
from hostagent.core.maintenance import upcoming_windows
from hostagent.errors import StateError
from hostagent.runtime.lock import LOCK_NAME
from hostagent.service.status_types import StatusDoc, read_saved

STATUS_SCHEMA = 1
DB_NAME = "state.db"  # hostagent.store.db.DB_NAME (not imported: see the module docstring)
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


class EarningsDayView(TypedDict):
    date: str
    usd: float


class EarningsView(TypedDict):
    machine_id: int | None
    today_usd: float
    last_7d_usd: float
    last_30d_usd: float
    occupancy_30d: float | None
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


class StateReader:
    """Read-only queries on `state_dir/state.db`. Raises StateError (FileNotFoundError when there is no file)."""

    def __init__(self, state_dir: Path) -> None:
        path = state_dir / DB_NAME
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open {path} read-only: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read the state store: {exc}") from None

    def load_status(self) -> tuple[StatusDoc, datetime] | None:
        """The saved document as this version reads it (`read_saved`: older ones upgraded); StateError when
        it cannot be read."""
        rows = self._rows("SELECT doc, at FROM status WHERE id = 1")
        if not rows:
            return None
        try:
            raw = json.loads(rows[0][0])
        except ValueError as exc:
            raise StateError(f"the saved status document is not JSON: {exc}") from None
        return read_saved(raw), datetime.fromtimestamp(rows[0][1], tz=timezone.utc)

    def get(self, key: str) -> object | None:
        rows = self._rows("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def journal_tail(self, limit: int) -> list[JournalEntry]:
        """The newest `limit` entries, newest last, as plain dicts."""
        rows = self._rows("SELECT id, at, kind, what, why, result, ok FROM journal ORDER BY id DESC LIMIT ?", (limit,))
        return [
            {"id": r[0], "at": _iso(r[1]), "kind": r[2], "what": r[3], "why": r[4], "result": r[5], "ok": bool(r[6])}
            for r in reversed(rows)
        ]

    def earnings_totals(self, first_day: int, last_day: int, machine_id: int | None) -> dict[int, tuple[float, float]]:
        """(total USD, GPU USD) per day; days without a row are absent."""
        rows = self._rows(
            "SELECT day, gpu_usd + storage_usd + upload_usd + download_usd + sla_usd, gpu_usd FROM earnings "
            "WHERE day BETWEEN ? AND ? AND machine_id IS ? ORDER BY day",
            (first_day, last_day, machine_id),
        )
        return {int(r[0]): (float(r[1]), float(r[2])) for r in rows}

    def occupancy_seconds(self, first_day: int, last_day: int, machine_id: int) -> tuple[float, float]:
        """(rented GPU-seconds, offered GPU-seconds) over the days, from hostagent.service.earnings' counters."""
        rented = offered = 0.0
        for day in range(first_day, last_day + 1):
            raw = self.get(f"occupancy:{day}:{machine_id}")
            if isinstance(raw, dict):
                rented += float(raw.get("rented_gpu_s", 0.0))
                offered += float(raw.get("offered_gpu_s", 0.0))
        return rented, offered


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat()


def machine_id_of(reader: StateReader, config: Config, doc: StatusDoc) -> int | None:
    if config.machine.id is not None:
        return config.machine.id
    stored = reader.get(MACHINE_ID_KEY)
    if isinstance(stored, int):
        return stored
    machine = doc["machine"]
    return None if machine is None else machine["id"]


def earnings_view(reader: StateReader, machine_id: int | None, today: int) -> EarningsView:
    """Today, last 7 and 30 days (counted as hostagent.service.earnings.summarize counts them) and 30 daily totals."""
    first = today - SPARK_DAYS + 1
    totals: dict[int, tuple[float, float]] = {}
    rented_s = offered_s = 0.0
    if machine_id is not None:
        totals = reader.earnings_totals(first, today, machine_id)
        rented_s, offered_s = reader.occupancy_seconds(first, today, machine_id)
    rented_h = rented_s / 3600.0
    gpu_usd = sum(gpu for _total, gpu in totals.values())
    return {
        "machine_id": machine_id,
        "today_usd": round(totals.get(today, (0.0, 0.0))[0], 2),
        "last_7d_usd": round(sum(t for d, (t, _g) in totals.items() if d >= today - 6), 2),
        "last_30d_usd": round(sum(t for t, _g in totals.values()), 2),
        "occupancy_30d": round(rented_s / offered_s, 4) if offered_s > 0 else None,
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
        "name": w.name, "start": w.start.isoformat(), "end": w.end.isoformat(), "category": w.category,
        "timezone": w.timezone, "active": w.start <= now < w.end,
    }


def stale_after_s(config: Config) -> float:
    """A status older than three ticks (at least 90 s) means the agent is not ticking."""
    return max(3 * config.agent.tick_s, 90.0)


def build_view(
    config: Config, reader: StateReader, daemon: DaemonState, now: datetime, *, actions: int = 5
) -> StatusView | None:
    """The `status --json` document (schema 1), or None when no tick has saved a status yet. Raises StateError."""
    saved = reader.load_status()
    if saved is None:
        return None
    doc, tick_at = saved
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
        # A tick ahead of this clock (the demo's simulated days) dates "today" by the tick instead.
        "earnings": earnings_view(reader, machine_id, int(max(now, tick_at).timestamp() // DAY_S)),
        "recent_actions": reader.journal_tail(actions),
    }


def open_reader(state_dir: Path) -> StateReader | None:
    """The reader, or None when there is no state file yet. Raises StateError."""
    with contextlib.suppress(FileNotFoundError):
        return StateReader(state_dir)
    return None

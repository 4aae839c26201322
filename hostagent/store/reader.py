"""The state store read-only and fast, for `hostagent status` and the other read-only operator paths.

Why not `StateStore`: importing `hostagent.store.store` pulls in structlog (and, through it, rich), which
costs about 0.13 s of the 0.25 s `status` may take. This module reads the same tables with the stdlib
`sqlite3` in read-only mode (`?mode=ro`: it never creates, migrates or writes), and imports nothing heavy
(no httpx, pynvml, structlog). A test checks that its journal rows and earnings totals agree with
`StateStore` and `hostagent.service.earnings.summarize`, so the two cannot drift apart silently.
Opened by `hostagent.bootstrap.open_reader`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hostagent.errors import StateError

DB_NAME = "state.db"  # hostagent.store.db.DB_NAME (not imported: it pulls in structlog)


def readonly_uri(path: Path) -> str:
    """SQLite's URI to read `path` without writing anything. A stopped agent leaves no -wal/-shm beside its
    WAL-mode store, and SQLite cannot create them in a directory this user may only read (the operators' group
    of scripts/install-host.sh): with no writer running, the file is read as it lies (`immutable=1`)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not Path(f"{path}-wal").exists() and not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return uri


class StateReader:
    """Read-only queries on `state_dir/state.db`. Raises StateError (FileNotFoundError when there is no file)."""

    def __init__(self, state_dir: Path) -> None:
        path = state_dir / DB_NAME
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            self._conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open {path} read-only: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read the state store: {exc}") from None

    def load_status(self) -> tuple[Any, datetime] | None:
        """The saved status document as stored (the service layer's `read_saved` types and upgrades it)."""
        rows = self._rows("SELECT doc, at FROM status WHERE id = 1")
        if not rows:
            return None
        try:
            raw = json.loads(rows[0][0])
        except ValueError as exc:
            raise StateError(f"the saved status document is not JSON: {exc}") from None
        return raw, datetime.fromtimestamp(rows[0][1], tz=timezone.utc)

    def get(self, key: str) -> object | None:
        rows = self._rows("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def journal_tail(self, limit: int) -> list[dict[str, object]]:
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

    def occupancy_seconds(self, first_day: int, last_day: int, machine_id: int) -> tuple[float, float, float, float]:
        """(rented, offered, default-job GPU-seconds, default-job USD) over the days (hostagent.service.earnings)."""
        rented = offered = default_job = default_job_usd = 0.0
        for day in range(first_day, last_day + 1):
            raw = self.get(f"occupancy:{day}:{machine_id}")
            if isinstance(raw, dict):
                rented += float(raw.get("rented_gpu_s", 0.0))
                offered += float(raw.get("offered_gpu_s", 0.0))
                default_job += float(raw.get("default_job_gpu_s", 0.0))
                default_job_usd += float(raw.get("default_job_usd", 0.0))
        return rented, offered, default_job, default_job_usd


def _iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat()


def open_reader(state_dir: Path) -> StateReader | None:
    """The reader, or None when there is no state file yet. Raises StateError."""
    with contextlib.suppress(FileNotFoundError):
        return StateReader(state_dir)
    return None

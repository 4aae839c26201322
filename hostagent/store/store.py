"""`StateStore`: hostagent's local memory in one SQLite file (`state_dir/state.db`).

Every public write is one transaction; every method raises only `StateError`. Vast is the source
of truth for the listing, so losing this file (it is moved aside when corrupt) costs history, not
correctness. Secrets are masked (hostagent.runtime.logs.redact) before anything reaches the file.

Who writes it: the process holding the agent lock (hostagent.runtime.lock: `run`, `demo`, and
`forget-machine`, which takes the lock). The one other path, safe beside a running agent, is an operator's
request (`hostagent maint add|cancel`, hostagent.service.operator): opened with `beside_agent=True` (nothing
created, migrated or moved aside), it changes the `operator_maints` key (`update`) and adds journal rows (and
the recorded machine identity when none is) in their own `BEGIN IMMEDIATE` transactions; WAL lets the agent
keep reading meanwhile, and the busy timeout makes either side wait for the other's short write instead of
failing. `put_beside` (the rate-limit
ledger of `plan` and `doctor`) is the same path for one key. Everything else opens the file read-only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from hostagent.core.model import EarningsDay, HostSnapshot
from hostagent.errors import StateError
from hostagent.masking import mask_text, redact
from hostagent.store import telemetry as tel
from hostagent.store.db import DB_NAME, Database, open_database, put_beside
from hostagent.store.rows import DiskRow, Intent, JournalEntry, TelemetryRow, from_epoch, to_epoch

_DAY_S = 86400.0


def _dump(value: object, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StateError(f"{what} is not JSON-serialisable: {exc}") from None


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise StateError("a stored JSON value does not parse") from None


def _mask_literals(value: object) -> object:
    """Registered secrets masked in every string of a JSON value, keys left alone (kv values)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_literals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_literals(v) for v in value]
    return value


class StateStore:
    """Telemetry, the action journal, write-ahead intents, earnings, the last status and a key/value memory."""

    def __init__(self, db: Database, rebuilt_from: Path | None) -> None:
        self._db = db
        self.path = db.path
        # Where an unusable old file was moved (the store was rebuilt empty), else None.
        self.rebuilt_from = rebuilt_from

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        readonly: bool = False,
        beside_agent: bool = False,
        max_db_bytes: int | None = None,
        now: datetime | None = None,
    ) -> StateStore:
        """Open or create `state_dir/state.db` (WAL, migrated). A corrupt file or one from a newer
        hostagent is moved aside to `state.db.corrupt-<UTC>` and a new one built (`rebuilt_from`).

        `readonly` never creates, migrates or moves anything (for `hostagent status` beside a running
        agent). `beside_agent` writes but never creates, migrates or moves anything (an operator's write beside
        a running agent: see the module docstring). `max_db_bytes` caps the file (writes beyond fail as 'full').
        `now` names the moved file.
        """
        conn, rebuilt_from = open_database(Path(state_dir), readonly=readonly, beside_agent=beside_agent, now=now)
        store = cls(Database(conn, Path(state_dir) / DB_NAME), rebuilt_from)
        if max_db_bytes is not None:
            store._db.set_max_bytes(max_db_bytes)
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def integrity_check(self) -> str:
        """`PRAGMA integrity_check`: "ok", or the problems found."""
        return self._db.integrity_check()

    # ---- telemetry -----------------------------------------------------------------------

    def record_snapshot(self, snapshot: HostSnapshot) -> None:
        """One raw row per GPU and per disk, all in one transaction."""
        with self._db.write("recording telemetry", durable=False) as conn:
            tel.insert_snapshot(conn, snapshot)

    def maintain(
        self,
        now: datetime,
        *,
        raw_retention_h: float = 24.0,
        agg_retention_days: float = 90.0,
        journal_retention_days: float = 365.0,
    ) -> int:
        """Fold raw telemetry older than `raw_retention_h` into 5-minute aggregates, drop aggregates
        older than `agg_retention_days`, and journal entries and finished intents older than
        `journal_retention_days` (open intents are kept). Returns the raw rows folded."""
        with self._db.write("maintaining telemetry", durable=False) as conn:
            folded = tel.downsample(conn, now, raw_retention_h * 3600.0, agg_retention_days * _DAY_S)
            oldest = to_epoch(now) - journal_retention_days * _DAY_S
            conn.execute("DELETE FROM journal WHERE at < ?", (oldest,))
            conn.execute("DELETE FROM intent WHERE finished_at IS NOT NULL AND finished_at < ?", (oldest,))
        return folded

    def telemetry(self, since: datetime, gpu_index: int | None = None) -> list[TelemetryRow]:
        """Raw samples and aggregates (a bucket overlapping `since` included) in time order."""
        with self._db.read("reading telemetry") as conn:
            return tel.gpu_rows(conn, since, gpu_index)

    def disk_telemetry(self, since: datetime) -> list[DiskRow]:
        with self._db.read("reading disk telemetry") as conn:
            return tel.disk_rows(conn, since)

    def median_power_under_load_w(self, since: datetime, min_utilization_pct: float = 50.0) -> float | None:
        """Median power of one GPU while at least `min_utilization_pct` busy (healthy samples), or None."""
        with self._db.read("reading power under load") as conn:
            return tel.median_power_under_load(conn, since, min_utilization_pct)

    # ---- journal and intents ---------------------------------------------------------------

    def journal(  # noqa: PLR0917 -- the signature the team's interface fixes
        self,
        at: datetime,
        kind: str,
        what: str,
        why: str,
        request: Mapping[str, object] | None = None,
        result: str = "",
        ok: bool = True,
        action_key: str | None = None,
    ) -> int:
        """Record one decision or API call; returns its id. Secrets in any field are masked."""
        row = (
            to_epoch(at), kind, mask_text(what), mask_text(why),
            None if request is None else _dump(redact(request), "journal request"),
            mask_text(result), int(ok), action_key,
        )
        with self._db.write("writing the journal") as conn:
            cursor = conn.execute(
                "INSERT INTO journal (at, kind, what, why, request, result, ok, action_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def journal_entries(
        self, since: datetime | None = None, limit: int | None = None, kind: str | None = None
    ) -> list[JournalEntry]:
        """Entries at or after `since`, of `kind`; the newest `limit` of them; newest last."""
        clauses: list[str] = []
        params: list[object] = []
        if since is not None:
            clauses.append("at >= ?")
            params.append(to_epoch(since))
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        # Only constant clauses are formatted in; values are bound.
        sql = (
            "SELECT id, at, kind, what, why, request, result, ok, action_key FROM journal "  # noqa: S608
            f"{where} ORDER BY id DESC LIMIT ?"
        )
        with self._db.read("reading the journal") as conn:
            rows = conn.execute(sql, (*params, -1 if limit is None else limit)).fetchall()
        return [
            JournalEntry(r[0], from_epoch(r[1]), r[2], r[3], r[4], _load(r[5]), r[6], bool(r[7]), r[8])
            for r in reversed(rows)
        ]

    def begin_action(self, at: datetime, action_key: str, kind: str, request: Mapping[str, object]) -> int:
        """Write the intent BEFORE sending the call; returns the intent id for `finish_action`."""
        with self._db.write("beginning an action") as conn:
            cursor = conn.execute(
                "INSERT INTO intent (begun_at, action_key, kind, request) VALUES (?, ?, ?, ?)",
                (to_epoch(at), action_key, kind, _dump(redact(request), "intent request")),
            )
            return int(cursor.lastrowid or 0)

    def finish_action(self, intent_id: int, at: datetime, result: str, ok: bool) -> None:
        """Close an intent with its outcome (also used to settle one found open after a crash)."""
        with self._db.write("finishing an action") as conn:
            changed = conn.execute(
                "UPDATE intent SET finished_at = ?, result = ?, ok = ? WHERE id = ? AND finished_at IS NULL",
                (to_epoch(at), mask_text(result), int(ok), intent_id),
            ).rowcount
        if changed != 1:
            raise StateError(f"intent {intent_id} does not exist or is already finished")

    def open_intents(self) -> list[Intent]:
        """Intents begun and never finished, oldest first: the process died during those actions."""
        with self._db.read("reading open intents") as conn:
            rows = conn.execute(
                "SELECT id, begun_at, action_key, kind, request FROM intent WHERE finished_at IS NULL ORDER BY id"
            ).fetchall()
        return [Intent(r[0], from_epoch(r[1]), r[2], r[3], _load(r[4])) for r in rows]

    def intent(self, intent_id: int) -> Intent | None:
        with self._db.read("reading an intent") as conn:
            r = conn.execute(
                "SELECT id, begun_at, action_key, kind, request, finished_at, result, ok FROM intent WHERE id = ?",
                (intent_id,),
            ).fetchone()
        if r is None:
            return None
        return Intent(
            r[0], from_epoch(r[1]), r[2], r[3], _load(r[4]),
            finished_at=None if r[5] is None else from_epoch(r[5]),
            result=r[6],
            ok=None if r[7] is None else bool(r[7]),
        )

    # ---- earnings, status, key/value -------------------------------------------------------

    def upsert_earnings(self, days: Iterable[EarningsDay]) -> None:
        """Insert or replace rows keyed by (day, machine_id); machine_id None is the account's row."""
        rows = [(d.day, d.machine_id, d.gpu_usd, d.storage_usd, d.upload_usd, d.download_usd, d.sla_usd) for d in days]
        with self._db.write("recording earnings") as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO earnings (day, machine_id, gpu_usd, storage_usd, upload_usd, download_usd, "
                "sla_usd) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def earnings(self, first_day: int, last_day: int, machine_id: int | None = None) -> list[EarningsDay]:
        """Rows with first_day <= day <= last_day for one machine (None: the account rows), by day."""
        with self._db.read("reading earnings") as conn:
            rows = conn.execute(
                "SELECT day, gpu_usd, storage_usd, upload_usd, download_usd, sla_usd, machine_id FROM earnings "
                "WHERE day BETWEEN ? AND ? AND machine_id IS ? ORDER BY day",
                (first_day, last_day, machine_id),
            ).fetchall()
        return [EarningsDay(*r) for r in rows]

    def save_status(self, doc: Mapping[str, object], at: datetime) -> None:
        """Replace the last status snapshot (secrets masked)."""
        text = _dump(redact(doc), "status document")
        with self._db.write("saving status") as conn:
            conn.execute("INSERT OR REPLACE INTO status (id, at, doc) VALUES (1, ?, ?)", (to_epoch(at), text))

    def load_status(self) -> tuple[dict[str, Any], datetime] | None:
        with self._db.read("loading status") as conn:
            row = conn.execute("SELECT doc, at FROM status WHERE id = 1").fetchone()
        return None if row is None else (_load(row[0]), from_epoch(row[1]))

    def get(self, key: str) -> object | None:
        """The JSON value stored under `key`, or None."""
        with self._db.read(f"reading {key!r}") as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else _load(row[0])

    @staticmethod
    def put_beside(state_dir: Path, key: str, value: object, *, busy_timeout_s: float = 0.5) -> None:
        """`put` into the store of an agent that may be running, from a command that holds no lock and
        opened the store read-only; waits at most `busy_timeout_s` for the agent's write. Raises StateError."""
        text = _dump(_mask_literals(value), f"value for {key!r}")
        put_beside(Path(state_dir), key, text, busy_timeout_s=busy_timeout_s)

    def update(self, key: str, change: Callable[[object | None], object]) -> object:
        """Read, change and write one key in one `BEGIN IMMEDIATE` transaction, so the agent and an operator
        command beside it (`maint add`) never lose each other's change. Returns what was stored."""
        with self._db.write(f"updating {key!r}") as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            value = change(None if row is None else _load(row[0]))
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                         (key, _dump(_mask_literals(value), f"value for {key!r}")))
        return value

    def put(self, key: str, value: object) -> None:
        """Store a JSON value (registered secrets masked); None deletes the key."""
        text = None if value is None else _dump(_mask_literals(value), f"value for {key!r}")
        with self._db.write(f"writing {key!r}") as conn:
            if text is None:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, text))


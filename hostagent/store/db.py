"""The SQLite file: opening it safely, migrations, moving a bad file aside, and the one place sqlite3
errors become `StateError`.

Durability: WAL, with `synchronous=FULL` for the journal, intents, earnings, status and memory, and
NORMAL for telemetry. WAL with NORMAL already survives a killed process (a commit is in the WAL in
the page cache before COMMIT returns) and never leaves an inconsistent file, but a power cut may
lose the last commits; FULL also fsyncs the WAL at each commit, so a begun intent survives a power
cut too. The fsync costs ~4 ms on a VM disk (measured, docs/state.md): fine for a
few journal writes per reconcile, wasteful for a telemetry row every tick, which may be lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import structlog

from hostagent.errors import StateAccessError, StateError
from hostagent.store.reader import readonly_uri
from hostagent.store.schema import MIGRATIONS, SCHEMA_VERSION

log = structlog.get_logger(__name__)

DB_NAME = "state.db"
BUSY_TIMEOUT_MS = 5000
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_MAGIC = b"SQLite format 3\x00"


class _Unusable(Exception):
    """The file cannot be used as it is (corrupt, not a database, or from a newer hostagent)."""


def _errorcode(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code & 0xFF if isinstance(code, int) else None


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = _errorcode(exc)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()  # Python 3.10 has no error code on the exception
    return "not a database" in text or "malformed" in text


def _is_full(exc: sqlite3.Error) -> bool:
    code = _errorcode(exc)
    return code == _SQLITE_FULL if code is not None else "is full" in str(exc).lower()


def state_error(what: str, exc: sqlite3.Error) -> StateError:
    if _is_full(exc):
        return StateError(f"state store full (disk or size cap): {what} rolled back")
    if _is_corruption(exc):
        return StateError(f"state store corrupt: {what} failed; restart hostagent to move the file aside")
    return StateError(f"state store error: {what}: {exc}")


def _check_header(path: Path) -> None:
    """Refuse a non-empty file without SQLite's magic before SQLite touches it (and its -wal)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_MAGIC))
    except OSError as exc:
        raise StateError(f"cannot read the state store {path}: {exc.strerror}") from None
    if head and head != _MAGIC:
        raise _Unusable("not a database: the SQLite header is missing")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    _check_header(path)
    if readonly:
        conn = sqlite3.connect(
            readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
    else:
        # isolation_level=None: no implicit transactions; every write opens BEGIN IMMEDIATE itself.
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"cannot put {path} in WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")  # Database.write switches per transaction
        check = conn.execute("PRAGMA quick_check").fetchall()
        if [row[0] for row in check] != ["ok"]:
            raise _Unusable(f"quick_check failed: {'; '.join(str(r[0]) for r in check[:3])}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise _Unusable(f"schema version {version} is newer than this hostagent's {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _is_corruption(exc):
            raise _Unusable(f"not a usable database: {exc}") from exc
        raise state_error(f"opening {path}", exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for target, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("state_store_migrated", to_version=target)


def _move_aside(path: Path, now: datetime) -> Path:
    """Rename the file and its -wal/-shm to `state.db.corrupt-<UTC>` (+ `-wal`, `-shm`), kept for study."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{aside}{suffix}")
    return aside


def _ensure_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Created 0600 before SQLite touches it; SQLite gives -wal and -shm the same mode. Group read only
            # where the directory grants it: scripts/install-host.sh makes it 0750 for the operators' group
            # (`status` without sudo); the agent's own directory (0700) keeps the store private.
            group_read = path.parent.stat().st_mode & stat.S_IRGRP
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600 | group_read))
    except OSError as exc:
        raise StateError(f"cannot create the state store at {path}: {exc.strerror}") from None


def _not_writable(path: Path, why: str) -> StateAccessError:
    uid = os.geteuid()
    return StateAccessError(
        f"the state store {path} cannot be written by uid {uid} ({why}): the agent would run and store nothing. "
        f"Make it the agent's: `chown {uid} {path} && chmod 600 {path}` (its directory writable too); "
        "on a read-only file system choose another [agent] state_dir; if `lsattr` shows it immutable, `chattr -i`"
    )


def _check_writable(path: Path) -> None:
    """SQLite quietly opens a file it may not write read-only, and every write then fails: refuse that here."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        raise _not_writable(path, exc.strerror or str(exc)) from None


def _probe_write(conn: sqlite3.Connection, path: Path) -> None:
    """Write the header's user_version back unchanged, then roll back: fails on a store SQLite opened read-only
    (a read-only directory or mount) even where the file itself opened for writing."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        conn.close()
        if _errorcode(exc) == _SQLITE_READONLY or "readonly" in str(exc).lower():
            raise _not_writable(path, str(exc)) from None
        raise state_error("checking that the state store is writable", exc) from exc


def open_database(
    state_dir: Path, *, readonly: bool = False, beside_agent: bool = False, now: datetime | None = None
) -> tuple[sqlite3.Connection, Path | None]:
    """Open (creating and migrating) `state_dir/state.db`. Returns the connection and, when the old
    file was unusable and moved aside, where it went. `beside_agent`: read-write, but nothing is created,
    migrated or moved aside (an operator command beside a running agent). Raises StateError."""
    path = Path(state_dir) / DB_NAME
    if beside_agent:
        return _open_beside_agent(path), None
    if readonly:
        if not path.exists():
            raise StateError(f"no state store at {path}")
        try:
            return _connect(path, readonly=True), None
        except _Unusable as exc:
            raise StateError(f"state store {path} unusable: {exc}") from exc
    _ensure_file(path)
    _check_writable(path)
    rebuilt_from: Path | None = None
    try:
        conn = _connect(path, readonly=False)
    except _Unusable as exc:
        try:
            rebuilt_from = _move_aside(path, now or datetime.now(timezone.utc))
        except OSError as move_exc:
            raise StateError(f"state store {path} unusable ({exc}) and cannot be moved aside: {move_exc}") from None
        log.error("state_store_rebuilt", path=str(path), moved_to=str(rebuilt_from), reason=str(exc))
        _ensure_file(path)
        try:
            conn = _connect(path, readonly=False)
        except _Unusable as again:
            raise StateError(f"state store {path} unusable even after a rebuild: {again}") from None
    _probe_write(conn, path)
    try:
        _migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise state_error("migrating the schema", exc) from exc
    return conn, rebuilt_from


def _open_beside_agent(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise StateError(f"no state store at {path} (the agent has not run)")
    _check_writable(path)
    try:
        conn = _connect(path, readonly=False)
    except _Unusable as exc:
        raise StateError(f"state store {path} unusable: {exc}; the agent rebuilds it at its next start") from exc
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version != SCHEMA_VERSION:
        conn.close()
        raise StateError(f"state store {path} has schema version {version}, not {SCHEMA_VERSION}: start the agent "
                         "once to migrate it")
    return conn


def put_beside(state_dir: Path, key: str, text: str, *, busy_timeout_s: float) -> None:
    """One key/value write into an existing state store, beside the agent that owns it: nothing is
    created, migrated or moved aside (an operator command must never do that). Raises StateError."""
    path = Path(state_dir) / DB_NAME
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise state_error(f"opening {path} to write", exc) from exc
    try:
        conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, text))
    except sqlite3.Error as exc:
        raise state_error(f"writing {key!r} into {path}", exc) from exc
    finally:
        conn.close()


class Database:
    """One connection, serialised by a lock; `write()` is one transaction, `read()` a consistent read."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path
        self._lock = threading.RLock()
        self._durable = True  # the connection was opened with synchronous=FULL

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError("the state store is closed")
        return self._conn

    @contextlib.contextmanager
    def write(self, what: str, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction: committed when the block ends, rolled back (and StateError raised) on error.

        `durable=False` skips the fsync at commit (still safe against a kill, not a power cut)."""
        with self._lock:
            conn = self._live()
            try:
                if durable != self._durable:
                    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                    self._durable = durable
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                error = state_error(what, exc)
                log.warning("state_write_failed", what=what, error=str(error))
                raise error from exc
            except BaseException:
                self._rollback(conn)
                raise

    @contextlib.contextmanager
    def read(self, what: str) -> Iterator[sqlite3.Connection]:
        """Reads inside one transaction, so several SELECTs see the same snapshot."""
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN")
                yield conn
            except sqlite3.Error as exc:
                raise state_error(what, exc) from exc
            finally:
                self._rollback(conn)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite may already have rolled back (e.g. on FULL)
                conn.execute("ROLLBACK")

    def set_max_bytes(self, max_bytes: int) -> None:
        """Cap the file's size (SQLITE_FULL beyond it): protects the disk Docker needs."""
        with self.read("setting the size cap") as conn:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        with self._lock:
            self._live().execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")

    def integrity_check(self) -> str:
        with self.read("integrity_check") as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
            conn.close()

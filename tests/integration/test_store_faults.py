"""The state store under faults, for real: a full disk, a corrupt or newer file, and kill -9 mid-write."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot
from hostagent.errors import StateError
from hostagent.store import StateStore

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[2]


def eight_gpus(at: datetime) -> HostSnapshot:
    gpus = tuple(GpuReading(i, None, None, GpuHealth.OK, temperature_c=50, power_w=300.0) for i in range(8))
    return HostSnapshot(at, gpus, (DiskReading("/", "/", 10**12, 10**11),), "fake")


def test_a_full_disk_rolls_the_write_back_and_the_store_goes_on(tmp_path: Path) -> None:
    """SQLITE_FULL (from a size cap) fails one transaction whole; committed data stays; freed space is reused."""
    with StateStore.open(tmp_path, max_db_bytes=96 * 1024) as s:
        written: list[int] = []
        with capture_logs() as logs, pytest.raises(StateError, match="full"):  # noqa: PT012 -- fills until it fails
            for i in range(1000):
                written.append(s.journal(T0 + timedelta(seconds=i), "api", f"call {i}", "x" * 2000))
        assert {"event": "state_write_failed"}.items() <= logs[-1].items()
        assert len(written) > 5
        assert s.integrity_check() == "ok"
        assert [e.id for e in s.journal_entries()] == written  # the failed entry left nothing behind
        with pytest.raises(StateError, match="full"):  # noqa: PT012 -- writes until the cap is hit
            for _ in range(50):  # a multi-row write fails whole, never half
                s.record_snapshot(eight_gpus(T0))
        raw_gpu_rows = len(s.telemetry(T0 - timedelta(days=1)))
        assert raw_gpu_rows % 8 == 0
        assert s.load_status() is None  # reads still work
        # Retention frees pages inside the capped file; the agent goes on writing.
        s.maintain(T0 + timedelta(days=400), journal_retention_days=1)
        s.journal(T0 + timedelta(days=400), "decision", "after the disk was full", "space freed")
        assert [e.what for e in s.journal_entries()] == ["after the disk was full"]
        assert s.integrity_check() == "ok"
    with StateStore.open(tmp_path) as s:
        assert s.integrity_check() == "ok"
        assert s.rebuilt_from is None


def _moved_aside(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name)


def test_a_file_with_a_garbage_header_is_moved_aside_with_its_wal_and_rebuilt(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as s:
        s.journal(T0, "decision", "before", "x")
    db = tmp_path / "state.db"
    with db.open("r+b") as f:
        f.write(os.urandom(100))
    (tmp_path / "state.db-wal").write_bytes(b"junk wal")
    with capture_logs() as logs, StateStore.open(tmp_path, now=T0) as s:
        assert s.rebuilt_from == tmp_path / "state.db.corrupt-20261101T000000Z"
        assert s.journal_entries() == []
        s.journal(T0, "decision", "after", "rebuilt")
        assert s.integrity_check() == "ok"
    assert _moved_aside(tmp_path) == ["state.db.corrupt-20261101T000000Z", "state.db.corrupt-20261101T000000Z-wal"]
    [event] = [e for e in logs if e["event"] == "state_store_rebuilt"]
    assert event["log_level"] == "error"
    assert "not a database" in event["reason"]


def test_a_file_with_a_corrupt_page_fails_its_check_and_is_rebuilt(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as s:
        for i in range(200):
            s.journal(T0, "decision", f"entry {i}", "y" * 200)
    db = tmp_path / "state.db"
    size = db.stat().st_size
    with db.open("r+b") as f:  # scribble over the middle of the file, header intact
        f.seek(size // 2)
        f.write(b"\xff" * 4096)
    with StateStore.open(tmp_path, now=T0) as s:
        assert s.rebuilt_from is not None
        assert s.journal_entries() == []
    assert _moved_aside(tmp_path) == ["state.db.corrupt-20261101T000000Z"]


def test_a_file_from_a_newer_hostagent_is_moved_aside_not_downgraded(tmp_path: Path) -> None:
    StateStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with StateStore.open(tmp_path, now=T0) as s:
        assert s.rebuilt_from is not None
    with StateStore.open(tmp_path, now=T0 + timedelta(hours=1)) as s:
        assert s.rebuilt_from is None
    conn = sqlite3.connect(tmp_path / "state.db.corrupt-20261101T000000Z")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 999
    conn.close()


def test_a_newer_file_opened_readonly_is_refused_and_left_alone(tmp_path: Path) -> None:
    StateStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StateError, match="newer"):
        StateStore.open(tmp_path, readonly=True)
    assert _moved_aside(tmp_path) == []


# The writer prints one line per COMMITTED write, after the call returned: every printed line must
# be in the file after the kill. A line may be missing for the write in flight (committed, not printed).
WRITER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from hostagent.runtime.logs import configure_logging
from hostagent.store import StateStore
configure_logging(level="warning", json=True)  # logs to stderr; stdout carries only the protocol
store = StateStore.open(Path(sys.argv[1]))
base = int(sys.argv[2])
print("ready", flush=True)
at = datetime.now(timezone.utc)
for i in range(base, base + 1_000_000):
    jid = store.journal(at, "api", f"entry {i}", "kill test", request={"i": i}, action_key=f"k{i}")
    print(f"J {jid} {i}", flush=True)
    iid = store.begin_action(at, f"k{i}", "list_machine", {"i": i})
    print(f"B {iid} {i}", flush=True)
    if i % 2:
        store.finish_action(iid, at, "done", True)
        print(f"F {iid} {i}", flush=True)
"""


def _kill_one(tmp_path: Path, base: int, rng: random.Random) -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(base)],
                          stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.06))
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()
    assert child.returncode == -signal.SIGKILL
    return [line.split() for line in out.splitlines() if line.count(" ") == 2]


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_a_consistent_file_with_every_committed_write(tmp_path: Path) -> None:
    """20 writers SIGKILLed mid-loop; after each, the file checks ok and holds every write that returned."""
    rng = random.Random(20261126)
    journal: dict[int, str] = {}
    begun: dict[int, str] = {}
    finished: set[int] = set()
    for run in range(20):
        for kind, ident, i in _kill_one(tmp_path, run * 1_000_000, rng):
            if kind == "J":
                journal[int(ident)] = f"entry {i}"
            elif kind == "B":
                begun[int(ident)] = f"k{i}"
            else:
                finished.add(int(ident))
        with StateStore.open(tmp_path) as s:
            assert s.rebuilt_from is None
            assert s.integrity_check() == "ok"
            stored = {e.id: e.what for e in s.journal_entries()}
            assert stored.items() >= journal.items()
            assert len(stored) - len(journal) <= run + 1  # at most the one in flight per kill
            open_ids = {i.id for i in s.open_intents()}
            assert not open_ids & finished
            for intent_id, key in begun.items():
                intent = s.intent(intent_id)
                assert intent is not None
                assert intent.action_key == key
    assert len(journal) > 20  # the writers did write between kills

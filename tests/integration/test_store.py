"""The state store on real SQLite files: telemetry retention, journal, intents, earnings, status, memory."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hostagent.core.model import DiskReading, EarningsDay, GpuHealth, GpuReading, HostSnapshot
from hostagent.errors import StateError
from hostagent.masking import add_secret, clear_secrets
from hostagent.store import StateStore

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
CANARY = "canary-9f2c4e7a1b3d5f60"


def snapshot(
    at: datetime,
    *,
    gpus: int = 2,
    util: int = 90,
    power_w: float | None = 300.0,
    temp_c: int = 60,
    health: GpuHealth = GpuHealth.OK,
    free_bytes: int = 500 * 10**9,
) -> HostSnapshot:
    return HostSnapshot(
        taken_at=at,
        gpus=tuple(
            GpuReading(
                index=i, uuid=f"GPU-{i}", name="NVIDIA H100 80GB HBM3", health=health,
                temperature_c=temp_c + i, utilization_pct=util, memory_used_mib=1000 * (i + 1), power_w=power_w,
            )
            for i in range(gpus)
        ),
        disks=(DiskReading("/var/lib/docker", "/var/lib/docker", 10**12, free_bytes),),
        backend="fake",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state") as s:
        yield s


def test_open_creates_a_wal_database_at_the_current_schema_version(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "new" / "dir") as s:
        assert s.path == tmp_path / "new" / "dir" / "state.db"
        assert s.rebuilt_from is None
        assert s.integrity_check() == "ok"
    conn = sqlite3.connect(tmp_path / "new" / "dir" / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    conn.close()
    assert (tmp_path / "new" / "dir" / "state.db").stat().st_mode & 0o077 == 0


def test_reopening_keeps_everything_and_runs_no_migration_twice(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as s:
        s.journal(T0, "decision", "list", "healthy")
        s.put("last_cleanup_at", 123.5)
    with StateStore.open(tmp_path) as s:
        assert [e.what for e in s.journal_entries()] == ["list"]
        assert s.get("last_cleanup_at") == 123.5


def test_raw_telemetry_is_read_back_per_gpu_in_time_order(store: StateStore) -> None:
    for minute in range(3):
        store.record_snapshot(snapshot(T0 + timedelta(minutes=minute)))
    rows = store.telemetry(T0)
    assert len(rows) == 6
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    gpu1 = store.telemetry(T0 + timedelta(minutes=1), gpu_index=1)
    assert [(r.at, r.temperature_c, r.memory_used_mib, r.samples, r.aggregated) for r in gpu1] == [
        (T0 + timedelta(minutes=1), 61, 2000, 1, False),
        (T0 + timedelta(minutes=2), 61, 2000, 1, False),
    ]
    assert gpu1[0].at.tzinfo is not None
    assert gpu1[0].at.utcoffset() == timedelta(0)
    disks = store.disk_telemetry(T0)
    assert next((d.path, d.free_bytes, d.total_bytes) for d in disks) == ("/var/lib/docker", 500 * 10**9, 10**12)


def test_maintain_folds_raw_samples_older_than_a_day_into_five_minute_aggregates(store: StateStore) -> None:
    # 30 s ticks for one hour; utilisation alternates, temperature climbs.
    for tick in range(120):
        at = T0 + timedelta(seconds=30 * tick)
        store.record_snapshot(snapshot(at, util=20 + 60 * (tick % 2), temp_c=40 + tick // 10))
    now = T0 + timedelta(hours=24, minutes=30)  # the first 30 minutes are past the raw retention
    folded = store.maintain(now)
    assert folded == 60 * 2 + 60  # 60 ticks x 2 GPUs, 60 disk samples
    rows = store.telemetry(T0, gpu_index=0)
    aggregated = [r for r in rows if r.aggregated]
    raw = [r for r in rows if not r.aggregated]
    assert len(aggregated) == 6
    assert len(raw) == 60
    first = aggregated[0]
    assert (first.at, first.samples) == (T0, 10)
    assert (first.utilization_pct_min, first.utilization_pct, first.utilization_pct_max) == (20, 50, 80)
    assert (first.temperature_c_min, first.temperature_c_max) == (40, 40)
    assert aggregated[1].temperature_c == pytest.approx(41.0)
    assert raw[0].at == T0 + timedelta(minutes=30)
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    disk_aggs = [d for d in store.disk_telemetry(T0) if d.aggregated]
    assert len(disk_aggs) == 6
    assert disk_aggs[0].samples == 10
    assert store.maintain(now) == 0  # nothing left to fold


def test_maintain_keeps_aggregates_ninety_days_and_a_late_sample_merges_into_its_bucket(store: StateStore) -> None:
    store.record_snapshot(snapshot(T0, temp_c=50))
    store.record_snapshot(snapshot(T0 + timedelta(days=10), temp_c=70))
    store.maintain(T0 + timedelta(days=12))
    assert [r.at for r in store.telemetry(T0, gpu_index=0)] == [T0, T0 + timedelta(days=10)]
    # The clock stepped back: a sample lands in an already aggregated bucket and is merged, not lost.
    store.record_snapshot(snapshot(T0 + timedelta(seconds=60), temp_c=60, health=GpuHealth.LOST))
    store.maintain(T0 + timedelta(days=12))
    merged = store.telemetry(T0, gpu_index=0)[0]
    assert (merged.samples, merged.temperature_c, merged.temperature_c_max, merged.health) == (
        2, 55.0, 60, GpuHealth.LOST
    )
    store.maintain(T0 + timedelta(days=95))
    assert [r.at for r in store.telemetry(T0, gpu_index=0)] == [T0 + timedelta(days=10)]


def test_an_aggregate_overlapping_since_is_returned(store: StateStore) -> None:
    store.record_snapshot(snapshot(T0 + timedelta(seconds=200)))
    store.maintain(T0 + timedelta(days=2))
    assert len(store.telemetry(T0 + timedelta(seconds=100), gpu_index=0)) == 1
    assert store.telemetry(T0 + timedelta(seconds=300), gpu_index=0) == []


def test_power_under_load_counts_only_busy_healthy_samples_raw_and_aggregated(store: StateStore) -> None:
    assert store.median_power_under_load_w(T0) is None
    for tick in range(20):  # old enough to be aggregated: 10 busy at 400 W, 10 idle at 100 W
        busy = tick < 10
        store.record_snapshot(snapshot(T0 + timedelta(seconds=30 * tick), util=95 if busy else 5,
                                       power_w=400.0 if busy else 100.0))
    store.maintain(T0 + timedelta(days=2))
    recent = T0 + timedelta(days=1, hours=23)
    store.record_snapshot(snapshot(recent, util=80, power_w=200.0))
    store.record_snapshot(snapshot(recent + timedelta(seconds=30), util=80, power_w=None))
    store.record_snapshot(snapshot(recent + timedelta(seconds=60), util=99, power_w=900.0, health=GpuHealth.LOST))
    # 20 aggregated samples at 400 W (2 GPUs x 10) and 2 raw at 200 W: the median is 400 W.
    assert store.median_power_under_load_w(T0) == pytest.approx(400.0)
    assert store.median_power_under_load_w(recent) == pytest.approx(200.0)
    assert store.median_power_under_load_w(T0, min_utilization_pct=99) is None


def test_the_power_under_load_is_a_median_one_bogus_sample_does_not_move_it(store: StateStore) -> None:
    """One 2900 W glitch among a day of 400 W under load once moved the min bid for a week (it was a mean)."""
    for tick in range(48):  # one sample per 5-minute bucket for 4 hours
        store.record_snapshot(snapshot(T0 + timedelta(minutes=5 * tick), power_w=400.0))
    store.record_snapshot(snapshot(T0 + timedelta(minutes=5 * 48), power_w=2900.0))
    assert store.median_power_under_load_w(T0) == pytest.approx(400.0)
    store.maintain(T0 + timedelta(days=2))  # folded into 5-minute aggregates: still the median
    assert store.median_power_under_load_w(T0) == pytest.approx(400.0)


def test_a_non_finite_power_is_stored_as_no_reading_and_never_counted(store: StateStore) -> None:
    store.record_snapshot(snapshot(T0, power_w=math.inf))
    store.record_snapshot(snapshot(T0 + timedelta(seconds=30), power_w=math.nan))
    assert {row.power_w for row in store.telemetry(T0)} == {None}
    assert store.median_power_under_load_w(T0) is None
    store.record_snapshot(snapshot(T0 + timedelta(seconds=60), power_w=350.0))
    assert store.median_power_under_load_w(T0) == pytest.approx(350.0)


def test_an_inf_power_written_by_an_older_version_is_never_counted(store: StateStore, tmp_path: Path) -> None:
    store.record_snapshot(snapshot(T0, power_w=350.0))
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    with conn:
        conn.execute("INSERT INTO gpu_raw (at, gpu_index, health, utilization_pct, power_w) VALUES (?, 0, 'ok', 90, ?)",
                     (T0.timestamp() + 30, math.inf))
    conn.close()
    assert store.median_power_under_load_w(T0) == pytest.approx(350.0)


def test_journal_entries_come_back_newest_last_filtered_by_time_kind_and_limit(store: StateStore) -> None:
    ids = [
        store.journal(T0 + timedelta(minutes=i), "api" if i % 2 else "decision", f"step {i}", "because",
                      request={"price": 2.1, "nested": {"n": i}}, result="ok", ok=i != 3, action_key=f"k{i}")
        for i in range(5)
    ]
    assert ids == sorted(ids)
    entries = store.journal_entries()
    assert [e.what for e in entries] == [f"step {i}" for i in range(5)]
    assert entries[3].ok is False
    assert entries[3].action_key == "k3"
    assert entries[2].request == {"price": 2.1, "nested": {"n": 2}}
    assert entries[2].at == T0 + timedelta(minutes=2)
    assert [e.what for e in store.journal_entries(limit=2)] == ["step 3", "step 4"]
    assert [e.what for e in store.journal_entries(kind="api")] == ["step 1", "step 3"]
    assert [e.what for e in store.journal_entries(since=T0 + timedelta(minutes=3))] == ["step 3", "step 4"]


def test_secrets_never_reach_the_journal_intents_status_or_memory(tmp_path: Path) -> None:
    add_secret(CANARY)
    try:
        with StateStore.open(tmp_path) as s:
            headers = {"Authorization": f"Bearer {CANARY}", "Accept": "application/json"}
            s.journal(T0, "api", f"GET /machines?api_key={CANARY}", f"key {CANARY}",
                      request={"headers": headers, "api_key": CANARY}, result=f"failed with {CANARY}")
            intent = s.begin_action(T0, "list:1", "list_machine", {"token": CANARY, "price": 2.0})
            s.finish_action(intent, T0, f"echo {CANARY}", ok=False)
            s.save_status({"note": CANARY, "secret": "x"}, T0)
            s.put("memo", {"text": f"has {CANARY}"})
            entry = s.journal_entries()[0]
            masked_headers = {"Authorization": "***", "Accept": "application/json"}
            assert entry.request == {"headers": masked_headers, "api_key": "***"}
            stored_intent = s.intent(intent)
            assert stored_intent is not None
            assert stored_intent.request == {"token": "***", "price": 2.0}
        s.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
        assert CANARY.encode() not in raw
        assert raw.count(b"***") >= 5
    finally:
        clear_secrets()


def test_an_intent_stays_open_until_finished_and_survives_a_reopen(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as s:
        first = s.begin_action(T0, "unlist_machine:4242:", "unlist_machine", {"machine_id": 4242})
        second = s.begin_action(T0, "set_min_bid:4242:price=1.5", "set_min_bid", {"price": 1.5})
        s.finish_action(second, T0 + timedelta(seconds=2), "200 ok", ok=True)
    with StateStore.open(tmp_path) as s:
        [open_one] = s.open_intents()
        assert (open_one.id, open_one.action_key, open_one.request, open_one.finished_at) == (
            first, "unlist_machine:4242:", {"machine_id": 4242}, None
        )
        done = s.intent(second)
        assert done is not None
        assert (done.ok, done.result) == (True, "200 ok")
        s.finish_action(first, T0 + timedelta(minutes=1), "reconciled: machine already unlisted", ok=True)
        assert s.open_intents() == []
        with pytest.raises(StateError, match="already finished"):
            s.finish_action(first, T0, "again", ok=True)
        assert s.intent(999) is None


def test_earnings_upsert_by_day_and_machine_with_none_as_the_account_row(store: StateStore) -> None:
    store.upsert_earnings([
        EarningsDay(20400, 10.0, 1.0, 0.1, 0.2, 0.0),
        EarningsDay(20400, 8.0, 0.5, 0.0, 0.0, 0.0, machine_id=4242),
        EarningsDay(20401, 11.0, 1.0, 0.0, 0.0, 0.0),
    ])
    store.upsert_earnings([EarningsDay(20400, 12.5, 1.0, 0.1, 0.2, -1.0)])  # Vast revised the day
    account = store.earnings(20400, 20401)
    assert [(d.day, d.gpu_usd, d.machine_id) for d in account] == [(20400, 12.5, None), (20401, 11.0, None)]
    assert account[0].total_usd == pytest.approx(12.8)
    assert [(d.day, d.gpu_usd) for d in store.earnings(20000, 30000, machine_id=4242)] == [(20400, 8.0)]
    assert store.earnings(20401, 20401, machine_id=4242) == []


def test_status_snapshot_and_key_value_memory_round_trip(store: StateStore) -> None:
    assert store.load_status() is None
    store.save_status({"listed": True, "price": 2.1}, T0)
    store.save_status({"listed": False, "reasons": ["gpu 3 lost"]}, T0 + timedelta(minutes=5))
    assert store.load_status() == ({"listed": False, "reasons": ["gpu 3 lost"]}, T0 + timedelta(minutes=5))
    assert store.get("not_before") is None
    store.put("not_before", {"epoch_s": 1.5e9, "why": "429"})
    assert store.get("not_before") == {"epoch_s": 1.5e9, "why": "429"}
    store.put("not_before", None)
    assert store.get("not_before") is None


def test_bad_input_and_a_closed_store_raise_state_error_only(store: StateStore, tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not JSON"):
        store.put("when", datetime.now(timezone.utc))
    with pytest.raises(StateError, match="naive"):
        store.journal(datetime(2026, 1, 1), "decision", "x", "y")  # noqa: DTZ001 -- the point of the test
    store.close()
    with pytest.raises(StateError, match="closed"):
        store.journal_entries()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="cannot create"):
        StateStore.open(blocker / "state")


def test_a_readonly_store_reads_beside_the_writer_and_never_creates(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no state store"):
        StateStore.open(tmp_path / "missing", readonly=True)
    with StateStore.open(tmp_path) as writer:
        writer.save_status({"listed": True}, T0)
        with StateStore.open(tmp_path, readonly=True) as reader:
            assert reader.load_status() == ({"listed": True}, T0)
            with pytest.raises(StateError):
                reader.put("x", 1)
            writer.save_status({"listed": False}, T0)
            assert reader.load_status() == ({"listed": False}, T0)

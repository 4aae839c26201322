"""The running service keeps the state store within its retention: raw telemetry is folded after a day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from agent_env import world
from structlog.testing import capture_logs

from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot
from hostagent.errors import StateError


def _snapshot(at: datetime, temperature_c: int) -> HostSnapshot:
    gpu = GpuReading(index=0, uuid="GPU-old", name="NVIDIA H100 80GB HBM3", health=GpuHealth.OK,
                     temperature_c=temperature_c, utilization_pct=90, memory_used_mib=1000, power_w=500.0)
    disk = DiskReading(requested_path="/var/lib/docker", path="/var/lib/docker", total_bytes=10**12, free_bytes=10**11)
    return HostSnapshot(taken_at=at, gpus=(gpu,), disks=(disk,), backend="fake")


def test_the_service_folds_day_old_raw_samples_into_five_minute_aggregates_and_drops_expired_ones(
    tmp_path: Path,
) -> None:
    with world(tmp_path, mode="observe") as w:
        service = w.service()
        store = service.agent.store
        now_s = w.clock.now().timestamp()
        bucket = datetime.fromtimestamp((now_s - 25 * 3600) // 300 * 300, tz=timezone.utc)
        ancient = bucket - timedelta(days=91)
        for at, temperature_c in ((ancient, 50), (bucket, 40), (bucket + timedelta(seconds=60), 60)):
            store.record_snapshot(_snapshot(at, temperature_c))

        service.run(max_cycles=1)  # every job, store maintenance included, runs at the first loop

        rows = store.telemetry(ancient - timedelta(days=1), gpu_index=0)
        old = [r for r in rows if r.at < w.clock.now() - timedelta(hours=24)]
        assert [(r.at, r.aggregated, r.samples, r.temperature_c) for r in old] == [(bucket, True, 2, 50.0)]
        assert [r.aggregated for r in rows if r.at >= w.clock.now() - timedelta(minutes=1)] == [False]


def test_with_the_state_store_full_the_service_goes_on_and_records_again_once_space_is_freed(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        service = w.service()
        store = service.agent.store
        with store._db.read("sizing the test's cap") as conn:  # what the store's tables already hold
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            page_bytes = conn.execute("PRAGMA page_size").fetchone()[0]
        used_bytes = pages * page_bytes
        store._db.set_max_bytes(used_bytes + 64 * 1024)  # the store's own size cap stands in for a full disk
        with pytest.raises(StateError, match="full"):  # noqa: PT012 -- fills it until a write fails
            for i in range(1000):
                store.journal(w.clock.now(), "note", f"filler {i}", "x" * 2000)
        with capture_logs() as logs:
            service.run(max_cycles=5)
        failed = [e for e in logs if e["event"] in ("state_store_failed", "journal_write_failed")]
        assert failed, "the decisions could not be journaled, and the agent said so"
        assert all(e["log_level"] == "error" for e in failed)
        assert w.machine.listed, "Vast was still reconciled (the small intent row still fitted)"
        assert store.open_intents() == []

        store.maintain(w.clock.now() + timedelta(days=400))  # space freed: the filler notes expire
        w.set_gpu(3, health='"lost"')  # something worth journaling
        with capture_logs() as logs:
            service.run(max_cycles=3)
        assert not [e for e in logs if e["event"] in ("state_store_failed", "journal_write_failed")]
        assert not w.machine.listed
        assert [e.what for e in store.journal_entries(kind="unlist_machine")] == [
            "unlist_machine machine 4242 (cause=health)"
        ]
        assert store.integrity_check() == "ok"

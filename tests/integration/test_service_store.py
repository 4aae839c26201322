"""The running service keeps the state store within its retention: raw telemetry is folded after a day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from agent_env import world

from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot


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

"""`hostagent telemetry` on the fake backend, as an operator runs it, and the table it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from hostagent.core.model import DiskReading, GpuHealth, GpuReading, HostSnapshot, XidEvent
from hostagent.hardware.render import snapshot_json, table

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def hostagent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostagent", *args], capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )


def test_telemetry_json_on_the_demo_config_prints_every_gpu_and_disk_with_every_field():
    done = hostagent("--config", "config/demo.toml", "telemetry", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["backend"] == "fake"
    assert doc["backend_ok"] is True
    assert len(doc["gpus"]) == 8
    assert set(doc["gpus"][0]) == set(GpuReading.__dataclass_fields__)
    assert doc["gpus"][0]["health"] == "ok"
    assert doc["disks"][0]["path"] == "/var/lib/docker"


def test_telemetry_with_an_invalid_config_names_the_problems_and_exits_78(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[hardware]\nbackend = "magic"\n')
    done = hostagent("--config", str(bad), "telemetry")
    assert done.returncode == 78
    assert "hardware.backend" in done.stderr


def test_telemetry_exits_1_with_the_hint_when_the_fake_file_is_broken(tmp_path):
    (tmp_path / "gpus.toml").write_text("[[gpu]\n")
    config = tmp_path / "config.toml"
    config.write_text('[hardware]\nbackend = "fake"\nfake_file = "gpus.toml"\n')
    done = hostagent("--config", str(config), "telemetry")
    assert done.returncode == 1
    assert "backend fake: NOT OK" in done.stdout
    assert "gpus.toml" in done.stdout


def test_the_table_shows_lost_stale_and_xids_and_unknown_disks():
    snapshot = HostSnapshot(
        NOW,
        (
            GpuReading(0, "GPU-a", "NVIDIA H100 80GB HBM3", GpuHealth.OK, temperature_c=88,
                       xid_events=(XidEvent(0, 79, "xid"),)),
            GpuReading(1, "GPU-b", "NVIDIA H100 80GB HBM3", GpuHealth.LOST, error="GPU is lost"),
            GpuReading(2, "GPU-c", "NVIDIA H100 80GB HBM3", GpuHealth.UNKNOWN, stale=True),
        ),
        (DiskReading("/var/lib/docker", "/var/lib", None, None, error="OSError: I/O error"),),
        "nvml",
    )
    lines = table(snapshot).splitlines()
    assert "88" in lines[1]
    assert lines[1].endswith("79")
    assert "lost" in lines[2]
    assert lines[2].endswith("GPU is lost")
    assert "unknown (stale)" in lines[3]
    assert any(line.startswith("/var/lib/docker") and "OSError: I/O error" in line for line in lines)
    doc = snapshot_json(snapshot)
    assert doc["gpus"][0]["xid_events"] == [{"gpu_index": 0, "xid": 79, "event_type": "xid"}]
    assert doc["taken_at"] == "2026-11-26T12:00:00+00:00"


def test_the_table_dates_the_reading_for_people_and_heads_the_error_column():
    """The backend line reads `taken 2026-11-26 12:00:00 UTC` (not ISO 8601); the last column says it holds errors."""
    snapshot = HostSnapshot(NOW, (GpuReading(0, "GPU-b", "NVIDIA H100", GpuHealth.LOST, error="GPU is lost"),), (),
                            "nvml")
    lines = table(snapshot).splitlines()
    assert lines[0].endswith("XIDS / ERROR")
    assert lines[-1] == "backend nvml: ok, taken 2026-11-26 12:00:00 UTC"

"""Sensor numbers from the fake GPU file are checked where they enter, and a half-written file is not "0 GPUs"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hostagent.config.model import HealthConfig
from hostagent.core.health import assess
from hostagent.core.model import GpuHealth, History, MachineState
from hostagent.hardware.fake import FakeHardware
from hostagent.testing.clock import FakeClock

NOW = FakeClock().now()
GPUS = """
[[gpu]]
index = 0
uuid = "GPU-a"
utilization_pct = 90
power_w = 650.0

[[gpu]]
index = 1
uuid = "GPU-b"
{extra}
"""
MACHINE = MachineState(id=1, hostname="h", gpu_name="H100 SXM", num_gpus=2, listed=True)


def backend_with(tmp_path: Path, extra: str = "", suffix: str = ".toml") -> FakeHardware:
    path = tmp_path / f"gpus{suffix}"
    path.write_text(GPUS.format(extra=extra), encoding="utf-8")
    return FakeHardware(path, tmp_path / "docker")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("power_w = inf", "power_w"),
        ("power_w = nan", "power_w"),
        ("power_w = -5.0", "power_w"),
        ("power_w = 1051.0", "power_w"),  # above 1.5 x the 700 W power limit
        ("power_limit_w = -inf", "power_limit_w"),
        ("temperature_c = 500", "temperature_c"),
        ("temperature_c = -40", "temperature_c"),
        ("memory_used_mib = 90000", "memory_used_mib"),  # more than the 81559 MiB the board has
        ("utilization_pct = 250", "utilization_pct"),
    ],
)
def test_an_out_of_range_sensor_field_reads_as_unknown_with_a_logged_reason_not_the_whole_gpu(
    tmp_path: Path, extra: str, field: str
) -> None:
    with capture_logs() as logs:
        gpu = backend_with(tmp_path, extra).read(NOW).gpus[1]
    assert getattr(gpu, field) is None
    assert gpu.health is GpuHealth.OK
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    (event,) = [e for e in logs if e["event"] == "gpu_reading_out_of_range"]
    assert (event["gpu"], event["field"]) == (1, field)
    assert event["reason"]


def test_a_power_reading_within_its_range_is_kept(tmp_path: Path) -> None:
    gpu = backend_with(tmp_path, "power_w = 1049.0").read(NOW).gpus[1]
    assert gpu.power_w == 1049.0


def test_json_nan_and_infinity_are_refused_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "gpus.json"
    path.write_text('{"gpu": [{"index": 0, "power_w": NaN, "temperature_c": 40}, {"index": 1, "power_w": Infinity}]}')
    gpus = FakeHardware(path, tmp_path / "docker").read(NOW).gpus
    assert [g.power_w for g in gpus] == [None, None]
    assert gpus[0].temperature_c == 40


@pytest.mark.parametrize("damage", ["empty", "half"])
def test_a_half_written_or_empty_file_keeps_the_last_good_gpus_marked_stale(tmp_path: Path, damage: str) -> None:
    """Like NVML, the fake backend never reports zero GPUs because a writer was caught mid-write."""
    backend = backend_with(tmp_path)
    good = backend.read(NOW)
    text = (tmp_path / "gpus.toml").read_text()
    (tmp_path / "gpus.toml").write_text("" if damage == "empty" else text[: len(text) // 2 + 7])
    later = NOW + timedelta(seconds=30)
    snap = backend.read(later)
    assert [g.uuid for g in snap.gpus] == [g.uuid for g in good.gpus]
    assert all(g.stale for g in snap.gpus)
    assert snap.backend_ok
    assert "gpus.toml" in (snap.hint or "")

    cfg = HealthConfig(expected_gpu_count=2, stale_after_s=180.0)
    memory = History(last_telemetry_at=NOW, healthy_since=NOW)
    assert assess(snap, MACHINE, cfg, later, memory).ok, "stale for 30 s: no reason to unlist yet"
    much_later = NOW + timedelta(seconds=181)
    verdict = assess(backend.read(much_later), MACHINE, cfg, much_later, memory)
    assert [r.step for r in verdict.reasons] == ["health.stale"]

    (tmp_path / "gpus.toml").write_text(text)
    fresh = backend.read(much_later)
    assert not any(g.stale for g in fresh.gpus)

"""The fake-GPU file backend: what an operator or a test edits is what the next read sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostagent.config.model import HardwareConfig
from hostagent.core.model import GpuHealth, XidEvent
from hostagent.errors import HardwareError
from hostagent.hardware import build_hardware
from hostagent.hardware.fake import FakeHardware
from hostagent.testing.clock import FakeClock

REPO = Path(__file__).resolve().parents[2]
NOW = FakeClock().now()

TWO_GPUS = """
[[gpu]]
index = 0
uuid = "GPU-a"
temperature_c = 40

[[gpu]]
index = 1
uuid = "GPU-b"
{extra}

[[disk]]
path = "/var/lib/docker"
total_gb = 2000
free_gb = 1500
"""


def write(path: Path, extra: str = "") -> Path:
    path.write_text(TWO_GPUS.format(extra=extra), encoding="utf-8")
    return path


@pytest.fixture
def gpu_file(tmp_path: Path) -> Path:
    return write(tmp_path / "gpus.toml")


def backend_for(path: Path) -> FakeHardware:
    return FakeHardware(path, path.parent / "docker")


def test_the_shipped_file_is_eight_idle_healthy_h100s_and_the_docker_disk():
    hardware = build_hardware(HardwareConfig(backend="fake", fake_file=REPO / "config" / "fake-gpus.toml"), FakeClock())
    snap = hardware.read(NOW)
    assert snap.backend == "fake"
    assert snap.backend_ok
    assert snap.hint is None
    assert [g.index for g in snap.gpus] == list(range(8))
    assert {g.name for g in snap.gpus} == {"NVIDIA H100 80GB HBM3"}
    assert len({g.uuid for g in snap.gpus}) == 8
    assert all(g.health is GpuHealth.OK and g.utilization_pct == 0 and g.xid_events == () for g in snap.gpus)
    assert all(g.memory_total_mib == 81559 and g.power_limit_w == 700.0 for g in snap.gpus)
    (disk,) = snap.disks
    assert disk.path == "/var/lib/docker"
    assert disk.free_bytes == 3500 * 10**9


def test_omitted_fields_take_the_defaults_of_an_idle_h100(gpu_file):
    gpu = backend_for(gpu_file).read(NOW).gpus[1]
    assert (gpu.name, gpu.temperature_c, gpu.utilization_pct, gpu.pstate) == ("NVIDIA H100 80GB HBM3", 33, 0, 0)
    assert (gpu.ecc_uncorrected_volatile, gpu.remapped_rows_pending, gpu.pcie_link_width) == (0, False, 16)


def test_a_change_to_the_file_is_seen_at_the_next_read(gpu_file):
    backend = backend_for(gpu_file)
    assert backend.read(NOW).gpus[1].temperature_c == 33
    write(gpu_file, "temperature_c = 91\necc_uncorrected_volatile = 3")
    gpu = backend.read(NOW).gpus[1]
    assert (gpu.temperature_c, gpu.ecc_uncorrected_volatile) == (91, 3)


def test_a_gpu_removed_from_the_file_is_gone_from_the_next_read(gpu_file):
    backend = backend_for(gpu_file)
    assert len(backend.read(NOW).gpus) == 2
    text = gpu_file.read_text()
    gpu_file.write_text(text.replace('[[gpu]]\nindex = 1\nuuid = "GPU-b"\n', ""))
    assert [g.uuid for g in backend.read(NOW).gpus] == ["GPU-a"]


def test_a_lost_gpu_keeps_its_identity_but_reports_no_values(gpu_file):
    write(gpu_file, 'health = "lost"')
    gpu = backend_for(gpu_file).read(NOW).gpus[1]
    assert gpu.health is GpuHealth.LOST
    assert gpu.error
    assert (gpu.uuid, gpu.name, gpu.memory_total_mib) == ("GPU-b", "NVIDIA H100 80GB HBM3", 81559)
    assert gpu.temperature_c is None
    assert gpu.power_w is None


def test_xids_are_reported_once_per_change(gpu_file):
    backend = backend_for(gpu_file)
    assert backend.read(NOW).gpus[1].xid_events == ()
    write(gpu_file, "xid = [79]")
    assert backend.read(NOW).gpus[1].xid_events == (XidEvent(1, 79, "xid"),)
    assert backend.read(NOW).gpus[1].xid_events == ()  # unchanged file: nothing new
    write(gpu_file, "xid = [79, 79]")
    assert backend.read(NOW).gpus[1].xid_events == (XidEvent(1, 79, "xid"),)  # one appended
    write(gpu_file, "xid = [48]")
    assert backend.read(NOW).gpus[1].xid_events == (XidEvent(1, 48, "xid"),)  # edited: the new list
    write(gpu_file, "xid = []")
    assert backend.read(NOW).gpus[1].xid_events == ()


def test_a_broken_file_gives_backend_not_ok_and_a_hint_then_recovers(gpu_file):
    backend = backend_for(gpu_file)
    gpu_file.write_text("[[gpu]\nindex = 0\n")
    snap = backend.read(NOW)
    assert not snap.backend_ok
    assert snap.gpus == ()
    assert snap.hint
    assert str(gpu_file) in snap.hint
    assert "TOMLDecodeError" in snap.hint
    write(gpu_file)
    assert backend.read(NOW).backend_ok


def test_every_mistake_in_the_file_is_named_with_its_path(gpu_file):
    write(gpu_file, 'temprature_c = 50\npower_w = "high"\nhealth = "melted"\nxid = ["79"]')
    hint = backend_for(gpu_file).read(NOW).hint or ""
    assert "gpu[1].temprature_c: unknown key" in hint
    assert "gpu[1].power_w: must be a number" in hint
    assert "gpu[1].health: must be one of ok, lost, unknown" in hint
    assert "gpu[1].xid: must be a list of integers" in hint


def test_a_file_deleted_while_running_gives_a_hint_not_an_exception(gpu_file):
    backend = backend_for(gpu_file)
    gpu_file.unlink()
    snap = backend.read(NOW)
    assert not snap.backend_ok
    assert snap.hint
    assert "FileNotFoundError" in snap.hint


def test_a_missing_file_at_build_time_is_a_hardware_error(tmp_path):
    with pytest.raises(HardwareError, match="does not exist"):
        build_hardware(HardwareConfig(backend="fake", fake_file=tmp_path / "nope.toml"), FakeClock())
    with pytest.raises(HardwareError, match="fake_file"):
        build_hardware(HardwareConfig(backend="fake"), FakeClock())


def test_json_works_too_and_null_or_unsupported_means_not_reported(tmp_path):
    path = tmp_path / "gpus.json"
    doc = {"gpu": [{"uuid": "GPU-j", "pstate": None, "unsupported": ["remapped_rows_pending"]}], "disk": []}
    path.write_text(json.dumps(doc))
    snap = backend_for(path).read(NOW)
    (gpu,) = snap.gpus
    assert gpu.pstate is None
    assert gpu.remapped_rows_pending is None
    assert gpu.unsupported == ("remapped_rows_pending",)
    assert snap.disks == ()


def test_without_disks_in_the_file_the_real_docker_root_is_read(tmp_path):
    path = tmp_path / "gpus.toml"
    path.write_text('[[gpu]]\nuuid = "GPU-x"\n')
    (disk,) = backend_for(path).read(NOW).disks
    assert disk.requested_path == str(tmp_path / "docker")
    assert disk.path == str(tmp_path)
    assert disk.total_bytes
    assert disk.free_bytes is not None


def test_the_file_can_rehearse_nvml_refusing_to_start(tmp_path):
    path = tmp_path / "gpus.toml"
    path.write_text('backend_ok = false\nhint = "NVML init failed (Unknown Error)"\n')
    snap = backend_for(path).read(NOW)
    assert not snap.backend_ok
    assert snap.gpus == ()
    assert snap.hint == "NVML init failed (Unknown Error)"


def test_a_disk_can_rehearse_a_failed_read(tmp_path):
    path = tmp_path / "gpus.toml"
    path.write_text('[[disk]]\npath = "/data"\nerror = "OSError: I/O error"\n[[disk]]\npath = "/x"\nfree_gb = 5\n')
    failed, other = backend_for(path).read(NOW).disks
    assert failed.total_bytes is None
    assert failed.error == "OSError: I/O error"
    assert other.free_bytes == 5 * 10**9

"""The NVML backend against the fake pynvml module: every fault NVML can report that the backend must survive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostagent.config import load_config_text
from hostagent.config.model import HardwareConfig
from hostagent.core.model import GpuHealth, XidEvent
from hostagent.errors import ConfigError
from hostagent.hardware.disk import DiskReader
from hostagent.hardware.nvml import NvmlHardware
from hostagent.testing.clock import FakeClock
from hostagent.testing.fake_pynvml import FakeGpu, FakePynvml

NS = FakePynvml.NVML_ERROR_NOT_SUPPORTED


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[list[NvmlHardware]]:
    """Every backend a test builds is closed afterwards, so no worker thread outlives its test."""
    made: list[NvmlHardware] = []
    yield made
    for backend in made:
        backend.close()


def make(
    backends: list[NvmlHardware],
    fake: FakePynvml,
    clock: FakeClock,
    tmp_path: Path,
    **cfg: object,
) -> NvmlHardware:
    config = HardwareConfig(backend="nvml", docker_root=tmp_path / "docker", **cfg)  # type: ignore[arg-type]
    backend = NvmlHardware(config, clock, nvml=fake, disks=DiskReader([config.docker_root]))
    backends.append(backend)
    return backend


def test_every_per_tick_field_of_every_gpu_is_read(backends, clock, tmp_path):
    fake = FakePynvml([FakeGpu(temperature_c=41, utilization_pct=97, memory_used_mib=70000), FakeGpu()])
    fake.gpus[1].remapped_rows = (0, 0, 1, 0)
    snap = make(backends, fake, clock, tmp_path).read(clock.now())

    assert snap.backend_ok
    assert snap.hint is None
    assert snap.backend == "nvml"
    first, second = snap.gpus
    assert (first.index, first.uuid, first.name) == (0, fake.gpus[0].uuid, "NVIDIA H100 80GB HBM3")
    assert (first.temperature_c, first.utilization_pct, first.memory_used_mib) == (41, 97, 70000)
    assert (first.memory_total_mib, first.power_w, first.power_limit_w) == (81559, 73.458, 700.0)
    assert (first.sm_clock_mhz, first.clock_event_reasons, first.pstate) == (345, 1, 0)
    assert (first.ecc_uncorrected_volatile, first.ecc_corrected_volatile) == (0, 0)
    assert (first.remapped_rows_pending, first.remapped_rows_failure) == (False, False)
    assert (first.pcie_link_gen, first.pcie_link_width, first.pcie_link_gen_max) == (5, 16, 5)
    assert first.compute_processes == 0
    assert first.health is GpuHealth.OK
    assert not first.stale
    assert second.remapped_rows_pending is True
    assert snap.disks[0].requested_path == str(tmp_path / "docker")
    assert snap.disks[0].path == str(tmp_path)  # the nearest existing parent


def test_static_facts_are_read_once(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path)
    for _ in range(3):
        backend.read(clock.now())
    assert fake.call_count("nvmlDeviceGetName") == 2
    assert fake.call_count("nvmlDeviceGetEccMode") == 2
    assert fake.call_count("nvmlDeviceGetTemperature") == 6


@pytest.mark.parametrize("code", [NS, FakePynvml.NVML_ERROR_FUNCTION_NOT_FOUND, FakePynvml.NVML_ERROR_NO_PERMISSION])
def test_a_field_the_gpu_refuses_is_remembered_and_never_asked_again(backends, clock, tmp_path, code):
    fake = FakePynvml([FakeGpu(errors={"nvmlDeviceGetRemappedRows": code}), FakeGpu()])
    backend = make(backends, fake, clock, tmp_path)
    snaps = [backend.read(clock.now()) for _ in range(4)]

    assert fake.call_count("nvmlDeviceGetRemappedRows", gpu=0) == 1
    assert fake.call_count("nvmlDeviceGetRemappedRows", gpu=1) == 4
    gpu = snaps[-1].gpus[0]
    assert gpu.remapped_rows_pending is None
    assert gpu.unsupported == ("remapped_rows",)
    assert gpu.health is GpuHealth.OK
    assert gpu.temperature_c == 33
    assert snaps[-1].gpus[1].unsupported == ()


def test_ecc_counters_are_not_asked_when_ecc_is_disabled(backends, clock, tmp_path):
    fake = FakePynvml([FakeGpu(ecc_mode=(0, 0))])
    gpu = make(backends, fake, clock, tmp_path).read(clock.now()).gpus[0]
    assert fake.call_count("nvmlDeviceGetTotalEccErrors") == 0
    assert gpu.ecc_uncorrected_volatile is None
    assert set(gpu.unsupported) == {"ecc_uncorrected_volatile", "ecc_corrected_volatile"}


@pytest.mark.parametrize("how", ["gpu_is_lost", "unknown_error_on_one_field"])
def test_a_lost_gpu_is_marked_lost_while_the_others_are_still_read(backends, clock, tmp_path, how):
    fake = FakePynvml(3)
    backend = make(backends, fake, clock, tmp_path)
    backend.read(clock.now())
    if how == "gpu_is_lost":
        fake.gpus[1].lost = True
    else:
        fake.gpus[1].errors["nvmlDeviceGetPowerUsage"] = FakePynvml.NVML_ERROR_UNKNOWN
    fake.gpus[2].temperature_c = 55

    snap = backend.read(clock.now())

    assert snap.backend_ok
    assert [g.health for g in snap.gpus] == [GpuHealth.OK, GpuHealth.LOST, GpuHealth.OK]
    lost = snap.gpus[1]
    assert lost.error
    assert "lost" in lost.error.lower()
    assert lost.temperature_c is None
    assert lost.uuid == fake.gpus[1].uuid
    assert snap.gpus[2].temperature_c == 55


def test_a_lost_gpu_that_answers_again_is_ok_again(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path)
    fake.gpus[0].lost = True
    assert backend.read(clock.now()).gpus[0].health is GpuHealth.LOST
    fake.gpus[0].lost = False
    assert backend.read(clock.now()).gpus[0].health is GpuHealth.OK


def test_a_gpu_dropping_out_of_the_count_is_lost_and_the_rest_keep_their_identity(backends, clock, tmp_path):
    fake = FakePynvml(4)
    backend = make(backends, fake, clock, tmp_path)
    before = backend.read(clock.now())
    fake.remove_gpu(1)  # NVML now counts 3; the old GPU 2 answers at NVML index 1

    after = backend.read(clock.now())

    assert len(after.gpus) == 4
    assert after.backend_ok
    assert [g.uuid for g in after.gpus] == [g.uuid for g in before.gpus]
    assert [g.health for g in after.gpus] == [GpuHealth.OK, GpuHealth.LOST, GpuHealth.OK, GpuHealth.OK]
    assert after.gpus[1].error
    assert "vanished" in after.gpus[1].error
    assert after.gpus[2].temperature_c == 33


def test_a_hung_call_gives_stale_readings_within_the_deadline_and_no_second_read(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path, nvml_deadline_s=0.3)
    good = backend.read(clock.now())
    fake.hang("nvmlDeviceGetTemperature", gpu=1)
    try:
        stale = backend.read(clock.now())
        count_calls = fake.call_count("nvmlDeviceGetCount")
        again = backend.read(clock.now())  # the hung read still runs: nothing new may start

        assert fake.call_count("nvmlDeviceGetCount") == count_calls
        for snap in (stale, again):
            assert [g.uuid for g in snap.gpus] == [g.uuid for g in good.gpus]
            assert all(g.stale and g.health is GpuHealth.UNKNOWN for g in snap.gpus)
            assert snap.gpus[0].temperature_c == 33  # the last good value, marked stale
            assert snap.hint
            assert "stale" in snap.hint
    finally:
        fake.release()

    fresh = backend.read(clock.now())
    assert all(g.health is GpuHealth.OK and not g.stale for g in fresh.gpus)
    assert fresh.hint is None


def test_a_hang_before_any_reading_gives_no_gpus_and_backend_not_ok(backends, clock, tmp_path):
    fake = FakePynvml(1)
    backend = make(backends, fake, clock, tmp_path, nvml_deadline_s=0.2)
    fake.hang("nvmlInit")
    try:
        snap = backend.read(clock.now())
        assert snap.gpus == ()
        assert not snap.backend_ok
        assert snap.hint
    finally:
        fake.release()
    assert backend.read(clock.now()).backend_ok


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (FakePynvml.NVML_ERROR_UNKNOWN, "DeviceAllow=char-nvidia rw"),
        (FakePynvml.NVML_ERROR_NO_PERMISSION, "DeviceAllow=char-nvidiactl rw"),
        (FakePynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 was not found"),
        (FakePynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded"),
    ],
)
def test_init_failure_gives_unknown_health_a_hint_and_a_retry_later(backends, clock, tmp_path, code, says):
    fake = FakePynvml(2, init_error=code)
    backend = make(backends, fake, clock, tmp_path)

    snap = backend.read(clock.now())
    assert not snap.backend_ok
    assert snap.gpus == ()
    assert snap.hint
    assert says in snap.hint
    assert snap.disks
    assert snap.disks[0].total_bytes

    fake.init_error = None
    assert not backend.read(clock.now()).backend_ok  # too soon: no retry yet
    assert fake.call_count("nvmlInit") == 1
    clock.advance(60)
    snap = backend.read(clock.now())
    assert snap.backend_ok
    assert len(snap.gpus) == 2
    assert snap.hint is None
    assert fake.call_count("nvmlInit") == 2


def test_nvml_stopping_mid_run_is_reported_and_reopened_later(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path)
    backend.read(clock.now())
    fake.initialized = False  # the driver went away under us: every call says Uninitialized

    snap = backend.read(clock.now())
    assert not snap.backend_ok
    assert snap.hint
    assert [g.health for g in snap.gpus] == [GpuHealth.UNKNOWN, GpuHealth.UNKNOWN]

    clock.advance(60)
    assert backend.read(clock.now()).backend_ok


def test_xid_and_ecc_events_are_drained_without_blocking_and_reported_once(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path)
    backend.read(clock.now())
    fake.emit_xid(0, 79)
    fake.emit_xid(0, 48)
    fake.emit_ecc(1, double_bit=True)

    snap = backend.read(clock.now())

    assert snap.gpus[0].xid_events == (XidEvent(0, 79, "xid"), XidEvent(0, 48, "xid"))
    assert snap.gpus[1].xid_events == (XidEvent(1, 0, "ecc_double_bit"),)
    assert set(fake.wait_timeouts_ms) == {0}
    assert all(g.xid_events == () for g in backend.read(clock.now()).gpus)


def test_slow_counters_follow_their_cadence(backends, clock, tmp_path):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path, slow_counters_s=300)
    first = backend.read(clock.now())
    clock.advance(30)
    second = backend.read(clock.now())

    assert fake.call_count("nvmlDeviceGetPcieThroughput") == 4  # tx + rx, two GPUs, first read only
    assert fake.call_count("nvmlDeviceGetTotalEnergyConsumption") == 2
    assert second.gpus[0].pcie_tx_kb_per_s == first.gpus[0].pcie_tx_kb_per_s == 2246  # carried
    clock.advance(270)
    backend.read(clock.now())
    assert fake.call_count("nvmlDeviceGetTotalEnergyConsumption") == 4


def test_slow_counters_are_never_read_when_their_cadence_is_zero(backends, clock, tmp_path):
    fake = FakePynvml(1)
    backend = make(backends, fake, clock, tmp_path, slow_counters_s=0)
    snap = backend.read(clock.now())
    clock.advance(3600)
    backend.read(clock.now())
    assert fake.call_count("nvmlDeviceGetPcieThroughput") == 0
    assert snap.gpus[0].energy_mj is None


MEDIUM_CALLS = (
    "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth",
    "nvmlDeviceGetComputeRunningProcesses",
)


def medium_calls(fake: FakePynvml) -> list[int]:
    return [fake.call_count(name) for name in MEDIUM_CALLS]


def test_pcie_link_and_process_count_are_read_at_the_first_tick_then_every_medium_counters_s(
    backends, clock, tmp_path
):
    fake = FakePynvml(2)
    backend = make(backends, fake, clock, tmp_path, medium_counters_s=30)
    backend.read(clock.now())
    assert medium_calls(fake) == [2, 2, 2]  # the first tick, both GPUs

    fake.gpus[0].pcie_width, fake.gpus[0].pcie_gen, fake.gpus[0].compute_processes = 8, 4, 3
    for _ in range(2):
        clock.advance(10)
        carried = backend.read(clock.now()).gpus[0]
    assert medium_calls(fake) == [2, 2, 2]  # 20 s in: not asked again
    assert fake.call_count("nvmlDeviceGetTemperature") == 6  # while the per-tick fields are
    assert (carried.pcie_link_width, carried.pcie_link_gen, carried.compute_processes) == (16, 5, 0)

    clock.advance(10)
    fresh = backend.read(clock.now()).gpus[0]
    assert medium_calls(fake) == [4, 4, 4]  # the cadence elapsed: asked again
    assert (fresh.pcie_link_width, fresh.pcie_link_gen, fresh.compute_processes) == (8, 4, 3)


def test_a_gpu_answering_again_after_being_lost_rereads_its_link_at_once(backends, clock, tmp_path):
    fake = FakePynvml(1)
    backend = make(backends, fake, clock, tmp_path, medium_counters_s=30)
    backend.read(clock.now())
    fake.gpus[0].lost = True
    lost = backend.read(clock.now()).gpus[0]
    assert (lost.pcie_link_width, lost.compute_processes) == (None, None)  # no carried value for a lost GPU

    fake.gpus[0].lost, fake.gpus[0].pcie_width = False, 4  # back from a reset with a degraded link
    clock.advance(1)
    assert backend.read(clock.now()).gpus[0].pcie_link_width == 4


def test_medium_counters_s_must_be_positive() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("[hardware]\nmedium_counters_s = 0\n", "config.toml", environ={})
    assert caught.value.problems == ["config.toml: hardware.medium_counters_s: must be > 0, got 0"]


def test_an_unknown_pstate_is_none_not_remembered_as_unsupported_and_asked_again(backends, clock, tmp_path):
    fake = FakePynvml(1)
    fake.gpus[0].pstate = 32  # NVML_PSTATE_UNKNOWN
    backend = make(backends, fake, clock, tmp_path)
    unknown = backend.read(clock.now()).gpus[0]
    assert unknown.pstate is None
    assert "pstate" not in unknown.unsupported
    fake.gpus[0].pstate = 2
    assert backend.read(clock.now()).gpus[0].pstate == 2


class _Broken(FakePynvml):
    def nvmlDeviceGetCount(self) -> int:  # noqa: N802  (pynvml's name)
        raise RuntimeError("a binding bug, not an NVMLError")


def test_read_never_raises_even_when_the_binding_misbehaves(backends, clock, tmp_path):
    snap = make(backends, _Broken(1), clock, tmp_path).read(clock.now())
    assert not snap.backend_ok
    assert snap.hint
    assert "RuntimeError" in snap.hint


def test_close_shuts_nvml_down(clock, tmp_path):
    fake = FakePynvml(1)
    backend = NvmlHardware(HardwareConfig(docker_root=tmp_path), clock, nvml=fake)
    backend.read(clock.now())
    backend.close()
    assert fake.call_count("nvmlShutdown") == 1
    assert not fake.initialized


def test_an_nvml_number_outside_its_physical_range_reads_as_unknown_and_the_gpu_stays_ok(backends, clock, tmp_path):
    """A garbled power (4.29 MW, NVML's all-ones answer), 500 C or more memory used than the board has."""
    fake = FakePynvml([FakeGpu(power_mw=0xFFFFFFFF, temperature_c=500, memory_used_mib=90000), FakeGpu()])
    gpu, other = make(backends, fake, clock, tmp_path).read(clock.now()).gpus
    assert (gpu.power_w, gpu.temperature_c, gpu.memory_used_mib) == (None, None, None)
    assert gpu.health is GpuHealth.OK
    assert (gpu.power_limit_w, gpu.utilization_pct) == (700.0, 0)
    assert (other.power_w, other.temperature_c) == (73.458, 33)

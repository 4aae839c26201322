"""The NVML backend on a real GPU: sane values, every field a value or a remembered NotSupported.

Marked `gpu`; skipped where `pynvml.nvmlInit()` fails (no driver, no GPU, no device access).
Run with `-s` to see the readings: `pytest tests/gpu -m gpu -s`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostagent.clock import SystemClock
from hostagent.config.model import HardwareConfig
from hostagent.core.model import GpuHealth, HostSnapshot
from hostagent.hardware import nvml_fields
from hostagent.hardware.nvml import NvmlHardware

pytestmark = pytest.mark.gpu

MIB = 1024 * 1024
# The reading attributes each NVML field fills (one call can fill two).
ATTRS = {"remapped_rows": ("remapped_rows_pending", "remapped_rows_failure")}


@pytest.fixture(scope="module")
def pynvml() -> Iterator[Any]:
    module = pytest.importorskip("pynvml")
    try:
        module.nvmlInit()
    except module.NVMLError as exc:
        pytest.skip(f"NVML cannot initialise here: {exc}")
    yield module
    module.nvmlShutdown()


@pytest.fixture(scope="module")
def snapshots(pynvml: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HostSnapshot]]:
    clock = SystemClock()
    cfg = HardwareConfig(backend="nvml", docker_root=Path(tmp_path_factory.mktemp("docker")), slow_counters_s=3600)
    backend = NvmlHardware(cfg, clock)
    try:
        yield [backend.read(clock.now()) for _ in range(3)]
    finally:
        backend.close()


def test_the_backend_reads_every_gpu_nvml_counts(pynvml, snapshots):
    for snap in snapshots:
        print(json.dumps([_short(g) for g in snap.gpus], indent=1))
        assert snap.backend_ok, snap.hint
        assert len(snap.gpus) == pynvml.nvmlDeviceGetCount()
        assert all(g.health is GpuHealth.OK and not g.stale for g in snap.gpus)


def test_values_are_sane(pynvml, snapshots):
    for gpu in snapshots[-1].gpus:
        handle = pynvml.nvmlDeviceGetHandleByIndex(gpu.index)
        assert gpu.uuid == _text(pynvml.nvmlDeviceGetUUID(handle))
        assert gpu.temperature_c is not None
        assert 0 <= gpu.temperature_c <= 120
        assert gpu.memory_total_mib == pynvml.nvmlDeviceGetMemoryInfo(handle).total // MIB
        if gpu.power_w is not None and gpu.power_limit_w is not None:
            assert 0 <= gpu.power_w <= 1.1 * gpu.power_limit_w
        if gpu.utilization_pct is not None:
            assert 0 <= gpu.utilization_pct <= 100


def test_every_field_is_a_value_or_a_remembered_not_supported(pynvml, snapshots):
    """None is allowed only for a remembered NotSupported, or for NVML's own "unknown" P-state (32)."""
    fields = nvml_fields.TICK_FIELDS + nvml_fields.MEDIUM_FIELDS + nvml_fields.SLOW_FIELDS
    for gpu in snapshots[-1].gpus:
        print(f"GPU {gpu.index} unsupported: {gpu.unsupported}")
        for name, _ in fields:
            for attr in ATTRS.get(name, (name,)):
                value = getattr(gpu, attr)
                if value is None and attr == "pstate":
                    raw = pynvml.nvmlDeviceGetPerformanceState(pynvml.nvmlDeviceGetHandleByIndex(gpu.index))
                    assert raw == nvml_fields.PSTATE_UNKNOWN, (gpu.index, attr, raw)
                    continue
                assert value is not None or name in gpu.unsupported or attr in gpu.unsupported, (gpu.index, attr)
        assert gpu.pstate != nvml_fields.PSTATE_UNKNOWN  # "unknown" is never reported as a number


def _short(gpu: Any) -> dict[str, Any]:
    doc = dataclasses.asdict(gpu)
    doc["health"] = gpu.health.value
    return doc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

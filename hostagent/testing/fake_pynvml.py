# ruff: noqa: N802, N815, N816  (the names mirror the pynvml module this stands in for)
"""A fake `pynvml` module object for tests, the benchmark and rehearsals without a GPU.

Pass an instance where the NVML backend takes its module (`NvmlHardware(cfg, clock, nvml=fake)`);
nothing is patched into `sys.modules`. Errors are the real binding's `NVMLError` subclasses
(`pynvml.NVMLError(code)` maps a code to its class), so the backend sees exactly what it would see
from the driver. Only the calls hostagent makes are provided.

Faults a test can arrange: a field answering NotSupported (or any code) per GPU
(`FakeGpu.errors`), a lost GPU (`FakeGpu.lost`: every call answers GPU_IS_LOST), init failure
(`init_error`), a GPU vanishing from the count (`remove_gpu`), a call that blocks until released
(`hang`/`release`), and XID / ECC events (`emit_xid`, `emit_ecc`). `calls` counts every call by
function name and GPU index, so a test can prove a field was not asked twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml as _real  # only for its error classes and constants; the library itself is never loaded

NVMLError: Any = _real.NVMLError
NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED: int = _real.NVML_ERROR_NOT_SUPPORTED
NVML_ERROR_NO_PERMISSION: int = _real.NVML_ERROR_NO_PERMISSION
NVML_ERROR_UNINITIALIZED: int = _real.NVML_ERROR_UNINITIALIZED
NVML_ERROR_INVALID_ARGUMENT: int = _real.NVML_ERROR_INVALID_ARGUMENT
NVML_ERROR_DRIVER_NOT_LOADED: int = _real.NVML_ERROR_DRIVER_NOT_LOADED
NVML_ERROR_TIMEOUT: int = _real.NVML_ERROR_TIMEOUT
NVML_ERROR_LIBRARY_NOT_FOUND: int = _real.NVML_ERROR_LIBRARY_NOT_FOUND
NVML_ERROR_FUNCTION_NOT_FOUND: int = _real.NVML_ERROR_FUNCTION_NOT_FOUND
NVML_ERROR_GPU_IS_LOST: int = _real.NVML_ERROR_GPU_IS_LOST
NVML_ERROR_RESET_REQUIRED: int = _real.NVML_ERROR_RESET_REQUIRED
NVML_ERROR_UNKNOWN: int = _real.NVML_ERROR_UNKNOWN
NVML_TEMPERATURE_GPU: int = _real.NVML_TEMPERATURE_GPU
NVML_CLOCK_SM: int = _real.NVML_CLOCK_SM
NVML_MEMORY_ERROR_TYPE_CORRECTED: int = _real.NVML_MEMORY_ERROR_TYPE_CORRECTED
NVML_MEMORY_ERROR_TYPE_UNCORRECTED: int = _real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
NVML_VOLATILE_ECC: int = _real.NVML_VOLATILE_ECC
NVML_PCIE_UTIL_TX_BYTES: int = _real.NVML_PCIE_UTIL_TX_BYTES
NVML_PCIE_UTIL_RX_BYTES: int = _real.NVML_PCIE_UTIL_RX_BYTES
nvmlEventTypeSingleBitEccError: int = _real.nvmlEventTypeSingleBitEccError
nvmlEventTypeDoubleBitEccError: int = _real.nvmlEventTypeDoubleBitEccError
nvmlEventTypeXidCriticalError: int = _real.nvmlEventTypeXidCriticalError

_MIB = 1024 * 1024


@dataclass
class FakeGpu:
    """One fake device; defaults are an idle, healthy H100 SXM as NVML reports it (h100-nvml-probe.json)."""

    uuid: str = ""  # filled from the position when empty
    name: str = "NVIDIA H100 80GB HBM3"
    temperature_c: int = 33
    utilization_pct: int = 0
    memory_total_mib: int = 81559
    memory_used_mib: int = 480
    power_mw: int = 73458
    power_limit_mw: int = 700000
    sm_clock_mhz: int = 345
    clock_event_reasons: int = 1  # GPU idle
    pstate: int = 0
    ecc_mode: tuple[int, int] = (1, 1)  # (current, pending)
    ecc_uncorrected: int = 0
    ecc_corrected: int = 0
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)  # corrected, uncorrected, pending, failure
    pcie_gen: int = 5
    pcie_width: int = 16
    pcie_gen_max: int = 5
    pcie_width_max: int = 16
    compute_processes: int = 0
    pcie_tx_kb_per_s: int = 2246
    pcie_rx_kb_per_s: int = 1180
    energy_mj: int = 2258539
    supported_events: int = 65439
    errors: dict[str, int] = field(default_factory=dict)  # function name -> NVML error code, every call
    lost: bool = False  # every call answers GPU_IS_LOST


class _EventSet:
    def __init__(self) -> None:
        self.registered: dict[int, int] = {}  # id(gpu) -> event mask
        self.queue: list[SimpleNamespace] = []


class FakePynvml:
    """Behaves like the `pynvml` module for the calls hostagent makes."""

    # The module's constants, as attributes (the backend reads them from the module object it is given).
    NVMLError = NVMLError
    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NO_PERMISSION = NVML_ERROR_NO_PERMISSION
    NVML_ERROR_UNINITIALIZED = NVML_ERROR_UNINITIALIZED
    NVML_ERROR_INVALID_ARGUMENT = NVML_ERROR_INVALID_ARGUMENT
    NVML_ERROR_DRIVER_NOT_LOADED = NVML_ERROR_DRIVER_NOT_LOADED
    NVML_ERROR_TIMEOUT = NVML_ERROR_TIMEOUT
    NVML_ERROR_LIBRARY_NOT_FOUND = NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_ERROR_RESET_REQUIRED = NVML_ERROR_RESET_REQUIRED
    NVML_ERROR_UNKNOWN = NVML_ERROR_UNKNOWN
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_MEMORY_ERROR_TYPE_CORRECTED = NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = NVML_VOLATILE_ECC
    NVML_PCIE_UTIL_TX_BYTES = NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = NVML_PCIE_UTIL_RX_BYTES
    nvmlEventTypeSingleBitEccError = nvmlEventTypeSingleBitEccError
    nvmlEventTypeDoubleBitEccError = nvmlEventTypeDoubleBitEccError
    nvmlEventTypeXidCriticalError = nvmlEventTypeXidCriticalError

    def __init__(self, gpus: Sequence[FakeGpu] | int = 1, *, init_error: int | None = None) -> None:
        self.gpus: list[FakeGpu] = [FakeGpu() for _ in range(gpus)] if isinstance(gpus, int) else list(gpus)
        for position, gpu in enumerate(self.gpus):
            gpu.uuid = gpu.uuid or f"GPU-fa4e0000-0000-4000-8000-{position:012d}"
        self.init_error = init_error  # an NVML error code nvmlInit answers, or None
        self.initialized = False
        self.calls: Counter[tuple[str, int | None]] = Counter()
        self.wait_timeouts_ms: list[int] = []
        self.hung = threading.Event()  # set while a call is blocked by hang()
        self._hang_target: tuple[str, int | None] | None = None
        self._release = threading.Event()
        self._sets: list[_EventSet] = []
        self._lock = threading.Lock()
        self._positions: dict[int, int] = {}
        self._index_positions()

    # -- test controls -------------------------------------------------------------------
    def call_count(self, function: str, gpu: int | None = None) -> int:
        """Calls of `function` (on GPU position `gpu`, or on all when None)."""
        with self._lock:
            return sum(n for (name, index), n in self.calls.items() if name == function and gpu in (None, index))

    def hang(self, function: str, gpu: int | None = None) -> None:
        """Make calls of `function` (on `gpu`, or any) block until `release()`."""
        self._release.clear()
        self._hang_target = (function, gpu)

    def release(self) -> None:
        self._hang_target = None
        self._release.set()

    def remove_gpu(self, position: int) -> FakeGpu:
        """The GPU falls off the bus: the count drops, later indexes shift down, its handle is lost."""
        gpu = self.gpus.pop(position)
        gpu.lost = True  # a handle still held to it answers GPU_IS_LOST, as the driver's would
        self._index_positions()
        return gpu

    def emit_xid(self, position: int, xid: int) -> None:
        self._emit(self.gpus[position], nvmlEventTypeXidCriticalError, xid)

    def emit_ecc(self, position: int, *, double_bit: bool = True) -> None:
        kind = nvmlEventTypeDoubleBitEccError if double_bit else nvmlEventTypeSingleBitEccError
        self._emit(self.gpus[position], kind, 0)

    def _emit(self, gpu: FakeGpu, event_type: int, data: int) -> None:
        for event_set in self._sets:
            if event_set.registered.get(id(gpu), 0) & event_type:
                event_set.queue.append(SimpleNamespace(device=gpu, eventType=event_type, eventData=data))

    def _enter(self, function: str, gpu: FakeGpu | None = None) -> None:
        index = None if gpu is None else self._position(gpu)
        with self._lock:
            self.calls[(function, index)] += 1
        target = self._hang_target
        if target is not None and target[0] == function and target[1] in (None, index):
            self.hung.set()
            self._release.wait()
            self.hung.clear()
        if function not in ("nvmlInit", "nvmlInitWithFlags") and not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        if gpu is not None:
            if gpu.lost:
                raise NVMLError(NVML_ERROR_GPU_IS_LOST)
            if function in gpu.errors:
                raise NVMLError(gpu.errors[function])

    def _position(self, gpu: FakeGpu) -> int | None:
        return self._positions.get(id(gpu))

    def _index_positions(self) -> None:
        self._positions = {id(gpu): position for position, gpu in enumerate(self.gpus)}

    # -- library ---------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    # -- static facts ----------------------------------------------------------------------
    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        self._enter("nvmlDeviceGetUUID", gpu)
        return gpu.uuid

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        self._enter("nvmlDeviceGetName", gpu)
        return gpu.name

    def nvmlDeviceGetEccMode(self, gpu: FakeGpu) -> list[int]:
        self._enter("nvmlDeviceGetEccMode", gpu)
        return list(gpu.ecc_mode)

    def nvmlDeviceGetMaxPcieLinkGeneration(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetMaxPcieLinkGeneration", gpu)
        return gpu.pcie_gen_max

    def nvmlDeviceGetMaxPcieLinkWidth(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetMaxPcieLinkWidth", gpu)
        return gpu.pcie_width_max

    # -- per tick --------------------------------------------------------------------------
    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", gpu)
        return gpu.temperature_c

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates", gpu)
        return SimpleNamespace(gpu=gpu.utilization_pct, memory=0)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> SimpleNamespace:
        self._enter("nvmlDeviceGetMemoryInfo", gpu)
        total, used = gpu.memory_total_mib * _MIB, gpu.memory_used_mib * _MIB
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPowerUsage", gpu)
        return gpu.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetEnforcedPowerLimit", gpu)
        return gpu.power_limit_mw

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock_type: int) -> int:
        self._enter("nvmlDeviceGetClockInfo", gpu)
        return gpu.sm_clock_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrentClocksEventReasons", gpu)
        return gpu.clock_event_reasons

    def nvmlDeviceGetPerformanceState(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPerformanceState", gpu)
        return gpu.pstate

    def nvmlDeviceGetTotalEccErrors(self, gpu: FakeGpu, error_type: int, counter_type: int) -> int:
        self._enter("nvmlDeviceGetTotalEccErrors", gpu)
        return gpu.ecc_uncorrected if error_type == NVML_MEMORY_ERROR_TYPE_UNCORRECTED else gpu.ecc_corrected

    def nvmlDeviceGetRemappedRows(self, gpu: FakeGpu) -> tuple[int, int, int, int]:
        self._enter("nvmlDeviceGetRemappedRows", gpu)
        return gpu.remapped_rows

    def nvmlDeviceGetCurrPcieLinkGeneration(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrPcieLinkGeneration", gpu)
        return gpu.pcie_gen

    def nvmlDeviceGetCurrPcieLinkWidth(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrPcieLinkWidth", gpu)
        return gpu.pcie_width

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetComputeRunningProcesses", gpu)
        return [SimpleNamespace(pid=1000 + n, usedGpuMemory=_MIB) for n in range(gpu.compute_processes)]

    # -- slow counters ---------------------------------------------------------------------
    def nvmlDeviceGetPcieThroughput(self, gpu: FakeGpu, counter: int) -> int:
        self._enter("nvmlDeviceGetPcieThroughput", gpu)
        return gpu.pcie_tx_kb_per_s if counter == NVML_PCIE_UTIL_TX_BYTES else gpu.pcie_rx_kb_per_s

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption", gpu)
        return gpu.energy_mj

    # -- events ----------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> _EventSet:
        self._enter("nvmlEventSetCreate")
        event_set = _EventSet()
        self._sets.append(event_set)
        return event_set

    def nvmlEventSetFree(self, event_set: _EventSet) -> None:
        self._enter("nvmlEventSetFree")
        if event_set in self._sets:
            self._sets.remove(event_set)

    def nvmlDeviceGetSupportedEventTypes(self, gpu: FakeGpu) -> int:
        self._enter("nvmlDeviceGetSupportedEventTypes", gpu)
        return gpu.supported_events

    def nvmlDeviceRegisterEvents(self, gpu: FakeGpu, event_types: int, event_set: _EventSet) -> None:
        self._enter("nvmlDeviceRegisterEvents", gpu)
        if event_types & ~gpu.supported_events:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        event_set.registered[id(gpu)] = event_types

    def nvmlEventSetWait_v2(self, event_set: _EventSet, timeout_ms: int) -> SimpleNamespace:
        """Never blocks: answers Timeout at once when nothing is queued (records the timeout asked)."""
        self._enter("nvmlEventSetWait_v2")
        self.wait_timeouts_ms.append(timeout_ms)
        if not event_set.queue:
            raise NVMLError(NVML_ERROR_TIMEOUT)
        return event_set.queue.pop(0)

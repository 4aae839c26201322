"""What the NVML backend asks each GPU, what it remembers per GPU, how a reading is built, and the
operator hints for NVML failing to start.

Plain data and small getters; no NVMLError handling here (that lives only in `nvml.py`). Each
getter takes the `pynvml` module and a device handle and makes exactly one NVML call, so a
NotSupported answer can be remembered per device and per field name.

Costs quoted are medians measured on an H100 80GB HBM3 SXM (driver 580.159.04, 200 calls each).
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hostagent.core.model import GpuHealth, GpuReading, XidEvent

Getter = Callable[[Any, Any], Any]

MIB = 1024 * 1024
PSTATE_UNKNOWN = 32  # NVML_PSTATE_UNKNOWN


def _clock_event_reasons(n: Any, h: Any) -> Any:
    # The "throttle" name was deprecated for "clocks event" in newer bindings; both are the same call.
    fn = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or n.nvmlDeviceGetCurrentClocksThrottleReasons
    return fn(h)


def _pstate(n: Any, h: Any) -> int | None:
    # NVML's answer "unknown" (32) is not a P-state: reported as None, never as a number. It is a
    # real answer, not NotSupported, so it is not remembered: the next tick asks again.
    value = int(n.nvmlDeviceGetPerformanceState(h))
    return None if value == PSTATE_UNKNOWN else value


# Per-tick fields: name -> getter. Cheap calls only (1.4-16 µs each on an H100; ~43 µs per GPU summed).
TICK_FIELDS: tuple[tuple[str, Getter], ...] = (
    ("temperature_c", lambda n, h: int(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU))),
    ("utilization_pct", lambda n, h: int(n.nvmlDeviceGetUtilizationRates(h).gpu)),
    ("memory_used_mib", lambda n, h: int(n.nvmlDeviceGetMemoryInfo(h).used) // MIB),
    ("power_w", lambda n, h: n.nvmlDeviceGetPowerUsage(h) / 1000.0),
    ("power_limit_w", lambda n, h: n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0),
    ("sm_clock_mhz", lambda n, h: int(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM))),
    ("clock_event_reasons", lambda n, h: int(_clock_event_reasons(n, h))),
    ("pstate", _pstate),
    (
        "ecc_uncorrected_volatile",
        lambda n, h: int(
            n.nvmlDeviceGetTotalEccErrors(h, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC)
        ),
    ),
    (
        "ecc_corrected_volatile",
        lambda n, h: int(n.nvmlDeviceGetTotalEccErrors(h, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC)),
    ),
    ("remapped_rows", lambda n, h: tuple(n.nvmlDeviceGetRemappedRows(h))),  # (corr, unc, pending, failure)
)

# Medium cadence (`medium_counters_s`): facts about the link and the processes that change slowly (a
# link retrains after a fault or a reset, a renter's job starts or ends) but cost ~49 µs per GPU together
# on an H100 (link width alone 36 µs): more than all the per-tick fields. Read at a device's first tick,
# then every medium_counters_s, and carried forward in the readings in between.
MEDIUM_FIELDS: tuple[tuple[str, Getter], ...] = (
    ("pcie_link_gen", lambda n, h: int(n.nvmlDeviceGetCurrPcieLinkGeneration(h))),
    ("pcie_link_width", lambda n, h: int(n.nvmlDeviceGetCurrPcieLinkWidth(h))),
    ("compute_processes", lambda n, h: len(n.nvmlDeviceGetComputeRunningProcesses(h))),
)

# Slow counters: PCIe throughput samples over a ~20 ms window per call, energy takes ~3 ms.
SLOW_FIELDS: tuple[tuple[str, Getter], ...] = (
    ("pcie_tx_kb_per_s", lambda n, h: int(n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_TX_BYTES))),
    ("pcie_rx_kb_per_s", lambda n, h: int(n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_RX_BYTES))),
    ("energy_mj", lambda n, h: int(n.nvmlDeviceGetTotalEnergyConsumption(h))),
)

# Static facts, read once per device when it is first seen.
STATIC_FIELDS: tuple[tuple[str, Getter], ...] = (
    ("name", lambda n, h: _text(n.nvmlDeviceGetName(h))),
    ("memory_total_mib", lambda n, h: int(n.nvmlDeviceGetMemoryInfo(h).total) // MIB),
    ("pcie_link_gen_max", lambda n, h: int(n.nvmlDeviceGetMaxPcieLinkGeneration(h))),
    ("pcie_link_width_max", lambda n, h: int(n.nvmlDeviceGetMaxPcieLinkWidth(h))),
    ("ecc_mode", lambda n, h: int(n.nvmlDeviceGetEccMode(h)[0])),  # current mode: 1 enabled
)

ECC_FIELDS = ("ecc_uncorrected_volatile", "ecc_corrected_volatile")


@dataclass
class Device:
    """What the backend knows about one GPU across reads (touched only by the NVML worker thread)."""

    index: int
    uuid: str | None
    handle: Any
    static: dict[str, Any] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)  # field -> NVML's answer
    slow: dict[str, Any] = field(default_factory=dict)  # last slow-counter values, carried between reads
    medium: dict[str, Any] = field(default_factory=dict)  # last MEDIUM_FIELDS values, carried between reads
    next_medium_at: float = float("-inf")  # monotonic time the MEDIUM_FIELDS are due (-inf: at the next read)
    vanished: str | None = None  # why it is missing from NVML's device list
    broken: str | None = None  # listed by NVML but its handle or UUID could not be read
    static_read: bool = False
    lost: bool = False  # for logging the transition only


def uuid_of(n: Any, h: Any) -> str:
    return _text(n.nvmlDeviceGetUUID(h))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def event_mask(n: Any) -> int:
    """XID and ECC events: the ones that say something about a GPU's health."""
    return int(n.nvmlEventTypeXidCriticalError | n.nvmlEventTypeSingleBitEccError | n.nvmlEventTypeDoubleBitEccError)


def event_name(n: Any, event_type: int) -> str:
    names = {
        n.nvmlEventTypeXidCriticalError: "xid",
        n.nvmlEventTypeSingleBitEccError: "ecc_single_bit",
        n.nvmlEventTypeDoubleBitEccError: "ecc_double_bit",
    }
    return names.get(event_type, f"event_0x{event_type:x}")


DEVICE_ACCESS_HINT = (
    "NVML could not open the GPU devices. Under systemd allow them in the unit: DevicePolicy=closed with "
    "DeviceAllow=char-nvidia rw and DeviceAllow=char-nvidiactl rw (not char-nvidia-frontend, which allows "
    "nothing on current drivers); the NVIDIA driver must be loaded before the unit starts, and ProcSubset=pid "
    "must not be set (NVML reads /proc/driver/nvidia/params and /proc/devices). Outside systemd, check that "
    "this user can open /dev/nvidiactl and /dev/nvidia0."
)


def init_hint(error_name: str, text: str, retry_s: float) -> str:
    """What an operator can do when nvmlInit fails with NVMLError_<error_name>."""
    if error_name in ("Unknown", "NoPermission"):
        advice = DEVICE_ACCESS_HINT
    elif error_name == "LibraryNotFound":
        advice = (
            "libnvidia-ml.so.1 was not found: install the NVIDIA driver on this host (the NVML library comes "
            'with it), or set [hardware] backend = "fake" to rehearse without GPUs.'
        )
    elif error_name == "DriverNotLoaded":
        advice = (
            "the NVIDIA kernel driver is not loaded: check `nvidia-smi` and `lsmod | grep nvidia`, "
            "load it (modprobe nvidia) or reinstall the driver, then the agent picks it up by itself."
        )
    else:
        advice = "check `nvidia-smi` on this host."
    return f"NVML init failed ({text}): {advice} Retrying every {retry_s:g} s."


def reading(device: Device, values: dict[str, Any], error: str | None, events: tuple[XidEvent, ...]) -> GpuReading:
    """The reading for `device` from this tick's `values`; `error` set means the GPU is lost."""
    rows = values.get("remapped_rows")
    static, slow = device.static, device.slow
    return GpuReading(
        index=device.index,
        uuid=device.uuid,
        name=static.get("name"),
        health=GpuHealth.OK if error is None else GpuHealth.LOST,
        temperature_c=values.get("temperature_c"),
        utilization_pct=values.get("utilization_pct"),
        memory_used_mib=values.get("memory_used_mib"),
        memory_total_mib=static.get("memory_total_mib"),
        power_w=values.get("power_w"),
        power_limit_w=values.get("power_limit_w"),
        sm_clock_mhz=values.get("sm_clock_mhz"),
        clock_event_reasons=values.get("clock_event_reasons"),
        pstate=values.get("pstate"),
        ecc_uncorrected_volatile=values.get("ecc_uncorrected_volatile"),
        ecc_corrected_volatile=values.get("ecc_corrected_volatile"),
        remapped_rows_pending=bool(rows[2]) if rows else None,
        remapped_rows_failure=bool(rows[3]) if rows else None,
        xid_events=events,
        pcie_link_gen=values.get("pcie_link_gen"),
        pcie_link_width=values.get("pcie_link_width"),
        compute_processes=values.get("compute_processes"),
        error=error,
        pcie_link_gen_max=static.get("pcie_link_gen_max"),
        pcie_link_width_max=static.get("pcie_link_width_max"),
        pcie_tx_kb_per_s=slow.get("pcie_tx_kb_per_s"),
        pcie_rx_kb_per_s=slow.get("pcie_rx_kb_per_s"),
        energy_mj=slow.get("energy_mj"),
        unsupported=tuple(sorted(device.unsupported)),
    )


def as_unknown(gpus: tuple[GpuReading, ...], why: str) -> tuple[GpuReading, ...]:
    return tuple(dataclasses.replace(g, health=GpuHealth.UNKNOWN, error=why, xid_events=()) for g in gpus)


def handle_key(handle: Any) -> object:
    """A device handle's identity: the driver's pointer for real handles, the object for stand-ins."""
    try:
        return ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return id(handle)

"""The NVML backend: every GPU through `pynvml`, the only place an NVMLError is caught.

How it stays up when the GPUs or the driver do not:
- NVML absent or refused at start: the snapshot says `backend_ok=False` with a hint for the operator,
  and init is retried at most every `init_retry_s` (by the injected clock's monotonic time).
- A GPU answering GPU_IS_LOST / Unknown / ResetRequired, or vanishing from the device count: that
  GPU is reported `lost`; the others are still read. Devices are tracked by UUID and keep the index
  they had when first seen, so telemetry rows stay attached to the same board.
- NotSupported, FunctionNotFound or NoPermission for a field: remembered per device and field, never asked again.
- A hung call: every NVML call runs in one persistent worker thread (`DeadlineRunner`), waited on for
  `nvml_deadline_s`; past it the last readings come back `stale` with health unknown, and no second
  read starts while the hung one runs.
- Cadences: TICK_FIELDS every read; PCIe link gen/width and the compute-process count every
  `medium_counters_s` (carried between reads); the slow counters every `slow_counters_s` (nvml_fields.py).
- Out-of-range numbers (hardware/bounds.py): that field reads as None for the tick, with a logged reason.
- XID and ECC events: an NVML event set, drained each read with `nvmlEventSetWait_v2(set, 0)` until
  Timeout, reported on the GPU they concern as the events since the previous read.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from hostagent.config.model import HardwareConfig
from hostagent.core.model import GpuHealth, GpuReading, HostSnapshot, XidEvent
from hostagent.hardware import nvml_fields as nf
from hostagent.hardware.bounds import SensorBounds
from hostagent.hardware.deadline import DeadlineExceeded, DeadlineRunner
from hostagent.hardware.disk import DiskReader
from hostagent.ports import Clock

log = structlog.get_logger(__name__)

INIT_RETRY_S = 60.0
MAX_EVENTS_PER_READ = 1000  # a storm of events must not keep one read busy forever


class _GpuLost(Exception):
    """Internal: the device answered an error that means it is gone."""


class _SessionBroken(Exception):
    """Internal: NVML itself stopped answering (driver unloaded); the session must be reopened."""


@dataclass(frozen=True)
class _Tick:
    gpus: tuple[GpuReading, ...]
    ok: bool
    hint: str | None


class NvmlHardware:
    """`Hardware` over NVML. `nvml` is the `pynvml` module or a stand-in (hostagent.testing.fake_pynvml)."""

    backend = "nvml"

    def __init__(
        self,
        cfg: HardwareConfig,
        clock: Clock,
        *,
        nvml: Any | None = None,
        disks: DiskReader | None = None,
        init_retry_s: float = INIT_RETRY_S,
    ) -> None:
        self._cfg = cfg
        self._clock = clock
        self._n: Any = nvml  # None until imported (lazily: the import alone costs ~80 ms)
        self._disks = disks if disks is not None else DiskReader([cfg.docker_root])
        self._init_retry_s = init_retry_s
        self._runner = DeadlineRunner("hostagent-nvml")
        # Touched only by the worker thread, except _last (read for stale answers).
        self._devices: list[nf.Device] | None = None
        self._event_set: Any = None
        self._initialized = False
        self._handle_keys: dict[object, nf.Device] = {}
        self._next_init_at = float("-inf")
        self._next_slow_at = float("-inf")
        self._hint: str | None = None
        self._last: tuple[GpuReading, ...] = ()
        self._bounds = SensorBounds(self.backend)  # touched only by the worker thread

    # -- the port --------------------------------------------------------------------------
    def read(self, now: datetime) -> HostSnapshot:
        """One reading of every GPU and disk. Never raises."""
        disks = self._disks.read()
        try:
            tick = self._runner.run(self._tick, self._cfg.nvml_deadline_s)
        except DeadlineExceeded as exc:
            log.warning("nvml_read_deadline_exceeded", deadline_s=self._cfg.nvml_deadline_s, why=str(exc))
            tick = self._stale(f"NVML did not answer within {self._cfg.nvml_deadline_s:g} s ({exc})")
        except Exception as exc:  # read() never raises: a bug here must not stop the agent
            log.exception("nvml_read_failed")
            tick = _Tick(nf.as_unknown(self._last, f"internal error: {exc!r}"), False, f"NVML read failed: {exc!r}")
        return HostSnapshot(now, tick.gpus, disks, self.backend, tick.ok, tick.hint)

    def close(self) -> None:
        if not self._runner.busy:
            try:
                self._runner.run(self._shutdown, min(self._cfg.nvml_deadline_s, 1.0))
            except DeadlineExceeded:
                log.warning("nvml_shutdown_deadline_exceeded")
        self._runner.close()

    def _stale(self, why: str) -> _Tick:
        gpus = tuple(
            dataclasses.replace(g, stale=True, health=GpuHealth.UNKNOWN, error=why, xid_events=()) for g in self._last
        )
        return _Tick(gpus, bool(gpus), f"{why}: readings are stale; the driver may be wedged (check dmesg for XIDs)")

    # -- in the worker thread --------------------------------------------------------------
    def _tick(self) -> _Tick:
        mono = self._clock.monotonic()
        if self._devices is None:
            if mono < self._next_init_at:
                return _Tick((), False, self._hint)
            self._next_init_at = mono + self._init_retry_s
            if not self._open():
                return _Tick((), False, self._hint)
        slow = self._cfg.slow_counters_s > 0 and self._next_slow_at <= mono
        if slow:
            self._next_slow_at = mono + self._cfg.slow_counters_s
        try:
            gpus = self._read_all(slow, mono)
        except _SessionBroken as exc:
            self._hint = f"NVML stopped answering ({exc}); reopening it every {self._init_retry_s:g} s."
            log.warning("nvml_session_broken", error=str(exc))
            self._shutdown()
            self._next_init_at = mono + self._init_retry_s
            return _Tick(nf.as_unknown(self._last, str(exc)), False, self._hint)
        self._last = gpus
        return _Tick(gpus, True, None)

    def _open(self) -> bool:
        n = self._n
        if n is None:
            try:
                n = self._n = importlib.import_module("pynvml")
            except ImportError as exc:
                self._hint = f"the pynvml module (package nvidia-ml-py) is not installed: {exc}"
                return False
        try:
            n.nvmlInit()
            self._initialized = True
            count = int(n.nvmlDeviceGetCount())
        except n.NVMLError as exc:
            self._hint = nf.init_hint(type(exc).__name__.removeprefix("NVMLError_"), str(exc), self._init_retry_s)
            log.warning("nvml_init_failed", error=str(exc), hint=self._hint)
            self._shutdown()
            return False
        try:
            self._event_set = n.nvmlEventSetCreate()
        except n.NVMLError as exc:
            log.warning("nvml_events_unavailable", error=str(exc))
        self._devices = []
        self._discover(count)
        self._hint = None
        log.info("nvml_ready", gpus=count)
        return True

    def _shutdown(self) -> None:
        n, self._devices, event_set, self._event_set = self._n, None, self._event_set, None
        if n is None or not self._initialized:
            return
        self._initialized = False
        try:
            if event_set is not None:
                n.nvmlEventSetFree(event_set)
            n.nvmlShutdown()
        except n.NVMLError as exc:
            log.info("nvml_shutdown_failed", error=str(exc))

    def _discover(self, count: int) -> None:
        """Match NVML's current device list to the devices known by UUID; new ones read their static facts."""
        assert self._devices is not None
        n = self._n
        known = {d.uuid: d for d in self._devices if d.uuid is not None}
        seen: set[int] = set()
        for position in range(count):
            broken = None
            try:
                handle = n.nvmlDeviceGetHandleByIndex(position)
                uuid: str | None = nf.uuid_of(n, handle)
            except n.NVMLError as exc:
                log.warning("nvml_device_unreadable", index=position, error=str(exc))
                handle, uuid, broken = None, None, f"GPU unreadable: {exc}"
            device = (known.get(uuid) if uuid is not None else None) or self._unnamed_at(position)
            if device is None:
                used = {d.index for d in self._devices}
                index = position if position not in used else max(used) + 1
                device = nf.Device(index, uuid, handle)
                self._devices.append(device)
            device.handle, device.vanished, device.broken = handle, None, broken
            device.uuid = device.uuid or uuid
            if handle is not None and not device.static_read:
                self._read_static(device)
            seen.add(id(device))
        for device in self._devices:
            if id(device) not in seen:
                device.vanished = f"GPU vanished: NVML now counts {count} GPUs"
        self._devices.sort(key=lambda d: d.index)
        self._handle_keys = {nf.handle_key(d.handle): d for d in self._devices if d.handle is not None}

    def _unnamed_at(self, index: int) -> nf.Device | None:
        assert self._devices is not None
        return next((d for d in self._devices if d.uuid is None and d.index == index), None)

    def _read_static(self, device: nf.Device) -> None:
        n = self._n
        try:
            for name, getter in nf.STATIC_FIELDS:
                device.static[name] = self._call(device, name, getter)
            if device.static.get("ecc_mode") == 0:
                device.unsupported.update(dict.fromkeys(nf.ECC_FIELDS, "ECC disabled"))
        except _GpuLost:
            return  # tried again when it answers (see _read_all)
        device.static_read = True
        if self._event_set is None:
            return
        try:
            mask = nf.event_mask(n) & int(n.nvmlDeviceGetSupportedEventTypes(device.handle))
            if mask:
                n.nvmlDeviceRegisterEvents(device.handle, mask, self._event_set)
        except n.NVMLError as exc:
            device.unsupported["events"] = str(exc)

    def _call(self, device: nf.Device, name: str, getter: nf.Getter) -> Any:
        """One NVML call for one field: its value, or None (remembered NotSupported, or a passing error)."""
        if name in device.unsupported:
            return None
        n = self._n
        try:
            return getter(n, device.handle)
        except n.NVMLError as exc:
            code = exc.value
            if code in (n.NVML_ERROR_NOT_SUPPORTED, n.NVML_ERROR_FUNCTION_NOT_FOUND, n.NVML_ERROR_NO_PERMISSION):
                device.unsupported[name] = str(exc)
                return None
            if code in (n.NVML_ERROR_GPU_IS_LOST, n.NVML_ERROR_UNKNOWN, n.NVML_ERROR_RESET_REQUIRED):
                raise _GpuLost(f"{name}: {exc}") from exc
            log.info("nvml_field_failed", gpu=device.index, field=name, error=str(exc))
            return None

    def _read_all(self, slow: bool, mono: float) -> tuple[GpuReading, ...]:
        n = self._n
        assert self._devices is not None
        try:
            count = int(n.nvmlDeviceGetCount())
        except n.NVMLError as exc:
            raise _SessionBroken(str(exc)) from exc
        present = sum(1 for d in self._devices if d.vanished is None)
        # A GPU unreadable when first seen is looked up again each read, so it can come back.
        if count != present or any(d.broken or not d.static_read for d in self._devices if not d.vanished):
            log.info("nvml_rediscover", count=count, known=present)
            self._discover(count)
        events = self._drain_events()
        return tuple(self._read_device(d, slow, mono, events.get(id(d), ())) for d in self._devices)

    def _read_device(self, device: nf.Device, slow: bool, mono: float, events: Sequence[XidEvent]) -> GpuReading:
        values: dict[str, Any] = {}
        error = device.vanished or device.broken
        if error is None:
            try:
                for name, getter in nf.TICK_FIELDS:
                    values[name] = self._call(device, name, getter)
                if device.next_medium_at <= mono:  # per device, so a GPU seen later is read at its first tick
                    device.next_medium_at = mono + self._cfg.medium_counters_s
                    for name, getter in nf.MEDIUM_FIELDS:
                        device.medium[name] = self._call(device, name, getter)
                if slow:
                    for name, getter in nf.SLOW_FIELDS:
                        device.slow[name] = self._call(device, name, getter)
                values.update(device.medium)  # slowly changing link/process facts: last values carried forward
            except _GpuLost as exc:
                values, error = {}, f"GPU is lost ({exc})"
                device.next_medium_at = float("-inf")  # a GPU back (after a reset?) re-reads its link at once
        if (error is not None) != device.lost:
            device.lost = error is not None
            log.warning("nvml_gpu_lost" if device.lost else "nvml_gpu_back", gpu=device.index, error=error)
        # Checked where it enters: a garbled number (all-ones power, 500 C) reads as unknown, not as a value.
        return self._bounds.check(nf.reading(device, values, error, tuple(events)))

    def _drain_events(self) -> dict[int, list[XidEvent]]:
        """Every event queued since the last read, by device; never waits (timeout 0 ms)."""
        n = self._n
        out: dict[int, list[XidEvent]] = {}
        if self._event_set is None:
            return out
        for _ in range(MAX_EVENTS_PER_READ):
            try:
                data = n.nvmlEventSetWait_v2(self._event_set, 0)
            except n.NVMLError as exc:
                if exc.value != n.NVML_ERROR_TIMEOUT:
                    log.warning("nvml_event_wait_failed", error=str(exc))
                break
            device = self._handle_keys.get(nf.handle_key(data.device))
            kind = nf.event_name(n, int(data.eventType))
            xid = int(data.eventData) if kind == "xid" else 0
            event = XidEvent(device.index if device else -1, xid, kind)
            log.warning("nvml_event", gpu=event.gpu_index, xid=xid, event_type=kind)
            if device is not None:
                out.setdefault(id(device), []).append(event)
        return out


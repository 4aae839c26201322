"""Prometheus metrics: GPU readings, the collector's own health, the listing, earnings, actions.

GPU readings carry dcgm-exporter's names and labels (`DCGM_FI_DEV_GPU_TEMP{gpu, UUID, device,
modelName, Hostname}`), so dashboards and alerts written for dcgm-exporter work unchanged; values
dcgm-exporter has no field for are `hostagent_gpu_*`. Everything else is `hostagent_*`.

Last-value metrics are rendered at scrape time from the latest observation, so a GPU that left the
snapshot, or whose reading is lost or stale, has no reading series at all (never an old number
shown as current); `hostagent_gpu_last_read_timestamp_seconds` says when its last good read was.

`DCGM_FI_DEV_XID_ERRORS` is a counter of XID events by code (`..._total{xid="79"}`), not
dcgm-exporter's gauge of the last code: a gauge cannot show that the same XID fired twice, and
loses every event between two scrapes; `increase(...[1h])` counts each one.

Each `Metrics` has its own `CollectorRegistry` (the process-global default is never touched), so
several can live in one process (tests, the demo). `observe_*` may be called from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hostagent import __version__
from hostagent.core.events import EventKind
from hostagent.core.model import GpuHealth, GpuReading, HostSnapshot, MachineState
from hostagent.core.occupancy import gpu_use
from hostagent.runtime.metrics_server import MetricsServer, serve

__all__ = ["GPU_LABELS", "Metrics", "MetricsServer", "serve"]

GPU_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")

Value = float | int | bool | None
Getter = Callable[[GpuReading], Value]
MachineGetter = Callable[[MachineState], Value]


def _fb_free(r: GpuReading) -> int | None:
    if r.memory_total_mib is None or r.memory_used_mib is None:
        return None
    return r.memory_total_mib - r.memory_used_mib


# (name, help, getter). NVML's own monotonic counters (ECC, energy) are exported as gauges under
# dcgm-exporter's exact names: prometheus-client would append `_total` to a counter; rate() works on both.
GPU_READINGS: tuple[tuple[str, str, Getter], ...] = (
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda r: r.temperature_c),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda r: r.power_w),
    ("DCGM_FI_DEV_POWER_MGMT_LIMIT", "Power management limit (in W).", lambda r: r.power_limit_w),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda r: r.utilization_pct),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda r: r.memory_used_mib),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", _fb_free),
    ("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB).", lambda r: r.memory_total_mib),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda r: r.sm_clock_mhz),
    ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "Clock event (throttle) reasons bitmask.", lambda r: r.clock_event_reasons),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Corrected ECC errors (volatile).", lambda r: r.ecc_corrected_volatile),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Uncorrected ECC errors (volatile).", lambda r: r.ecc_uncorrected_volatile),
    ("DCGM_FI_DEV_ROW_REMAP_PENDING", "1 when a row remap waits for a GPU reset.", lambda r: r.remapped_rows_pending),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "1 when a row remap failed.", lambda r: r.remapped_rows_failure),
    ("DCGM_FI_DEV_PCIE_LINK_GEN", "PCIe link generation now.", lambda r: r.pcie_link_gen),
    ("DCGM_FI_DEV_PCIE_LINK_WIDTH", "PCIe link width now (lanes).", lambda r: r.pcie_link_width),
    ("DCGM_FI_DEV_PCIE_MAX_LINK_GEN", "PCIe link generation the GPU supports.", lambda r: r.pcie_link_gen_max),
    ("DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH", "PCIe link width the GPU supports.", lambda r: r.pcie_link_width_max),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Energy since the driver loaded (in mJ).", lambda r: r.energy_mj),
    ("hostagent_gpu_pstate", "Performance state (0 = fastest).", lambda r: r.pstate),
    ("hostagent_gpu_compute_processes", "Compute processes running on the GPU.", lambda r: r.compute_processes),
    ("hostagent_gpu_pcie_tx_kb_per_s", "PCIe transmit throughput (in KB/s).", lambda r: r.pcie_tx_kb_per_s),
    ("hostagent_gpu_pcie_rx_kb_per_s", "PCIe receive throughput (in KB/s).", lambda r: r.pcie_rx_kb_per_s),
)

# (name, help, getter) for the machine as Vast reports it; label machine_id.
MACHINE_VALUES: tuple[tuple[str, str, MachineGetter], ...] = (
    ("hostagent_machine_listed", "1 when the machine is listed for new rentals.", lambda m: m.listed),
    ("hostagent_price_usd_per_gpu_hour", "Listed on-demand price per GPU-hour (USD).", lambda m: m.listed_gpu_cost),
    ("hostagent_min_bid_usd_per_gpu_hour", "Minimum bid per GPU-hour (USD).", lambda m: m.min_bid_price),
    ("hostagent_storage_price_usd_per_gb_month", "Storage price (USD/GB/month).", lambda m: m.listed_storage_cost),
    ("hostagent_rentals_running", "Rentals running on the machine.", lambda m: m.current_rentals_running),
    ("hostagent_rentals_on_demand", "On-demand rentals running on the machine.", lambda m: m.current_rentals_on_demand),
    ("hostagent_machine_gpus", "GPUs Vast counts in the machine.", lambda m: m.num_gpus),
    ("hostagent_gpus_rented", "GPUs rented by others (on-demand and bids; not the default job).",
     lambda m: gpu_use(m).renters),
    ("hostagent_gpus_default_job", "GPUs running the host's own default job.", lambda m: gpu_use(m).default_job),
    ("hostagent_offer_end_timestamp_seconds", "When the offer expires (epoch s).", lambda m: m.end_date),
    ("hostagent_contract_end_timestamp_seconds", "Latest running contract end (epoch s).", lambda m: m.client_end_date),
    ("hostagent_machine_reliability", "Vast's reliability score (0..1).", lambda m: m.reliability),
    ("hostagent_machine_verified", "1 when Vast shows the machine verified, 0 when not.",
     lambda m: None if m.verification is None else m.verification == "verified"),
    ("hostagent_machine_vast_error", "1 while Vast shows an error on the machine (error_description).",
     lambda m: m.error_description is not None),
    ("hostagent_machine_reports", "Renter reports Vast counts against the machine (num_reports).",
     lambda m: m.num_reports),
)

EARNINGS_WINDOWS = ("today", "7d", "30d")

# Everything the Metrics object can export, for the dashboard test and docs/metrics.md.
METRIC_NAMES: frozenset[str] = frozenset(
    [name for name, _, _ in GPU_READINGS]
    + [name for name, _, _ in MACHINE_VALUES]
    + [
        "DCGM_FI_DEV_XID_ERRORS_total",
        "hostagent_gpu_events_total",
        "hostagent_gpu_health",
        "hostagent_gpu_stale",
        "hostagent_gpu_last_read_timestamp_seconds",
        "hostagent_gpus",
        "hostagent_hardware_backend_ok",
        "hostagent_snapshot_timestamp_seconds",
        "hostagent_disk_free_bytes",
        "hostagent_disk_total_bytes",
        "hostagent_target_price_usd_per_gpu_hour",
        "hostagent_earnings_usd",
        "hostagent_collector_errors_total",
        "hostagent_actions_total",
        "hostagent_api_errors_total",
        "hostagent_machine_identity_mismatches_total",
        "hostagent_events_total",
        "hostagent_owner_hold",
        "hostagent_paused",
        "hostagent_notifications_total",
        "hostagent_build_info",
        "hostagent_machine_vast_offline",
        "hostagent_health_ok",
        "hostagent_last_reconcile_timestamp_seconds",
        "hostagent_reconcile_interval_seconds",
    ]
)


@dataclass
class _GpuMemory:
    """What survives between snapshots for one GPU index."""

    labels: tuple[str, ...]
    last_read_s: float | None = None
    xid_counts: dict[int, int] | None = None
    event_counts: dict[str, int] | None = None


class Metrics:
    """The agent's metrics. Feed it with `observe_*`; `serve(address)` exposes it over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None, *, hostname: str) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.hostname = hostname  # the OS's host name (hostagent.bootstrap.os_host_name), a label of every GPU series
        self._lock = threading.Lock()
        self._snapshot: HostSnapshot | None = None
        self._gpus: dict[int, _GpuMemory] = {}
        self._machine: MachineState | None = None
        self._target_price: float | None = None
        self._vast_offline: tuple[int, bool] | None = None  # (machine id, offline per Vast)
        self._earnings: tuple[float, float, float] | None = None
        self._health_ok: bool | None = None
        self._reconciled: tuple[float, float] | None = None  # (last success epoch s, configured interval s)
        self.registry.register(_StateCollector(self))
        self._collector_errors = Counter(
            "hostagent_collector_errors", "Failed hardware reads, by kind.", ["kind"], registry=self.registry
        )
        self._actions = Counter(
            "hostagent_actions", "Write actions by kind and result.", ["kind", "result"], registry=self.registry
        )
        self._api_errors = Counter(
            "hostagent_api_errors", "Vast API errors by kind and status.", ["kind", "status"], registry=self.registry
        )
        self._identity_mismatches = Counter(
            "hostagent_machine_identity_mismatches", "Replies refused as not the machine asked for.",
            registry=self.registry,
        )
        self._events = Counter(
            "hostagent_events", "Events emitted (hostagent.core.events), by kind.", ["kind"], registry=self.registry
        )
        for kind in EventKind:  # every kind from 0: increase() misses the first event of a series born at 1
            self._events.labels(kind.value)
        self._owner_hold = Gauge("hostagent_owner_hold", "1 while the owner holds the machine (hostagent hold).",
                                 registry=self.registry)
        self._paused = Gauge("hostagent_paused", "1 while the agent is paused (hostagent pause): no writes.",
                             registry=self.registry)
        self._notifications = Counter(
            "hostagent_notifications", "Notifications by destination name and result (sent, failed: one attempt; "
            "suppressed: dedup, hourly cap; dropped: queue full or too old).", ["destination", "result"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)

    # ---- observations ---------------------------------------------------------------------

    def observe_snapshot(self, snapshot: HostSnapshot) -> None:
        """Take one tick's readings; GPUs absent from it lose all their series."""
        taken_s = snapshot.taken_at.timestamp()
        with self._lock:
            self._snapshot = snapshot
            present = {r.index for r in snapshot.gpus}
            for index in set(self._gpus) - present:
                del self._gpus[index]
            for reading in snapshot.gpus:
                memory = self._remember(reading)
                if reading.health is GpuHealth.OK and not reading.stale:
                    memory.last_read_s = taken_s
                for event in reading.xid_events:
                    if event.event_type == "xid":
                        memory.xid_counts = memory.xid_counts or {}
                        memory.xid_counts[event.xid] = memory.xid_counts.get(event.xid, 0) + 1
                    else:
                        memory.event_counts = memory.event_counts or {}
                        memory.event_counts[event.event_type] = memory.event_counts.get(event.event_type, 0) + 1
        for kind in _collector_error_kinds(snapshot):
            self._collector_errors.labels(kind=kind).inc()

    def observe_machine(self, machine: MachineState, target_price: float | None) -> None:
        """The machine as Vast last reported it, and the price the rules want (before guard rails)."""
        with self._lock:
            self._machine = machine
            self._target_price = target_price

    def observe_vast_offline(self, machine_id: int, offline: bool | None) -> None:
        """Whether Vast reports the machine offline (its timeout past vast.offline_after_s); None: not known."""
        with self._lock:
            self._vast_offline = None if offline is None else (machine_id, offline)

    def observe_action(self, kind: str, result: str) -> None:
        """One write action applied (or, in observe mode, skipped); result e.g. "ok", "failed", "skipped"."""
        self._actions.labels(kind=kind, result=result).inc()

    def observe_api_error(self, kind: str, status: int | None) -> None:
        """One failed Vast API call; status None when no HTTP reply came (timeout, refused)."""
        self._api_errors.labels(kind=kind, status="none" if status is None else str(status)).inc()

    def observe_identity_mismatch(self) -> None:
        """A reply about another machine (or one whose identity changed) was refused; nothing was written."""
        self._identity_mismatches.inc()

    def observe_event(self, kind: str) -> None:
        """An event (hostagent.core.events.EventKind) was emitted: alert rules count these."""
        self._events.labels(kind).inc()

    def observe_health(self, ok: bool) -> None:
        """The agent's health verdict (hostagent_health_ok); the alert rules read it."""
        with self._lock:
            self._health_ok = ok

    def observe_reconcile(self, at_epoch_s: float, interval_s: float) -> None:
        """A reconcile read Vast and planned; interval_s (agent.reconcile_s) lets rules judge staleness."""
        with self._lock:
            self._reconciled = (at_epoch_s, interval_s)

    def observe_owner(self, *, held: bool, paused: bool) -> None:
        """The owner's hold and pause as the agent last read them (hostagent.service.owner)."""
        self._owner_hold.set(1 if held else 0)
        self._paused.set(1 if paused else 0)

    def observe_notification(self, destination: str, result: str) -> None:
        """One notification outcome for a destination (its name, never its URL)."""
        self._notifications.labels(destination=destination, result=result).inc()

    def observe_earnings(self, today_usd: float, last_7d_usd: float, last_30d_usd: float) -> None:
        with self._lock:
            self._earnings = (today_usd, last_7d_usd, last_30d_usd)

    def serve(self, address: str) -> MetricsServer:
        """Serve this registry at http://address/metrics. Raises ValueError or OSError (see `serve`)."""
        return serve(address, self.registry)

    def _remember(self, reading: GpuReading) -> _GpuMemory:
        memory = self._gpus.get(reading.index)
        known = memory.labels if memory else None
        uuid = reading.uuid or (known[1] if known else "")
        name = reading.name or (known[3] if known else "")
        labels = (str(reading.index), uuid, f"nvidia{reading.index}", name, self.hostname)
        if memory is None or memory.labels != labels:
            # A new GPU, or a different one in this slot: its history is not this one's.
            memory = self._gpus[reading.index] = _GpuMemory(labels)
        return memory

    # ---- rendering (scrape thread) ----------------------------------------------------------

    def render(self) -> list[Metric]:
        with self._lock:
            families = self._render_gpus()
            families += self._render_host()
        return families

    def _render_gpus(self) -> list[Metric]:
        readings = {r.index: r for r in self._snapshot.gpus} if self._snapshot else {}
        labels = list(GPU_LABELS)
        fresh = [r for r in readings.values() if r.health is GpuHealth.OK and not r.stale]
        families: list[Metric] = []
        for name, text, getter in GPU_READINGS:
            family = GaugeMetricFamily(name, text, labels=labels)
            for reading in fresh:
                value = getter(reading)
                if value is not None:
                    family.add_metric(self._gpus[reading.index].labels, float(value))
            families.append(family)
        health = GaugeMetricFamily("hostagent_gpu_health", "1 for the GPU's health state.", labels=[*labels, "state"])
        stale = GaugeMetricFamily("hostagent_gpu_stale", "1 when the last read hit its deadline.", labels=labels)
        last = GaugeMetricFamily(
            "hostagent_gpu_last_read_timestamp_seconds", "Last successful read of the GPU (epoch s).", labels=labels
        )
        xids = CounterMetricFamily("DCGM_FI_DEV_XID_ERRORS", "XID events by code.", labels=[*labels, "xid"])
        events = CounterMetricFamily("hostagent_gpu_events", "Other NVML events by type.", labels=[*labels, "type"])
        for index, reading in sorted(readings.items()):
            memory = self._gpus[index]
            for state in GpuHealth:
                health.add_metric([*memory.labels, state.value], float(reading.health is state))
            stale.add_metric(memory.labels, float(reading.stale))
            if memory.last_read_s is not None:
                last.add_metric(memory.labels, memory.last_read_s)
            for xid, count in sorted((memory.xid_counts or {}).items()):
                xids.add_metric([*memory.labels, str(xid)], count)
            for kind, count in sorted((memory.event_counts or {}).items()):
                events.add_metric([*memory.labels, kind], count)
        return [*families, health, stale, last, xids, events]

    def _render_host(self) -> list[Metric]:
        families: list[Metric] = [
            _single("hostagent_build_info", "hostagent version.", {"version": __version__}, 1.0)
        ]
        if self._snapshot is not None:
            snap = self._snapshot
            families.append(_single("hostagent_gpus", "GPUs in the last snapshot.", {}, len(snap.gpus)))
            families.append(_single("hostagent_hardware_backend_ok", "0 when NVML could not be initialised.",
                                    {"backend": snap.backend}, float(snap.backend_ok)))
            families.append(_single("hostagent_snapshot_timestamp_seconds", "When the last snapshot was taken.",
                                    {}, snap.taken_at.timestamp()))
            free = GaugeMetricFamily("hostagent_disk_free_bytes", "Free space (bytes).", labels=["path"])
            total = GaugeMetricFamily("hostagent_disk_total_bytes", "Size (bytes).", labels=["path"])
            for disk in snap.disks:
                if disk.free_bytes is not None:
                    free.add_metric([disk.requested_path], disk.free_bytes)
                if disk.total_bytes is not None:
                    total.add_metric([disk.requested_path], disk.total_bytes)
            families += [free, total]
        if self._health_ok is not None:
            families.append(_single("hostagent_health_ok", "1 when the agent judges the host healthy, 0 when not.",
                                    {}, float(self._health_ok)))
        if self._reconciled is not None:
            families.append(_single("hostagent_last_reconcile_timestamp_seconds",
                                    "When a reconcile last read Vast and planned (epoch s).", {}, self._reconciled[0]))
            families.append(_single("hostagent_reconcile_interval_seconds", "The configured agent.reconcile_s.",
                                    {}, self._reconciled[1]))
        if self._machine is not None:
            families += _render_machine(self._machine, self._target_price)
        if self._vast_offline is not None:
            families.append(_single("hostagent_machine_vast_offline", "1 while Vast reports the machine offline.",
                                    {"machine_id": str(self._vast_offline[0])}, float(self._vast_offline[1])))
        if self._earnings is not None:
            earnings = GaugeMetricFamily("hostagent_earnings_usd", "Earnings (USD) by window.", labels=["window"])
            for window, value in zip(EARNINGS_WINDOWS, self._earnings, strict=True):
                earnings.add_metric([window], value)
            families.append(earnings)
        return families


def _render_machine(machine: MachineState, target_price: float | None) -> list[Metric]:
    machine_id = str(machine.id)
    families: list[Metric] = []
    for name, text, getter in MACHINE_VALUES:
        value = getter(machine)
        if value is not None:
            families.append(_single(name, text, {"machine_id": machine_id}, float(value)))
    if target_price is not None:
        families.append(_single("hostagent_target_price_usd_per_gpu_hour", "Price the rules want (USD/GPU-hour).",
                                {"machine_id": machine_id}, target_price))
    return families


def _single(name: str, text: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _collector_error_kinds(snapshot: HostSnapshot) -> Iterable[str]:
    if not snapshot.backend_ok:
        yield "backend"
    for reading in snapshot.gpus:
        if reading.health is GpuHealth.LOST:
            yield "gpu_lost"
        elif reading.health is GpuHealth.UNKNOWN:
            yield "gpu_unknown"
        if reading.stale:
            yield "gpu_stale"
    for disk in snapshot.disks:
        if disk.error is not None:
            yield "disk"


class _StateCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics.render()

"""The metrics page at scrape time: what each series reads from the last observations, and how it is rendered.

`Metrics` (hostagent.runtime.metrics) keeps the latest observation of each kind in `LastValues`; at each scrape
`StateCollector` asks it to `render` them here, under its lock. The tables say, for each GPU reading and each
machine value, its name, its help text and how it is read; a value that is None has no series (never an old
number shown as current), and a GPU whose reading is lost or stale has no reading series at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hostagent import __version__
from hostagent.core.model import GpuHealth, GpuReading, HostSnapshot, MachineState
from hostagent.core.occupancy import gpu_use

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


@dataclass
class GpuMemory:
    """What survives between snapshots for one GPU index."""

    labels: tuple[str, ...]
    last_read_s: float | None = None
    xid_counts: dict[int, int] | None = None
    event_counts: dict[str, int] | None = None


@dataclass
class LastValues:
    """The latest observation of each kind (None: not observed yet), read at scrape time."""

    snapshot: HostSnapshot | None = None
    gpus: dict[int, GpuMemory] = field(default_factory=dict)
    machine: MachineState | None = None
    target_price: float | None = None
    vast_offline: tuple[int, bool] | None = None  # (machine id, offline per Vast)
    earnings: tuple[float, float, float] | None = None
    health_ok: bool | None = None
    reconciled: tuple[float, float] | None = None  # (last success epoch s, configured interval s)


def render(last: LastValues) -> list[Metric]:
    """Every last-value family; the caller holds the lock that guards `last`."""
    return [*_render_gpus(last), *_render_host(last)]


def _render_gpus(last: LastValues) -> list[Metric]:
    readings = {r.index: r for r in last.snapshot.gpus} if last.snapshot else {}
    labels = list(GPU_LABELS)
    fresh = [r for r in readings.values() if r.health is GpuHealth.OK and not r.stale]
    families: list[Metric] = []
    for name, text, getter in GPU_READINGS:
        family = GaugeMetricFamily(name, text, labels=labels)
        for reading in fresh:
            value = getter(reading)
            if value is not None:
                family.add_metric(last.gpus[reading.index].labels, float(value))
        families.append(family)
    health = GaugeMetricFamily("hostagent_gpu_health", "1 for the GPU's health state.", labels=[*labels, "state"])
    stale = GaugeMetricFamily("hostagent_gpu_stale", "1 when the last read hit its deadline.", labels=labels)
    last_read = GaugeMetricFamily(
        "hostagent_gpu_last_read_timestamp_seconds", "Last successful read of the GPU (epoch s).", labels=labels
    )
    xids = CounterMetricFamily("DCGM_FI_DEV_XID_ERRORS", "XID events by code.", labels=[*labels, "xid"])
    events = CounterMetricFamily("hostagent_gpu_events", "Other NVML events by type.", labels=[*labels, "type"])
    for index, reading in sorted(readings.items()):
        memory = last.gpus[index]
        for state in GpuHealth:
            health.add_metric([*memory.labels, state.value], float(reading.health is state))
        stale.add_metric(memory.labels, float(reading.stale))
        if memory.last_read_s is not None:
            last_read.add_metric(memory.labels, memory.last_read_s)
        for xid, count in sorted((memory.xid_counts or {}).items()):
            xids.add_metric([*memory.labels, str(xid)], count)
        for kind, count in sorted((memory.event_counts or {}).items()):
            events.add_metric([*memory.labels, kind], count)
    return [*families, health, stale, last_read, xids, events]


def _render_host(last: LastValues) -> list[Metric]:
    families: list[Metric] = [
        _single("hostagent_build_info", "hostagent version.", {"version": __version__}, 1.0)
    ]
    if last.snapshot is not None:
        snap = last.snapshot
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
    if last.health_ok is not None:
        families.append(_single("hostagent_health_ok", "1 when the agent judges the host healthy, 0 when not.",
                                {}, float(last.health_ok)))
    if last.reconciled is not None:
        families.append(_single("hostagent_last_reconcile_timestamp_seconds",
                                "When a reconcile last read Vast and planned (epoch s).", {}, last.reconciled[0]))
        families.append(_single("hostagent_reconcile_interval_seconds", "The configured agent.reconcile_s.",
                                {}, last.reconciled[1]))
    if last.machine is not None:
        families += _render_machine(last.machine, last.target_price)
    if last.vast_offline is not None:
        families.append(_single("hostagent_machine_vast_offline", "1 while Vast reports the machine offline.",
                                {"machine_id": str(last.vast_offline[0])}, float(last.vast_offline[1])))
    if last.earnings is not None:
        earnings = GaugeMetricFamily("hostagent_earnings_usd", "Earnings (USD) by window.", labels=["window"])
        for window, value in zip(EARNINGS_WINDOWS, last.earnings, strict=True):
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


class StateCollector(Collector):
    """Renders the last values at each scrape (prometheus_client calls `collect`)."""

    def __init__(self, render_now: Callable[[], list[Metric]]) -> None:
        self._render_now = render_now

    def collect(self) -> Iterable[Metric]:
        return self._render_now()

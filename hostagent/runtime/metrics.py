"""Prometheus metrics: GPU readings, the collector's own health, the listing, earnings, actions.

GPU readings carry dcgm-exporter's names and labels (`DCGM_FI_DEV_GPU_TEMP{gpu, UUID, device,
modelName, Hostname}`), so dashboards and alerts written for dcgm-exporter work unchanged; values
dcgm-exporter has no field for are `hostagent_gpu_*`. Everything else is `hostagent_*`.

Last-value metrics are rendered at scrape time from the latest observation, so a GPU that left the
snapshot, or whose reading is lost or stale, has no reading series at all (never an old number
shown as current); `hostagent_gpu_last_read_timestamp_seconds` says when its last good read was.
What each series reads, and the rendering, are hostagent.runtime.metrics_render's.

`DCGM_FI_DEV_XID_ERRORS` is a counter of XID events by code (`..._total{xid="79"}`), not
dcgm-exporter's gauge of the last code: a gauge cannot show that the same XID fired twice, and
loses every event between two scrapes; `increase(...[1h])` counts each one.

Each `Metrics` has its own `CollectorRegistry` (the process-global default is never touched), so
several can live in one process (tests, the demo). `observe_*` may be called from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import Metric

from hostagent.core.events import EventKind
from hostagent.core.model import GpuHealth, GpuReading, HostSnapshot, MachineState
from hostagent.runtime.metrics_render import (
    GPU_LABELS,
    GPU_READINGS,
    MACHINE_VALUES,
    GpuMemory,
    LastValues,
    StateCollector,
    render,
)
from hostagent.runtime.metrics_server import MetricsServer, serve

__all__ = ["GPU_LABELS", "Metrics", "MetricsServer", "serve"]

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


class Metrics:
    """The agent's metrics. Feed it with `observe_*`; `serve(address)` exposes it over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None, *, hostname: str) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.hostname = hostname  # the OS's host name (hostagent.bootstrap.os_host_name), a label of every GPU series
        self._lock = threading.Lock()
        self._last = LastValues()  # guarded by _lock; rendered at scrape time (hostagent.runtime.metrics_render)
        self.registry.register(StateCollector(self.render))
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
            self._last.snapshot = snapshot
            present = {r.index for r in snapshot.gpus}
            for index in set(self._last.gpus) - present:
                del self._last.gpus[index]
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
            self._last.machine = machine
            self._last.target_price = target_price

    def observe_vast_offline(self, machine_id: int, offline: bool | None) -> None:
        """Whether Vast reports the machine offline (its timeout past vast.offline_after_s); None: not known."""
        with self._lock:
            self._last.vast_offline = None if offline is None else (machine_id, offline)

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
            self._last.health_ok = ok

    def observe_reconcile(self, at_epoch_s: float, interval_s: float) -> None:
        """A reconcile read Vast and planned; interval_s (agent.reconcile_s) lets rules judge staleness."""
        with self._lock:
            self._last.reconciled = (at_epoch_s, interval_s)

    def observe_owner(self, *, held: bool, paused: bool) -> None:
        """The owner's hold and pause as the agent last read them (hostagent.service.owner)."""
        self._owner_hold.set(1 if held else 0)
        self._paused.set(1 if paused else 0)

    def observe_notification(self, destination: str, result: str) -> None:
        """One notification outcome for a destination (its name, never its URL)."""
        self._notifications.labels(destination=destination, result=result).inc()

    def observe_earnings(self, today_usd: float, last_7d_usd: float, last_30d_usd: float) -> None:
        with self._lock:
            self._last.earnings = (today_usd, last_7d_usd, last_30d_usd)

    def serve(self, address: str) -> MetricsServer:
        """Serve this registry at http://address/metrics. Raises ValueError or OSError (see `serve`)."""
        return serve(address, self.registry)

    def _remember(self, reading: GpuReading) -> GpuMemory:
        memory = self._last.gpus.get(reading.index)
        known = memory.labels if memory else None
        uuid = reading.uuid or (known[1] if known else "")
        name = reading.name or (known[3] if known else "")
        labels = (str(reading.index), uuid, f"nvidia{reading.index}", name, self.hostname)
        if memory is None or memory.labels != labels:
            # A new GPU, or a different one in this slot: its history is not this one's.
            memory = self._last.gpus[reading.index] = GpuMemory(labels)
        return memory

    # ---- rendering (scrape thread) ----------------------------------------------------------

    def render(self) -> list[Metric]:
        with self._lock:
            return render(self._last)


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

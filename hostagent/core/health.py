"""May this host take new rentals now? One named Reason per failing check, and the relist cool-down.

Pure: the verdict carries the updated memory (hot GPUs, failing/passing streaks, last fresh telemetry)
and the agent stores it; nothing here reads the clock or logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hostagent.config.model import HealthConfig
from hostagent.core.model import GpuHealth, History, HostSnapshot, MachineState, Reason

BYTES_PER_GB = 1_000_000_000  # Vast and disk vendors count decimal gigabytes


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    ok: bool  # every check passes now
    may_list: bool  # ok, and any relist cool-down is over (an already listed machine stays listed while ok)
    reasons: tuple[Reason, ...]  # one per failing check, step "health.<check>"
    notes: tuple[Reason, ...]  # not failures: unknown telemetry, cool-down progress
    hot_since: tuple[tuple[int, datetime], ...]
    unhealthy_since: datetime | None
    healthy_since: datetime | None
    last_telemetry_at: datetime | None
    relist_at: datetime | None = None  # when the running cool-down ends


def _gpu_checks(snapshot: HostSnapshot, machine: MachineState, cfg: HealthConfig) -> list[Reason]:
    reasons: list[Reason] = []
    lost = [g.index for g in snapshot.gpus if g.health is GpuHealth.LOST]
    if lost:
        reasons.append(Reason("health.gpu_lost", f"GPU {', '.join(map(str, lost))} lost"))
    expected = cfg.expected_gpu_count if cfg.expected_gpu_count is not None else machine.num_gpus
    present = len(snapshot.gpus) - len(lost)
    if present < expected:
        reasons.append(Reason("health.gpu_count", f"{present} GPUs present, {expected} expected"))
    installed = len(snapshot.gpus)
    if cfg.expected_gpu_count is not None and machine.num_gpus != installed:
        # Vast sells what its num_gpus says: a renter would pay for GPUs that are not there, or get more or fewer.
        reasons.append(Reason("health.vast_gpu_count", f"Vast lists {machine.num_gpus} GPUs, {installed} installed "
                              "here: not listed while the counts differ (renters would be sold the wrong count)"))
    ecc = [g.index for g in snapshot.gpus if (g.ecc_uncorrected_volatile or 0) > 0]
    ecc += [e.gpu_index for g in snapshot.gpus for e in g.xid_events if e.event_type == "ecc_double_bit"]
    if ecc:
        gpus = ", ".join(map(str, sorted(set(ecc))))
        reasons.append(Reason("health.ecc", f"uncorrectable ECC errors on GPU {gpus}"))
    remap = [g.index for g in snapshot.gpus if g.remapped_rows_failure]
    if remap:
        reasons.append(Reason("health.row_remap", f"row-remap failure on GPU {', '.join(map(str, remap))}"))
    xids = sorted({(e.gpu_index, e.xid) for g in snapshot.gpus for e in g.xid_events
                   if e.event_type == "xid" and e.xid in cfg.critical_xids})
    if xids:
        seen = ", ".join(f"XID {xid} on GPU {index}" for index, xid in xids)
        reasons.append(Reason("health.xid", f"critical {seen}"))
    return reasons


def update_hot_since(
    previous: tuple[tuple[int, datetime], ...], snapshot: HostSnapshot, cfg: HealthConfig
) -> tuple[tuple[int, datetime], ...]:
    """A GPU turns hot above the limit and stays hot until it falls below limit - hysteresis.

    No reading (None or stale) keeps the streak: missing telemetry is not evidence of cooling.
    """
    known = dict(previous)
    cool_below_c = cfg.max_temperature_c - cfg.temperature_hysteresis_c
    result: list[tuple[int, datetime]] = []
    for gpu in snapshot.gpus:
        since = known.get(gpu.index)
        temp = gpu.temperature_c
        if temp is None or gpu.stale:
            if since is not None:
                result.append((gpu.index, since))
        elif temp > cfg.max_temperature_c:
            result.append((gpu.index, since or snapshot.taken_at))
        elif since is not None and temp >= cool_below_c:
            result.append((gpu.index, since))  # inside the hysteresis band: still hot
    return tuple(sorted(result))


def _temperature(hot: tuple[tuple[int, datetime], ...], cfg: HealthConfig, now: datetime) -> list[Reason]:
    too_long = [(i, s) for i, s in hot if (now - s).total_seconds() >= cfg.hot_for_s]
    return [
        Reason("health.temperature", f"GPU {i} above {cfg.max_temperature_c:g} C since {s:%Y-%m-%d %H:%M:%S} UTC "
               f"({(now - s).total_seconds():.0f} s >= hot_for_s {cfg.hot_for_s:g})")
        for i, s in too_long
    ]


def _disk(snapshot: HostSnapshot, cfg: HealthConfig) -> tuple[list[Reason], list[Reason]]:
    bad: list[Reason] = []
    unknown: list[Reason] = []
    for disk in snapshot.disks:
        if disk.free_bytes is None:
            unknown.append(Reason("health.disk", f"free space on {disk.path} unknown: {disk.error or 'no reading'}"))
        elif disk.free_bytes < cfg.min_free_disk_gb * BYTES_PER_GB:
            free_gb = disk.free_bytes / BYTES_PER_GB
            text = f"{free_gb:.1f} GB free on {disk.path}, below {cfg.min_free_disk_gb:g} GB"
            bad.append(Reason("health.disk", text))
    return bad, unknown


def _is_fresh(snapshot: HostSnapshot) -> bool:
    """Fresh only when every GPU was read in time: one GPU hanging for stale_after_s fails the host."""
    return snapshot.backend_ok and bool(snapshot.gpus) and not any(g.stale for g in snapshot.gpus)


def _staleness(snapshot: HostSnapshot, history: History, cfg: HealthConfig, now: datetime) -> list[Reason]:
    fresh_at = snapshot.taken_at if _is_fresh(snapshot) else history.last_telemetry_at
    if fresh_at is None:
        return []  # never had telemetry: that is "unknown", judged by unlist_on_unknown
    age_s = (now - fresh_at).total_seconds()
    stale = [g.index for g in snapshot.gpus if g.stale]
    if age_s > cfg.stale_after_s:
        what = f"GPU {', '.join(map(str, stale))} stale; " if stale else ""
        text = f"{what}last fresh telemetry {age_s:.0f} s ago (stale_after_s {cfg.stale_after_s:g})"
        return [Reason("health.stale", text)]
    return []


def _unknown(snapshot: HostSnapshot, history: History) -> list[Reason]:
    if not snapshot.backend_ok:
        return [Reason("health.unknown", f"no GPU telemetry ({snapshot.hint or 'backend not available'})")]
    unknown = [g.index for g in snapshot.gpus if g.health is GpuHealth.UNKNOWN]
    if unknown:
        return [Reason("health.unknown", f"GPU {', '.join(map(str, unknown))} health unknown")]
    if history.last_telemetry_at is None and not _is_fresh(snapshot):
        return [Reason("health.unknown", "no fresh telemetry yet")]
    return []


def assess(
    snapshot: HostSnapshot, machine: MachineState, cfg: HealthConfig, now: datetime, history: History
) -> HealthVerdict:
    """Run every check; "unknown" fails only with `unlist_on_unknown`. Relisting waits `relist_cooldown_s`.

    The cool-down applies when a failure is remembered (`unhealthy_since`) or the agent itself unlisted
    the machine; a machine that never failed (first start) may be listed at once.
    """
    hot = update_hot_since(history.hot_since, snapshot, cfg)
    unknown = _unknown(snapshot, history)
    failing: list[Reason] = []
    notes: list[Reason] = []
    if snapshot.backend_ok:
        failing += _gpu_checks(snapshot, machine, cfg)
        failing += _temperature(hot, cfg, now)
        failing += _staleness(snapshot, history, cfg, now)
    disk_bad, disk_unknown = _disk(snapshot, cfg)
    failing += disk_bad
    notes += disk_unknown
    if cfg.unlist_on_unknown:
        failing += unknown
    else:
        notes += [Reason(r.step, f"{r.text}: not counted as bad (unlist_on_unknown is false)") for r in unknown]
    last_fresh = snapshot.taken_at if _is_fresh(snapshot) else None
    telemetry_at = max((t for t in (history.last_telemetry_at, last_fresh) if t is not None), default=None)
    if failing:
        return HealthVerdict(False, False, tuple(failing), tuple(notes), hot,
                             history.unhealthy_since or now, None, telemetry_at)
    healthy_since = history.healthy_since or now
    # The cool-down guards against a flapping check: an unlist for the owner's hold (`hostagent hold`) is not one.
    if history.unhealthy_since is None and (not history.unlisted_by_agent or history.unlisted_cause == "hold"):
        return HealthVerdict(True, True, (), tuple(notes), hot, None, healthy_since, telemetry_at)
    relist_at = healthy_since + timedelta(seconds=cfg.relist_cooldown_s)
    if now >= relist_at:
        return HealthVerdict(True, True, (), tuple(notes), hot, None, healthy_since, telemetry_at)
    notes.append(Reason("health.cooldown", f"every check passes since {healthy_since:%Y-%m-%d %H:%M:%S} UTC; "
                        f"relist from {relist_at:%Y-%m-%d %H:%M:%S} UTC (relist_cooldown_s {cfg.relist_cooldown_s:g})"))
    return HealthVerdict(True, False, (), tuple(notes), hot, history.unhealthy_since, healthy_since, telemetry_at,
                         relist_at)

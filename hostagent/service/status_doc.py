"""The status document: what `hostagent status` shows, saved by the agent at the end of every tick.

Stored with `store.save_status(doc, at)`; read back with `store.load_status()`. Plain JSON types only,
so the `status` command needs no heavy import. Versioned: a reader checks `schema` and shows what it
understands. Typed as `hostagent.service.status_types.StatusDoc`; `hostagent/data/status.schema.json` is its
JSON Schema. Schema 1 (every key is always present; a value that is not known is `null`):

    schema            1
    tick_at           ISO 8601 UTC time of the tick that wrote it
    mode              "observe" | "enforce"
    machine           {id, hostname, gpu_name, num_gpus} or null before Vast was read
    listing           {listed, why, price_usd_per_gpu_hour (what Vast shows), target_price_usd_per_gpu_hour
                       (the rules' price before guard rails), desired_price_usd_per_gpu_hour (after them),
                       rule (the pricing step that set the published price last: base, schedule,
                       market, idle_decay or the guard rail that acted, e.g. guard.max_change),
                       reasons: [{step, text}],
                       min_bid_usd_per_gpu_hour, desired_min_bid_usd_per_gpu_hour, end_date (ISO or null),
                       warnings: [str]}
    contracts         {running, on_demand, latest_end (ISO or null), gpu_occupancy}
    health            {ok (true/false/null = not judged yet), reasons: [str], backend, backend_ok, hint,
                       telemetry_at, gpus: [{index, name, health, temperature_c, utilization_pct, power_w,
                       memory_used_mib, memory_total_mib, ecc_uncorrected_volatile, stale, error, hot_since}]}
    disks             [{path, free_gb, total_gb, min_free_gb, error}]
    maintenance       {next: {name, start, end, category} or null, vast_windows: [{start, end, category}],
                       contract_runs_into_window: bool}
    default_job       {configured: {image, args, price_usd_per_gpu_hour} or null,
                       on_vast: {image, price_usd_per_gpu_hour} or null}
    api               {blocked (why no call is made now, or null), auth_ok, not_before,
                       last_error ({at, operation, kind, status, message} or null), last_ok_at,
                       problem (why the last reconcile could not run, or null)}
    last_actions      {sent: [str], failed: [str], would_send: [str], waiting: [str], deferred: str or null}
    identity          {recorded: {machine_id, hostname, gpu_name, num_gpus} or null (as first found),
                       mismatch: why the last read of the machine was refused (another machine, or its
                       identity changed; no write is sent while it lasts) and the fix, or null}
    vast_signals      {verification, reliability (0..1), offline (per Vast: timeout > vast.offline_after_s),
                       timeout_s, error_description, num_reports, reports: [{problem, message, created_at}]
                       (newest first), reports_read_at, scheduled_by_vast: [{start, end, category}] (windows
                       Vast holds that hostagent did not schedule)}; null values: not known yet
    owner             {hold: {by, at, reason, until (ISO or null), source ("command": `hostagent hold`;
                       "outside": a change made outside hostagent, kept as set)} or null,
                       pause: {by, at, reason} or null (`hostagent pause`: no writes are sent)}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Protocol

from hostagent.config.model import Config
from hostagent.core.model import History, HostSnapshot, MachineState, Plan
from hostagent.service.effects import describe
from hostagent.service.outcome import ApplyOutcome
from hostagent.service.status_types import (
    EMPTY_VAST_SIGNALS,
    SCHEMA,
    ApiGateState,
    DefaultJob,
    Disk,
    Gpu,
    Health,
    Identity,
    LastActions,
    Listing,
    Maintenance,
    Owner,
    Reason,
    StatusDoc,
    VastSignals,
)

GB = 1e9


class Window(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def vast_end(self) -> datetime: ...
    @property
    def category(self) -> str: ...


def _at(value: datetime | float) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromtimestamp(value, tz=timezone.utc).isoformat()


def _iso(value: datetime | float | None) -> str | None:
    return None if value is None else _at(value)


def _listing(machine: MachineState | None, plan: Plan | None, health_ok: bool | None, mode: str) -> Listing:
    reasons: list[Reason] = [{"step": r.step, "text": r.text} for r in plan.reasons] if plan else []
    desired = plan.desired if plan else None
    if machine is None:
        why = "Vast not read yet"
    elif machine.listed:
        why = "listed"
    elif desired is not None and not desired.listed:
        # The core's "listing" reason says why in one sentence (health, maintenance or the cool-down), or the
        # owner's hold does ("owner.hold").
        why = next((r.text for r in plan.reasons if r.step in ("listing", "owner.hold")), "") if plan else ""
        why = why or ("unhealthy" if health_ok is False else "the plan keeps it unlisted")
    elif mode == "observe":  # nothing will be sent: "the plan lists it" would promise a listing that never comes
        why = "not listed: the plan would list it; observe mode sends nothing (agent.mode = \"enforce\" does)"
    else:
        why = "not listed yet (the plan lists it)"
    return {
        "listed": machine.listed if machine else None,
        "why": why,
        "price_usd_per_gpu_hour": machine.listed_gpu_cost if machine else None,
        "target_price_usd_per_gpu_hour": plan.target_price_usd_per_gpu_hour if plan else None,
        "desired_price_usd_per_gpu_hour": desired.price_usd_per_gpu_hour if desired else None,
        "rule": plan.price_rule if plan else None,
        "reasons": reasons,
        "min_bid_usd_per_gpu_hour": machine.min_bid_price if machine else None,
        "desired_min_bid_usd_per_gpu_hour": desired.min_bid_usd_per_gpu_hour if desired else None,
        "end_date": _iso(machine.end_date) if machine else None,
        "warnings": list(plan.warnings) if plan else [],
    }


def _health(
    snapshot: HostSnapshot | None, ok: bool | None, reasons: Sequence[str], history: History
) -> Health:
    hot = dict(history.hot_since)
    gpus: list[Gpu] = [
        {
            "index": g.index, "name": g.name, "health": g.health.value, "temperature_c": g.temperature_c,
            "utilization_pct": g.utilization_pct, "power_w": g.power_w, "memory_used_mib": g.memory_used_mib,
            "memory_total_mib": g.memory_total_mib, "ecc_uncorrected_volatile": g.ecc_uncorrected_volatile,
            "stale": g.stale, "error": g.error, "hot_since": _iso(hot.get(g.index)),
        }
        for g in (snapshot.gpus if snapshot else ())
    ]
    return {
        "ok": ok, "reasons": list(reasons), "backend": snapshot.backend if snapshot else None,
        "backend_ok": snapshot.backend_ok if snapshot else None, "hint": snapshot.hint if snapshot else None,
        "telemetry_at": _iso(snapshot.taken_at) if snapshot else None, "gpus": gpus,
    }


def _disks(snapshot: HostSnapshot | None, config: Config) -> list[Disk]:
    return [
        {
            "path": d.path,
            "free_gb": None if d.free_bytes is None else round(d.free_bytes / GB, 1),
            "total_gb": None if d.total_bytes is None else round(d.total_bytes / GB, 1),
            "min_free_gb": config.health.min_free_disk_gb,
            "error": d.error,
        }
        for d in (snapshot.disks if snapshot else ())
    ]


def _maintenance(windows: Sequence[Window], machine: MachineState | None, history: History) -> Maintenance:
    upcoming = windows[0] if windows else None
    latest_end = machine.client_end_date if machine else None
    runs_into = bool(upcoming and latest_end and latest_end > upcoming.start.timestamp())
    return {
        "next": None if upcoming is None else {
            "name": upcoming.name, "start": _at(upcoming.start), "end": _at(upcoming.vast_end),  # as Vast holds it
            "category": upcoming.category,
        },
        "vast_windows": [
            {"start": _at(m.start_time), "end": _at(m.end_time), "category": m.category}
            for m in history.vast_maintenances
        ],
        "contract_runs_into_window": runs_into,
    }


def _default_job(config: Config, machine: MachineState | None) -> DefaultJob:
    job = config.default_job
    return {
        "configured": None if job is None else {
            "image": job.image, "args": list(job.args), "price_usd_per_gpu_hour": job.price_usd_per_gpu_hour,
        },
        "on_vast": None if machine is None or not machine.bid_image else {
            "image": machine.bid_image, "price_usd_per_gpu_hour": machine.bid_gpu_cost,
        },
    }


def _actions(outcome: ApplyOutcome | None) -> LastActions:
    if outcome is None:
        return {"sent": [], "failed": [], "would_send": [], "waiting": [], "deferred": None}
    return {
        "sent": [describe(a) for a in outcome.sent],
        "failed": [f"{describe(a)}: {why}" for a, why in outcome.failed],
        "would_send": [describe(a) for a in outcome.would_send],
        "waiting": [f"{describe(a)}: {why}" for a, why in outcome.waiting],
        "deferred": outcome.deferred,
    }


def build(
    *,
    now: datetime,
    config: Config,
    snapshot: HostSnapshot | None,
    machine: MachineState | None,
    plan: Plan | None,
    health_ok: bool | None,
    health_reasons: Sequence[str],
    windows: Sequence[Window],
    api: ApiGateState,
    problem: str | None,
    history: History,
    outcome: ApplyOutcome | None,
    identity: Identity | None = None,
    vast_signals: VastSignals | None = None,
    owner: Owner | None = None,
) -> StatusDoc:
    """The schema-1 status document (see the module docstring)."""
    return {
        "schema": SCHEMA,
        "tick_at": now.isoformat(),
        "mode": config.agent.mode,
        "machine": None if machine is None else {
            "id": machine.id, "hostname": machine.hostname, "gpu_name": machine.gpu_name,
            "num_gpus": machine.num_gpus,
        },
        "listing": _listing(machine, plan, health_ok, config.agent.mode),
        "contracts": {
            "running": machine.current_rentals_running if machine else None,
            "on_demand": machine.current_rentals_on_demand if machine else None,
            "latest_end": _iso(machine.client_end_date) if machine else None,
            "gpu_occupancy": machine.gpu_occupancy if machine else None,
        },
        "health": _health(snapshot, health_ok, health_reasons, history),
        "disks": _disks(snapshot, config),
        "maintenance": _maintenance(windows, machine, history),
        "default_job": _default_job(config, machine),
        "api": {**api, "problem": problem},
        "last_actions": _actions(outcome),
        "identity": identity or {"recorded": None, "mismatch": None},
        "vast_signals": vast_signals or {**EMPTY_VAST_SIGNALS, "reports": [], "scheduled_by_vast": []},
        "owner": owner or {"hold": None, "pause": None},
    }

"""Earnings: fetched from Vast per day and machine, stored, and summarised from the store.

Realised $/GPU-hour is renters' GPU income divided by the GPU-hours renters actually used; occupancy is
the share of offered GPU-hours that were rented. Renters only: the host's own default job is counted
apart (`default_job_gpu_s`, and its GPU-hours at its bid in `default_job_usd`, which Vast's GPU income
includes; hostagent.core.occupancy), so an idle machine running its default job shows 0 %. Both need the
rented GPU count over time, which Vast's earnings do not give: the agent samples it at each reconcile
(`record_occupancy`) into per-day counters in the store's key/value memory (`occupancy:<day>:<machine_id>`).
`summarize` reads only the store, so `hostagent status` and `hostagent earnings` reuse it without calling Vast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from hostagent.core.model import EarningsDay, EarningsReport, MachineState
from hostagent.core.occupancy import gpu_use

log = structlog.get_logger(__name__)
T = TypeVar("T")
DAY_S = 86400.0
LAST_SAMPLE_KEY = "occupancy.last_sample_at"
MIN_RENTED_GPU_H = 1.0  # below this, a realised price is noise: no price is shown
SUMMARY_DAY_KEY = "earnings.summary_logged_day"  # the UTC day whose summary line was logged


class EarningsStore(Protocol):
    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...

    def upsert_earnings(self, days: list[EarningsDay]) -> None: ...

    def earnings(self, first_day: int, last_day: int, machine_id: int | None = None) -> list[EarningsDay]: ...


class EarningsSource(Protocol):
    def show_earnings(self, start: datetime, end: datetime, machine_id: int | None = None) -> EarningsReport: ...


class Gate(Protocol):
    def call(self, operation: str, now: datetime, fn: Callable[[], T]) -> T: ...


@dataclass(frozen=True)
class EarningsSummary:
    first_day: int
    last_day: int
    gpu_usd: float
    storage_usd: float
    upload_usd: float
    download_usd: float
    sla_usd: float
    today_usd: float
    last_7d_usd: float
    last_30d_usd: float
    rented_gpu_hours: float
    offered_gpu_hours: float
    default_job_gpu_hours: float = 0.0  # GPU-hours the host's own default job ran: not rented, not in occupancy
    default_job_usd: float = 0.0  # what Vast counts for it in GPU income (its GPU-hours at its bid): not renters'
    # GPU income on the days the agent watched (counted occupancy): the only income rented_gpu_hours can explain.
    # None: the same as gpu_usd (a summary built by hand).
    watched_gpu_usd: float | None = None

    @property
    def total_usd(self) -> float:
        return self.gpu_usd + self.storage_usd + self.upload_usd + self.download_usd + self.sla_usd

    @property
    def occupancy(self) -> float | None:
        """Rented share of the GPU-hours the agent watched (0..1), None before any sample."""
        return self.rented_gpu_hours / self.offered_gpu_hours if self.offered_gpu_hours > 0 else None

    @property
    def realised_usd_per_gpu_hour(self) -> float | None:
        """Renters' GPU income per rented GPU-hour, over the days the agent watched; None below one rented
        GPU-hour (Vast's income for days before the agent started over seconds of rentals is no price)."""
        income_usd = self.gpu_usd if self.watched_gpu_usd is None else self.watched_gpu_usd
        renters_usd = max(0.0, income_usd - self.default_job_usd)
        return renters_usd / self.rented_gpu_hours if self.rented_gpu_hours >= MIN_RENTED_GPU_H else None

    @property
    def default_job_share(self) -> float | None:
        """The default job's share of the GPU-hours the agent watched (0..1), None before any sample."""
        return self.default_job_gpu_hours / self.offered_gpu_hours if self.offered_gpu_hours > 0 else None


def day_of(when: datetime) -> int:
    return int(when.timestamp() // DAY_S)


def _occupancy_key(day: int, machine_id: int) -> str:
    return f"occupancy:{day}:{machine_id}"


def record_occupancy(store: EarningsStore, machine: MachineState, now: datetime, max_gap_s: float) -> None:
    """Add the time since the last sample (at most `max_gap_s`, so downtime is not counted) to today's counters."""
    last = store.get(LAST_SAMPLE_KEY)
    store.put(LAST_SAMPLE_KEY, now.timestamp())
    if not isinstance(last, (int, float)):
        return
    interval_s = min(max(now.timestamp() - float(last), 0.0), max_gap_s)
    key = _occupancy_key(day_of(now), machine.id)
    raw = store.get(key)
    counters = raw if isinstance(raw, dict) else {}
    use = gpu_use(machine)
    rented = float(counters.get("rented_gpu_s", 0.0)) + use.renters * interval_s
    offered = float(counters.get("offered_gpu_s", 0.0)) + machine.num_gpus * interval_s
    default_job = float(counters.get("default_job_gpu_s", 0.0)) + use.default_job * interval_s
    bid_usd = use.default_job * interval_s / 3600.0 * (machine.bid_gpu_cost or 0.0)
    default_job_usd = float(counters.get("default_job_usd", 0.0)) + bid_usd
    store.put(key, {"rented_gpu_s": rented, "offered_gpu_s": offered, "default_job_gpu_s": default_job,
                    "default_job_usd": default_job_usd})


def summarize(store: EarningsStore, machine_id: int, today: int, days: int = 30) -> EarningsSummary:
    """Totals over the `days` days ending `today` (inclusive), from the store only."""
    first = today - days + 1
    rows = store.earnings(first, today, machine_id)
    rented_s = offered_s = default_job_s = default_job_usd = 0.0
    watched: set[int] = set()
    for day in range(first, today + 1):
        raw = store.get(_occupancy_key(day, machine_id))
        if isinstance(raw, dict):
            watched.add(day)
            rented_s += float(raw.get("rented_gpu_s", 0.0))
            offered_s += float(raw.get("offered_gpu_s", 0.0))
            default_job_s += float(raw.get("default_job_gpu_s", 0.0))
            default_job_usd += float(raw.get("default_job_usd", 0.0))

    def since(first_day: int) -> float:
        return sum(r.total_usd for r in rows if r.day >= first_day)

    return EarningsSummary(
        first_day=first,
        last_day=today,
        gpu_usd=sum(r.gpu_usd for r in rows),
        storage_usd=sum(r.storage_usd for r in rows),
        upload_usd=sum(r.upload_usd for r in rows),
        download_usd=sum(r.download_usd for r in rows),
        sla_usd=sum(r.sla_usd for r in rows),
        today_usd=since(today),
        last_7d_usd=since(today - 6),
        last_30d_usd=since(today - 29),
        rented_gpu_hours=rented_s / 3600.0,
        offered_gpu_hours=offered_s / 3600.0,
        default_job_gpu_hours=default_job_s / 3600.0,
        default_job_usd=default_job_usd,
        watched_gpu_usd=sum(r.gpu_usd for r in rows if r.day in watched),
    )


def fetch_and_store(
    market: EarningsSource,
    store: EarningsStore,
    gate: Gate,
    *,
    machine_id: int,
    now: datetime,
    days_back: int,
) -> EarningsSummary:
    """Fetch the last `days_back` days for this machine, store them per day, log a summary line."""
    start = now - timedelta(days=days_back)
    report = gate.call("show_earnings", now, lambda: market.show_earnings(start, now, machine_id))
    store.upsert_earnings([dataclasses.replace(d, machine_id=machine_id) for d in report.per_day])
    today = day_of(now)
    summary = summarize(store, machine_id, today, days=max(days_back, 30))
    fields = {
        "machine_id": machine_id,
        "today_usd": round(summary.today_usd, 2),
        "last_7d_usd": round(summary.last_7d_usd, 2),
        "last_30d_usd": round(summary.last_30d_usd, 2),
        "occupancy": None if summary.occupancy is None else round(summary.occupancy, 3),
        "realised_usd_per_gpu_hour": None
        if summary.realised_usd_per_gpu_hour is None
        else round(summary.realised_usd_per_gpu_hour, 3),
        "days_stored": len(report.per_day),
    }
    # Fetches come every few hours; the summary line comes once per UTC day (the day's first fetch),
    # with yesterday's total, which is complete by then.
    if store.get(SUMMARY_DAY_KEY) != today:
        yesterday = sum(r.total_usd for r in store.earnings(today - 1, today - 1, machine_id))
        log.info("earnings_daily_summary", yesterday_usd=round(yesterday, 2), **fields)
        store.put(SUMMARY_DAY_KEY, today)
    else:
        log.debug("earnings_fetched", **fields)
    return summary

"""The agent's memory between ticks: derives `core.model.History` from what it saw and persists it.

`plan()` is pure, so everything it must remember (when the machine was last rented and at what price,
since when a GPU has been hot, since when every health check has passed, the median power under load)
is kept here, in the state store's key/value memory under one JSON document, and survives a restart.

The keeper never calls Vast or the hardware: the agent hands it observations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol

from hostagent.core.health import HealthVerdict
from hostagent.core.maintenance import is_record_of
from hostagent.core.model import History, MachineState, VastMaintenance
from hostagent.core.occupancy import gpu_use

HISTORY_KEY = "history"
POWER_WINDOW = timedelta(days=7)  # median power under load over the last week of telemetry


class HistoryStore(Protocol):
    """The part of the state store the keeper uses."""

    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...

    def median_power_under_load_w(self, since: datetime, min_utilization_pct: float = 50.0) -> float | None: ...


def _encode(value: object) -> object:
    """JSON-safe, tagged so datetimes and maintenance windows come back as themselves."""
    if isinstance(value, datetime):
        return {"__dt__": value.timestamp()}
    if isinstance(value, VastMaintenance):
        return {"__maint__": dataclasses.asdict(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict):
        if isinstance(value.get("__dt__"), (int, float)):
            return datetime.fromtimestamp(float(value["__dt__"]), tz=timezone.utc)
        if isinstance(value.get("__maint__"), dict):
            return VastMaintenance(**value["__maint__"])
        return value
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def history_to_json(history: History) -> dict[str, object]:
    return {f.name: _encode(getattr(history, f.name)) for f in dataclasses.fields(History)}


def history_from_json(doc: Mapping[str, object]) -> History:
    """Tolerant: a document that does not fit (older version, damaged) reads as an empty History.

    Keys no longer known are ignored: an older document's `mean_power_under_load_w` is dropped, and the
    median is read again from the telemetry at the next reconcile (a mean may hold an outlier).
    """
    try:
        fields = {f.name: _decode(doc[f.name]) for f in dataclasses.fields(History) if f.name in doc}
        return History(**fields)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return History()


def rented_gpu_count(machine: MachineState) -> int:
    """GPUs in use by renters, never the host's own default job (hostagent.core.occupancy)."""
    return gpu_use(machine).renters


class HistoryKeeper:
    """Loads History from the store, folds in each observation, and saves it back."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store
        raw = store.get(HISTORY_KEY)
        self.history = history_from_json(raw) if isinstance(raw, dict) else History()

    def save(self) -> None:
        self._store.put(HISTORY_KEY, history_to_json(self.history))

    def _set(self, **changes: object) -> None:
        self.history = dataclasses.replace(self.history, **changes)  # type: ignore[arg-type]

    def adopt(self, memory: History | None) -> None:
        """The core's History after a plan (its health streaks and decay anchors) replaces ours."""
        if memory is not None:
            self.history = memory

    def observe_health(self, verdict: HealthVerdict) -> None:
        """The core's health verdict carries the updated streaks (hot GPUs, failing/passing since, fresh telemetry)."""
        self._set(
            hot_since=verdict.hot_since,
            unhealthy_since=verdict.unhealthy_since,
            healthy_since=verdict.healthy_since,
            last_telemetry_at=verdict.last_telemetry_at,
        )

    def observe_maintenances(self, maintenances: list[VastMaintenance], now: datetime) -> None:
        """Vast's windows as read. A record of ours is dropped once its window has ended and Vast no longer holds
        it; one Vast does not show yet is kept (its notice may still be in flight inside Vast)."""
        now_s = now.timestamp()
        kept = tuple(
            rec for rec in self.history.maintenances_scheduled
            if rec[0] + rec[1] * 3600.0 > now_s or any(is_record_of(v, rec) for v in maintenances)
        )
        self._set(vast_maintenances=tuple(maintenances), maintenances_scheduled=kept)

    def observe_maint_scheduled(self, start_epoch_s: float, duration_h: float) -> None:
        """A notice hostagent is about to send: a window it may cancel later (Vast holds `duration_h`, whole
        hours). Recorded before the send (write-ahead), so a kill between the send and the next save cannot make
        our own window look like someone else's."""
        record = (start_epoch_s, duration_h)
        if record not in self.history.maintenances_scheduled:
            self._set(maintenances_scheduled=(*self.history.maintenances_scheduled, record))

    def observe_maints_cancelled(self) -> None:
        """Vast's cancel removed every window hostagent could cancel: none of ours is left."""
        self._set(maintenances_scheduled=())

    def observe_power(self, now: datetime) -> None:
        """The store's median over the window; a value that is not finite is never kept (nor saved as JSON)."""
        median_w = self._store.median_power_under_load_w(now - POWER_WINDOW)
        if median_w is not None and math.isfinite(median_w):
            self._set(median_power_under_load_w=median_w)

    def observe_listing_change(
        self, *, listed: bool, cause: str | None = None, price: float | None = None, at: datetime | None = None
    ) -> None:
        """After a write the agent made: remember that it unlisted, and why (so it may relist), or what it published
        and when the price last moved (one max_change step per cycle, across restarts)."""
        if listed:
            self._set(unlisted_by_agent=False, unlisted_cause=None)
            if price is not None:
                if at is not None and price != self.history.last_published_price_usd_per_gpu_hour:
                    self._set(last_price_change_at=at)
                self._set(last_published_price_usd_per_gpu_hour=price)
        else:
            self._set(unlisted_by_agent=True, unlisted_cause=cause)

    def observe_min_bid_cap(self, max_usd_per_gpu_hour: float, at: datetime) -> None:
        """Vast refused a min bid above this bound: every later plan keeps the min bid at or below it."""
        if math.isfinite(max_usd_per_gpu_hour) and max_usd_per_gpu_hour > 0:
            self._set(vast_min_bid_max_usd_per_gpu_hour=max_usd_per_gpu_hour, vast_min_bid_max_seen_at=at)

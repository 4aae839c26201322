"""Vast's signals about the machine, kept and announced: the I/O around `hostagent.core.signals`.

After each reconcile's read of the machine, `SignalWatch.observe` folds in the machine's fields (verification,
reliability, offline, error, report count) and the windows Vast holds that hostagent did not schedule, reads the
renter reports when due (every `vast.signals_every_s`, and at once when Vast's `num_reports` moved: one call to
an endpoint Vast spaces 1.2 s apart, through the API gate), emits one event per piece of news, then keeps the
state under kv `vast_signals` so a restart does not announce old news again. Events go out before the state is
saved: a kill between the two repeats the news once (each event's dedup key lets the notifier drop it) rather
than losing it. A failed read of the reports is logged and tried again at the next reconcile.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

import structlog

from hostagent.config.model import Config
from hostagent.core import signals as core
from hostagent.core.maintenance import foreign_windows
from hostagent.core.model import History, MachineReport, MachineState
from hostagent.errors import StateError, VastError
from hostagent.ports import EventSink
from hostagent.service.apigate import ApiDeferred
from hostagent.service.status_types import EMPTY_VAST_SIGNALS, VastSignals

log = structlog.get_logger(__name__)

SIGNALS_KEY = "vast_signals"


class SignalsStore(Protocol):
    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...


class SignalMetrics(Protocol):
    def observe_vast_offline(self, machine_id: int, offline: bool | None) -> None: ...


def _iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat()


class SignalWatch:
    def __init__(
        self, store: SignalsStore, events: EventSink, metrics: SignalMetrics | None = None, *, read_only: bool = False
    ) -> None:
        self._store = store
        self._events = events
        self._metrics = metrics
        self._read_only = read_only
        try:
            self.state = core.from_json(store.get(SIGNALS_KEY))
        except StateError as exc:
            log.error("state_store_failed", step="vast_signals.load", error=str(exc))
            self.state = None
        self.history: History = History()  # for the windows shown in status: the agent's latest

    def observe(
        self, machine: MachineState, history: History, config: Config, now: datetime,
        read_reports: Callable[[], list[MachineReport]],
    ) -> None:
        """Fold in a fresh read of `machine`; `read_reports` reads its renter reports (through the API gate)."""
        self.history = history
        previous = self.state
        foreign = foreign_windows(machine.id, history)
        state, events = core.observe_machine(self.state, machine, foreign, config.vast.offline_after_s, now)
        if core.reports_due(state, config.vast.signals_every_s, now):
            try:
                reports = read_reports()
            except (VastError, ApiDeferred) as exc:
                log.warning("vast_reports_unread", machine_id=machine.id, error=str(exc))
            else:
                state, more = core.observe_reports(state, reports, now)
                events += more
        self.state = state
        if self._metrics is not None:
            self._metrics.observe_vast_offline(machine.id, state.offline)
        for event in events:
            self._events.emit(event)
        if not self._read_only and state != previous:  # most reconciles change nothing: no fsync for them
            try:
                self._store.put(SIGNALS_KEY, core.to_json(state))
            except StateError as exc:
                log.error("state_store_failed", step="vast_signals.save", error=str(exc))

    def status(self) -> VastSignals:
        return status_of(self.state, self.history)


def status_of(state: core.SignalState | None, history: History) -> VastSignals:
    """The `vast_signals` part of the status document (hostagent.service.status_doc)."""
    if state is None:
        return {**EMPTY_VAST_SIGNALS, "reports": [], "scheduled_by_vast": []}
    windows = foreign_windows(state.machine_id, history)
    return {
        "verification": state.verification,
        "reliability": state.reliability,
        "offline": state.offline,
        "timeout_s": state.timeout_s,
        "error_description": state.error_description,
        "num_reports": state.num_reports,
        "reports": [
            {"problem": r.problem, "message": r.message, "created_at": _iso(r.created_at) or ""}
            for r in reversed(state.reports)
        ],
        "reports_read_at": _iso(state.reports_read_at_s),
        "scheduled_by_vast": [
            {"start": _iso(w.start_time) or "", "end": _iso(w.start_time + w.duration_hours * 3600.0) or "",
             "category": w.category}
            for w in windows
        ],
    }

"""The agent's parts and memory, shared by every step: what `Agent` holds, and how each step ends.

`AgentParts` builds the adapters (hardware, marketplace, store) and the service parts around them, and keeps
the memory between ticks; `Agent` (hostagent.service.agent) is these parts plus one method per cadence,
some of them written in sibling modules (agent_periodic: market, earnings; agent_apply: what runs around
an apply). Here too: what each step ends with, the status document, and the store call that survives a
state store error (fault 12). `AgentStore` and `AgentMetrics` are the store and metrics as the agent uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from hostagent.config.model import Config
from hostagent.core import maintenance as core_maint
from hostagent.core.model import HostSnapshot, MachineState, MarketSample, Plan, VastMaintenance
from hostagent.errors import StateError
from hostagent.ports import Clock, Hardware, Marketplace
from hostagent.service import agent_events, operator_maints, status_doc
from hostagent.service.apigate import ApiGate
from hostagent.service.earnings import EarningsStore
from hostagent.service.events import EventLog
from hostagent.service.history import HistoryKeeper, HistoryStore
from hostagent.service.identity import IdentityGuard, IdentityStore
from hostagent.service.machines import known_machine_id
from hostagent.service.outcome import ApplyOutcome, ReconcileStore
from hostagent.service.owner import OwnerControl
from hostagent.service.reconcile import Reconciler
from hostagent.service.sharedlock import SharedLock, holding_lock
from hostagent.service.signals import SignalWatch
from hostagent.service.status_types import owner_status

log = structlog.get_logger(__name__)

MAINT_HORIZON = timedelta(days=35)  # long enough to show the next monthly window


class AgentMetrics(Protocol):
    """The slice of `hostagent.runtime.metrics.Metrics` the agent feeds."""

    def observe_snapshot(self, snapshot: HostSnapshot) -> None: ...
    def observe_machine(self, machine: MachineState, target_price: float | None) -> None: ...
    def observe_action(self, kind: str, result: str) -> None: ...
    def observe_api_error(self, kind: str, status: int | None) -> None: ...
    def observe_earnings(self, today_usd: float, last_7d_usd: float, last_30d_usd: float) -> None: ...
    def observe_identity_mismatch(self) -> None: ...
    def observe_event(self, kind: str) -> None: ...
    def observe_vast_offline(self, machine_id: int, offline: bool | None) -> None: ...
    def observe_health(self, ok: bool) -> None: ...
    def observe_reconcile(self, at_epoch_s: float, interval_s: float) -> None: ...
    def observe_owner(self, *, held: bool, paused: bool) -> None: ...


class AgentStore(
    ReconcileStore, HistoryStore, IdentityStore, EarningsStore, operator_maints.OperatorMaintsStore, Protocol
):
    """The state store as the agent uses it (hostagent.store.StateStore, built by hostagent.bootstrap)."""

    def record_snapshot(self, snapshot: HostSnapshot) -> None: ...
    def save_status(self, doc: Mapping[str, object], at: datetime) -> None: ...
    def maintain(self, now: datetime, *, raw_retention_h: float = ..., agg_retention_days: float = ...) -> int: ...


@dataclass
class HealthView:
    ok: bool
    reasons: tuple[str, ...]


class AgentParts:
    def __init__(
        self,
        *,
        config: Config,
        hardware: Hardware,
        market: Marketplace,
        store: AgentStore,
        clock: Clock,
        hostname: str,
        metrics: AgentMetrics | None = None,
        read_only: bool = False,
        events: EventLog | None = None,
    ) -> None:
        self.config = config
        self.hostname = hostname  # this host's name on Vast: config.machine.hostname, else the OS's (bootstrap)
        self.read_only = read_only  # `hostagent plan`: gather and decide, write nothing anywhere
        self.hardware = hardware
        self.market = market
        self.store = store
        self.clock = clock
        self.metrics = metrics
        # Every event goes through here (journal, log, metrics, then the notifier that bootstrap subscribes).
        self.events = events if events is not None else EventLog(store, metrics, read_only=read_only)
        self.history = HistoryKeeper(store)
        self.signals = SignalWatch(store, self.events, metrics, read_only=read_only)  # Vast's view of the machine
        self.owner = OwnerControl(store, self.events, metrics, read_only=read_only)  # hold, pause, outside changes
        # Guards everything below against the service's other thread; set down during each Vast call.
        self.lock = SharedLock()
        self.gate = ApiGate(store, retry_after_cap_s=config.vast.retry_after_cap_s, metrics=metrics)
        self.gate.released = self.lock.set_down
        self.gate.on_auth_refused = lambda at, op, status: self.events.emit(agent_events.key_refused(at, op, status))
        self.identity = IdentityGuard(store, metrics, read_only=read_only)
        self.reconciler = Reconciler(
            market, store, self.gate, mode=config.agent.mode, metrics=metrics, identity=self.identity,
            write_grace_s=config.vast.write_grace_s,
        )
        self.machine_id: int | None = known_machine_id(config.machine.id, store)
        self.owner_id: int | None = None  # the account's user id (`host_id` on its offers), read at first need
        self.snapshot: HostSnapshot | None = None
        self.machine: MachineState | None = None
        self.maints: list[VastMaintenance] = []
        self.market_sample: MarketSample | None = None
        self.plan: Plan | None = None
        self.health: HealthView | None = None
        self.outcome: ApplyOutcome | None = None
        self.problem: str | None = None  # the latest reason a reconcile could not run, for status
        self.problem_error: Exception | None = None  # ...and what raised it: `run --once` exits by its kind
        self._kept_stale: str | None = None  # the last "stale window kept" reason journaled (once, not every cycle)

    @holding_lock
    def set_config(self, config: Config) -> None:
        """A reloaded config: new rules apply from the next step; the key may be new, so try the API again."""
        if config.pricing.market.source != self.config.pricing.market.source:
            self.market_sample = None  # a sample of the other source prices nothing: fetch the new one at once
        self.config = config
        self.reconciler.mode = config.agent.mode
        self.reconciler.write_grace_s = config.vast.write_grace_s
        if config.machine.id is not None:
            self.machine_id = config.machine.id
        self.gate.reset_auth()

    # ---- record -------------------------------------------------------------------------------

    @holding_lock
    def record_status(self, now: datetime) -> None:
        windows = core_maint.upcoming_windows(self.config.maintenance, now, MAINT_HORIZON)
        doc = status_doc.build(
            now=now, config=self.config, snapshot=self.snapshot, machine=self.machine, plan=self.plan,
            health_ok=self.health.ok if self.health else None,
            health_reasons=self.health.reasons if self.health else (),
            windows=windows, api=self.gate.state(now), problem=self.problem,
            history=self.history.history, outcome=self.outcome, identity=self.identity.status(),
            vast_signals=self.signals.status(),
            owner=owner_status(self.owner.hold, self.owner.pause),
        )
        self._store_call("save_status", lambda: self.store.save_status(doc, now))

    def _store_call(self, what: str, fn: Callable[[], object]) -> None:
        if self.read_only:
            return
        try:
            fn()
        except StateError as exc:
            log.error("state_store_failed", step=what, error=str(exc))

    def _observe_machine(self, machine: MachineState) -> None:
        if self.metrics is not None:
            self.metrics.observe_machine(machine, self.plan.target_price_usd_per_gpu_hour if self.plan else None)

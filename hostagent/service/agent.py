"""One tick of the agent: gather -> plan -> apply -> verify -> record.

`Agent` holds the adapters (hardware, marketplace, store) and the memory between ticks, and exposes
one method per cadence the service drives: `telemetry` (every tick_s), `reconcile` (plan and apply),
`refresh_market`, `cleanup`, `fetch_earnings`. `tick(now)` is telemetry followed by reconcile.
Each step survives its own failure: a Vast error is journaled and the next step runs; a state store
error is logged and the agent keeps going (fault 12). Deciding is left to the pure core.
Every step holds `self.lock` except while it waits on Vast, so the service's main loop (telemetry) and its
Vast worker (the other steps) can share this memory without telemetry ever waiting on Vast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from hostagent.config.model import Config, MarketConfig
from hostagent.core import health as core_health
from hostagent.core import maintenance as core_maint
from hostagent.core.actions import Action, CancelMaint, CleanupMachine, ListMachine, ScheduleMaint, UnlistMachine
from hostagent.core.model import HostSnapshot, MachineState, MarketSample, Plan, VastMaintenance
from hostagent.core.plan import plan as make_plan
from hostagent.errors import StateError, VastError
from hostagent.ports import Clock, Hardware, Marketplace
from hostagent.service import agent_events, operator_maints, status_doc
from hostagent.service import earnings as earnings_mod
from hostagent.service.apigate import ApiDeferred, ApiGate
from hostagent.service.earnings import EarningsStore
from hostagent.service.events import EventLog
from hostagent.service.history import HistoryKeeper, HistoryStore
from hostagent.service.identity import IdentityGuard, IdentityStore
from hostagent.service.machines import MACHINE_ID_KEY, find_machine, known_machine_id
from hostagent.service.market_metrics import fetch_metrics_sample
from hostagent.service.outcome import ApplyOutcome, ReconcileStore
from hostagent.service.owner import OwnerControl
from hostagent.service.reconcile import Reconciler
from hostagent.service.sharedlock import SharedLock, holding_lock
from hostagent.service.signals import SignalWatch
from hostagent.service.status_types import owner_status
from hostagent.vast.client import peer_query

log = structlog.get_logger(__name__)

__all__ = ["MACHINE_ID_KEY", "Agent", "AgentStore"]
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


class Agent:
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

    # ---- telemetry ----------------------------------------------------------------------------

    @holding_lock
    def telemetry(self, now: datetime) -> bool:
        """Read the hardware, record it, update health streaks. True when health just turned bad."""
        snapshot = self.hardware.read(now)
        self.snapshot = snapshot
        self._store_call("record_snapshot", lambda: self.store.record_snapshot(snapshot))
        if self.metrics is not None:
            self.metrics.observe_snapshot(snapshot)
        was_ok = self.health.ok if self.health is not None else True
        self._assess(now)
        self._store_call("save_history", self.history.save)
        self.record_status(now)
        return was_ok and self.health is not None and not self.health.ok

    def _assess(self, now: datetime) -> None:
        """Health streaks move at telemetry cadence; the expected GPU count needs Vast's view of the machine."""
        if self.machine is None or self.snapshot is None:
            return
        verdict = core_health.assess(self.snapshot, self.machine, self.config.health, now, self.history.history)
        reasons = (*verdict.reasons, *verdict.notes)
        was_ok = self.health.ok if self.health is not None else None
        self.health = HealthView(verdict.ok, tuple(f"{r.step}: {r.text}" for r in reasons))
        if self.metrics is not None:
            self.metrics.observe_health(verdict.ok)
        event = agent_events.health_change(was_ok, verdict.ok, self.health.reasons, now, self.machine.id)
        if event is not None and not self.read_only:  # `plan` shows the verdict itself; no event line
            self.events.emit(event)
        self.history.observe_health(verdict)

    # ---- reconcile ----------------------------------------------------------------------------

    @holding_lock
    def tick(self, now: datetime) -> ApplyOutcome | None:
        """One full tick: telemetry, then gather -> plan -> apply -> verify -> record."""
        self.telemetry(now)
        return self.reconcile(now)

    @holding_lock
    def reconcile(self, now: datetime, extra: tuple[Action, ...] = ()) -> ApplyOutcome | None:
        """Plan against Vast's current state and apply only what differs. None when Vast could not be read."""
        if self.snapshot is None:
            self.telemetry(now)
        assert self.snapshot is not None
        try:
            resolved = self.reconciler.resolve_open_intents(now)
            machine = self._gather(now)
        except (VastError, ApiDeferred, LookupError) as exc:
            self.problem = exc.reason if isinstance(exc, ApiDeferred) else f"cannot read Vast: {exc}"
            self.problem_error = exc
            log.warning("reconcile_skipped", why=self.problem)
            self.record_status(now)
            return None
        self.problem = None
        self.problem_error = None
        self.signals.observe(machine, self.history.history, self.config, now, lambda: self.gate.call(
            "machine_reports", now, lambda: self.market.machine_reports(machine.id)))
        if self.health is None:
            self._assess(now)
        self._owner_facts(machine, now, intents_busy=bool(resolved) or self.reconciler.writes_in_flight())
        # The windows and the cancel `hostagent maint` recorded: this plan sends them (the command never does).
        operator = operator_maints.load(self.store)
        plan = make_plan(self.snapshot, machine, self._fresh_market(now), self.config, now, self.history.history,
                         hold=self.owner.hold, operator=operator)
        self.plan = plan
        if self.metrics is not None:  # alive and reading Vast: the alert rules' "stale" is measured from here
            self.metrics.observe_reconcile(now.timestamp(), self.config.agent.reconcile_s)
        self.history.adopt(plan.memory)
        kept = next((r.text for r in plan.reasons if r.step == "maintenance.keep_stale"), None)
        if plan.actions or extra or kept not in (None, self._kept_stale):  # why a stale window stays: said once
            self._journal_decision(now, plan)
        self._kept_stale = kept
        self._record_notices_ahead(plan)
        if self.reconciler.mode == "enforce":
            self.owner.expect(plan.actions, machine)
        outcome = self.reconciler.apply(plan, machine, self.maints, now, extra=extra)
        self.outcome = outcome
        if outcome.sent and outcome.machine_after is not None and outcome.machine_after is not machine:
            self.owner.read_back(outcome.machine_after)
        if any(isinstance(a, (ScheduleMaint, CancelMaint)) for a in outcome.sent):  # status shows them held now
            self.maints = self.reconciler.maints_read_back
            self.history.observe_maintenances(self.maints, now)
        self._after_apply(outcome, now)
        if not self.read_only:
            operator_maints.record_progress(self.store, operator, machine.id, outcome.sent, outcome.refused,
                                            self.maints, now)
        for event in agent_events.after_apply(outcome, machine.listed, now):
            self.events.emit(event)
        self.record_status(now)
        return outcome

    @holding_lock
    def preview(self, now: datetime) -> Plan:
        """What the agent would do now, from fresh facts, changing nothing (`hostagent plan`).

        Raises the VastError / ApiDeferred / LookupError that kept it from reading Vast.
        """
        self.snapshot = self.hardware.read(now)
        machine = self._gather(now)
        self._assess(now)
        market = self._fresh_market(now)
        self.owner.refresh(now, machine.id)
        self.plan = make_plan(self.snapshot, machine, market, self.config, now, self.history.history,
                              hold=self.owner.hold, operator=operator_maints.load(self.store))
        return self.plan

    @holding_lock
    def preview_as(self, config: Config, now: datetime) -> Plan:
        """The plan `config` would make from the facts the last `preview` read (`hostagent plan --compare`):
        the GPUs, the machine and its windows are not read again, so both plans see the same facts; the market
        only when `config` prices from another sample than the current config."""
        if self.snapshot is None or self.machine is None:
            raise RuntimeError("preview_as needs a preview first")
        market = self.market_sample
        if config.pricing.market != self.config.pricing.market:
            market = self._read_market(config.pricing.market, self.machine, now) if config.pricing.market.enabled \
                else None
        return make_plan(self.snapshot, self.machine, market, config, now, self.history.history,
                         hold=self.owner.hold, operator=operator_maints.load(self.store))

    def _gather(self, now: datetime) -> MachineState:
        machine = self._find_machine(now)
        self.maints = self.identity.maints(
            machine.id, now, lambda: self.gate.call("show_maints", now, lambda: self.market.show_maints([machine.id]))
        )
        self.machine = machine
        self.history.observe_maintenances(self.maints, now)
        max_gap_s = 2 * self.config.agent.reconcile_s  # a longer gap was downtime: not counted as offered
        self._store_call("occupancy", lambda: earnings_mod.record_occupancy(self.store, machine, now, max_gap_s))
        self._store_call("median_power", lambda: self.history.observe_power(now))
        self._observe_machine(machine)
        return machine

    def _observe_machine(self, machine: MachineState) -> None:
        if self.metrics is not None:
            self.metrics.observe_machine(machine, self.plan.target_price_usd_per_gpu_hour if self.plan else None)

    def _find_machine(self, now: datetime) -> MachineState:
        found_before = self.machine_id is not None
        machine = find_machine(self.market, self.gate, self.identity, machine_id=self.machine_id,
                               hostname=self.hostname, now=now)
        if not found_before:
            self._remember_machine_id(machine.id)
            log.info("machine_found", machine_id=machine.id, hostname=self.hostname)
        return machine

    def _remember_machine_id(self, machine_id: int) -> None:
        self.machine_id = machine_id
        self._store_call("machine_id", lambda: self.store.put(MACHINE_ID_KEY, machine_id))

    def _fresh_market(self, now: datetime) -> MarketSample | None:
        if not self.config.pricing.market.enabled:
            return None
        if self.market_sample is None:
            self.refresh_market(now)
        return self.market_sample

    def _owner_facts(self, machine: MachineState, now: datetime, *, intents_busy: bool) -> None:
        """The owner's hold and pause as stored now, and a listing change made outside hostagent (which, with
        the "hold" policy, becomes a hold before this reconcile plans). Paused: this reconcile sends nothing."""
        self.owner.refresh(now, machine.id)
        self.owner.judge(machine, now, intents_busy=intents_busy, policy=self.config.agent.outside_changes,
                         duration_days=self.config.listing.duration_days)
        paused = self.owner.pause is not None
        self.reconciler.mode = "observe" if paused else self.config.agent.mode
        self.reconciler.not_sent = "paused (hostagent pause): not sent" if paused else "observe mode: not sent"

    def _record_notices_ahead(self, plan: Plan) -> None:
        """The notices this reconcile may send are ours before they leave (saved first): only windows recorded
        as ours may ever be cancelled, and a kill between the send and the save must not make ours foreign."""
        notices = [a for a in plan.actions if isinstance(a, ScheduleMaint)]
        if notices and self.reconciler.mode == "enforce":  # paused: nothing is sent
            for action in notices:
                self.history.observe_maint_scheduled(action.start_epoch_s, action.duration_h)
            self._store_call("save_history", self.history.save)

    def _after_apply(self, outcome: ApplyOutcome, now: datetime) -> None:
        for action in outcome.sent:
            if isinstance(action, UnlistMachine):
                self.history.observe_listing_change(listed=False, cause=action.cause or "health")
            elif isinstance(action, ListMachine):
                self.history.observe_listing_change(listed=True, price=action.listing.price_usd_per_gpu_hour, at=now)
            elif isinstance(action, ScheduleMaint):  # ours: the only windows hostagent may ever cancel
                self.history.observe_maint_scheduled(action.start_epoch_s, action.duration_h)
            elif isinstance(action, CancelMaint):
                self.history.observe_maints_cancelled()
        if outcome.min_bid_cap_usd_per_gpu_hour is not None:  # the next plans keep the min bid under it
            self.history.observe_min_bid_cap(outcome.min_bid_cap_usd_per_gpu_hour, now)
            log.warning("vast_min_bid_cap", max_usd_per_gpu_hour=outcome.min_bid_cap_usd_per_gpu_hour,
                        why="Vast refused a higher min bid; the next plan clamps below it")
        if outcome.machine_after is not None:  # read back after the writes: what Vast shows now
            self.machine = outcome.machine_after
            self._observe_machine(outcome.machine_after)
        self._store_call("save_history", self.history.save)

    def _journal_decision(self, now: datetime, plan: Plan) -> None:
        desired = plan.desired
        unlist = next((a for a in plan.actions if isinstance(a, UnlistMachine)), None)
        if desired.listed:
            price = desired.price_usd_per_gpu_hour
            what = f"list at ${_price(price)}/GPU/h" if price is not None else "list (price kept)"
        elif unlist is not None:  # an unlist is journaled as one, with its cause: "unlist: health: GPU 3 lost"
            what = f"unlist: {unlist.cause}: {_unlist_detail(unlist.reason)}"
        else:
            what = "keep unlisted"
        what += f"; {len(plan.actions)} change(s)"
        why = "; ".join(f"{r.step}: {r.text}" for r in plan.reasons)
        self._store_call(
            "journal", lambda: self.store.journal(now, "decision", what, why, result=self.config.agent.mode)
        )
        log.info("decision", what=what, why=why, mode=self.config.agent.mode)

    # ---- market, cleanup, earnings ------------------------------------------------------------

    @holding_lock
    def refresh_market(self, now: datetime) -> None:
        cfg = self.config.pricing.market
        machine = self.machine
        if not cfg.enabled or machine is None:
            return
        sample = self._read_market(cfg, machine, now)
        if sample is not None:  # a failed read keeps the last sample
            self.market_sample = sample

    def _read_market(self, cfg: MarketConfig, machine: MachineState, now: datetime) -> MarketSample | None:
        """A fresh sample from `cfg`'s source, or None (logged) when it could not be read."""
        if cfg.source == "metrics":
            try:
                return fetch_metrics_sample(self.market, self.gate, machine, cfg, now)
            except (VastError, ApiDeferred) as exc:
                log.warning("market_refresh_failed", source="metrics", error=str(exc))
            return None
        owner = self._owner_id(now)
        query = peer_query(
            machine.gpu_name, machine.num_gpus, cfg.search_limit, machine.id, verified_only=cfg.verified_only,
            exclude_host_id=owner,
        )
        try:
            offers = self.gate.call("search_offers", now, lambda: self.market.search_offers(query))
        except (VastError, ApiDeferred) as exc:
            log.warning("market_refresh_failed", error=str(exc))
            return None
        sample = MarketSample(tuple(offers), now, hit_limit=len(offers) >= cfg.search_limit, own_host_id=owner)
        log.info("market_refreshed", offers=len(offers), hit_limit=sample.hit_limit)
        return sample

    def _owner_id(self, now: datetime) -> int | None:
        """The account's id, read once: its other machines are not this machine's peers. None while unknown."""
        if self.owner_id is None:
            try:
                self.owner_id = self.gate.call("show_user", now, self.market.account_id)
            except (VastError, ApiDeferred) as exc:  # the market still works, with only this machine left out
                log.warning("owner_id_unknown", error=str(exc))
        return self.owner_id

    @holding_lock
    def cleanup(self, now: datetime) -> int | None:
        """Delete expired storage contracts (through the reconciler: journaled, intent-protected)."""
        if not self.config.cleanup.enabled or self.machine_id is None:
            return None
        action = CleanupMachine(self.machine_id, f"scheduled every {self.config.cleanup.every_h:g} h")
        outcome = self.reconcile(now, extra=(action,))
        return outcome.deleted_contracts if outcome is not None else None

    @holding_lock
    def fetch_earnings(self, now: datetime) -> earnings_mod.EarningsSummary | None:
        if not self.config.earnings.enabled or self.machine_id is None:
            return None
        try:
            summary = earnings_mod.fetch_and_store(
                self.market, self.store, self.gate,
                machine_id=self.machine_id, now=now, days_back=self.config.earnings.days_back,
            )
        except (VastError, ApiDeferred, StateError) as exc:
            log.warning("earnings_fetch_failed", error=str(exc))
            return None
        if self.metrics is not None:
            self.metrics.observe_earnings(summary.today_usd, summary.last_7d_usd, summary.last_30d_usd)
        self._daily_earnings_line(summary, now)
        return summary

    def _daily_earnings_line(self, summary: earnings_mod.EarningsSummary, now: datetime) -> None:
        """The opt-in earnings line: at the first fetch of each UTC day, once (the day is kept across restarts)."""
        if not self.config.notify.daily_earnings or self.machine_id is None or self.read_only:
            return
        if agent_events.claim_earnings_day(self.store, now):
            self.events.emit(agent_events.earnings_line(summary, now, self.machine_id))

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


def _unlist_detail(reason: str) -> str:
    """The plan's listing sentence without what the journal line says already ("unlist", "rentals continue")."""
    for prefix in ("unlist, a health check fails: ", "unlisted for maintenance: "):
        reason = reason.removeprefix(prefix)
    return reason.removesuffix(" (rentals continue)")


def _price(usd: float) -> str:
    """2.00, 2.061, 1.8549: cents at least, and every digit the price has up to 4 decimals (as the timeline)."""
    text = f"{usd:.4f}".rstrip("0")
    return text if len(text.partition(".")[2]) >= 2 else f"{usd:.2f}"

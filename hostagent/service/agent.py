"""One tick of the agent: gather -> plan -> apply -> verify -> record.

`Agent` holds the adapters (hardware, marketplace, store) and the memory between ticks, and exposes
one method per cadence the service drives: `telemetry` (every tick_s), `reconcile` (plan and apply),
`refresh_market`, `cleanup`, `fetch_earnings`. `tick(now)` is telemetry followed by reconcile.
Each step survives its own failure: a Vast error is journaled and the next step runs; a state store
error is logged and the agent keeps going (fault 12). Deciding is left to the pure core.
Every step holds `self.lock` except while it waits on Vast, so the service's main loop (telemetry) and its
Vast worker (the other steps) can share this memory without telemetry ever waiting on Vast.
Telemetry, the reconcile and the plan previews are here; the rest of `Agent` is in its siblings:
agent_parts (the parts and memory it holds, `set_config`, `record_status`), agent_apply (what runs around
each apply) and agent_periodic (`refresh_market`, `fetch_earnings`).
"""

from __future__ import annotations

from datetime import datetime

import structlog

from hostagent.config.model import Config
from hostagent.core import health as core_health
from hostagent.core.actions import Action, CancelMaint, CleanupMachine, ScheduleMaint
from hostagent.core.model import MachineState, Plan
from hostagent.core.plan import plan as make_plan
from hostagent.errors import StateError, VastError
from hostagent.service import agent_events, operator_maints
from hostagent.service import earnings as earnings_mod
from hostagent.service.agent_apply import ApplySteps
from hostagent.service.agent_parts import MAINT_HORIZON, AgentMetrics, AgentStore, HealthView
from hostagent.service.agent_periodic import PeriodicSteps
from hostagent.service.apigate import ApiDeferred
from hostagent.service.machines import MACHINE_ID_KEY, find_machine
from hostagent.service.outcome import ApplyOutcome
from hostagent.service.sharedlock import holding_lock

log = structlog.get_logger(__name__)
HEALTH_ANNOUNCED_KEY = "health_announced"  # the verdict the last health_fault / health_recovered event said

# The store's and metrics' Protocols, the health view and the status horizon are agent_parts'; named here too.
__all__ = ["MACHINE_ID_KEY", "MAINT_HORIZON", "Agent", "AgentMetrics", "AgentStore", "HealthView"]


class Agent(PeriodicSteps, ApplySteps):
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
        was_ok = self.health.ok if self.health is not None else self._health_announced()
        self.health = HealthView(verdict.ok, tuple(f"{r.step}: {r.text}" for r in reasons))
        if self.metrics is not None:
            self.metrics.observe_health(verdict.ok)
        event = agent_events.health_change(was_ok, verdict.ok, self.health.reasons, now, self.machine.id)
        if event is not None and not self.read_only:  # `plan` shows the verdict itself; no event line
            self.events.emit(event)
            self._store_call("health_announced", lambda: self.store.put(HEALTH_ANNOUNCED_KEY, verdict.ok))
        self.history.observe_health(verdict)

    def _health_announced(self) -> bool | None:
        """The verdict the last fault or recovery event announced, by this process or the one before it: a
        restarted agent neither repeats a fault nor misses the recovery that came while it was down."""
        try:
            value = self.store.get(HEALTH_ANNOUNCED_KEY)
        except StateError:
            return None
        return value if isinstance(value, bool) else None

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

    # ---- cleanup ------------------------------------------------------------------------------

    @holding_lock
    def cleanup(self, now: datetime) -> int | None:
        """Delete expired storage contracts (through the reconciler: journaled, intent-protected)."""
        if not self.config.cleanup.enabled or self.machine_id is None:
            return None
        action = CleanupMachine(self.machine_id, f"scheduled every {self.config.cleanup.every_h:g} h")
        outcome = self.reconcile(now, extra=(action,))
        return outcome.deleted_contracts if outcome is not None else None

"""Applies a Plan's actions through the Marketplace: only what differs, each once, each journaled.

Enforce mode, per action: skip it when Vast already shows its effect; otherwise write the intent
ahead (`store.begin_action`), send, `finish_action`, read the machine back and journal any mismatch.
A lost reply (`VastWriteUncertain`) leaves the intent open; so does a kill mid-call. Open intents are
resolved at the next tick by reading Vast's state, never by sending again blindly: if the effect is
there the intent is confirmed, if not it is closed as not applied and the plan asks for it afresh.
Observe mode journals what it would send (once per distinct action) and sends no write.

Two exceptions to "intent first", both fail-safe:
- The state disk refuses the intent (full, read-only): an unlist is sent anyway (taking the machine off
  the market must never depend on the local disk; it is idempotent and the next tick reconciles it from
  Vast's state), logged at error as `write_sent_without_intent`; every other write is skipped.
- A maintenance write (a notice to renters, or a cancel that wipes every window) whose reply was lost may
  still be in flight inside Vast. Its intent stays open, and no other maintenance write is sent for that
  machine, until `write_grace_s` after it began; only then does Vast's state decide whether it applied.
  A late cancel would otherwise wipe the notice sent after it, and renters would be notified twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from hostagent.core.actions import (
    Action,
    CancelMaint,
    CleanupMachine,
    UnlistMachine,
    action_from_request,
    request_of,
)
from hostagent.core.model import ActionKind, MachineState, Plan, VastMaintenance
from hostagent.errors import (
    StateError,
    VastAuthError,
    VastClientError,
    VastError,
    VastFailure,
    VastMinBidTooHigh,
    VastNotFound,
    VastWriteUncertain,
    VastWrongMachine,
)
from hostagent.ports import Marketplace
from hostagent.service.apigate import ApiDeferred, ApiGate
from hostagent.service.effects import effect_holds
from hostagent.service.identity import IdentityGuard
from hostagent.service.outcome import ActionMetrics, ApplyOutcome, Intent, ReconcileStore
from hostagent.service.writes import send_write

log = structlog.get_logger(__name__)

_MAINT_KINDS = (ActionKind.SCHEDULE_MAINT, ActionKind.CANCEL_MAINT)
# Writes that are not idempotent: sending one twice notifies renters twice, or wipes a newer window.
_IN_FLIGHT_KINDS = _MAINT_KINDS
DEFAULT_WRITE_GRACE_S = 300.0


class Reconciler:
    def __init__(
        self,
        market: Marketplace,
        store: ReconcileStore,
        gate: ApiGate,
        *,
        mode: str,
        metrics: ActionMetrics | None = None,
        write_grace_s: float = DEFAULT_WRITE_GRACE_S,
        identity: IdentityGuard | None = None,
    ) -> None:
        self._identity = identity  # checks every read of the machine: a reply about another one steers no write
        self._market = market
        self._store = store
        self._gate = gate
        self.mode = mode
        self.not_sent = "observe mode: not sent"  # what a `would_send` row says (the agent names a pause here)
        self._metrics = metrics
        self.write_grace_s = write_grace_s
        self._observed_keys: frozenset[str] = frozenset()
        self._maints: list[VastMaintenance] = []  # Vast's windows as last read during apply
        # Machines with a maintenance write that may still be in flight: no other maintenance write until
        # it is resolved. Rebuilt by every resolve_open_intents().
        self._maint_in_flight: dict[int, str] = {}

    @property
    def maints_read_back(self) -> list[VastMaintenance]:
        """Vast's windows as the last apply read them back after a maintenance write (else as it was given)."""
        return list(self._maints)

    # ---- restart safety ---------------------------------------------------------------------

    def resolve_open_intents(self, now: datetime) -> list[str]:
        """Close every intent a crash or a lost reply left open, from Vast's state. Returns one line each.

        A maintenance write begun less than `write_grace_s` ago whose effect Vast does not show yet is left
        open (it may still land), and blocks further maintenance writes for its machine until then.
        """
        lines: list[str] = []
        self._maint_in_flight = {}
        for intent in self._store.open_intents():
            line = self._resolve(intent, now)
            if line is not None:
                lines.append(line)
        return lines

    def writes_in_flight(self) -> bool:
        """A write left open by the last resolve_open_intents() (it may still land inside Vast)."""
        return bool(self._maint_in_flight)

    def _resolve(self, intent: Intent, now: datetime) -> str | None:
        request = dict(intent.request)
        try:
            action: Action | None = action_from_request(intent.kind, request)
        except ValueError as exc:  # nothing to ask Vast about: closed, and the plan asks afresh if still needed
            log.error("intent_request_unreadable", intent=intent.action_key, error=str(exc))
            action = None
        raw_id = request.get("machine_id")
        machine_id = action.machine_id if action is not None else raw_id if isinstance(raw_id, int) else 0
        kind_text = action.kind.value if action is not None else intent.kind
        if action is None:
            held, result = False, "not applied (its stored request is unreadable); re-planned"
        elif isinstance(action, CleanupMachine):
            held, result = True, "outcome unknown; cleanup is idempotent and runs again on its schedule"
        else:
            kind = action.kind
            machine = self._read_machine(machine_id, now)
            maints = self._read_maints(kind, machine_id, now)
            held = effect_holds(action, machine, maints, now.timestamp())
            if not held and kind in _IN_FLIGHT_KINDS and now < intent.begun_at + timedelta(seconds=self.write_grace_s):
                self._maint_in_flight[machine_id] = f"{kind.value} begun {intent.begun_at.isoformat()}"
                return None  # may still be in flight inside Vast: neither resolved nor re-sent yet
            result = "confirmed from Vast's state" if held else "not applied (Vast's state); re-planned"
        try:
            self._store.finish_action(intent.id, now, result, held)
        except StateError as exc:  # the disk refuses: the intent stays open and is resolved at a later tick
            log.error("intent_resolve_not_stored", intent=intent.action_key, result=result, error=str(exc))
            if not held and action is not None and action.kind in _IN_FLIGHT_KINDS:
                self._maint_in_flight[machine_id] = f"{kind_text} (its resolution could not be stored)"
            return f"{intent.action_key}: {result} (not stored)"
        self._journal_row(
            now, "intent_resolved", f"{kind_text} machine {machine_id}", "an earlier write had no recorded end",
            request=request, result=result, ok=held, action_key=intent.action_key,
        )
        return f"{intent.action_key}: {result}"

    def _read_machine(self, machine_id: int, now: datetime) -> MachineState:
        def read() -> MachineState:
            return self._gate.call("show_machine", now, lambda: self._market.show_machine(machine_id))

        return read() if self._identity is None else self._identity.machine(machine_id, now, read)

    def _read_maints(self, kind: ActionKind, machine_id: int, now: datetime) -> list[VastMaintenance]:
        if kind not in _MAINT_KINDS:
            return []

        def read() -> list[VastMaintenance]:
            return self._gate.call("show_maints", now, lambda: self._market.show_maints([machine_id]))

        return read() if self._identity is None else self._identity.maints(machine_id, now, read)

    # ---- applying a plan --------------------------------------------------------------------

    def apply(
        self,
        plan: Plan,
        machine: MachineState,
        maints: Sequence[VastMaintenance],
        now: datetime,
        extra: Sequence[Action] = (),
    ) -> ApplyOutcome:
        """Send each action whose effect Vast does not show yet, judged against the state read back so far."""
        outcome = ApplyOutcome(machine_after=machine)
        self._maints = list(maints)
        actions = (*plan.actions, *extra)
        if self.mode != "enforce":
            self._observe(actions, machine, now, outcome)
            return outcome
        for action in actions:
            current = outcome.machine_after or machine
            if effect_holds(action, current, self._maints, now.timestamp()):
                outcome.skipped.append(action)
                continue
            waiting = self._maint_in_flight.get(action.machine_id) if action.kind in _IN_FLIGHT_KINDS else None
            if waiting is not None:
                outcome.waiting.append((action, f"an earlier {waiting} may still be in flight inside Vast"))
                log.info("write_waits_for_in_flight", action=action.describe(), in_flight=waiting)
                continue
            try:
                self._send(action, now, outcome)
            except ApiDeferred as exc:
                outcome.deferred = exc.reason
                break
            except VastAuthError as exc:
                outcome.deferred = str(exc)
                break
        return outcome

    def _observe(self, actions: Sequence[Action], machine: MachineState, now: datetime, outcome: ApplyOutcome) -> None:
        for action in actions:
            if effect_holds(action, machine, self._maints, now.timestamp()):
                outcome.skipped.append(action)
                continue
            outcome.would_send.append(action)
            if isinstance(action, CancelMaint):
                self._maints = []  # what Vast would hold after it, for the notices that follow
        keys = frozenset(a.key() for a in outcome.would_send)
        for action in outcome.would_send:
            if action.key() in self._observed_keys:
                continue  # already journaled while nothing changed: no flood of identical lines
            self._journal_row(
                now, "would_send", action.describe(), action.reason, request=request_of(action),
                result=self.not_sent, ok=True, action_key=action.key(),
            )
            log.info("would_send", action=action.describe(), why=action.reason)
        self._observed_keys = keys

    def _send(self, action: Action, now: datetime, outcome: ApplyOutcome) -> None:
        store = self._store
        request = request_of(action)
        reason = self._gate.blocked(now)
        if reason is not None:
            raise ApiDeferred(reason)
        try:
            intent_id: int | None = store.begin_action(now, action.key(), action.kind.value, request)
        except StateError as exc:
            if not isinstance(action, UnlistMachine):
                log.error("write_skipped_intent_not_stored", action=action.describe(), error=str(exc))
                outcome.failed.append((action, f"not sent: its intent could not be stored ({exc})"))
                return
            log.error("write_sent_without_intent", action=action.describe(), error=str(exc),
                      why="an unlist never waits for the local disk; Vast's state reconciles it next tick")
            intent_id = None
        try:
            result = self._gate.call(action.kind.value, now, lambda: send_write(self._market, action))
        except VastWriteUncertain as exc:
            # Left open on purpose: the next tick reads Vast's state instead of sending again.
            self._journal(now, action, request, f"reply lost ({exc}); Vast's state decides next tick", ok=False)
            outcome.failed.append((action, str(exc)))
            if action.kind in _IN_FLIGHT_KINDS:
                self._maint_in_flight[action.machine_id] = f"{action.kind.value} begun {now.isoformat()}"
            return
        except (VastError, ValueError, KeyError) as exc:
            self._finish(intent_id, now, str(exc), ok=False)
            self._journal(now, action, request, f"failed: {exc}", ok=False)
            outcome.failed.append((action, str(exc)))
            if isinstance(exc, (VastClientError, VastFailure, VastNotFound)):  # sending it again gets the same no
                outcome.refused.append(action)
            if isinstance(exc, VastMinBidTooHigh):
                outcome.min_bid_cap_usd_per_gpu_hour = exc.max_usd_per_gpu_hour
            if isinstance(exc, VastAuthError):
                raise
            return
        self._finish(intent_id, now, result, ok=True)
        self._journal(now, action, request, result, ok=True)
        if isinstance(action, CleanupMachine):
            outcome.deleted_contracts = int(result.split()[0]) if result[:1].isdigit() else None
        outcome.sent.append(action)
        self._verify(action, now, outcome)

    def _verify(self, action: Action, now: datetime, outcome: ApplyOutcome) -> None:
        """Read the machine back: the write's reply is not authoritative, Vast's state is."""
        if isinstance(action, CleanupMachine):
            return
        try:
            machine = self._read_machine(action.machine_id, now)
            maints = self._read_maints(action.kind, action.machine_id, now)
        except VastWrongMachine as exc:  # Vast's state of another machine: no later write may follow it
            raise ApiDeferred(str(exc)) from None
        except (VastError, ApiDeferred) as exc:
            log.warning("verify_read_failed", action=action.describe(), error=str(exc))
            return
        outcome.machine_after = machine
        if action.kind in _MAINT_KINDS:
            self._maints = list(maints)
        if not effect_holds(action, machine, maints, now.timestamp()):
            self._journal_row(
                now, "mismatch", action.describe(), "read back after the write",
                request=request_of(action), result=f"Vast shows {_summary(machine)}", ok=False,
                action_key=action.key(),
            )
            log.warning("readback_mismatch", action=action.describe(), machine=_summary(machine))
            outcome.mismatched.append((action, f"not read back: Vast shows {_summary(machine)}"))

    def _finish(self, intent_id: int | None, now: datetime, result: str, *, ok: bool) -> None:
        """Close the intent; a disk that refuses leaves it open, and Vast's state resolves it at a later tick."""
        if intent_id is None:
            return
        try:
            self._store.finish_action(intent_id, now, result, ok)
        except StateError as exc:
            log.error("intent_finish_not_stored", intent_id=intent_id, result=result, error=str(exc))

    def _journal(self, now: datetime, action: Action, request: dict[str, object], result: str, *, ok: bool) -> None:
        self._journal_row(
            now, action.kind.value, action.describe(), action.reason, request=request, result=result, ok=ok,
            action_key=action.key(),
        )
        if self._metrics is not None:
            self._metrics.observe_action(action.kind.value, "ok" if ok else "error")
        log.info("action", action=action.describe(), why=action.reason, result=result, ok=ok)

    def _journal_row(
        self, now: datetime, kind: str, what: str, why: str, *, request: Mapping[str, object], result: str, ok: bool,
        action_key: str,
    ) -> None:
        """A journal row; a disk that refuses it is logged at error and never stops a write or the loop."""
        try:
            self._store.journal(now, kind, what, why, request=request, result=result, ok=ok, action_key=action_key)
        except StateError as exc:
            log.error("journal_write_failed", kind=kind, what=what, error=str(exc))


def _summary(machine: MachineState) -> str:
    return (
        f"listed={machine.listed} price={machine.listed_gpu_cost} min_bid={machine.min_bid_price} "
        f"end_date={machine.end_date} defjob={machine.bid_image}"
    )

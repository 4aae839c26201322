"""An operator's write to Vast (`hostagent maint add|cancel`), through the agent's one write path.

The machine is found by the agent's own lookup (hostagent.service.machines) and checked against the
identity the agent recorded; the write is built by the core's constructors and sent by the Reconciler:
the API gate first (a persisted 429 `not_before` or a refused key sends nothing), then the intent, the
call, the read-back and the journal row. A row of kind `operator` then records who asked and the outcome.

Safe beside a running agent: it takes no lock and writes only intents and journal rows (and the recorded
identity, when none is recorded yet) into the same SQLite file, which WAL mode, `BEGIN IMMEDIATE` and the
busy timeout serialise with the agent's own writes (hostagent.store.store).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hostagent.config.model import Config
from hostagent.core.actions import Action
from hostagent.core.maintenance import ConcreteWindow, cancel_notices, schedule_notice, vast_duration_h
from hostagent.core.model import ActionKind, MachineState, VastMaintenance
from hostagent.errors import StateError
from hostagent.ports import Marketplace
from hostagent.service.apigate import ApiGate
from hostagent.service.identity import IdentityGuard, IdentityStore
from hostagent.service.machines import find_machine, known_machine_id
from hostagent.service.outcome import ReconcileStore
from hostagent.service.reconcile import Reconciler

_MAINT_KINDS = frozenset({ActionKind.SCHEDULE_MAINT.value, ActionKind.CANCEL_MAINT.value})


class OperatorStore(ReconcileStore, IdentityStore, Protocol):
    """The state store as an operator's write uses it: key/value, journal, write-ahead intents."""


@dataclass(frozen=True)
class OperatorResult:
    ok: bool
    text: str  # what Vast did ("maintenance scheduled"), why it refused, or why nothing was sent
    deferred: bool = False  # nothing was sent: the gate holds every call (rate limit, refused key)
    not_journaled: str | None = None  # why the `operator` row could not be written


class OperatorWrites:
    def __init__(
        self, *, config: Config, market: Marketplace, store: OperatorStore, hostname: str, read_only: bool = False
    ) -> None:
        self._config = config
        self._market = market
        self._store = store
        self._hostname = hostname
        self.gate = ApiGate(store, retry_after_cap_s=config.vast.retry_after_cap_s)  # reads the persisted not_before
        self.identity = IdentityGuard(store, read_only=read_only)  # `maint list`: refuses the same, records nothing
        self._reconciler = Reconciler(
            market, store, self.gate, mode=config.agent.mode, identity=self.identity,
            write_grace_s=config.vast.write_grace_s,
        )

    def machine(self, now: datetime) -> MachineState:
        """This host's machine, read now and checked (raises as `service.machines.find_machine`)."""
        return find_machine(
            self._market, self.gate, self.identity, machine_id=known_machine_id(self._config.machine.id, self._store),
            hostname=self._hostname, now=now,
        )

    def machine_id(self, now: datetime) -> int:
        """The configured or recorded id without a call to Vast, else the hostname lookup (raises as `machine`)."""
        known = known_machine_id(self._config.machine.id, self._store)
        return known if known is not None else self.machine(now).id

    def maints(self, machine_id: int, now: datetime) -> list[VastMaintenance]:
        """Vast's windows of the machine, through the gate; another machine's rows raise VastWrongMachine."""
        return self.identity.maints(
            machine_id, now, lambda: self.gate.call("show_maints", now, lambda: self._market.show_maints([machine_id]))
        )

    def schedule(self, machine_id: int, window: ConcreteWindow, now: datetime, why: str) -> OperatorResult:
        what = (f"schedule_maint machine {machine_id} start {window.start.isoformat()} "
                f"duration_h {vast_duration_h(window):g}")
        return self._write(schedule_notice(window, machine_id, why), now, what, "scheduled")

    def cancel(self, machine_id: int, now: datetime, why: str) -> OperatorResult:
        return self._write(cancel_notices(machine_id, why), now, f"cancel_maint machine {machine_id}", "cancelled")

    def _in_flight(self, machine_id: int) -> str | None:
        """Why a maintenance write of the machine may still be in flight (an open intent), or None. The agent
        resolves it from Vast's state at its next reconcile; racing it could wipe a notice or send one twice."""
        for intent in self._store.open_intents():
            if intent.kind in _MAINT_KINDS and intent.request.get("machine_id") == machine_id:
                return (f"an earlier {intent.kind} begun {intent.begun_at.isoformat()} has no recorded end yet and "
                        "may still be in flight inside Vast; the agent resolves it from Vast's state at its next "
                        "reconcile")
        return None

    def _write(self, action: Action, now: datetime, what: str, done: str) -> OperatorResult:
        in_flight = self._in_flight(action.machine_id)
        if in_flight is not None:
            return OperatorResult(ok=False, text=in_flight, deferred=True)
        outcome = self._reconciler.send_operator_write(action, now)
        if outcome.failed:
            result = OperatorResult(ok=False, text=outcome.failed[0][1])
        elif outcome.deferred is not None:
            return OperatorResult(ok=False, text=outcome.deferred, deferred=True)  # nothing sent: nothing to record
        else:
            result = OperatorResult(ok=True, text=done)
        try:  # the operator's write on record beside the agent's own, with who asked (kind `operator`)
            self._store.journal(now, "operator", what, action.reason, result=result.text, ok=result.ok,
                                action_key=action.key())
        except StateError as exc:  # the reconciler's own row (kind schedule_maint / cancel_maint) says what was sent
            return dataclasses.replace(result, not_journaled=str(exc))
        return result

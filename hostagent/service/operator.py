"""An operator's maintenance request (`hostagent maint add|cancel`), for the agent to send.

The command never writes to Vast itself: sending beside the agent raced it (the agent planned from Vast's
windows as read before the operator's notice landed, and its cancel of a stray wiped the notice with it).
Instead the machine is found by the agent's own lookup (hostagent.service.machines) and checked against the
identity the agent recorded; the window (or the cancel) is recorded in the state store under
`operator_maints` (hostagent.service.operator_maints) and journaled as kind `operator` (who asked, what);
the agent's next reconcile plans the ScheduleMaint or CancelMaint and sends it through the one write path
(the API gate, the intent, the call, the read-back, the journal row of kind schedule_maint/cancel_maint).

Safe beside a running agent: it takes no lock and writes one key (in one `BEGIN IMMEDIATE` transaction that
reads, changes and writes it) and journal rows (and the recorded identity, when none is recorded yet) into the
same SQLite file, which WAL mode and the busy timeout serialise with the agent's own writes
(hostagent.store.store).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from hostagent.config.model import Config
from hostagent.core.model import MachineState, VastMaintenance
from hostagent.core.operator_maint import OPERATOR_MAINTS_KEY, OperatorCancel, OperatorMaints, OperatorWindow
from hostagent.errors import StateError
from hostagent.ports import Journal, Marketplace
from hostagent.service import operator_maints
from hostagent.service.apigate import ApiGate
from hostagent.service.identity import IdentityGuard, IdentityStore
from hostagent.service.machines import find_machine, known_machine_id
from hostagent.service.operator_maints import OperatorMaintsStore


class OperatorStore(IdentityStore, OperatorMaintsStore, Journal, Protocol):
    """The state store as an operator's request uses it: key/value, journal."""


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

    def recorded(self) -> OperatorMaints:
        """The operator's windows and cancel as recorded now. Raises StateError."""
        return operator_maints.parse(self._store.get(OPERATOR_MAINTS_KEY))

    def queue(self, window: OperatorWindow, now: datetime) -> tuple[OperatorWindow, str | None]:
        """Record the window for the agent to send; journal who asked. Raises StateError (nothing recorded);
        returns the window as stored and why the `operator` row could not be written, or None."""
        window = operator_maints.add(self._store, window)
        what = (f"maint add {window.id}: machine {window.machine_id} {window.start:%Y-%m-%d %H:%M} UTC, "
                f"{window.duration_h:g} h, {window.category}, by {window.by}")
        return window, self._journal(now, what, window.reason, "queued for the agent", window.id)

    def request_cancel(self, cancel: OperatorCancel, why: str, now: datetime) -> tuple[int, str | None]:
        """Record the cancel for the agent to send; the machine's operator windows are cancelled with it.
        Returns (operator windows cancelled, why the journal row failed or None). Raises StateError."""
        before = self.recorded().for_machine(cancel.machine_id)
        operator_maints.request_cancel(self._store, cancel)
        dropped = sum(1 for w in before if w.live)
        what = f"maint cancel {cancel.id}: machine {cancel.machine_id}, by {cancel.by}"
        return dropped, self._journal(now, what, why, f"queued for the agent; {dropped} operator window(s) cancelled",
                                      cancel.id)

    def _journal(self, now: datetime, what: str, why: str, result: str, key: str) -> str | None:
        try:  # the request on record beside the agent's own writes, with who asked (kind `operator`)
            self._store.journal(now, "operator", what, why, result=result, ok=True, action_key=key)
        except StateError as exc:
            return str(exc)
        return None

"""Which Vast machine is this host's: the one lookup the agent, `plan`, `maint` and `doctor` share.

The configured `machine.id` wins, then the id the agent stored when it first found the machine, else the
single machine on the account whose hostname is this host's. Several machines with that hostname are
refused rather than guessed: a guess would let this host reprice or notify another host's machine. Every
read goes through the API gate (rate-limit deferral, auth stop) and is checked by the identity guard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from hostagent.core.model import MachineState
from hostagent.errors import StateError
from hostagent.ports import Marketplace
from hostagent.service.identity import IdentityGuard

T = TypeVar("T")
MACHINE_ID_KEY = "machine_id"  # where the agent keeps the id it found (hostagent.commands.status_view reads it)


class Gate(Protocol):
    """The slice of `hostagent.service.apigate.ApiGate` a lookup uses."""

    def call(self, operation: str, now: datetime, fn: Callable[[], T]) -> T: ...


class KeyValueReader(Protocol):
    def get(self, key: str) -> object | None: ...


class NoState:
    """The state of a host where no agent has run yet (`hostagent doctor` reads through the agent's lookup before
    any agent has): values live in memory for this command only (a rate-limit deferral, the identity first seen),
    so the command behaves as the agent would, and nothing reaches the disk; journal rows are refused."""

    def __init__(self) -> None:
        self._memory: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        return self._memory.get(key)

    def put(self, key: str, value: object) -> None:
        if value is None:
            self._memory.pop(key, None)
        else:
            self._memory[key] = value

    def journal(  # noqa: PLR0917  (the store's signature)
        self,
        at: datetime,
        kind: str,
        what: str,
        why: str,
        request: Mapping[str, object] | None = None,
        result: str = "",
        ok: bool = True,
        action_key: str | None = None,
    ) -> int:
        raise StateError(f"no state store on this host yet: {kind} not journaled")


def known_machine_id(configured_id: int | None, store: KeyValueReader | None) -> int | None:
    """The configured id, else the one the agent stored, else None (the hostname decides)."""
    if configured_id is not None:
        return configured_id
    stored = store.get(MACHINE_ID_KEY) if store is not None else None
    return stored if isinstance(stored, int) else None


def find_machine(
    market: Marketplace, gate: Gate, identity: IdentityGuard, *, machine_id: int | None, hostname: str, now: datetime
) -> MachineState:
    """This host's machine as Vast shows it now, checked against the identity first recorded.

    Raises LookupError (no machine, or several, with `hostname`), VastWrongMachine (Vast answered about
    another machine), ApiDeferred (the gate allows no call now) or the read's VastError.
    """
    if machine_id is not None:
        mid = machine_id
        return identity.machine(mid, now, lambda: gate.call("show_machine", now, lambda: market.show_machine(mid)))
    machines = gate.call("show_machines", now, market.show_machines)
    matches = [m for m in machines if m.hostname == hostname]
    if len(matches) > 1:  # guessing would let this host reprice another host's machine
        ids = ", ".join(str(m.id) for m in matches)
        raise LookupError(f"{len(matches)} machines with hostname {hostname!r} on this Vast account ({ids}); "
                          "set machine.id to this one")
    if not matches:
        raise LookupError(f"no machine with hostname {hostname!r} on this Vast account; set machine.id")
    (machine,) = matches
    identity.check(machine.id, machine, now)
    return machine

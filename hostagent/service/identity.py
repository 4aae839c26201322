"""The machine is the one we asked for: every reply about it is checked before anything is decided from it.

A reply must name the machine id that was asked for, and that machine must still have the identity hostagent
recorded when it first found it (hostname, GPU model and count; `IDENTITY_KEY` in the state store, next to
`hostagent.service.agent.MACHINE_ID_KEY`). Otherwise the reply is about another machine (a proxy, a cache or Vast
mixed rows up) or the machine was rebuilt: writing on it could reprice, unlist or notify the renters of a
machine this agent does not run. `IdentityGuard` refuses such a reply (raises `VastWrongMachine`, so no write
follows it), journals it once (kind `identity_mismatch`), logs `machine_identity_mismatch` at error, counts it
in the metrics and keeps the text for the status document. A real change (the owner swapped the GPUs) is
accepted by `hostagent forget-machine`, which deletes the record so the next run records the machine afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from hostagent.core.model import MachineState, VastMaintenance
from hostagent.errors import StateError, VastWrongMachine
from hostagent.ports import Journal
from hostagent.service.status_types import Identity, RecordedIdentity

log = structlog.get_logger(__name__)

IDENTITY_KEY = "machine_identity"
_FIELDS = ("hostname", "gpu_name", "num_gpus")


def forget_hint(machine_id: int) -> str:
    return (
        f"check machine {machine_id} in the Vast console (hostname, GPUs); if it really changed, stop the agent, run "
        "`hostagent forget-machine` and start it again: it records the machine afresh"
    )


@dataclass(frozen=True)
class MachineIdentity:
    machine_id: int
    hostname: str
    gpu_name: str
    num_gpus: int

    @classmethod
    def of(cls, machine: MachineState) -> MachineIdentity:
        return cls(machine.id, machine.hostname, machine.gpu_name, machine.num_gpus)

    @classmethod
    def from_json(cls, raw: object) -> MachineIdentity | None:
        """None for anything that is not a whole record (never stored, or written by hand)."""
        if not isinstance(raw, Mapping):
            return None
        mid, hostname, gpu_name, num_gpus = (raw.get(k) for k in ("machine_id", *_FIELDS))
        if not (isinstance(mid, int) and isinstance(hostname, str) and isinstance(gpu_name, str)
                and isinstance(num_gpus, int)):
            return None
        return cls(mid, hostname, gpu_name, num_gpus)

    def to_json(self) -> RecordedIdentity:
        return {"machine_id": self.machine_id, "hostname": self.hostname, "gpu_name": self.gpu_name,
                "num_gpus": self.num_gpus}


def mismatch(asked_id: int, recorded: MachineIdentity | None, machine: MachineState) -> str | None:
    """Why `machine`, read as machine `asked_id`, is not that machine; None when it is."""
    if machine.id != asked_id:
        return f"asked for machine {asked_id}, Vast answered with machine {machine.id}"
    if recorded is None or recorded.machine_id != asked_id:
        return None
    changes = [f"{name} {getattr(recorded, name)!r} -> {getattr(machine, name)!r}" for name in _FIELDS
               if getattr(recorded, name) != getattr(machine, name)]
    return f"machine {asked_id} is not the machine first found: " + "; ".join(changes) if changes else None


class IdentityStore(Journal, Protocol):
    def get(self, key: str) -> object | None: ...

    def put(self, key: str, value: object) -> None: ...


class IdentityMetrics(Protocol):
    def observe_identity_mismatch(self) -> None: ...


class IdentityGuard:
    """Checks every read of the machine. `read_only` (`hostagent plan`): refuses the same, records nothing."""

    def __init__(self, store: IdentityStore, metrics: IdentityMetrics | None = None, *, read_only: bool = False):
        self._store = store
        self._metrics = metrics
        self._read_only = read_only
        self.recorded = MachineIdentity.from_json(store.get(IDENTITY_KEY))
        self.mismatch: str | None = None  # the latest refusal, for the status document; None once a read matches
        self._journaled: str | None = None  # one journal row per distinct mismatch, not one per reconcile

    def machine(self, asked_id: int, now: datetime, read: Callable[[], MachineState]) -> MachineState:
        """`read()` (a show_machine of `asked_id`), checked. Raises VastWrongMachine after reporting it."""
        try:
            machine = read()
        except VastWrongMachine as exc:
            raise self._report(now, asked_id, str(exc).removeprefix("show_machine: ")) from None
        self.check(asked_id, machine, now)
        return machine

    def maints(self, asked_id: int, now: datetime, read: Callable[[], list[VastMaintenance]]) -> list[VastMaintenance]:
        """`read()` (a show_maints of `asked_id`); windows of another machine are refused (the client raises)."""
        try:
            return read()
        except VastWrongMachine as exc:
            raise self._report(now, asked_id, str(exc).removeprefix("show_maints: ")) from None

    def check(self, asked_id: int, machine: MachineState, now: datetime) -> None:
        """Refuse `machine` unless it is `asked_id` as first recorded; record it when nothing is recorded yet."""
        problem = mismatch(asked_id, self.recorded, machine)
        if problem is not None:
            raise self._report(now, asked_id, problem)
        self.mismatch = self._journaled = None
        if self.recorded is None or self.recorded.machine_id != asked_id:
            self._record(MachineIdentity.of(machine))

    def _record(self, identity: MachineIdentity) -> None:
        if self._read_only:
            return
        try:
            self._store.put(IDENTITY_KEY, identity.to_json())
        except StateError as exc:  # checked against in memory all the same; recorded at the next try
            log.error("state_store_failed", step="machine_identity", error=str(exc))
            return
        self.recorded = identity
        log.info("machine_identity_recorded", **identity.to_json())

    def _report(self, now: datetime, asked_id: int, problem: str) -> VastWrongMachine:
        text = f"machine identity mismatch: {problem}. No write is sent to Vast while this lasts; " + forget_hint(
            asked_id)
        self.mismatch = text
        if self._read_only:
            return VastWrongMachine(text, asked_id=asked_id)
        log.error("machine_identity_mismatch", asked_machine_id=asked_id, problem=problem)
        if self._metrics is not None:
            self._metrics.observe_identity_mismatch()
        if problem != self._journaled:
            recorded = self.recorded.to_json() if self.recorded else None
            try:
                self._store.journal(
                    now, "identity_mismatch", f"read of machine {asked_id}: {problem}",
                    "a reply must be about the machine asked for, as first recorded; nothing was written",
                    request={"asked_machine_id": asked_id, "recorded": recorded}, result=text, ok=False,
                )
                self._journaled = problem
            except StateError as exc:
                log.error("journal_write_failed", error=str(exc))
        return VastWrongMachine(text, asked_id=asked_id)

    def status(self) -> Identity:
        """For the status document: `{recorded, mismatch}`."""
        return {"recorded": self.recorded.to_json() if self.recorded else None, "mismatch": self.mismatch}

"""What the reconciler needs from the state store, and what one apply reports (`hostagent.service.reconcile`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hostagent.core.actions import Action
from hostagent.core.model import MachineState
from hostagent.ports import Journal


class Intent(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def action_key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def request(self) -> Mapping[str, object]: ...
    @property
    def begun_at(self) -> datetime: ...


class ReconcileStore(Journal, Protocol):
    """The part of the state store the reconciler uses (journal and write-ahead intents)."""

    def begin_action(self, at: datetime, action_key: str, kind: str, request: Mapping[str, object]) -> int: ...

    def finish_action(self, intent_id: int, at: datetime, result: str, ok: bool) -> None: ...

    def open_intents(self) -> Sequence[Intent]: ...


class ActionMetrics(Protocol):
    def observe_action(self, kind: str, result: str) -> None: ...


@dataclass
class ApplyOutcome:
    sent: list[Action] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)  # Vast already showed the effect
    failed: list[tuple[Action, str]] = field(default_factory=list)
    refused: list[Action] = field(default_factory=list)  # of `failed`: Vast answered no (4xx, success false)
    mismatched: list[tuple[Action, str]] = field(default_factory=list)  # sent, but Vast's state did not show it
    would_send: list[Action] = field(default_factory=list)  # observe mode
    waiting: list[tuple[Action, str]] = field(default_factory=list)  # behind a write that may still be in flight
    deferred: str | None = None  # why the rest was not sent (auth refused, rate limited)
    machine_after: MachineState | None = None
    deleted_contracts: int | None = None
    min_bid_cap_usd_per_gpu_hour: float | None = None  # Vast refused a min bid above this (remembered by the agent)

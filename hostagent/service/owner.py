"""The owner in control, as the agent sees it at each reconcile: holds, pauses, and changes made outside hostagent.

`hostagent hold|release|pause|resume` write the kv keys `owner_hold` / `owner_pause` beside the running agent
(hostagent.commands.owner); the agent reads them here at every reconcile (two key reads), so they take effect
without a restart or a config edit. Each change is one event (HELD, RELEASED, PAUSED, RESUMED): what the agent has
already announced is kept under `owner_seen`, so a restart announces nothing twice. A hold whose `until` passed is
released here (RELEASED).

A change made outside hostagent: the listing Vast shows differs from what the agent last saw, and no write of ours
explains it (hostagent.core.owner.outside_change). The states our writes would leave are recorded under
`owner_seen` before they are sent, and a reconcile that resolved or still has an open intent judges nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog

from hostagent.core import owner as core
from hostagent.core.actions import Action
from hostagent.core.events import Event, EventKind, Severity
from hostagent.core.model import MachineState
from hostagent.errors import StateError
from hostagent.service.events import EventLog

log = structlog.get_logger(__name__)

HOLD_KEY, PAUSE_KEY = core.HOLD_KEY, core.PAUSE_KEY
SEEN_KEY = "owner_seen"  # what the agent announced and last saw: {"hold", "pause", "listing", "expected"}
OUTSIDE_BY = "changed outside hostagent"


class OwnerStore(Protocol):
    def get(self, key: str) -> object | None: ...
    def put(self, key: str, value: object) -> None: ...


class OwnerMetrics(Protocol):
    def observe_owner(self, *, held: bool, paused: bool) -> None: ...


class OwnerControl:
    """Reads the owner's hold and pause each reconcile, announces changes, and judges outside changes."""

    def __init__(
        self, store: OwnerStore, events: EventLog, metrics: OwnerMetrics | None = None, *, read_only: bool = False
    ) -> None:
        self._store = store
        self._events = events
        self._metrics = metrics
        self._read_only = read_only  # `hostagent plan`: reads the hold, announces and records nothing
        self.hold: core.OwnerHold | None = None
        self.pause: core.OwnerPause | None = None
        seen = self._get(SEEN_KEY)
        self._seen: dict[str, object] = dict(seen) if isinstance(seen, dict) else {}

    # ---- the owner's commands -------------------------------------------------------------------------------

    def refresh(self, now: datetime, machine_id: int | None) -> None:
        """Read `owner_hold` and `owner_pause`; announce what changed since last announced; release an expired hold."""
        raw_hold, raw_pause = self._get(HOLD_KEY), self._get(PAUSE_KEY)
        hold = core.hold_from_json(raw_hold)
        if hold is not None and not hold.active(now):
            assert hold.until is not None
            raw_hold = core.released_json("hostagent", now, f"the hold's --until {core.shown(hold.until)} passed")
            self._put(HOLD_KEY, raw_hold)
            hold = None
        self.hold, self.pause = hold, core.pause_from_json(raw_pause)
        self._announce("hold", raw_hold, now, machine_id)
        self._announce("pause", raw_pause, now, machine_id)
        if self._metrics is not None:
            self._metrics.observe_owner(held=self.hold is not None, paused=self.pause is not None)

    def _announce(self, what: str, raw: object, now: datetime, machine_id: int | None) -> None:
        record = core.record_id(raw)
        if self._read_only or record is None or record == self._seen.get(what):
            return  # `hostagent plan` announces nothing: the running agent does, once
        self._seen[what] = record
        self._save_seen()
        assert isinstance(raw, dict)
        state, by, reason = raw.get("state"), str(raw.get("by", "")), str(raw.get("reason", ""))
        if state == "held" and raw.get("source") == "outside":
            return  # announced as CHANGED_OUTSIDE when it was seen
        kind = {"held": EventKind.HELD, "released": EventKind.RELEASED, "paused": EventKind.PAUSED,
                "resumed": EventKind.RESUMED}.get(str(state))
        if kind is None:
            return
        words = {"held": "held (kept unlisted)", "released": "released", "paused": "paused (no writes)",
                 "resumed": "resumed"}[str(state)]
        summary = f"{words} by {by}" + (f": {reason}" if reason else "")
        hold = core.hold_from_json(raw)
        if hold is not None and hold.until is not None:
            summary += f" (until {core.shown(hold.until)})"
        self._events.emit(Event(kind, now, summary, machine_id, Severity.WARNING, detail=summary))

    # ---- changes made outside hostagent ---------------------------------------------------------------------

    def judge(
        self, machine: MachineState, now: datetime, *, intents_busy: bool, policy: str, duration_days: int | None
    ) -> str | None:
        """The change made outside hostagent that Vast shows now ("listed at 2.10 → unlisted"), or None; with the
        "hold" policy the hold is recorded at once, so the plan of this same reconcile leaves it as set."""
        seen = core.listing_seen(machine)
        before = core.listing_from_json(self._seen.get("listing"))
        raw_expected = self._seen.get("expected")
        expected = [e for e in map(core.listing_from_json, raw_expected if isinstance(raw_expected, list) else [])
                    if e is not None]
        change = None if intents_busy else core.outside_change(before, expected, seen, now, duration_days)
        self.observed(machine)
        if change is None:
            return None
        text = f"changed outside hostagent: {change}"
        if policy == "hold":
            hold = core.OwnerHold(OUTSIDE_BY, now, text, source="outside")
            raw = core.hold_to_json(hold)
            self._put(HOLD_KEY, raw)
            self._seen["hold"] = core.record_id(raw)
            self._save_seen()
            self.hold = hold
            follows = "held: hostagent leaves the listing as set until `hostagent release`"
        else:
            follows = "agent.outside_changes = \"revert\": the plan puts it back"
        if self._metrics is not None:
            self._metrics.observe_owner(held=self.hold is not None, paused=self.pause is not None)
        self._events.emit(Event(EventKind.CHANGED_OUTSIDE, now, f"{text}; {follows}", machine.id, Severity.WARNING,
                                detail=f"{text} (web console or vastai CLI); {follows}"))
        return text

    def expect(self, actions: Sequence[Action], machine: MachineState) -> None:
        """Before the writes are sent: the states they would leave are ours (saved first: write-ahead)."""
        expected = core.expected_after(actions, core.listing_seen(machine))
        if expected:
            self._seen["expected"] = [core.listing_to_json(e) for e in expected]
            self._save_seen()

    def observed(self, machine: MachineState) -> None:
        """Vast's listing as read at the start of a reconcile: what the next one compares against. The states
        our writes of this reconcile would leave stay expected until then (their read-back may have failed)."""
        listing = core.listing_to_json(core.listing_seen(machine))
        if self._seen.get("listing") != listing or self._seen.get("expected"):
            self._seen["listing"] = listing
            self._seen["expected"] = []
            self._save_seen()

    def read_back(self, machine: MachineState) -> None:
        """Vast's listing read back after our writes: the next reconcile compares against it (so someone undoing
        our write at once is seen), and the states our writes would leave stay expected (a late landing)."""
        self._seen["listing"] = core.listing_to_json(core.listing_seen(machine))
        self._save_seen()

    # ---- the store --------------------------------------------------------------------------------------------

    def _get(self, key: str) -> object | None:
        try:
            return self._store.get(key)
        except StateError as exc:
            log.error("state_store_failed", step=f"read_{key}", error=str(exc))
            return None

    def _put(self, key: str, value: object) -> None:
        if self._read_only:
            return
        try:
            self._store.put(key, value)
        except StateError as exc:
            log.error("state_store_failed", step=f"write_{key}", error=str(exc))

    def _save_seen(self) -> None:
        self._put(SEEN_KEY, self._seen)


def operator_name() -> str:
    """Who ran the command: the sudo caller when there is one ("alice via sudo"), else the effective user."""
    import pwd  # noqa: PLC0415 -- POSIX only, and only the commands need it

    user = pwd.getpwuid(os.geteuid()).pw_name
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} via sudo" if sudo and sudo != user else user

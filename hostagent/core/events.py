"""Events: things an owner wants to hear about, as values.

An event is emitted where it happens (the agent, the reconciler, Vast's signals, the owner's commands), journaled
(kind `event`), logged, counted (`hostagent_events_total{kind}`) and handed to the notifier
(hostagent.service.events.EventLog). Pure data: no I/O here.

`dedup_key` groups events that are "the same news" (one flapping GPU, the same renter report seen twice): the
notifier sends one message per key per window. By default it is the kind and the machine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class EventKind(str, enum.Enum):
    """Every event hostagent emits. Notification config names these (`events = ["unlisted", ...]`)."""

    UNLISTED = "unlisted"  # the agent unlisted the machine (reason: health, maintenance, hold...)
    RELISTED = "relisted"  # the agent listed it again
    HEALTH_FAULT = "health_fault"  # health turned bad
    HEALTH_RECOVERED = "health_recovered"  # health is good again
    RENTER_REPORT = "renter_report"  # Vast shows a renter report not seen before
    VERIFICATION_CHANGED = "verification_changed"  # Vast's verification state changed
    VAST_OFFLINE = "vast_offline"  # Vast marks the machine offline (timeout)
    VAST_ONLINE = "vast_online"  # ...and online again
    VAST_ERROR = "vast_error"  # a new error_description on Vast's Machines page
    VAST_MAINTENANCE = "vast_maintenance"  # a maintenance window hostagent did not schedule
    KEY_REFUSED = "key_refused"  # Vast refused the API key (401/403)
    WRITE_FAILED = "write_failed"  # a write failed or did not read back
    MAINT_NOTICE_SENT = "maint_notice_sent"  # a maintenance notice went to Vast
    EARNINGS_DAILY = "earnings_daily"  # the daily earnings line (opt-in)
    CHANGED_OUTSIDE = "changed_outside"  # the listing was changed outside hostagent (web console, vastai CLI)
    HELD = "held"  # `hostagent hold` (or a change outside hostagent, with the default policy)
    RELEASED = "released"  # `hostagent release`, or the hold's --until passed
    PAUSED = "paused"  # `hostagent pause`: no writes at all
    RESUMED = "resumed"  # `hostagent resume`
    IDENTITY_MISMATCH = "identity_mismatch"  # a reply about another machine was refused


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime  # timezone-aware UTC
    summary: str  # one line a person reads: "unlisted: health: GPU 3 lost"
    machine_id: int | None = None
    severity: Severity = Severity.INFO
    detail: str = ""  # the reason at more length (the journal's `why`)
    dedup_key: str = field(default="")  # "" means kind + machine

    @property
    def key(self) -> str:
        """Events with the same key are one piece of news for deduplication."""
        return self.dedup_key or f"{self.kind.value}:{self.machine_id}"

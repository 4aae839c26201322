"""The operator's own maintenance windows (`hostagent maint add|cancel`), as the plan sees them.

`maint add` only records a window (state store key `operator_maints`); the agent's plan turns it into a
ScheduleMaint, so the notice leaves through the one write path and the agent never takes it for a stray.
Pure: the store's document is parsed by hostagent.service.operator_maints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# queued: the agent has not sent it yet; sent: Vast accepted the notice (or showed it held);
# refused: Vast refused the notice (not sent again); cancelled: `maint cancel` asked for it to go.
OperatorState = Literal["queued", "sent", "refused", "cancelled"]
OPERATOR_STATES: tuple[OperatorState, ...] = ("queued", "sent", "refused", "cancelled")


@dataclass(frozen=True, slots=True)
class OperatorWindow:
    id: str  # "op-<added at, epoch ms>": names the window in `maint list`, the journal and `status`
    machine_id: int  # the machine the shared lookup found when it was added
    start: datetime  # UTC
    duration_h: float  # as asked; Vast holds whole hours (hostagent.core.maintenance.vast_duration_h)
    category: str
    reason: str
    by: str  # who added it: user@host
    added_at: datetime
    state: OperatorState = "queued"
    timezone: str = "UTC"  # the zone the operator gave the start in, for display
    result: str = ""  # why it was refused, or when it was sent

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.duration_h)

    @property
    def live(self) -> bool:
        """Still part of the plan: not cancelled and not refused."""
        return self.state in ("queued", "sent")


@dataclass(frozen=True, slots=True)
class OperatorCancel:
    """`maint cancel`: cancel every window of the machine on Vast (Vast's cancel cannot pick one)."""

    id: str
    machine_id: int
    requested_at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class OperatorMaints:
    windows: tuple[OperatorWindow, ...] = ()
    cancel: OperatorCancel | None = None

    def for_machine(self, machine_id: int) -> tuple[OperatorWindow, ...]:
        return tuple(w for w in self.windows if w.machine_id == machine_id)

    def cancel_for(self, machine_id: int) -> OperatorCancel | None:
        return self.cancel if self.cancel is not None and self.cancel.machine_id == machine_id else None


def overlap(start: datetime, end: datetime, others: list[tuple[str, datetime, datetime]]) -> str | None:
    """The first of `others` (name, start, end) that shares time with [start, end), named, or None."""
    for name, other_start, other_end in others:
        if start < other_end and other_start < end:
            return f"{name} ({other_start:%Y-%m-%d %H:%M} → {other_end:%Y-%m-%d %H:%M} UTC)"
    return None

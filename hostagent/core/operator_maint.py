"""The operator's own maintenance windows (`hostagent maint add|cancel`), as the plan sees them.

`maint add` only records a window (state store key `operator_maints`); the agent's plan turns it into a
ScheduleMaint, so the notice leaves through the one write path and the agent never takes it for a stray.
Pure: the store's document is parsed by hostagent.service.operator_maints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

# queued: the agent has not sent it yet; sent: Vast accepted the notice (or showed it held);
# refused: Vast refused the notice (not sent again); cancelled: `maint cancel` asked for it to go.
OperatorState = Literal["queued", "sent", "refused", "cancelled"]
OPERATOR_STATES: tuple[OperatorState, ...] = ("queued", "sent", "refused", "cancelled")


# The state store key (kv) of the operator's windows: written by `hostagent maint`, read by the agent and `status`.
OPERATOR_MAINTS_KEY = "operator_maints"

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


def _at(value: object) -> datetime:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"not an epoch number: {value!r}")
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def _state(value: object) -> OperatorState:
    for state in OPERATOR_STATES:
        if value == state:
            return state
    raise ValueError(f"unknown state {value!r}")


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _window(raw: dict[str, object]) -> OperatorWindow:
    duration_h = raw["duration_h"]
    if not isinstance(duration_h, (int, float)) or isinstance(duration_h, bool):
        raise TypeError(f"duration_h is no number: {duration_h!r}")
    return OperatorWindow(
        id=str(raw["id"]), machine_id=_int(raw["machine_id"]), start=_at(raw["start"]), duration_h=float(duration_h),
        category=str(raw["category"]), reason=str(raw.get("reason", "")), by=str(raw.get("by", "?")),
        added_at=_at(raw["added_at"]), state=_state(raw.get("state", "queued")),
        timezone=str(raw.get("timezone", "UTC")), result=str(raw.get("result", "")),
    )


_UNREADABLE = (KeyError, TypeError, ValueError, OverflowError, OSError)


def from_json(raw: object) -> tuple[OperatorMaints, list[str]]:
    """The stored document (key `operator_maints`), and a line for each entry that did not fit and was dropped."""
    if not isinstance(raw, dict):
        return OperatorMaints(), [] if raw is None else [f"not a JSON object: {str(raw)[:100]}"]
    windows: list[OperatorWindow] = []
    problems: list[str] = []
    entries = raw.get("windows")
    for entry in entries if isinstance(entries, list) else []:
        try:
            windows.append(_window(entry))
        except _UNREADABLE as exc:
            problems.append(f"window {str(entry)[:200]}: {exc}")
    cancel = None
    got = raw.get("cancel")
    if isinstance(got, dict):
        try:
            cancel = OperatorCancel(str(got["id"]), _int(got["machine_id"]), _at(got["requested_at"]),
                                    str(got.get("by", "?")))
        except _UNREADABLE as exc:
            problems.append(f"cancel {str(got)[:200]}: {exc}")
    return OperatorMaints(tuple(windows), cancel), problems


def to_json(doc: OperatorMaints) -> dict[str, object]:
    """{"windows": [{id, machine_id, start (epoch s), duration_h, category, reason, by, added_at (epoch s), state,
    timezone, result}], "cancel": {id, machine_id, requested_at (epoch s), by} or null}."""
    windows = [
        {"id": w.id, "machine_id": w.machine_id, "start": w.start.timestamp(), "duration_h": w.duration_h,
         "category": w.category, "reason": w.reason, "by": w.by, "added_at": w.added_at.timestamp(),
         "state": w.state, "timezone": w.timezone, "result": w.result}
        for w in doc.windows
    ]
    cancel = None if doc.cancel is None else {
        "id": doc.cancel.id, "machine_id": doc.cancel.machine_id, "requested_at": doc.cancel.requested_at.timestamp(),
        "by": doc.cancel.by,
    }
    return {"windows": windows, "cancel": cancel}

"""The events the agent itself knows, built from what just happened (the agent emits them through its EventLog).

Each carries its reason: an unlist the plan's reason for it, a health fault the failing checks, a failed write
Vast's answer. `dedup_key` groups what is the same news for the notifier: health fault and recovery per machine,
a failed write per write kind, the earnings line per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from hostagent.core.actions import ListMachine, ScheduleMaint, UnlistMachine
from hostagent.core.events import Event, EventKind, Severity
from hostagent.errors import StateError
from hostagent.service.earnings import EarningsSummary, day_of
from hostagent.service.notify import NotifyMemory, update_notify_state
from hostagent.service.outcome import ApplyOutcome

log = structlog.get_logger(__name__)


def health_change(was_ok: bool | None, ok: bool, reasons: Sequence[str], now: datetime,
                  machine_id: int | None) -> Event | None:
    """A fault when health turns bad (the first verdict counts as coming from good), a recovery when it is
    good again; None when nothing changed."""
    if not ok and was_ok is not False:
        why = "; ".join(reasons) or "a health check failed"
        return Event(EventKind.HEALTH_FAULT, now, f"health fault: {why}", machine_id, Severity.CRITICAL, why)
    if ok and was_ok is False:
        return Event(EventKind.HEALTH_RECOVERED, now, "health recovered: every check passes", machine_id)
    return None


def after_apply(outcome: ApplyOutcome, was_listed: bool, now: datetime) -> list[Event]:
    """Unlisted / relisted / maintenance notice sent for each write sent; write_failed for each that failed or
    did not read back."""
    events: list[Event] = []
    for action in outcome.sent:
        machine_id = action.machine_id
        if isinstance(action, UnlistMachine):
            cause = f" ({action.cause})" if action.cause else ""
            events.append(Event(EventKind.UNLISTED, now, f"unlisted{cause}: {action.reason}", machine_id,
                                Severity.WARNING, action.reason))
        elif isinstance(action, ListMachine) and not was_listed:
            price = action.listing.price_usd_per_gpu_hour
            why = action.reason.split("; ")[0]  # why it lists; the pricing steps after it are in the decision row
            events.append(Event(EventKind.RELISTED, now, f"listed again at ${price:g}/GPU/h: {why}",
                                machine_id, Severity.INFO, why))
        elif isinstance(action, ScheduleMaint):
            events.append(Event(EventKind.MAINT_NOTICE_SENT, now, f"maintenance notice sent: {action.describe()}",
                                machine_id, Severity.INFO, action.reason))
    for action, why in [*outcome.failed, *outcome.mismatched]:
        events.append(Event(
            EventKind.WRITE_FAILED, now, f"write failed: {action.describe()}: {why}", action.machine_id,
            Severity.CRITICAL, action.reason, dedup_key=f"write_failed:{action.machine_id}:{action.kind.value}",
        ))
    return events


def key_refused(now: datetime, operation: str, status: int | None) -> Event:
    return Event(
        EventKind.KEY_REFUSED, now,
        f"Vast refused the API key (HTTP {status}, {operation}): API actions stopped until the key is fixed",
        None, Severity.CRITICAL,
        "fix the key (scopes machine_read, machine_write, misc, billing_read), then `systemctl reload hostagent`",
    )


def earnings_line(summary: EarningsSummary, now: datetime, machine_id: int) -> Event:
    occupancy = ""
    if summary.offered_gpu_hours > 0:
        occupancy = f", {summary.rented_gpu_hours / summary.offered_gpu_hours:.0%} of offered GPU-hours rented"
    text = (f"earnings: today ${summary.today_usd:.2f}, last 7 days ${summary.last_7d_usd:.2f}, "
            f"last 30 days ${summary.last_30d_usd:.2f}{occupancy}")
    return Event(EventKind.EARNINGS_DAILY, now, text, machine_id, dedup_key=f"earnings_daily:{day_of(now)}")


def claim_earnings_day(store: NotifyMemory, now: datetime) -> bool:
    """True once per UTC day (the day is recorded first); False when today's line went, or the store cannot say."""
    today = day_of(now)

    def claim(state: dict[str, object]) -> bool:
        if state.get("earnings_day") == today:
            return False
        state["earnings_day"] = today
        return True

    try:
        return update_notify_state(store, claim)
    except StateError as exc:  # unsure whether today's line went: skip it rather than send it twice
        log.error("state_store_failed", step="notify_state", error=str(exc))
        return False
